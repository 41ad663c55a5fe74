import { Deadline, Hedge, RetryBudget } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, TestClock } from "effect"

/** A fake upstream: the n-th call (from 1) takes `latencies[n - 1]` millis and records its start and end. */
const upstream = (latencies: ReadonlyArray<number>, failing: ReadonlyArray<number> = []) => {
  const log = { started: 0, finalized: [] as Array<number>, completed: [] as Array<number> }
  const call = Effect.suspend(() => {
    const n = ++log.started
    return Effect.sleep(`${latencies[n - 1] ?? 0} millis`).pipe(
      Effect.zipRight(failing.includes(n) ? Effect.fail(`failed ${n}`) : Effect.succeed(`answer ${n}`)),
      Effect.tap(() => Effect.sync(() => log.completed.push(n))),
      Effect.onInterrupt(() => Effect.sync(() => log.finalized.push(n)))
    )
  })
  return { call, log }
}

describe("Hedge", () => {
  it.effect("an answer before delay starts no hedge", () =>
    Effect.gen(function*() {
      const { call, log } = upstream([50])
      const fiber = yield* Effect.fork(call.pipe(Hedge.hedge({ delay: "100 millis" })))
      yield* TestClock.adjust("50 millis")
      expect(yield* Fiber.join(fiber)).toBe("answer 1")
      yield* TestClock.adjust("1 second")
      expect(log.started).toBe(1)
    }))

  it.effect("after delay another copy starts; the first success wins and the loser is interrupted", () =>
    Effect.gen(function*() {
      const { call, log } = upstream([1000, 30])
      const fiber = yield* Effect.fork(call.pipe(Hedge.hedge({ delay: "100 millis" })))
      yield* TestClock.adjust("99 millis")
      expect(log.started).toBe(1)
      yield* TestClock.adjust("1 millis")
      expect(log.started).toBe(2)
      yield* TestClock.adjust("30 millis")
      expect(yield* Fiber.join(fiber)).toBe("answer 2")
      // The loser was interrupted (its finalizer ran) before the call returned.
      expect(log.finalized).toEqual([1])
      expect(log.completed).toEqual([2])
    }))

  it.effect("at most maxHedges copies, one per delay", () =>
    Effect.gen(function*() {
      const { call, log } = upstream([1000, 1000, 1000, 1000])
      const fiber = yield* Effect.fork(call.pipe(Hedge.hedge({ delay: "100 millis", maxHedges: 2 })))
      yield* TestClock.adjust("500 millis")
      expect(log.started).toBe(3)
      yield* TestClock.adjust("500 millis")
      expect(yield* Fiber.join(fiber)).toBe("answer 1")
      expect(log.finalized.sort()).toEqual([2, 3])
    }))

  it.effect("a failure waits for the other attempts; all failed fails with the last", () =>
    Effect.gen(function*() {
      const { call } = upstream([150, 200], [1])
      const fiber = yield* Effect.fork(call.pipe(Hedge.hedge({ delay: "100 millis" })))
      yield* TestClock.adjust("150 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("150 millis")
      expect(yield* Fiber.join(fiber)).toBe("answer 2")

      const both = upstream([150, 200], [1, 2])
      const failing = yield* Effect.fork(both.call.pipe(Hedge.hedge({ delay: "100 millis" })))
      yield* TestClock.adjust("300 millis")
      expect(yield* Fiber.await(failing)).toEqual(Exit.fail("failed 2"))
    }))

  it.effect("interrupting the call interrupts every attempt", () =>
    Effect.gen(function*() {
      const { call, log } = upstream([1000, 1000])
      const fiber = yield* Effect.fork(call.pipe(Hedge.hedge({ delay: "100 millis" })))
      yield* TestClock.adjust("100 millis")
      yield* Fiber.interrupt(fiber)
      expect(log.finalized.sort()).toEqual([1, 2])
      yield* TestClock.adjust("1 second")
      expect(log.started).toBe(2)
    }))

  it.scoped("a spent budget starts no hedge", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ name: "hedges", ratio: 0, minPerSecond: 0 })
      const { call, log } = upstream([1000, 10])
      const fiber = yield* Effect.fork(call.pipe(Hedge.hedge({ delay: "100 millis", budget })))
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(fiber)).toBe("answer 1")
      expect(log.started).toBe(1)
    }))

  it.effect("no hedge when the deadline ends before it would start", () =>
    Effect.gen(function*() {
      const { call, log } = upstream([1000, 10])
      const fiber = yield* Effect.fork(
        call.pipe(Hedge.hedge({ delay: "100 millis" }), Deadline.within("50 millis"), Effect.exit)
      )
      yield* TestClock.adjust("1 second")
      expect(Exit.isFailure(yield* Fiber.join(fiber))).toBe(true)
      expect(log.started).toBe(1)
      // The deadline interrupted the attempt itself, not only the wait for it.
      expect(log.finalized).toEqual([1])
      expect(log.completed).toEqual([])
    }))

  it("bad options throw InvalidOptionsError", () => {
    expect(() => Hedge.hedge(Effect.void, { delay: "1 second", maxHedges: -1 })).toThrow(/maxHedges/)
  })
})
