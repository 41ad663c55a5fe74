import { CircuitBreaker, CircuitBreakerStore } from "@effect-resilience/core"
import { RedisCircuitBreakerStore } from "@effect-resilience/redis"
import { Services } from "@effect-resilience/testing"
import { assert, describe, it } from "@effect/vitest"
import { Context, Data, Effect, Either, Layer, Scope } from "effect"
import { cleanup, countedClient, eventually, redis } from "./utils.js"

class Boom extends Data.TaggedError("Boom")<{}> {}

const fail = Effect.fail(new Boom())
const ok = Effect.succeed("ok")

/** A replica: its own connection and store, built in `scope`. */
const replica = (
  prefix: string,
  scope: Scope.Scope,
  options: Partial<RedisCircuitBreakerStore.RedisCircuitBreakerStore.Options> = {}
) =>
  Effect.gen(function*() {
    const counted = yield* countedClient()
    const context = yield* Layer.buildWithScope(
      RedisCircuitBreakerStore.layer({
        client: counted.client,
        keyPrefix: prefix,
        flushInterval: "20 millis",
        ...options
      }),
      scope
    )
    return { ...counted, store: Context.get(context, CircuitBreakerStore.CircuitBreakerStore), context }
  })

const breakerIn = (
  r: { readonly context: Context.Context<CircuitBreakerStore.CircuitBreakerStore> },
  scope: Scope.Scope,
  options: Partial<CircuitBreaker.CircuitBreaker.Options> = {}
) =>
  CircuitBreaker.make({ name: "shared", strategy: CircuitBreaker.consecutive(3), openDuration: "1 minute", ...options })
    .pipe(Effect.provide(r.context), Scope.extend(scope))

describe.skipIf(!redis.available)("RedisCircuitBreakerStore", () => {
  it.scopedLive("failures in one replica open the breaker in the other; closing propagates", () =>
    Effect.gen(function*() {
      const prefix = Services.uniquePrefix("cb-open")
      yield* cleanup(prefix)
      const scope = yield* Effect.scope
      const a = yield* replica(prefix, scope)
      const b = yield* replica(prefix, scope)
      const ba = yield* breakerIn(a, scope)
      const bb = yield* breakerIn(b, scope)
      for (let i = 0; i < 3; i++) yield* Effect.either(ba.execute(fail))
      assert.strictEqual(yield* ba.state, "Open")
      assert.isTrue(yield* eventually(Effect.map(bb.state, (s) => s === "Open")))
      const rejected = yield* Effect.either(bb.execute(ok))
      assert.isTrue(Either.isLeft(rejected) && rejected.left._tag === "CircuitBreakerOpenError")
      yield* bb.reset
      assert.isTrue(yield* eventually(Effect.map(ba.state, (s) => s === "Closed")))
    }))
})
