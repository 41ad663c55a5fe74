import { CircuitBreaker } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Schedule, TestClock } from "effect"

const openOnce = (breaker: CircuitBreaker.CircuitBreaker) => Effect.exit(breaker.execute(Effect.fail("boom")))

describe("CircuitBreaker maxOpenDuration", () => {
  it.scoped("an openDuration schedule that never ends is cut to maxOpenDuration (default 10 minutes)", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({
        name: "forever",
        strategy: CircuitBreaker.consecutive(1),
        openDuration: Schedule.spaced(Duration.infinity)
      })
      yield* openOnce(breaker)
      expect(yield* breaker.state).toBe("Open")
      yield* TestClock.adjust("10 minutes")
      expect(yield* breaker.state).toBe("HalfOpen")
    }))

  it.scoped("maxOpenDuration caps every delay of a growing schedule", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({
        name: "growing",
        strategy: CircuitBreaker.consecutive(1),
        openDuration: Schedule.exponential("1 second", 10),
        maxOpenDuration: "5 seconds"
      })
      yield* openOnce(breaker)
      yield* TestClock.adjust("1 second")
      expect(yield* breaker.state).toBe("HalfOpen")
      // The probe fails: the second opening would wait 10 s, capped to 5 s.
      yield* openOnce(breaker)
      yield* TestClock.adjust("5 seconds")
      expect(yield* breaker.state).toBe("HalfOpen")
      const bad = yield* Effect.flip(CircuitBreaker.make({ name: "bad", maxOpenDuration: "-1 seconds" }))
      expect(bad).toMatchObject({ _tag: "InvalidOptionsError", field: "maxOpenDuration", value: "-1 seconds" })
    }))
})
