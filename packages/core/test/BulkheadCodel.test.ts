import { Bulkhead, InvalidOptionsError } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Deferred, Duration, Effect, Exit, FastCheck, Fiber, Random, TestClock } from "effect"

const queueTimeout = (name: string) =>
  Exit.fail(new Bulkhead.BulkheadRejectedError({ bulkheadName: name, reason: "QueueTimeout" }))

describe("Bulkhead codel", () => {
  it.scoped("a burst shorter than the interval queues as usual", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "burst", maxConcurrent: 1, maxQueue: 10, codel: {} })
      const holder = yield* Effect.fork(bulkhead.execute(Effect.sleep("1 second")))
      yield* Effect.yieldNow()
      const first = yield* Effect.fork(bulkhead.execute(Effect.succeed("first")))
      yield* TestClock.adjust("99 millis")
      // the queue has not been empty for 99 ms: not yet a standing queue
      const second = yield* Effect.fork(bulkhead.execute(Effect.succeed("second")))
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(holder)
      expect(yield* Fiber.join(first)).toBe("first")
      expect(yield* Fiber.join(second)).toBe("second")
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0, rejected: 0 })
    }))

  it.scoped("a call joining a queue that has not been empty for the interval waits at most the target", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({
        name: "standing",
        maxConcurrent: 1,
        maxQueue: 10,
        codel: { target: "5 millis", interval: "100 millis" }
      })
      const holder = yield* Effect.fork(bulkhead.execute(Effect.sleep("1 second")))
      yield* Effect.yieldNow()
      const early = yield* Effect.fork(bulkhead.execute(Effect.succeed("early")))
      yield* TestClock.adjust("100 millis")
      const late = yield* Effect.fork(bulkhead.execute(Effect.succeed("late")))
      yield* TestClock.adjust("4 millis")
      expect(late.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.await(late)).toEqual(queueTimeout("standing"))
      // the call that started the queue keeps its wait (no queueTimeout: until a slot frees)
      expect(early.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(holder)
      expect(yield* Fiber.join(early)).toBe("early")
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0, rejected: 1 })
    }))

  it.scoped("a call that finds a slot within the target runs", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "quick", maxConcurrent: 1, maxQueue: 10, codel: {} })
      const gate = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(bulkhead.execute(Deferred.await(gate)))
      yield* Effect.yieldNow()
      const early = yield* Effect.fork(bulkhead.execute(Effect.sleep("50 millis")))
      yield* TestClock.adjust("150 millis")
      const late = yield* Effect.fork(bulkhead.execute(Effect.succeed("late")))
      yield* TestClock.adjust("2 millis")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(holder)
      // `early` got the slot, `late` waits behind it: 50 ms more than the target
      yield* TestClock.adjust("3 millis")
      expect(yield* Fiber.await(late)).toEqual(queueTimeout("quick"))
      yield* TestClock.adjust("50 millis")
      yield* Fiber.join(early)
      // a slot is free: the next call runs without queueing
      expect(yield* bulkhead.execute(Effect.succeed("next"))).toBe("next")
    }))

  it.scoped("once the queue has emptied, the next call starts a new burst", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "again", maxConcurrent: 1, maxQueue: 10, codel: {} })
      const holder = yield* Effect.fork(bulkhead.execute(Effect.sleep("300 millis")))
      yield* Effect.yieldNow()
      const a = yield* Effect.fork(bulkhead.execute(Effect.sleep("300 millis")))
      yield* TestClock.adjust("200 millis")
      const refused = yield* Effect.fork(bulkhead.execute(Effect.void))
      yield* TestClock.adjust("5 millis")
      expect(yield* Fiber.await(refused)).toEqual(queueTimeout("again"))
      // at 300 ms `a` takes the slot and the queue is empty: the next caller queues for as long as it takes
      yield* TestClock.adjust("95 millis")
      yield* Fiber.join(holder)
      const b = yield* Effect.fork(bulkhead.execute(Effect.succeed("b")))
      yield* TestClock.adjust("299 millis")
      expect(b.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(a)
      expect(yield* Fiber.join(b)).toBe("b")
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0, rejected: 1 })
    }))

  it.scoped("a queueTimeout below the target still bounds the wait", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({
        name: "min",
        maxConcurrent: 1,
        maxQueue: 10,
        queueTimeout: "2 millis",
        codel: { target: "50 millis", interval: "10 millis" }
      })
      yield* Effect.fork(bulkhead.execute(Effect.never))
      yield* Effect.yieldNow()
      const a = yield* Effect.fork(bulkhead.execute(Effect.void))
      yield* TestClock.adjust("2 millis")
      expect(yield* Fiber.await(a)).toEqual(queueTimeout("min"))
    }))

  it.scoped("keyed: each key's queue is judged on its own", () =>
    Effect.gen(function*() {
      const perHost = yield* Bulkhead.keyed<string>({ name: "hosts-codel", maxConcurrent: 1, maxQueue: 10, codel: {} })
      yield* Effect.fork(perHost.execute("a", Effect.never))
      yield* Effect.fork(perHost.execute("b", Effect.sleep("1 second")))
      yield* Effect.yieldNow()
      yield* Effect.fork(perHost.execute("a", Effect.never))
      yield* TestClock.adjust("150 millis")
      // a's queue stands; b's has been empty
      const a2 = yield* Effect.fork(perHost.execute("a", Effect.void))
      const b2 = yield* Effect.fork(perHost.execute("b", Effect.succeed("b2")))
      yield* TestClock.adjust("5 millis")
      expect(yield* Fiber.await(a2)).toEqual(queueTimeout("hosts-codel"))
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(b2)).toBe("b2")
    }))

  it.effect("bad codel options fail at construction, naming the field and the value", () =>
    Effect.gen(function*() {
      const bad = (codel: Bulkhead.Bulkhead.Options["codel"]) =>
        Effect.flip(Effect.scoped(Bulkhead.make({ name: "bad", maxConcurrent: 1, codel }))).pipe(
          Effect.map((error) => {
            if (!(error instanceof InvalidOptionsError.InvalidOptionsError)) throw new Error(`not invalid: ${error}`)
            return error
          })
        )
      const zero = yield* bad({ target: 0 })
      expect(zero.field).toBe("codel.target")
      expect(zero.message).toContain("codel.target")
      const infinite = yield* bad({ interval: Duration.infinity })
      expect(infinite.field).toBe("codel.interval")
      const wrong = yield* bad("fast" as unknown as Bulkhead.Bulkhead.Options["codel"])
      expect(wrong.field).toBe("codel")
    }))

  it.scoped.prop(
    "with codel: never more than maxConcurrent run, every slot comes back, and a call that joined a standing queue waits at most the target",
    {
      seed: FastCheck.integer(),
      max: FastCheck.integer({ min: 1, max: 6 }),
      queue: FastCheck.integer({ min: 1, max: 40 })
    },
    ({ max, queue, seed }) =>
      Effect.gen(function*() {
        const target = 5
        const interval = 40
        const bulkhead = yield* Bulkhead.make({
          name: "prop-codel",
          maxConcurrent: max,
          maxQueue: queue,
          codel: { target: Duration.millis(target), interval: Duration.millis(interval) }
        })
        let running = 0
        let peak = 0
        let rejected = 0
        let longestStandingWait = 0
        // what the bulkhead's rule says of a call when it joins: the queue's state from its own stats, and when
        // the queue last went from empty to not empty
        let busySince = 0
        const call = (work: number) =>
          Effect.gen(function*() {
            const joined = yield* Clock.currentTimeMillis
            const { active, queued } = yield* bulkhead.stats
            const queues = active >= max && queued < queue
            if (queues && queued === 0) busySince = joined
            const standing = queues && queued > 0 && joined - busySince >= interval
            return yield* bulkhead.execute(
              Effect.acquireUseRelease(
                Effect.gen(function*() {
                  running++
                  peak = Math.max(peak, running)
                  const started = yield* Clock.currentTimeMillis
                  if (standing) longestStandingWait = Math.max(longestStandingWait, started - joined)
                }),
                () => Effect.sleep(Duration.millis(work)),
                () => Effect.sync(() => running--)
              )
            ).pipe(Effect.catchTag("BulkheadRejectedError", () => Effect.sync(() => rejected++)))
          })
        const fibers: Array<Fiber.RuntimeFiber<unknown>> = []
        for (let i = 0; i < 300; i++) {
          const work = yield* Random.nextIntBetween(1, 60)
          fibers.push(yield* Effect.fork(call(work)))
          yield* Effect.yieldNow()
          if ((yield* Random.nextIntBetween(0, 5)) === 0) {
            const victim = fibers[yield* Random.nextIntBetween(0, fibers.length)]!
            yield* Fiber.interrupt(victim)
          }
          if ((yield* Random.nextIntBetween(0, 3)) === 0) yield* TestClock.adjust(Duration.millis(3))
        }
        yield* TestClock.adjust("1 hour")
        yield* Effect.forEach(fibers, Fiber.await)
        expect(peak).toBeLessThanOrEqual(max)
        expect(running).toBe(0)
        expect(longestStandingWait).toBeLessThanOrEqual(target)
        expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0, rejected })
      }).pipe(Effect.withRandom(Random.make(seed))),
    { fastCheck: { numRuns: 4 } }
  )
})
