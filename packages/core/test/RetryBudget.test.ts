import {
  Backoff,
  InvalidOptionsError,
  ResilienceMetrics,
  ResilienceRegistry,
  Retry,
  RetryBudget
} from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Data, Effect, FastCheck as fc, Metric, MetricState, TestClock } from "effect"

class Down extends Data.TaggedError("Down")<{}> {}

const exhaustedCount = (name: string) =>
  Effect.map(
    Metric.value(Metric.tagged(ResilienceMetrics.retryBudgetExhaustedTotal, "name", name)),
    (state) => MetricState.isCounterState(state) ? Number(state.count) : Number.NaN
  )

/** Takes tokens until the budget says no; returns how many it gave. */
const drain = (budget: RetryBudget.RetryBudget) =>
  Effect.gen(function*() {
    let granted = 0
    while (yield* budget.tryAcquire) granted++
    return granted
  })

describe("RetryBudget", () => {
  it.scoped("allows ratio of the window's requests plus minPerSecond per second of the window", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ name: "allowance", ratio: 0.2, minPerSecond: 1, window: "10 seconds" })
      // with no traffic, only the floor: 1/s over 10 s
      expect(yield* drain(budget)).toBe(10)
      for (let i = 0; i < 100; i++) budget.unsafeRecordRequest()
      // 0.2 * 100 more
      expect(yield* drain(budget)).toBe(20)
      expect(yield* budget.stats).toEqual({ requests: 100, retries: 30, available: 0, exhausted: 2 })
      expect(yield* exhaustedCount("allowance")).toBe(2)
    }))

  it.scoped("defaults: ratio 0.2, 10 per second, 10 second window", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ name: "defaults" })
      expect([budget.ratio, budget.minPerSecond, budget.window.toString()]).toEqual([0.2, 10, "Duration(10s)"])
      expect((yield* budget.stats).available).toBe(100)
    }))

  it.scoped("denies retries under a storm, then recovers once the window has passed", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ name: "storm", ratio: 0.1, minPerSecond: 1, window: "10 seconds" })
      let upstreamCalls = 0
      const call = Effect.suspend(() => {
        upstreamCalls++
        return Effect.fail(new Down())
      }).pipe(Retry.retry({ schedule: Backoff.constant("10 millis"), maxAttempts: 4, budget }))

      const storm = yield* Effect.all(Array.from({ length: 200 }, () => Effect.either(call)), {
        concurrency: "unbounded"
      }).pipe(Effect.fork)
      yield* TestClock.adjust("1 second")
      yield* storm.await
      // without a budget: 200 * 4 = 800 upstream calls; with it, at most 200 + 0.1 * 200 + 10
      expect(upstreamCalls).toBeLessThanOrEqual(230)
      expect(upstreamCalls).toBeGreaterThanOrEqual(225)
      const stats = yield* budget.stats
      expect(stats.requests).toBe(200)
      expect(stats.available).toBe(0)
      expect(stats.exhausted).toBeGreaterThan(0)
      expect(yield* exhaustedCount("storm")).toBe(stats.exhausted)

      // a retry now is denied: the call fails at once with its own error, after one attempt
      upstreamCalls = 0
      expect(yield* Effect.flip(call)).toEqual(new Down())
      expect(upstreamCalls).toBe(1)

      // once the window has passed, the spent tokens are forgotten
      yield* TestClock.adjust("10 seconds")
      expect((yield* budget.stats).available).toBe(10)
      upstreamCalls = 0
      const recovered = yield* Effect.fork(Effect.either(call))
      yield* TestClock.adjust("1 second")
      yield* recovered.await
      expect(upstreamCalls).toBe(4)
    }))

  it.scoped("tokens age out bucket by bucket, not all at once", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ name: "aging", ratio: 0, minPerSecond: 1, window: "10 seconds" })
      expect(yield* drain(budget)).toBe(10)
      yield* TestClock.adjust("9999 millis")
      expect((yield* budget.stats).available).toBe(0)
      yield* TestClock.adjust("1 millis")
      expect((yield* budget.stats).available).toBe(10)
      // spend 5 now and 5 four seconds later: the first five come back first
      for (let i = 0; i < 5; i++) expect(yield* budget.tryAcquire).toBe(true)
      yield* TestClock.adjust("4 seconds")
      for (let i = 0; i < 5; i++) expect(yield* budget.tryAcquire).toBe(true)
      expect(yield* budget.tryAcquire).toBe(false)
      yield* TestClock.adjust("6 seconds")
      expect((yield* budget.stats).available).toBe(5)
      yield* TestClock.adjust("4 seconds")
      expect((yield* budget.stats).available).toBe(10)
    }))

  it.scoped("requests recorded without a clock read are spread over the time since the last read", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ name: "spread", ratio: 1, minPerSecond: 0, window: "10 seconds" })
      // 1000 requests over 100 seconds of no clock read: only the last window's share (about 10/100) counts
      for (let i = 0; i < 1000; i++) budget.unsafeRecordRequest()
      yield* TestClock.adjust("99 seconds")
      const stats = yield* budget.stats
      expect(stats.requests).toBe(100)
      // requests recorded between reads within one bucket all count
      for (let i = 0; i < 50; i++) yield* budget.recordRequest
      expect((yield* budget.stats).requests).toBe(150)
    }))

  it.scoped.prop(
    "within the first window, granted retries track ratio * requests + floor exactly",
    {
      ratio: fc.integer({ min: 0, max: 100 }).map((n) => n / 100),
      minPerSecond: fc.integer({ min: 0, max: 5 }),
      ops: fc.array(
        fc.oneof(
          fc.record({ op: fc.constant("request" as const), n: fc.integer({ min: 1, max: 20 }) }),
          fc.record({ op: fc.constant("retry" as const), n: fc.integer({ min: 1, max: 20 }) }),
          fc.record({ op: fc.constant("wait" as const), n: fc.integer({ min: 1, max: 900 }) })
        ),
        { maxLength: 40 }
      )
    },
    ({ minPerSecond, ops, ratio }) =>
      Effect.gen(function*() {
        const budget = yield* RetryBudget.make({ name: "property", ratio, minPerSecond, window: "10 seconds" })
        const reserve = minPerSecond * 10
        let requests = 0
        let granted = 0
        let elapsed = 0
        for (const { n, op } of ops) {
          if (op === "request") {
            for (let i = 0; i < n; i++) budget.unsafeRecordRequest()
            requests += n
          } else if (op === "wait") {
            // stay inside the first window: nothing ages out, so the accounting is exact
            const step = Math.min(n, 9_999 - elapsed)
            elapsed += step
            yield* TestClock.adjust(step)
          } else {
            for (let i = 0; i < n; i++) {
              const allowed = ratio * requests + reserve
              const ok = yield* budget.tryAcquire
              expect(ok).toBe(granted + 1 <= allowed + 1e-9)
              if (ok) granted++
            }
          }
        }
        expect(granted).toBeLessThanOrEqual(ratio * requests + reserve + 1e-9)
      }),
    { fastCheck: { numRuns: 200 } }
  )

  it.scoped("the synchronous face works off the caller's clock reading (for Hedge and ResilientClient)", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ name: "sync", ratio: 0.5, minPerSecond: 0, window: "1 second" })
      budget.unsafeRecordRequest()
      budget.unsafeRecordRequest()
      expect(budget.unsafeTryAcquire(0)).toBe(true)
      expect(budget.unsafeTryAcquire(0)).toBe(false)
      expect(budget.unsafeTryAcquire(1000)).toBe(false)
      expect(RetryBudget.isRetryBudget(budget)).toBe(true)
      expect(RetryBudget.isRetryBudget({})).toBe(false)
    }))

  it.scoped("registers as retry_budget in a provided registry; a duplicate name fails", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ name: "registered", minPerSecond: 0 })
      const entries = yield* ResilienceRegistry.entries
      expect(entries.map((e) => [e.kind, e.name])).toEqual([["retry_budget", "registered"]])
      expect(yield* entries[0]!.status).toEqual({
        healthy: false,
        state: "exhausted",
        details: { requests: 0, retries: 0, available: 0, exhausted: 0 }
      })
      for (let i = 0; i < 10; i++) budget.unsafeRecordRequest()
      expect((yield* entries[0]!.status).healthy).toBe(true)
      const duplicate = yield* Effect.flip(RetryBudget.make({ name: "registered" }))
      expect(duplicate).toBeInstanceOf(ResilienceRegistry.DuplicateNameError)
    }).pipe(Effect.provide(ResilienceRegistry.layer)))

  it.scoped("rejects invalid options naming the field and the value", () =>
    Effect.gen(function*() {
      const cases: Array<[RetryBudget.RetryBudget.Options, string, unknown]> = [
        [{ name: "" }, "name", ""],
        [{ name: "b", ratio: 1.5 }, "ratio", 1.5],
        [{ name: "b", ratio: -0.1 }, "ratio", -0.1],
        [{ name: "b", ratio: Number.NaN }, "ratio", Number.NaN],
        [{ name: "b", minPerSecond: -1 }, "minPerSecond", -1],
        [{ name: "b", window: 0 }, "window", 0],
        [{ name: "b", window: "-1 second" }, "window", "-1 second"],
        [{ name: "b", window: Number.POSITIVE_INFINITY }, "window", Number.POSITIVE_INFINITY]
      ]
      for (const [options, field, value] of cases) {
        const error = yield* Effect.flip(RetryBudget.make(options))
        expect(error).toBeInstanceOf(InvalidOptionsError.InvalidOptionsError)
        expect(error).toMatchObject({ constructorName: "RetryBudget.make", field, value })
      }
    }))
})
