import { InvalidOptionsError } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit } from "effect"
import { validated } from "../src/internal/validate.js"

describe("InvalidOptionsError", () => {
  it("names the constructor, the field and the value in its message", () => {
    const error = new InvalidOptionsError.InvalidOptionsError({
      constructorName: "Bulkhead.make",
      field: "maxConcurrent",
      value: 0,
      expected: "an integer >= 1"
    })
    expect(error.message).toBe("Bulkhead.make: invalid option maxConcurrent = 0; expected an integer >= 1")
  })

  it.effect("validation turns a bad field into a typed failure", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(validated("X.make", (v) => v.duration("openDuration", -5)))
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit) && exit.cause._tag === "Fail") {
        expect(exit.cause.error.field).toBe("openDuration")
        expect(exit.cause.error.value).toBe(-5)
      }
      expect(yield* validated("X.make", (v) => v.duration("d", "2 seconds"))).toEqual(Duration.seconds(2))
      expect(Exit.isFailure(yield* Effect.exit(validated("X.make", (v) => v.duration("d", "-2 seconds"))))).toBe(true)
      expect(Exit.isFailure(yield* Effect.exit(validated("X.make", (v) => v.duration("d", NaN))))).toBe(true)
      expect(Exit.isFailure(yield* Effect.exit(validated("X.make", (v) => v.duration("d", 0, { positive: true })))))
        .toBe(true)
      expect(Exit.isFailure(yield* Effect.exit(validated("X.make", (v) => v.int("n", 1.5, 1))))).toBe(true)
      expect(Exit.isFailure(
        yield* Effect.exit(validated("X.make", (v) => v.number("r", 0, { min: 0, max: 1, exclusiveMin: true })))
      )).toBe(true)
      expect(
        yield* validated("X.make", (v) => v.number("r", 1, { min: 0, max: 1, exclusiveMin: true }))
      ).toBe(1)
    }))
})
