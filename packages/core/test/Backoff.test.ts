import { Backoff, InvalidOptionsError } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, FastCheck as fc, Random, Schedule } from "effect"

const millis = (delays: ReadonlyArray<Duration.Duration>) => delays.map(Duration.toMillis)

const previewMillis = <Out>(schedule: Schedule.Schedule<Out>, n: number, seed: number = 42) =>
  Backoff.preview(schedule, n).pipe(Effect.map(millis), Effect.withRandom(Random.make(seed)))

/** A number of millis as a `Duration` keeps it (to the nanosecond). */
const norm = (x: number) => Duration.toMillis(Duration.millis(x))

/** The first `n` draws of `Random.next` under `seed`: what a jittered schedule sees under the same seed. */
const draws = (n: number, seed: number = 42) =>
  Effect.forEach(Array.from({ length: n }), () => Random.next).pipe(Effect.withRandom(Random.make(seed)))

const invalid = (f: () => unknown) => {
  try {
    f()
  } catch (error) {
    if (error instanceof InvalidOptionsError.InvalidOptionsError) return error
    throw error
  }
  throw new Error("expected an InvalidOptionsError")
}

describe("Backoff", () => {
  describe("deterministic schedules", () => {
    it.effect("exponential doubles from base and stops growing at cap", () =>
      Effect.gen(function*() {
        const schedule = Backoff.exponential({ base: "100 millis", cap: "1 second" })
        expect(yield* previewMillis(schedule, 7)).toEqual([100, 200, 400, 800, 1000, 1000, 1000])
      }))

    it.effect("exponential honours factor and has no cap by default", () =>
      Effect.gen(function*() {
        expect(yield* previewMillis(Backoff.exponential({ base: 10, factor: 3 }), 5)).toEqual([10, 30, 90, 270, 810])
      }))

    it.effect("exponential stays at cap without overflowing after many steps", () =>
      Effect.gen(function*() {
        const delays = yield* previewMillis(Backoff.exponential({ base: "1 second", cap: "1 minute" }), 2000)
        expect(delays.length).toBe(2000)
        expect(delays.slice(6, 2000).every((d) => d === 60_000)).toBe(true)
      }))

    it.effect("linear adds step (default: base) up to cap", () =>
      Effect.gen(function*() {
        expect(yield* previewMillis(Backoff.linear({ base: 100 }), 4)).toEqual([100, 200, 300, 400])
        expect(yield* previewMillis(Backoff.linear({ base: 100, step: 50, cap: 220 }), 5)).toEqual([
          100,
          150,
          200,
          220,
          220
        ])
      }))

    it.effect("constant repeats its delay", () =>
      Effect.gen(function*() {
        expect(yield* previewMillis(Backoff.constant("250 millis"), 3)).toEqual([250, 250, 250])
      }))

    it.effect("outputs are the delays, so Schedule combinators compose", () =>
      Effect.gen(function*() {
        const schedule = Backoff.exponential({ base: 100, cap: 1000 }).pipe(Schedule.intersect(Schedule.recurs(3)))
        // recurs(3) ends the schedule after three delays
        expect(yield* previewMillis(schedule, 10)).toEqual([100, 200, 400])
        const outputs = yield* Schedule.run(Backoff.exponential({ base: 100 }), 0, [1, 2, 3])
        expect(Array.from(outputs).map(Duration.toMillis)).toEqual([100, 200, 400])
      }))

    it.effect("preview returns nothing for n <= 0", () =>
      Effect.gen(function*() {
        expect(yield* previewMillis(Backoff.constant(1), 0)).toEqual([])
        expect(yield* previewMillis(Backoff.constant(1), -3)).toEqual([])
      }))
  })

  describe("jitter under a fixed seed", () => {
    it.effect("fullJitter: each delay is r * d, with r the seed's draws in order", () =>
      Effect.gen(function*() {
        const r = yield* draws(5, 7)
        const base = [100, 200, 400, 800, 1000]
        const schedule = Backoff.fullJitter(Backoff.exponential({ base: 100, cap: 1000 }))
        expect(yield* previewMillis(schedule, 5, 7)).toEqual(base.map((d, i) => norm(r[i]! * d)))
      }))

    it.effect("equalJitter: each delay is d/2 + r * d/2", () =>
      Effect.gen(function*() {
        const r = yield* draws(5, 7)
        const base = [100, 200, 400, 800, 1000]
        const schedule = Backoff.equalJitter(Backoff.exponential({ base: 100, cap: 1000 }))
        expect(yield* previewMillis(schedule, 5, 7)).toEqual(base.map((d, i) => norm(d / 2 + r[i]! * (d / 2))))
      }))

    it.effect("decorrelatedJitter: each delay is min(cap, base + r * (3 * previous - base)), from previous = base", () =>
      Effect.gen(function*() {
        const r = yield* draws(8, 7)
        const expected: Array<number> = []
        let previous = 100
        for (const x of r) {
          previous = Math.min(2000, 100 + x * (previous * 3 - 100))
          expected.push(norm(previous))
        }
        const schedule = Backoff.decorrelatedJitter({ base: "100 millis", cap: "2 seconds" })
        expect(yield* previewMillis(schedule, 8, 7)).toEqual(expected)
      }))

    it.effect("the same seed gives the same delays, another seed other delays", () =>
      Effect.gen(function*() {
        const schedule = Backoff.fullJitter(Backoff.constant("1 second"))
        const a = yield* previewMillis(schedule, 10, 1)
        expect(yield* previewMillis(schedule, 10, 1)).toEqual(a)
        expect(yield* previewMillis(schedule, 10, 2)).not.toEqual(a)
      }))
  })

  describe("jitter bounds (property)", () => {
    const durations = {
      base: fc.integer({ min: 1, max: 10_000 }),
      extra: fc.integer({ min: 0, max: 100_000 }),
      seed: fc.integer()
    }

    it.effect.prop(
      "fullJitter stays in [0, d] and its samples differ",
      durations,
      ({ base, extra, seed }) =>
        Effect.gen(function*() {
          const cap = base + extra
          const plain = yield* previewMillis(Backoff.exponential({ base, cap }), 20, seed)
          const jittered = yield* previewMillis(Backoff.fullJitter(Backoff.exponential({ base, cap })), 20, seed)
          jittered.forEach((d, i) => {
            expect(d).toBeGreaterThanOrEqual(0)
            expect(d).toBeLessThanOrEqual(plain[i]!)
          })
          expect(new Set(jittered).size).toBeGreaterThan(1)
        }),
      { fastCheck: { numRuns: 100 } }
    )

    it.effect.prop(
      "equalJitter stays in [d/2, d] and its samples differ",
      durations,
      ({ base, extra, seed }) =>
        Effect.gen(function*() {
          const cap = base + extra
          const plain = yield* previewMillis(Backoff.constant(cap), 20, seed)
          const jittered = yield* previewMillis(Backoff.equalJitter(Backoff.constant(cap)), 20, seed)
          jittered.forEach((d, i) => {
            expect(d).toBeGreaterThanOrEqual(plain[i]! / 2)
            expect(d).toBeLessThanOrEqual(plain[i]!)
          })
          expect(new Set(jittered).size).toBeGreaterThan(1)
        }),
      { fastCheck: { numRuns: 100 } }
    )

    it.effect.prop(
      "decorrelatedJitter stays in [base, min(cap, 3 * previous)] and respects cap",
      durations,
      ({ base, extra, seed }) =>
        Effect.gen(function*() {
          const cap = base + extra
          const delays = yield* previewMillis(Backoff.decorrelatedJitter({ base, cap }), 50, seed)
          let previous = base
          for (const d of delays) {
            expect(d).toBeGreaterThanOrEqual(base)
            expect(d).toBeLessThanOrEqual(Math.min(cap, previous * 3))
            previous = d
          }
          // with room between base and cap, 50 draws all landing on cap is vanishingly unlikely (< 1e-8)
          if (extra >= 9 * base) expect(new Set(delays).size).toBeGreaterThan(1)
        }),
      { fastCheck: { numRuns: 100 } }
    )

    it.effect.prop(
      "exponential never exceeds cap and never decreases",
      {
        base: fc.integer({ min: 0, max: 10_000 }),
        extra: fc.integer({ min: 0, max: 1_000_000 }),
        factor: fc.double({ min: 1, max: 10, noNaN: true })
      },
      ({ base, extra, factor }) =>
        Effect.gen(function*() {
          const delays = yield* previewMillis(Backoff.exponential({ base, factor, cap: base + extra }), 40)
          delays.forEach((d, i) => {
            expect(d).toBeLessThanOrEqual(base + extra)
            if (i > 0) expect(d).toBeGreaterThanOrEqual(delays[i - 1]!)
          })
        }),
      { fastCheck: { numRuns: 100 } }
    )
  })

  describe("validation", () => {
    it("names the field and the value", () => {
      const cases: Array<[() => unknown, string, string, unknown]> = [
        [() => Backoff.exponential({ base: -1 }), "Backoff.exponential", "base", -1],
        [() => Backoff.exponential({ base: Number.NaN }), "Backoff.exponential", "base", Number.NaN],
        [() => Backoff.exponential({ base: 100, factor: 0.5 }), "Backoff.exponential", "factor", 0.5],
        [() => Backoff.exponential({ base: 100, cap: 50 }), "Backoff.exponential", "cap", 50],
        [() => Backoff.exponential({ base: 100, cap: "-1 second" }), "Backoff.exponential", "cap", "-1 second"],
        [() => Backoff.linear({ base: 100, step: -5 }), "Backoff.linear", "step", -5],
        [() => Backoff.linear({ base: 100, cap: 10 }), "Backoff.linear", "cap", 10],
        [() => Backoff.constant(Number.NaN), "Backoff.constant", "delay", Number.NaN],
        [() => Backoff.decorrelatedJitter({ base: 0, cap: 10 }), "Backoff.decorrelatedJitter", "base", 0],
        [() => Backoff.decorrelatedJitter({ base: 100, cap: 99 }), "Backoff.decorrelatedJitter", "cap", 99]
      ]
      for (const [f, constructorName, field, value] of cases) {
        const error = invalid(f)
        expect({ constructorName: error.constructorName, field: error.field, value: error.value }).toEqual({
          constructorName,
          field,
          value
        })
        expect(error.message).toContain(field)
      }
    })
  })
})
