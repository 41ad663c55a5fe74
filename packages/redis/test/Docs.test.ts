/**
 * The examples of docs/distributed.md, run against the local Redis (with a unique prefix).
 */
import { CircuitBreaker, RateLimiter } from "@effect-resilience/core"
import { RedisCircuitBreakerStore, RedisRateLimiter } from "@effect-resilience/redis"
import { Services } from "@effect-resilience/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { cleanup, redis } from "./utils.js"

describe.skipIf(!redis.available)("docs/distributed.md", () => {
  it.scopedLive("breakers: the store layer and a breaker made under it", () =>
    Effect.gen(function*() {
      const keyPrefix = Services.uniquePrefix("docs-cb")
      yield* cleanup(keyPrefix)
      const StoreLive = RedisCircuitBreakerStore.layer({
        url: redis.url,
        keyPrefix,
        flushInterval: "100 millis",
        idleTtl: "1 hour"
      })
      const program = Effect.gen(function*() {
        const gateway = yield* CircuitBreaker.make({
          name: "payment-gateway",
          strategy: CircuitBreaker.consecutive(5),
          openDuration: "30 seconds",
          halfOpen: { maxProbes: 2 }
        })
        return yield* gateway.execute(Effect.succeed("charged"))
      }).pipe(Effect.scoped, Effect.provide(StoreLive))
      assert.strictEqual(yield* program, "charged")
    }))

  it.scopedLive("rate limits: RedisRateLimiter.layer under the core RateLimiter", () =>
    Effect.gen(function*() {
      const keyPrefix = Services.uniquePrefix("docs-rl")
      yield* cleanup(keyPrefix)
      const LimitsLive = RedisRateLimiter.layer({ url: redis.url, keyPrefix: `${keyPrefix}:rl:` })
      const charge = Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "gateway", limit: 100, interval: "1 second" })
        return yield* limiter.execute(Effect.succeed("charged"))
      }).pipe(Effect.scoped, Effect.provide(LimitsLive))
      assert.strictEqual(yield* charge, "charged")
    }))
})
