import { InvalidOptionsError, OptionsValidator } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"

// The public face of option validation, as the sibling packages (pool, platform, redis) use it.
describe("OptionsValidator", () => {
  it.effect("validated: the checked values on success, a typed InvalidOptionsError naming the field on failure", () =>
    Effect.gen(function*() {
      const ok = yield* OptionsValidator.validated("Cache.make", (v) => ({
        size: v.int("size", 3, 1),
        ttl: v.duration("ttl", "1 minute", { positive: true }),
        name: v.nonEmpty("name", "c"),
        ratio: v.number("ratio", 0.5, { min: 0, max: 1, exclusiveMin: true })
      }))
      expect(ok).toEqual({ size: 3, ttl: Duration.minutes(1), name: "c", ratio: 0.5 })

      const error = yield* Effect.flip(OptionsValidator.validated("Cache.make", (v) => v.int("size", 0, 1)))
      expect(error).toBeInstanceOf(InvalidOptionsError.InvalidOptionsError)
      expect(error.constructorName).toBe("Cache.make")
      expect(error.field).toBe("size")
      expect(error.value).toBe(0)
      expect(error.message).toBe("Cache.make: invalid option size = 0; expected an integer >= 1")
    }))

  it.effect("validated: anything else thrown stays a defect", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(OptionsValidator.validated("X.make", () => {
        throw new Error("boom")
      }))
      expect(exit._tag === "Failure" && exit.cause._tag === "Die").toBe(true)
    }))

  it("validatedSync: returns the value, or throws the InvalidOptionsError", () => {
    expect(OptionsValidator.validatedSync("percent", (v) => v.number("value", 42, { min: 0, max: 100 }))).toBe(42)
    expect(() => OptionsValidator.validatedSync("percent", (v) => v.number("value", 101, { min: 0, max: 100 })))
      .toThrow("percent: invalid option value = 101; expected a number in [0, 100]")
  })
})
