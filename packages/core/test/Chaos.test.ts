import { Chaos } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, FastCheck, Fiber, Random, TestClock } from "effect"

describe("Chaos", () => {
  it.effect("latency delays the call by the clock", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.succeed("ok").pipe(Chaos.latency({ delay: "300 millis" }), Effect.fork)
      yield* TestClock.adjust("299 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(fiber)).toBe("ok")
    }))

  it.effect("latency with a range draws from Random, within bounds", () =>
    Effect.gen(function*() {
      const fibers = yield* Effect.forEach(
        Array.from({ length: 20 }),
        () => Effect.fork(Effect.void.pipe(Chaos.latency({ delay: "100 millis", max: "200 millis" })))
      )
      yield* TestClock.adjust("99 millis")
      expect(fibers.every((f) => f.unsafePoll() === null)).toBe(true)
      yield* TestClock.adjust("101 millis")
      yield* Effect.forEach(fibers, Fiber.join)
    }).pipe(Effect.withRandom(Random.make(7))))

  it.effect.prop(
    "failures fail about rate of the calls, reproducibly with a seed",
    { seed: FastCheck.integer(), rate: FastCheck.double({ min: 0.1, max: 0.9, noNaN: true }) },
    ({ rate, seed }) =>
      Effect.gen(function*() {
        const flaky = Effect.succeed(1).pipe(Chaos.failures({ rate }))
        const run = Effect.suspend(() =>
          Effect.forEach(Array.from({ length: 2000 }), () => Effect.either(flaky)).pipe(
            Effect.withRandom(Random.make(seed))
          )
        )
        const first = yield* run
        const failed = first.filter(Either.isLeft).length
        expect(Math.abs(failed / 2000 - rate)).toBeLessThan(0.06)
        // Same seed, same faults.
        const again = yield* run
        expect(again.map(Either.isLeft)).toEqual(first.map(Either.isLeft))
      }),
    { fastCheck: { numRuns: 10 } }
  )

  it.effect("failures use the given error, and never run the effect they fail", () =>
    Effect.gen(function*() {
      let ran = 0
      const always = Effect.sync(() => ran++).pipe(Chaos.failures({ rate: 1, error: () => "gateway down" as const }))
      expect(yield* Effect.flip(always)).toBe("gateway down")
      expect(ran).toBe(0)
      const never = Effect.sync(() => ran++).pipe(Chaos.failures({ rate: 0 }))
      yield* never
      expect(ran).toBe(1)
    }))

  it.effect("outage fails every call inside its window only", () =>
    Effect.gen(function*() {
      const down = yield* Chaos.outage({ after: "10 seconds", duration: "5 seconds" })
      const call = Effect.exit(Effect.succeed("ok").pipe(down))
      expect(yield* call).toEqual(Exit.succeed("ok"))
      yield* TestClock.adjust("10 seconds")
      expect(yield* call).toEqual(Exit.fail(new Chaos.ChaosError({ kind: "outage" })))
      yield* TestClock.adjust("4999 millis")
      expect(Exit.isFailure(yield* call)).toBe(true)
      yield* TestClock.adjust("1 millis")
      expect(yield* call).toEqual(Exit.succeed("ok"))
    }))

  it("bad options throw InvalidOptionsError naming the field", () => {
    expect(() => Chaos.failures({ rate: 1.5 })).toThrow(/rate = 1.5/)
    expect(() => Chaos.latency({ delay: "1 second", max: "10 millis" })).toThrow(/max/)
  })
})
