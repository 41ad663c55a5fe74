import { RateLimiter } from "@effect-resilience/core"
import { type Duration, Effect } from "effect"

/**
 * A rate limiter of one call per `interval` that waits at most `interval` for a slot, and `calls` calls on it at
 * once, each on a fiber of its own that ends in an `Either`.
 */
export const waitingBurst = (name: string, interval: Duration.DurationInput, calls: number) =>
  Effect.gen(function*() {
    const limiter = yield* RateLimiter.make({ name, limit: 1, interval, onLimit: "wait", maxWait: interval })
    const burst = yield* Effect.forEach(
      Array.from({ length: calls }),
      () => Effect.fork(Effect.either(limiter.execute(Effect.void))),
      { concurrency: "unbounded" }
    )
    return { limiter, burst }
  })
