import { Deadline, Timeout } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Option, TestClock } from "effect"

describe("Timeout", () => {
  it.effect("interrupts the attempt (its finalizer runs) and fails with scope attempt", () =>
    Effect.gen(function*() {
      let finalized = false
      const fiber = yield* Effect.never.pipe(
        Effect.ensuring(Effect.sync(() => {
          finalized = true
        })),
        Timeout.timeout("1 second"),
        Effect.fork
      )
      yield* TestClock.adjust("999 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      const exit = yield* Fiber.await(fiber)
      expect(exit).toEqual(Exit.fail(new Timeout.TimeoutError({ duration: Duration.seconds(1), scope: "attempt" })))
      expect(finalized).toBe(true)
    }))

  it.effect("passes a result through unchanged", () =>
    Effect.gen(function*() {
      expect(yield* Effect.succeed(1).pipe(Timeout.timeout("1 second"))).toBe(1)
    }))
})

describe("Deadline", () => {
  it.effect("cuts nested timeouts to what is left and fails with scope deadline and the whole budget", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.sleep("5 seconds").pipe(
        Timeout.timeout("10 seconds"),
        Deadline.within("2 seconds"),
        Effect.fork
      )
      yield* TestClock.adjust("2 seconds")
      const exit = yield* Fiber.await(fiber)
      expect(exit).toEqual(Exit.fail(new Timeout.TimeoutError({ duration: Duration.seconds(2), scope: "deadline" })))
    }))

  it.effect("remaining reads what is left, none outside a deadline", () =>
    Effect.gen(function*() {
      expect(yield* Deadline.remaining).toEqual(Option.none())
      const fiber = yield* Effect.sleep("300 millis").pipe(
        Effect.zipRight(Deadline.remaining),
        Deadline.within("1 second"),
        Effect.fork
      )
      yield* TestClock.adjust("300 millis")
      expect(yield* Fiber.join(fiber)).toEqual(Option.some(Duration.millis(700)))
    }))

  it.effect("a nested deadline can only shorten the outer one", () =>
    Effect.gen(function*() {
      const fiber = yield* Deadline.remaining.pipe(
        Deadline.within("10 seconds"),
        Deadline.within("1 second"),
        Effect.fork
      )
      expect(yield* Fiber.join(fiber)).toEqual(Option.some(Duration.seconds(1)))
    }))
})
