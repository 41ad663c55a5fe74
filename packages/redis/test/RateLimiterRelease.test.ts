/**
 * Issue 12.7 over Redis: a call the core `RateLimiter` rejects for too long a wait gives its reserved slot back in
 * `@effect/experimental`'s Redis scripts too (it takes -1 token), so a burst does not lock the limiter out.
 */
import { RateLimiter } from "@effect-resilience/core"
import { RedisRateLimiter } from "@effect-resilience/redis"
import { Services } from "@effect-resilience/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { cleanup, redis } from "./utils.js"

describe.skipIf(!redis.available)("RateLimiter over Redis: rejected waits release their slot", () => {
  it.scopedLive("after a burst of 20 rejected waits, the limiter is free again once its window has passed", () =>
    Effect.gen(function*() {
      const keyPrefix = Services.uniquePrefix("rl-release")
      yield* cleanup(keyPrefix)
      const outcomes = yield* Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({
          name: "burst",
          limit: 1,
          interval: "500 millis",
          onLimit: "wait",
          maxWait: "500 millis"
        })
        const burst = yield* Effect.forEach(
          Array.from({ length: 20 }),
          () => Effect.either(limiter.execute(Effect.void)),
          { concurrency: "unbounded" }
        )
        // Two windows' worth of idle time: without the release the key would hold 20 slots (10 s).
        yield* Effect.sleep("1200 millis")
        // Admitted (at once, or after a wait within maxWait), not refused for a wait of ~9 s.
        const after = yield* Effect.either(limiter.execute(Effect.succeed("free")))
        return { burst, after }
      }).pipe(
        Effect.scoped,
        Effect.provide(RedisRateLimiter.layer({ url: redis.url, keyPrefix: `${keyPrefix}:rl:` }))
      )
      assert.strictEqual(outcomes.burst.filter(Either.isRight).length, 2)
      assert.deepStrictEqual(outcomes.after, Either.right("free"))
    }))
})
