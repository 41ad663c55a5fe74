import {
  Bulkhead,
  Deadline,
  InvalidOptionsError,
  ResilienceMetrics,
  ResilienceRegistry,
  Timeout
} from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, FastCheck, Fiber, Metric, Random, TestClock } from "effect"

describe("Bulkhead", () => {
  it.scoped("runs calls below the limit and counts them in stats", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "b", maxConcurrent: 2 })
      const gate = yield* Deferred.make<void>()
      const f1 = yield* Effect.fork(bulkhead.execute(Deferred.await(gate)))
      const f2 = yield* Effect.fork(bulkhead.execute(Deferred.await(gate)))
      yield* Effect.yieldNow()
      expect(yield* bulkhead.stats).toEqual({ active: 2, queued: 0, rejected: 0 })
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(f1)
      yield* Fiber.join(f2)
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0, rejected: 0 })
      expect(yield* Effect.succeed(7).pipe(Bulkhead.withBulkhead(bulkhead))).toBe(7)
    }))

  it.scoped("rejects with QueueFull when all slots and the queue are taken", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "payments", maxConcurrent: 1, maxQueue: 1 })
      yield* Effect.fork(bulkhead.execute(Effect.never))
      yield* Effect.fork(bulkhead.execute(Effect.never))
      yield* Effect.yieldNow()
      const exit = yield* Effect.exit(bulkhead.execute(Effect.void))
      expect(exit).toEqual(
        Exit.fail(new Bulkhead.BulkheadRejectedError({ bulkheadName: "payments", reason: "QueueFull" }))
      )
      expect(yield* bulkhead.stats).toEqual({ active: 1, queued: 1, rejected: 1 })
    }))

  it.scoped("the queue is FIFO", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "fifo", maxConcurrent: 1, maxQueue: 10 })
      const gate = yield* Deferred.make<void>()
      const order: Array<number> = []
      const first = yield* Effect.fork(bulkhead.execute(Deferred.await(gate)))
      yield* Effect.yieldNow()
      const rest = yield* Effect.forEach([1, 2, 3, 4, 5], (i) =>
        Effect.fork(bulkhead.execute(Effect.sync(() => order.push(i)))).pipe(Effect.zipLeft(Effect.yieldNow())))
      expect((yield* bulkhead.stats).queued).toBe(5)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(first)
      yield* Effect.forEach(rest, Fiber.join)
      expect(order).toEqual([1, 2, 3, 4, 5])
    }))

  it.scoped("queueTimeout bounds the wait, not the run", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "qt", maxConcurrent: 1, maxQueue: 5, queueTimeout: "1 second" })
      const holder = yield* Effect.fork(bulkhead.execute(Effect.sleep("500 millis")))
      yield* Effect.yieldNow()
      // Waits 500 ms (within queueTimeout), then runs 10 s: the run is not bounded.
      const long = yield* Effect.fork(bulkhead.execute(Effect.as(Effect.sleep("10 seconds"), "done")))
      yield* Effect.yieldNow()
      // Queued behind the long one: gives up after 1 s in the queue.
      const starved = yield* Effect.fork(bulkhead.execute(Effect.void))
      yield* TestClock.adjust("500 millis")
      yield* Fiber.join(holder)
      yield* TestClock.adjust("499 millis")
      expect(starved.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.await(starved)).toEqual(
        Exit.fail(new Bulkhead.BulkheadRejectedError({ bulkheadName: "qt", reason: "QueueTimeout" }))
      )
      yield* TestClock.adjust("10 seconds")
      expect(yield* Fiber.join(long)).toBe("done")
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0, rejected: 1 })
    }))

  it.scoped("a caller interrupted while queued leaves the queue", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "int", maxConcurrent: 1, maxQueue: 2 })
      const gate = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(bulkhead.execute(Deferred.await(gate)))
      yield* Effect.yieldNow()
      let ranInterrupted = false
      const leaving = yield* Effect.fork(bulkhead.execute(Effect.sync(() => {
        ranInterrupted = true
      })))
      const staying = yield* Effect.fork(bulkhead.execute(Effect.succeed("ran")))
      yield* Effect.yieldNow()
      expect((yield* bulkhead.stats).queued).toBe(2)
      yield* Fiber.interrupt(leaving)
      expect((yield* bulkhead.stats).queued).toBe(1)
      // The freed queue place can be taken again.
      const third = yield* Effect.fork(bulkhead.execute(Effect.succeed("third")))
      yield* Effect.yieldNow()
      expect((yield* bulkhead.stats).queued).toBe(2)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(holder)
      expect(yield* Fiber.join(staying)).toBe("ran")
      expect(yield* Fiber.join(third)).toBe("third")
      expect(ranInterrupted).toBe(false)
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0, rejected: 0 })
    }))

  it.scoped("a queue wait is cut to the deadline", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "dl", maxConcurrent: 1, maxQueue: 1, queueTimeout: "5 seconds" })
      yield* Effect.fork(bulkhead.execute(Effect.never))
      yield* Effect.yieldNow()
      const waiting = yield* Effect.fork(bulkhead.execute(Effect.void).pipe(Deadline.within("2 seconds")))
      yield* TestClock.adjust("2 seconds")
      expect(yield* Fiber.await(waiting)).toEqual(
        Exit.fail(new Timeout.TimeoutError({ duration: Duration.seconds(2), scope: "deadline" }))
      )
      expect(yield* bulkhead.stats).toEqual({ active: 1, queued: 0, rejected: 0 })
    }))

  it.scoped("a slot is released when the call fails, dies or is interrupted", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "rel", maxConcurrent: 1 })
      yield* Effect.exit(bulkhead.execute(Effect.fail("boom")))
      yield* Effect.exit(bulkhead.execute(Effect.die("bug")))
      const f = yield* Effect.fork(bulkhead.execute(Effect.never))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(f)
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0, rejected: 0 })
    }))

  it.scoped.prop(
    "never more than maxConcurrent run, under 1,000 random callers with random interruption",
    {
      seed: FastCheck.integer(),
      max: FastCheck.integer({ min: 1, max: 8 }),
      queue: FastCheck.integer({ min: 0, max: 50 })
    },
    ({ max, queue, seed }) =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make({ name: "prop", maxConcurrent: max, maxQueue: queue })
        let running = 0
        let peak = 0
        let rejected = 0
        const call = (work: number) =>
          bulkhead.execute(
            Effect.acquireUseRelease(
              Effect.sync(() => {
                running++
                peak = Math.max(peak, running)
              }),
              () => Effect.sleep(Duration.millis(work)),
              () => Effect.sync(() => running--)
            )
          ).pipe(Effect.catchTag("BulkheadRejectedError", () => Effect.sync(() => rejected++)))
        const fibers: Array<Fiber.RuntimeFiber<unknown>> = []
        for (let i = 0; i < 1000; i++) {
          const work = yield* Random.nextIntBetween(1, 50)
          fibers.push(yield* Effect.fork(call(work)))
          if ((yield* Random.nextIntBetween(0, 4)) === 0) {
            const victim = fibers[yield* Random.nextIntBetween(0, fibers.length)]!
            yield* Effect.fork(Fiber.interrupt(victim))
          }
          if ((yield* Random.nextIntBetween(0, 10)) === 0) yield* TestClock.adjust(Duration.millis(10))
        }
        yield* TestClock.adjust("1 hour")
        yield* Effect.forEach(fibers, Fiber.await)
        expect(peak).toBeLessThanOrEqual(max)
        expect(peak).toBeGreaterThan(0)
        expect(running).toBe(0)
        const stats = yield* bulkhead.stats
        expect(stats).toEqual({ active: 0, queued: 0, rejected })
      }).pipe(Effect.withRandom(Random.make(seed))),
    { fastCheck: { numRuns: 4 } }
  )

  it.scoped("keyed: one bulkhead per key, busy keys are never forgotten", () =>
    Effect.gen(function*() {
      const perHost = yield* Bulkhead.keyed<string>({
        name: "hosts",
        maxConcurrent: 1,
        maxKeys: 1,
        idleTtl: "1 second"
      })
      const a = yield* Effect.fork(perHost.execute("a", Effect.never))
      yield* Effect.yieldNow()
      // "a" is busy and cannot be evicted, and maxKeys is 1: another key gets no bulkhead, so it is rejected
      // rather than run without a limit.
      expect(yield* Effect.exit(perHost.execute("b", Effect.succeed("b")))).toEqual(
        Exit.fail(new Bulkhead.BulkheadRejectedError({ bulkheadName: "hosts", reason: "TooManyKeys" }))
      )
      const exit = yield* Effect.exit(perHost.execute("a", Effect.void))
      expect(exit).toEqual(
        Exit.fail(new Bulkhead.BulkheadRejectedError({ bulkheadName: "hosts", reason: "QueueFull" }))
      )
      expect(yield* perHost.stats).toEqual({ active: 1, queued: 0, rejected: 2, keys: 1 })
      yield* Fiber.interrupt(a)
      // "a" is free again: it makes room for "b" at once, idle or not.
      expect(yield* perHost.execute("b", Effect.succeed("b"))).toBe("b")
      yield* TestClock.adjust("2 seconds")
      yield* perHost.execute("c", Effect.void)
      expect((yield* perHost.stats).keys).toBe(1)
    }))

  it.scoped("keyed: busy keys filling maxKeys do not lift the limit of a new key", () =>
    Effect.gen(function*() {
      const perKey = yield* Bulkhead.keyed<string>({ name: "tenants", maxConcurrent: 1, maxKeys: 3 })
      const gate = yield* Deferred.make<void>()
      // An attacker holds three keys busy.
      for (const key of ["x", "y", "z"]) yield* Effect.fork(perKey.execute(key, Deferred.await(gate)))
      yield* Effect.yieldNow()
      // Ten concurrent calls on a fourth key: none may run, let alone all at once.
      let running = 0
      let peak = 0
      const call = Effect.acquireUseRelease(
        Effect.sync(() => peak = Math.max(peak, ++running)),
        () => Deferred.await(gate),
        () => Effect.sync(() => running--)
      )
      const exits = yield* Effect.all(Array.from({ length: 10 }, () => Effect.exit(perKey.execute("victim", call))), {
        concurrency: "unbounded"
      })
      expect(peak).toBe(0)
      for (const exit of exits) {
        expect(exit).toEqual(
          Exit.fail(new Bulkhead.BulkheadRejectedError({ bulkheadName: "tenants", reason: "TooManyKeys" }))
        )
      }
      expect(yield* perKey.stats).toEqual({ active: 3, queued: 0, rejected: 10, keys: 3 })
      const tooMany = ResilienceMetrics.bulkheadRejectedTotal.pipe(
        Metric.tagged("name", "tenants"),
        Metric.tagged("reason", "too_many_keys")
      )
      expect((yield* Metric.value(tooMany)).count).toBe(10)
      // `get` on a new key gives a bulkhead with no slot, not an unlimited one.
      const none = yield* perKey.get("other")
      expect((yield* Effect.exit(none.execute(Effect.void)))._tag).toBe("Failure")
      // Once the keys are free, the fourth key gets its bulkhead, and its limit of 1 holds.
      yield* Deferred.succeed(gate, undefined)
      yield* Effect.yieldNow()
      const gate2 = yield* Deferred.make<void>()
      const first = yield* Effect.fork(perKey.execute("victim", Deferred.await(gate2)))
      yield* Effect.yieldNow()
      const second = yield* Effect.exit(perKey.execute("victim", Effect.void))
      expect(second).toEqual(
        Exit.fail(new Bulkhead.BulkheadRejectedError({ bulkheadName: "tenants", reason: "QueueFull" }))
      )
      yield* Deferred.succeed(gate2, undefined)
      yield* Fiber.join(first)
    }))

  it.scoped("metrics: gauges pushed on flush, rejections counted by reason", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "metered", maxConcurrent: 1, maxQueue: 1 })
      yield* Effect.fork(bulkhead.execute(Effect.never))
      yield* Effect.fork(bulkhead.execute(Effect.never))
      yield* Effect.yieldNow()
      yield* Effect.exit(bulkhead.execute(Effect.void))
      yield* ResilienceMetrics.flush
      const active = ResilienceMetrics.bulkheadActive.pipe(Metric.tagged("name", "metered"))
      const queued = ResilienceMetrics.bulkheadQueued.pipe(Metric.tagged("name", "metered"))
      const full = ResilienceMetrics.bulkheadRejectedTotal.pipe(
        Metric.tagged("name", "metered"),
        Metric.tagged("reason", "queue_full")
      )
      expect((yield* Metric.value(active)).value).toBe(1)
      expect((yield* Metric.value(queued)).value).toBe(1)
      expect((yield* Metric.value(full)).count).toBe(1)
    }))

  it.scoped("registers in the registry; a duplicate name fails", () =>
    Effect.gen(function*() {
      yield* Bulkhead.make({ name: "reg", maxConcurrent: 3 })
      const entries = yield* ResilienceRegistry.entries
      expect(entries.map((e) => [e.kind, e.name])).toEqual([["bulkhead", "reg"]])
      const status = yield* entries[0]!.status
      expect(status.details).toMatchObject({ active: 0, maxConcurrent: 3 })
      const dup = yield* Effect.flip(Bulkhead.make({ name: "reg", maxConcurrent: 1 }))
      expect(dup._tag).toBe("DuplicateNameError")
    }).pipe(Effect.provide(ResilienceRegistry.layer)))

  it.scoped("bad options fail with InvalidOptionsError naming the field", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Bulkhead.make({ name: "bad", maxConcurrent: 0 }))
      expect(error).toBeInstanceOf(InvalidOptionsError.InvalidOptionsError)
      expect(error).toMatchObject({ field: "maxConcurrent", value: 0 })
      const queue = yield* Effect.flip(Bulkhead.make({ name: "bad", maxConcurrent: 1, maxQueue: -1 }))
      expect(queue).toMatchObject({ field: "maxQueue", value: -1 })
      expect(Bulkhead.isBulkhead(yield* Bulkhead.make({ name: "ok", maxConcurrent: 1 }))).toBe(true)
    }))
})
