import { AdaptiveLimit, Bulkhead, InvalidOptionsError, ResilienceMetrics, Timeout } from "@effect-resilience/core"
import { Stress } from "@effect-resilience/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, FastCheck, Fiber, Metric, TestClock } from "effect"

/** Feeds `n` samples of the latency `rtt(i)`, each at as many calls in flight as the limit, and lists the limits. */
const feed = (limit: AdaptiveLimit.AdaptiveLimit, n: number, rtt: (i: number) => number) =>
  Effect.gen(function*() {
    const estimator = yield* AdaptiveLimit.estimator(limit)
    const limits: Array<number> = []
    for (let i = 0; i < n; i++) {
      const inflight = yield* estimator.limit
      limits.push(yield* estimator.sample({ rttMillis: rtt(i), inflight }))
    }
    return limits
  })

const flat = () => 10
/** 10 ms for three samples, then 20 ms slower at each sample. */
const growing = (i: number) => i < 3 ? 10 : 10 + 20 * (i - 2)

/**
 * A backend with `capacity` workers: a call takes 10 ms while at most `capacity` run and proportionally longer past
 * it (`"flat"`: always 10 ms). `clients` callers loop through an adaptive bulkhead; lists the limit every 10 ms.
 */
const simulate = (
  limit: AdaptiveLimit.AdaptiveLimit,
  options: { readonly clients: number; readonly capacity: number | "flat"; readonly steps: number }
) =>
  Effect.gen(function*() {
    const bulkhead = yield* Bulkhead.make({ name: `sim-${limit.algorithm}`, maxConcurrent: limit, maxQueue: 1_000 })
    let running = 0
    let most = 0
    const call = Effect.suspend(() => {
      running++
      most = Math.max(most, running - bulkhead.maxConcurrent)
      const latency = options.capacity === "flat" ? 10 : 10 * Math.max(1, running / options.capacity)
      return Effect.ensuring(Effect.sleep(Math.round(latency)), Effect.sync(() => running--))
    })
    const fibers = yield* Effect.forEach(
      Array.from({ length: options.clients }),
      () => Effect.fork(Effect.forever(bulkhead.execute(call))),
      { concurrency: "unbounded" }
    )
    yield* Effect.yieldNow()
    const limits: Array<number> = []
    for (let i = 0; i < options.steps; i++) {
      yield* TestClock.adjust(10)
      limits.push(bulkhead.maxConcurrent)
    }
    yield* Fiber.interruptAll(fibers)
    return { limits, overshoot: most }
  })

