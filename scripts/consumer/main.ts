// The consumer test's program: what a user outside the workspace writes against the packed packages.
// Type-checked under NodeNext and Bundler resolution (strict, exactOptionalPropertyTypes) and run with node.
import {
  Backoff,
  CircuitBreaker,
  OptionsValidator,
  ResilienceRegistry,
  ResilientClient,
  Retry
} from "@effect-resilience/core"
import * as Bulkhead from "@effect-resilience/core/Bulkhead"
import { Health } from "@effect-resilience/platform"
import * as GracefulShutdown from "@effect-resilience/platform/GracefulShutdown"
import { PgPool } from "@effect-resilience/pool"
import * as ResourcePool from "@effect-resilience/pool/ResourcePool"
import { RedisCircuitBreakerStore } from "@effect-resilience/redis"
import { HttpApp, HttpRouter, HttpServerResponse } from "@effect/platform"
import { Context, Data, Effect, Layer, Redacted } from "effect"
import { type ChargeError, chargeThrough } from "./lib.js"

class Flaky extends Data.TaggedError("Flaky")<{ readonly attempt: number }> {}
class Payments extends Context.Tag("Payments")<Payments, ResilientClient.ResilientClient>() {}

const PaymentsLive = ResilientClient.layer(Payments, {
  name: "consumer-payments",
  ...ResilientClient.defaults,
  circuitBreaker: { strategy: CircuitBreaker.consecutive(5), openDuration: "30 seconds" }
})

const DbLive = PgPool.layer({
  name: `consumer-test-${process.pid}`,
  url: Redacted.make(process.env.CONSUMER_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"),
  max: 2,
  queryTimeout: "5 seconds"
})

const HealthLive = Health.layer({
  checks: [
    Health.check({
      name: "database",
      check: PgPool.PgPool.pipe(Effect.flatMap((db) => db.query("SELECT 1")), Effect.asVoid)
    })
  ]
})

// The router from our package must concatenate with the user's @effect/platform router: one copy of it.
const app = HttpRouter.empty.pipe(
  HttpRouter.get("/hello", HttpServerResponse.text("hello")),
  HttpRouter.concat(Health.router)
)

const program = Effect.gen(function*() {
  // core: retries with backoff, and the whole stack as a service
  let attempts = 0
  const retried = yield* Effect.suspend(() => {
    attempts++
    return attempts < 3 ? Effect.fail(new Flaky({ attempt: attempts })) : Effect.succeed(attempts)
  }).pipe(Retry.retry({ schedule: Backoff.exponential({ base: "1 millis", cap: "5 millis" }), maxAttempts: 4 }))
  const payments = yield* Payments
  const receipt: string = yield* chargeThrough(payments, "A-1")
  const bulkhead = yield* Bulkhead.make({ name: "consumer-bulkhead", maxConcurrent: 2 })
  const viaBulkhead = yield* bulkhead.execute(Effect.succeed("ok"))
  const invalid = yield* Effect.flip(OptionsValidator.validated("Consumer.make", (v) => v.int("size", 0, 1)))

  // pool: a real PostgreSQL query, and a ResourcePool of our own
  const db = yield* PgPool.PgPool
  const rows = yield* db.query<{ one: number }>("SELECT 1::int AS one")
  const pool = yield* ResourcePool.make({ name: "consumer-pool", acquire: Effect.succeed({ id: 1 }), max: 1 })
  const borrowed = yield* pool.use((r) => Effect.succeed(r.id))

  // redis: a breaker whose state is shared through Redis (the call itself never waits on Redis)
  const shared = yield* Effect.gen(function*() {
    const breaker = yield* CircuitBreaker.make({ name: "consumer-shared", strategy: CircuitBreaker.consecutive(3) })
    return yield* breaker.execute(Effect.succeed("shared"))
  }).pipe(
    Effect.scoped,
    Effect.provide(RedisCircuitBreakerStore.layer({
      url: process.env.CONSUMER_REDIS_URL ?? "redis://127.0.0.1:6379",
      keyPrefix: `consumer-test-${process.pid}`
    }))
  )

  // platform: the health report and the router answering /health/live
  const health = yield* Health.Health
  const report = yield* health.refresh
  const handler = HttpApp.toWebHandlerLayer(app, Layer.succeed(Health.Health, health))
  const live = yield* Effect.promise(() => handler.handler(new Request("http://localhost/health/live")))
  yield* Effect.promise(() => handler.dispose())

  return {
    retried,
    receipt,
    viaBulkhead,
    invalid: invalid.field,
    rows,
    borrowed,
    shared,
    database: report.checks["database"]?.ok === true ? "ok" : JSON.stringify(report.checks["database"]),
    live: live.status,
    shutdownLayer: typeof GracefulShutdown.layer
  }
})

const main = program.pipe(
  Effect.scoped,
  Effect.provide(Layer.mergeAll(PaymentsLive, HealthLive.pipe(Layer.provideMerge(DbLive)))),
  Effect.provide(ResilienceRegistry.layer)
)

const result = await Effect.runPromise(main)
console.log(JSON.stringify(result))
const expected = {
  retried: 3,
  receipt: "receipt for A-1",
  viaBulkhead: "ok",
  invalid: "size",
  rows: [{ one: 1 }],
  borrowed: 1,
  shared: "shared",
  database: "ok",
  live: 200,
  shutdownLayer: "function"
}
if (JSON.stringify(result) !== JSON.stringify(expected)) {
  console.error(`consumer: expected ${JSON.stringify(expected)}`)
  process.exit(1)
}
export type { ChargeError }