describe("AdaptiveLimit", () => {
  it.effect("aimd: +1 per sample while latency stays under the timeout, x0.9 once beyond", () =>
    Effect.gen(function*() {
      const aimd = AdaptiveLimit.aimd({ timeout: 50 })
      expect(yield* feed(aimd, 12, flat)).toEqual([21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32])
      // 30 and 50 ms are within the timeout (strictly longer is a drop); from 70 ms on it shrinks.
      expect(yield* feed(aimd, 12, growing)).toEqual([21, 22, 23, 24, 25, 22, 19, 17, 15, 13, 11, 9])
    }))

  it.effect("vegas: grows by beta while latency is at no-load, shrinks by log10(limit) when the queue is long", () =>
    Effect.gen(function*() {
      const vegas = AdaptiveLimit.vegas()
      // The first sample only learns the no-load latency.
      expect(yield* feed(vegas, 12, flat)).toEqual([20, 26, 32, 38, 44, 50, 56, 62, 68, 74, 80, 86])
      expect(yield* feed(vegas, 12, growing)).toEqual([20, 26, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23])
    }))

  it.effect("gradient2: grows by the smoothed headroom at a flat latency, follows the gradient down", () =>
    Effect.gen(function*() {
      const gradient2 = AdaptiveLimit.gradient2()
      expect(yield* feed(gradient2, 12, flat)).toEqual([20, 21, 22, 23, 24, 24, 25, 26, 27, 28, 28, 29])
      expect(yield* feed(gradient2, 12, growing)).toEqual([20, 21, 22, 22, 21, 20, 19, 19, 18, 18, 17, 16])
    }))

  it.effect("a limit the load does not use does not grow (app-limited)", () =>
    Effect.gen(function*() {
      for (const limit of [AdaptiveLimit.aimd(), AdaptiveLimit.vegas(), AdaptiveLimit.gradient2()]) {
        const estimator = yield* AdaptiveLimit.estimator(limit)
        for (let i = 0; i < 20; i++) yield* estimator.sample({ rttMillis: 10, inflight: 2 })
        expect(yield* estimator.limit).toBe(20)
      }
    }))

  it.effect.prop(
    "never leaves [minLimit, maxLimit], always an integer",
    {
      algorithm: FastCheck.constantFrom("aimd" as const, "vegas" as const, "gradient2" as const),
      bounds: FastCheck.tuple(FastCheck.integer({ min: 1, max: 50 }), FastCheck.integer({ min: 0, max: 100 })),
      smoothing: FastCheck.double({ min: 0.01, max: 1, noNaN: true }),
      samples: FastCheck.array(
        FastCheck.record({
          rttMillis: FastCheck.oneof(FastCheck.double({ min: 0, max: 10_000, noNaN: true }), FastCheck.constant(0)),
          inflight: FastCheck.integer({ min: 0, max: 500 }),
          dropped: FastCheck.boolean()
        }),
        { maxLength: 300 }
      )
    },
    ({ algorithm, bounds: [minLimit, extra], samples, smoothing }) =>
      Effect.gen(function*() {
        const maxLimit = minLimit + extra
        const limit = algorithm === "aimd"
          ? AdaptiveLimit.aimd({ minLimit, maxLimit, timeout: 100 })
          : algorithm === "vegas"
          ? AdaptiveLimit.vegas({ minLimit, maxLimit, smoothing })
          : AdaptiveLimit.gradient2({ minLimit, maxLimit, smoothing })
        const estimator = yield* AdaptiveLimit.estimator(limit)
        for (const sample of samples) {
          const l = yield* estimator.sample(sample)
          if (!Number.isInteger(l) || l < minLimit || l > maxLimit) {
            return yield* Effect.dieMessage(`${algorithm}: limit ${l} outside [${minLimit}, ${maxLimit}]`)
          }
        }
      }),
    { fastCheck: Stress.fastCheck(100, 2_000) }
  )

  it.scoped("vegas in a bulkhead: grows to maxLimit at flat latency, settles near the capacity when latency grows", () =>
    Effect.gen(function*() {
      const vegas = AdaptiveLimit.vegas({ maxLimit: 80 })
      const free = yield* simulate(vegas, { clients: 50, capacity: "flat", steps: 6 })
      expect(free.limits).toEqual([38, 80, 80, 80, 80, 80])
      // A backend of 10 workers: latency grows past 10 calls; the limit falls to about that and stays there.
      const capped = yield* simulate(vegas, { clients: 50, capacity: 10, steps: 12 })
      expect(capped.limits).toEqual([20, 15, 12, 11, 16, 17, 15, 14, 14, 14, 14, 14])
      // A limit that shrinks never cuts calls already running, and never admits past it afterwards.
      expect(capped.overshoot).toBeLessThanOrEqual(10)
    }))

  it.scoped("a TimeoutError is a drop: aimd shrinks; other failures give no sample", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({
        name: "aimd-drops",
        maxConcurrent: AdaptiveLimit.aimd({ initialLimit: 10 })
      })
      expect(bulkhead.maxConcurrent).toBe(10)
      yield* Effect.exit(bulkhead.execute(Effect.fail("boom")))
      expect(bulkhead.maxConcurrent).toBe(10)
      const slow = yield* Effect.fork(bulkhead.execute(Timeout.timeout(Effect.never, "1 second")))
      yield* TestClock.adjust("1 second")
      expect(Exit.isFailure(yield* Fiber.await(slow))).toBe(true)
      expect(bulkhead.maxConcurrent).toBe(9)
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0, rejected: 0 })
    }))

  it.scoped("the learned limit is metered as adaptive_limit{name}", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "adaptive-metered", maxConcurrent: AdaptiveLimit.vegas() })
      yield* ResilienceMetrics.flush
      const gauge = ResilienceMetrics.adaptiveLimit.pipe(Metric.tagged("name", "adaptive-metered"))
      expect((yield* Metric.value(gauge)).value).toBe(20)
      expect(bulkhead.maxConcurrent).toBe(20)
    }))

  it("bad options are InvalidOptionsError naming the field", () => {
    const field = (f: () => unknown) => {
      try {
        f()
      } catch (error) {
        return error instanceof InvalidOptionsError.InvalidOptionsError ? error.field : "not InvalidOptionsError"
      }
      return "accepted"
    }
    expect(field(() => AdaptiveLimit.vegas({ minLimit: 0 }))).toBe("minLimit")
    expect(field(() => AdaptiveLimit.vegas({ minLimit: 10, maxLimit: 5 }))).toBe("maxLimit")
    expect(field(() => AdaptiveLimit.aimd({ initialLimit: 500 }))).toBe("initialLimit")
    expect(field(() => AdaptiveLimit.aimd({ backoffRatio: 1 }))).toBe("backoffRatio")
    expect(field(() => AdaptiveLimit.gradient2({ smoothing: 0 }))).toBe("smoothing")
    expect(field(() => AdaptiveLimit.gradient2({ rttTolerance: 0.5 }))).toBe("rttTolerance")
    expect(field(() => AdaptiveLimit.vegas({ alpha: 5, beta: 2 }))).toBe("beta")
    expect(field(() => AdaptiveLimit.aimd({ minLimit: 5, maxLimit: 5 }))).toBe("accepted")
  })
})
