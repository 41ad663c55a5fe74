import {
  CircuitBreaker,
  InvalidOptionsError,
  ResilienceMetrics,
  ResilienceRegistry,
  Retry,
  RetryAfter
} from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import {
  Cause,
  Chunk,
  Data,
  Deferred,
  Duration,
  Effect,
  Either,
  Exit,
  FastCheck as fc,
  Fiber,
  FiberId,
  Metric,
  Option,
  Random,
  Schedule,
  Stream,
  TestClock
} from "effect"
import { Boom, outcome, recordChanges } from "./utils/breaker.js"

class NotFound extends Data.TaggedError("NotFound")<{}> {}

const fail = Effect.fail(new Boom({}))
const ok = Effect.succeed("ok")

const openError = (state: "Open" | "HalfOpen" | "Isolated", retryAfter: Duration.DurationInput, name = "test") =>
  new CircuitBreaker.CircuitBreakerOpenError({ breakerName: name, state, retryAfter: Duration.decode(retryAfter) })

describe("CircuitBreaker", () => {
  describe("strategies", () => {
    it.scoped("consecutive(n) opens at the n-th failure in a row, not before; a success starts over", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({ name: "test", strategy: CircuitBreaker.consecutive(3) })
        const results = []
        for (const effect of [fail, fail, ok, fail, fail]) results.push(yield* outcome(breaker.execute(effect)))
        expect(results).toEqual(["failure", "failure", "success", "failure", "failure"])
        expect(yield* breaker.state).toBe("Closed")
        expect(yield* outcome(breaker.execute(fail))).toBe("failure")
        expect(yield* breaker.state).toBe("Open")
      }))

    it.scoped("countWindow opens when the rate reaches the threshold (>=), once minimumCalls are in", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "test",
          strategy: CircuitBreaker.countWindow({ size: 4, failureRate: 0.5 })
        })
        // minimumCalls defaults to size: three calls with two failures are not enough.
        for (const effect of [fail, fail, ok]) yield* outcome(breaker.execute(effect))
        expect(yield* breaker.state).toBe("Closed")
        // The fourth call, a success, makes 2 of 4 = 0.5 >= 0.5.
        yield* outcome(breaker.execute(ok))
        expect(yield* breaker.state).toBe("Open")
      }))

    it.scoped("countWindow with minimumCalls below size, and a window that slides", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "test",
          strategy: CircuitBreaker.countWindow({ size: 5, failureRate: 0.6, minimumCalls: 3 })
        })
        for (const effect of [fail, ok]) yield* outcome(breaker.execute(effect))
        expect(yield* breaker.state).toBe("Closed")
        // 1 of 3 failed.
        yield* outcome(breaker.execute(ok))
        // 2 of 4, then 2 of 5: under 0.6.
        for (const effect of [fail, ok]) yield* outcome(breaker.execute(effect))
        expect((yield* breaker.stats).failureRate).toBe(0.4)
        // The oldest (a failure) slides out: 2 of 5 again, then 3 of 5 = 0.6.
        yield* outcome(breaker.execute(fail))
        expect(yield* breaker.state).toBe("Closed")
        expect((yield* breaker.stats).failures).toBe(2)
        yield* outcome(breaker.execute(fail))
        expect(yield* breaker.state).toBe("Open")
      }))

    it.scoped("timeWindow counts buckets aligned to the clock and forgets one once duration has passed since it began", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "test",
          strategy: CircuitBreaker.timeWindow({
            duration: "10 seconds",
            buckets: 10,
            failureRate: 0.5,
            minimumCalls: 4
          })
        })
        // Bucket [0, 1s): two failures.
        yield* TestClock.adjust("500 millis")
        for (const effect of [fail, fail]) yield* outcome(breaker.execute(effect))
        // Bucket [9s, 10s): a success; 3 calls, under minimumCalls.
        yield* TestClock.setTime(9_999)
        yield* outcome(breaker.execute(ok))
        expect(yield* breaker.stats).toMatchObject({ successes: 1, failures: 2, state: "Closed" })
        // At 10s the first bucket has lived its 10 seconds: forgotten.
        yield* TestClock.setTime(10_000)
        expect(yield* breaker.stats).toMatchObject({ successes: 1, failures: 0 })
        for (const effect of [fail, fail]) yield* outcome(breaker.execute(effect))
        expect(yield* breaker.state).toBe("Closed")
        // 4 calls, 3 failed.
        yield* outcome(breaker.execute(fail))
        expect(yield* breaker.state).toBe("Open")
      }))

    it.scoped("timeWindow's minimumCalls defaults to 20", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "test",
          strategy: CircuitBreaker.timeWindow({ duration: "1 minute", buckets: 6, failureRate: 1 })
        })
        for (let i = 0; i < 19; i++) yield* outcome(breaker.execute(fail))
        expect(yield* breaker.state).toBe("Closed")
        yield* outcome(breaker.execute(fail))
        expect(yield* breaker.state).toBe("Open")
      }))

    it.scoped("what isFailure refuses counts as a success; interruption counts as nothing", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "test",
          strategy: CircuitBreaker.consecutive(2),
          isFailure: (cause) => !Cause.failureOption(cause).pipe(Option.exists((e) => e instanceof NotFound))
        })
        yield* outcome(breaker.execute(fail))
        expect(yield* outcome(breaker.execute(Effect.fail(new NotFound())))).toBe("failure")
        expect(yield* breaker.stats).toMatchObject({ successes: 1, failures: 1 })
        yield* outcome(breaker.execute(fail))
        expect(yield* breaker.state).toBe("Closed")
        const fiber = yield* Effect.fork(breaker.execute(Effect.never))
        yield* Effect.yieldNow()
        yield* Fiber.interrupt(fiber)
        const interrupted = yield* Effect.exit(breaker.execute(Effect.failCause(Cause.interrupt(FiberId.none))))
        expect(Exit.isInterrupted(interrupted)).toBe(true)
        expect(yield* breaker.stats).toMatchObject({ successes: 1, failures: 2, state: "Closed" })
        expect(Exit.isFailure(yield* Effect.exit(breaker.execute(Effect.die("defect"))))).toBe(true)
        expect(yield* breaker.state).toBe("Open")
      }))

    it.scoped("a call is slow when it takes strictly longer than slowCall.duration; under consecutive it is a failure", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "test",
          strategy: CircuitBreaker.consecutive(2),
          slowCall: { duration: "1 second", rate: 1 }
        })
        const slow = (millis: number) => Effect.fork(breaker.execute(Effect.sleep(Duration.millis(millis))))
        const f1 = yield* slow(1000)
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(f1)
        expect(yield* breaker.stats).toMatchObject({ successes: 1, failures: 0, slowCalls: 0 })
        for (let i = 0; i < 2; i++) {
          const f = yield* slow(1001)
          yield* TestClock.adjust("1001 millis")
          yield* Fiber.join(f)
        }
        expect(yield* breaker.stats).toMatchObject({ state: "Open", slowCalls: 2 })
      }))

    it.scoped("the slow-call rate opens a window strategy whatever the outcomes", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "test",
          strategy: CircuitBreaker.countWindow({ size: 4, failureRate: 1 }),
          slowCall: { duration: "100 millis", rate: 0.5 }
        })
        const call = (millis: number, effect: Effect.Effect<string, Boom>) =>
          Effect.gen(function*() {
            const f = yield* Effect.fork(outcome(breaker.execute(Effect.delay(effect, Duration.millis(millis)))))
            yield* TestClock.adjust(Duration.millis(millis))
            return yield* Fiber.join(f)
          })
        yield* call(200, ok)
        yield* call(10, ok)
        yield* call(10, fail)
        expect(yield* breaker.state).toBe("Closed")
        yield* call(200, fail)
        expect(yield* breaker.stats).toMatchObject({ state: "Open", slowCalls: 2, slowCallRate: 0.5, failureRate: 0.5 })
      }))
  })

  describe("open and half-open", () => {
    it.scoped("the seed's scenario: threshold 3, an upstream that fails 4 times then recovers, 5 s open", () =>
      Effect.gen(function*() {
        let upstreamCalls = 0
        const upstream = Effect.suspend(() => ++upstreamCalls <= 4 ? Effect.fail(new Boom({ n: upstreamCalls })) : ok)
        const breaker = yield* CircuitBreaker.make({
          name: "test",
          strategy: CircuitBreaker.consecutive(3),
          openDuration: "5 seconds"
        })
        const changes = yield* recordChanges(breaker.changes)
        const log: Array<string> = []
        const call = Effect.gen(function*() {
          const now = yield* TestClock.currentTimeMillis
          const exit = yield* Effect.exit(breaker.execute(upstream))
          log.push(
            `${now}:${
              Exit.match(exit, {
                onSuccess: () => "success",
                onFailure: (cause) => {
                  const e = Cause.failureOption(cause).pipe(Option.getOrThrow)
                  return e._tag === "Boom"
                    ? "failure"
                    : `rejected(${e.state},${Duration.toMillis(e.retryAfter)})`
                }
              })
            }`
          )
        })
        for (let i = 0; i < 4; i++) yield* call
        yield* TestClock.adjust("4999 millis")
        yield* call
        yield* TestClock.adjust("1 millis")
        yield* call // the probe: the upstream's 4th call fails, the breaker opens again
        yield* call
        yield* TestClock.adjust("5 seconds")
        yield* call // the probe succeeds and closes it
        yield* call
        yield* call
        expect(log).toEqual([
          "0:failure",
          "0:failure",
          "0:failure",
          "0:rejected(Open,5000)",
          "4999:rejected(Open,1)",
          "5000:failure",
          "5000:rejected(Open,5000)",
          "10000:success",
          "10000:success",
          "10000:success"
        ])
        expect(upstreamCalls).toBe(7)
        yield* Effect.yieldNow()
        expect(changes).toEqual([
          "Closed>Open@0",
          "Open>HalfOpen@5000",
          "HalfOpen>Open@5000",
          "Open>HalfOpen@10000",
          "HalfOpen>Closed@10000"
        ])
        expect(yield* breaker.stats).toMatchObject({ state: "Closed", successes: 2, failures: 0, rejected: 3 })
      }))

    it.scoped("an open breaker rejects without running the effect, with the time until probes as RetryAfter", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "test",
          strategy: CircuitBreaker.consecutive(1),
          openDuration: "10 seconds"
        })
        yield* outcome(breaker.execute(fail))
        yield* TestClock.adjust("3 seconds")
        let ran = false
        const exit = yield* Effect.exit(breaker.execute(Effect.sync(() => (ran = true))))
        expect(ran).toBe(false)
        expect(exit).toEqual(Exit.fail(openError("Open", "7 seconds")))
        const error = Cause.failureOption(Exit.causeOption(exit).pipe(Option.getOrThrow)).pipe(Option.getOrThrow)
        expect(RetryAfter.get(error)).toEqual(Option.some(Duration.seconds(7)))
        expect(error.message).toContain("is open")
      }))

    it.scoped("Open turns HalfOpen lazily, at the instant openDuration ended (inclusive)", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "test",
          strategy: CircuitBreaker.consecutive(1),
          openDuration: "5 seconds"
        })
        const changes = yield* recordChanges(breaker.changes)
        yield* TestClock.setTime(1_000)
        yield* outcome(breaker.execute(fail))
        yield* TestClock.setTime(5_999)
        expect(yield* breaker.state).toBe("Open")
        yield* TestClock.setTime(60_000)
        expect(yield* breaker.state).toBe("HalfOpen")
        yield* Effect.yieldNow()
        expect(changes).toEqual(["Closed>Open@1000", "Open>HalfOpen@6000"])
      }))

    it.scoped("a full half-open rejects with the current open duration; successesToClose successes close it", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "test",
          strategy: CircuitBreaker.consecutive(1),
          openDuration: "2 seconds",
          halfOpen: { maxProbes: 1, successesToClose: 2 }
        })
        yield* outcome(breaker.execute(fail))
        yield* TestClock.adjust("2 seconds")
        const gate = yield* Deferred.make<void>()
        const probe = yield* Effect.fork(breaker.execute(Deferred.await(gate)))
        yield* Effect.yieldNow()
        expect(yield* Effect.exit(breaker.execute(ok))).toEqual(Exit.fail(openError("HalfOpen", "2 seconds")))
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(probe)
        expect(yield* breaker.state).toBe("HalfOpen")
        expect(yield* outcome(breaker.execute(ok))).toBe("success")
        expect(yield* breaker.state).toBe("Closed")
      }))

    it.scoped("a probe failure reopens with the next openDuration and the progress starts over", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "test",
          strategy: CircuitBreaker.consecutive(1),
          openDuration: Schedule.exponential("1 second"),
          halfOpen: { successesToClose: 2 }
        })
        const retryAfter = Effect.map(
          Effect.flip(breaker.execute(ok)),
          (e) => e instanceof CircuitBreaker.CircuitBreakerOpenError ? Duration.toMillis(e.retryAfter) : -1
        )
        yield* outcome(breaker.execute(fail))
        expect(yield* retryAfter).toBe(1000)
        yield* TestClock.adjust("1 second")
        yield* outcome(breaker.execute(ok)) // one success of two
        expect(yield* outcome(breaker.execute(fail))).toBe("failure")
        expect(yield* retryAfter).toBe(2000)
        yield* TestClock.adjust("2 seconds")
        yield* outcome(breaker.execute(fail))
        expect(yield* retryAfter).toBe(4000)
        yield* TestClock.adjust("4 seconds")
        yield* outcome(breaker.execute(ok))
        // The earlier success was forgotten when the probe failed: one more is needed.
        expect(yield* breaker.state).toBe("HalfOpen")
        yield* outcome(breaker.execute(ok))
        expect(yield* breaker.state).toBe("Closed")
        // Closing starts the schedule over.
        yield* outcome(breaker.execute(fail))
        expect(yield* retryAfter).toBe(1000)
      }))

    it.scoped("a finished openDuration schedule keeps its last delay", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "test",
          strategy: CircuitBreaker.consecutive(1),
          openDuration: Schedule.fromDelays("1 second", "3 seconds")
        })
        const retryAfter = Effect.map(
          Effect.flip(breaker.execute(ok)),
          (e) => e instanceof CircuitBreaker.CircuitBreakerOpenError ? Duration.toMillis(e.retryAfter) : -1
        )
        const delays: Array<number> = []
        yield* outcome(breaker.execute(fail))
        for (let i = 0; i < 4; i++) {
          const d = yield* retryAfter
          delays.push(d)
          yield* TestClock.adjust(Duration.millis(d))
          yield* outcome(breaker.execute(fail))
        }
        expect(delays).toEqual([1000, 3000, 3000, 3000])
      }))

    it.scoped("an interrupted probe frees its slot and is no failure", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "test",
          strategy: CircuitBreaker.consecutive(1),
          openDuration: "1 second"
        })
        yield* outcome(breaker.execute(fail))
        yield* TestClock.adjust("1 second")
        const probe = yield* Effect.fork(breaker.execute(Effect.never))
        yield* Effect.yieldNow()
        expect(yield* outcome(breaker.execute(ok))).toBe("rejected")
        yield* Fiber.interrupt(probe)
        expect(yield* breaker.state).toBe("HalfOpen")
        expect(yield* outcome(breaker.execute(ok))).toBe("success")
        expect(yield* breaker.state).toBe("Closed")
      }))

    it.scoped("a slow probe reopens the breaker, whatever its outcome", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "test",
          strategy: CircuitBreaker.countWindow({ size: 2, failureRate: 1 }),
          openDuration: "1 second",
          slowCall: { duration: "100 millis", rate: 1 }
        })
        for (let i = 0; i < 2; i++) yield* outcome(breaker.execute(fail))
        yield* TestClock.adjust("1 second")
        const probe = yield* Effect.fork(outcome(breaker.execute(Effect.delay(ok, "101 millis"))))
        yield* TestClock.adjust("101 millis")
        expect(yield* Fiber.join(probe)).toBe("success")
        expect(yield* breaker.state).toBe("Open")
      }))

    it.scoped("a probe that outlives its half-open episode (reset meanwhile) counts nowhere", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "test",
          strategy: CircuitBreaker.consecutive(1),
          openDuration: "1 second"
        })
        yield* outcome(breaker.execute(fail))
        yield* TestClock.adjust("1 second")
        const gate = yield* Deferred.make<void>()
        const probe = yield* Effect.fork(outcome(breaker.execute(Effect.zipRight(Deferred.await(gate), fail))))
        yield* Effect.yieldNow()
        yield* breaker.reset
        yield* Deferred.succeed(gate, undefined)
        expect(yield* Fiber.join(probe)).toBe("failure")
        expect(yield* breaker.stats).toMatchObject({ state: "Closed", failures: 0, successes: 0 })
      }))

    it.effect.prop(
      "half-open admits exactly maxProbes of 50 concurrent callers, and interrupted probes leak no slot",
      {
        maxProbes: fc.integer({ min: 1, max: 12 }),
        yields: fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 50, maxLength: 50 }),
        interrupted: fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
        seed: fc.integer()
      },
      ({ interrupted, maxProbes, seed, yields }) =>
        Effect.gen(function*() {
          const breaker = yield* CircuitBreaker.make({
            name: "test",
            strategy: CircuitBreaker.consecutive(1),
            openDuration: "1 second",
            halfOpen: { maxProbes, successesToClose: 1000 }
          })
          yield* outcome(breaker.execute(fail))
          yield* TestClock.adjust("1 second")
          const gate = yield* Deferred.make<void>()
          let running = 0
          let maxRunning = 0
          const probe = Effect.acquireUseRelease(
            Effect.sync(() => {
              running++
              maxRunning = Math.max(maxRunning, running)
            }),
            () => Deferred.await(gate),
            () => Effect.sync(() => running--)
          )
          // 50 callers, each arriving after a random number of yields, in a shuffled order.
          const order = yield* Random.shuffle(yields.map((n, i) => [n, i] as const))
          let arrived = 0
          let settled = 0
          const fibers = yield* Effect.forEach(
            order,
            ([n]) =>
              Effect.fork(
                Effect.repeatN(Effect.yieldNow(), n).pipe(
                  Effect.zipRight(Effect.sync(() => arrived++)),
                  Effect.zipRight(Effect.either(breaker.execute(probe))),
                  Effect.ensuring(Effect.sync(() => settled++))
                )
              )
          )
          for (let i = 0; i < 10_000 && !(arrived === 50 && settled + running === 50); i++) yield* Effect.yieldNow()
          expect(running).toBe(maxProbes)
          expect(settled).toBe(50 - maxProbes)
          // Interrupt some of the admitted probes: their slots come back, and nothing counts as a failure.
          const waiting = fibers.filter((f) => f.unsafePoll() === null)
          expect(waiting.length).toBe(maxProbes)
          const toInterrupt = waiting.filter((_, i) => interrupted[i])
          yield* Effect.forEach(toInterrupt, Fiber.interrupt)
          const rejected = (yield* Effect.forEach(
            fibers.filter((f) => !waiting.includes(f)),
            Fiber.join
          )).filter(Either.isLeft)
          expect(rejected.length).toBe(50 - maxProbes)
          expect(yield* breaker.state).toBe("HalfOpen")
          // Exactly the freed slots are admitted again.
          const again = yield* Effect.forEach(
            Array.from({ length: maxProbes }, () => breaker.execute(probe)),
            (call) => Effect.fork(Effect.either(call))
          )
          for (let i = 0; i < 10; i++) yield* Effect.yieldNow()
          expect(running).toBe(maxProbes)
          expect(maxRunning).toBe(maxProbes)
          yield* Deferred.succeed(gate, undefined)
          const all = yield* Effect.forEach([...waiting.filter((f) => !toInterrupt.includes(f)), ...again], Fiber.join)
          expect(all.filter(Either.isRight).length).toBe(maxProbes)
          expect(yield* breaker.stats).toMatchObject({ state: "HalfOpen", rejected: 50 - toInterrupt.length })
        }).pipe(Effect.scoped, Effect.withRandom(Random.make(seed))),
      { fastCheck: { numRuns: 40 } }
    )
  })

  describe("isolate and reset", () => {
    it.scoped("isolate rejects with an infinite retryAfter and no hint; reset closes; no-ops emit nothing", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({ name: "test" })
        const changes = yield* recordChanges(breaker.changes)
        yield* breaker.isolate
        yield* breaker.isolate
        const exit = yield* Effect.exit(breaker.execute(ok))
        expect(exit).toEqual(Exit.fail(openError("Isolated", Duration.infinity)))
        const error = Cause.failureOption(Exit.causeOption(exit).pipe(Option.getOrThrow)).pipe(Option.getOrThrow)
        expect(RetryAfter.get(error)).toEqual(Option.none())
        yield* TestClock.adjust("1 hour")
        expect(yield* breaker.state).toBe("Isolated")
        yield* breaker.reset
        yield* breaker.reset
        expect(yield* outcome(breaker.execute(ok))).toBe("success")
        yield* Effect.yieldNow()
        expect(changes).toEqual(["Closed>Isolated@0", "Isolated>Closed@3600000"])
      }))

    it.scoped("stats are kept while open, cleared on close; rejected counts since creation; onStateChange runs", () =>
      Effect.gen(function*() {
        const hooked: Array<string> = []
        const breaker = yield* CircuitBreaker.make({
          name: "test",
          strategy: CircuitBreaker.countWindow({ size: 4, failureRate: 0.75 }),
          openDuration: "1 second",
          onStateChange: (c) => Effect.sync(() => hooked.push(`${c.breakerName}:${c.from}>${c.to}`))
        })
        for (const effect of [ok, fail, fail, fail]) yield* outcome(breaker.execute(effect))
        yield* outcome(breaker.execute(ok))
        expect(yield* breaker.stats).toEqual({
          state: "Open",
          successes: 1,
          failures: 3,
          slowCalls: 0,
          rejected: 1,
          failureRate: 0.75,
          slowCallRate: 0
        })
        yield* TestClock.adjust("1 second")
        yield* outcome(breaker.execute(ok))
        expect(yield* breaker.stats).toEqual({
          state: "Closed",
          successes: 0,
          failures: 0,
          slowCalls: 0,
          rejected: 1,
          failureRate: 0,
          slowCallRate: 0
        })
        // The hook runs on its own fiber, after the state changed: give it a turn.
        for (let i = 0; i < 5; i++) yield* Effect.yieldNow()
        expect(hooked).toEqual(["test:Closed>Open", "test:Open>HalfOpen", "test:HalfOpen>Closed"])
      }))
  })

  describe("an onStateChange hook that misbehaves cannot wedge the breaker or block the caller", () => {
    const probeCycle = (hook: (change: CircuitBreaker.StateChange) => Effect.Effect<void>) =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "hooked",
          strategy: CircuitBreaker.consecutive(1),
          openDuration: "1 second",
          onStateChange: hook
        })
        expect(yield* outcome(breaker.execute(fail))).toBe("failure")
        expect(yield* breaker.state).toBe("Open")
        yield* TestClock.adjust("1 second")
        // Open -> HalfOpen happens on this call: the probe runs and closes the breaker.
        expect(yield* outcome(breaker.execute(ok))).toBe("success")
        expect(yield* breaker.state).toBe("Closed")
        // And the next cycle works the same (no probe slot leaked).
        expect(yield* outcome(breaker.execute(fail))).toBe("failure")
        yield* TestClock.adjust("1 second")
        expect(yield* outcome(breaker.execute(ok))).toBe("success")
        expect(yield* breaker.state).toBe("Closed")
      })

    it.scoped("a hook that throws on Open -> HalfOpen", () =>
      probeCycle((c) => {
        if (c.to === "HalfOpen") throw new Error("hook threw")
        return Effect.void
      }))

    it.scoped("a hook that dies or fails", () =>
      probeCycle((c) => c.to === "HalfOpen" ? Effect.die("hook died") : Effect.interrupt))

    it.scoped("a hook that never completes: calls return at once and stay interruptible", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "hooked",
          strategy: CircuitBreaker.consecutive(1),
          openDuration: "1 second",
          onStateChange: () => Effect.never
        })
        expect(yield* outcome(breaker.execute(fail))).toBe("failure")
        yield* TestClock.adjust("1 second")
        const gate = yield* Deferred.make<void>()
        // The probe (which turns the breaker half-open) blocks on the upstream; interrupting it must work.
        const probe = yield* Effect.fork(breaker.execute(Deferred.await(gate)))
        for (let i = 0; i < 5; i++) yield* Effect.yieldNow()
        expect(yield* breaker.state).toBe("HalfOpen")
        yield* Fiber.interrupt(probe)
        // Its slot is free: the next probe runs and closes the breaker.
        expect(yield* outcome(breaker.execute(ok))).toBe("success")
        expect(yield* breaker.state).toBe("Closed")
      }))
  })

  describe("with Retry outside", () => {
    it.scoped("each attempt is seen by the breaker; the open breaker's hint stops retries that cannot succeed", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "test",
          strategy: CircuitBreaker.consecutive(2),
          openDuration: "10 seconds"
        })
        let upstreamCalls = 0
        const upstream = Effect.suspend(() => {
          upstreamCalls++
          return fail
        })
        const fiber = yield* upstream.pipe(
          CircuitBreaker.withBreaker(breaker),
          Retry.retry({ schedule: Schedule.spaced("100 millis"), maxAttempts: 5, maxRetryAfter: "5 seconds" }),
          Effect.flip,
          Effect.fork
        )
        yield* TestClock.adjust("1 second")
        const error = yield* Fiber.join(fiber)
        expect(upstreamCalls).toBe(2)
        expect(error).toEqual(openError("Open", "9900 millis"))
      }))

    it.scoped("a failing onStateChange hook does not change the caller's outcome", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "test",
          strategy: CircuitBreaker.consecutive(1),
          onStateChange: () => Effect.die("hook broke")
        })
        expect(yield* outcome(breaker.execute(fail))).toBe("failure")
        expect(yield* breaker.state).toBe("Open")
      }))
  })

  describe("registry", () => {
    it.effect("registers by name with its state, refuses a duplicate, unregisters with its scope", () =>
      Effect.gen(function*() {
        const registry = yield* ResilienceRegistry.ResilienceRegistry
        yield* Effect.scoped(Effect.gen(function*() {
          const breaker = yield* CircuitBreaker.make({ name: "payments" })
          yield* breaker.isolate
          expect(yield* registry.breakers).toEqual([{ name: "payments", state: "Isolated" }])
          const duplicate = yield* Effect.exit(CircuitBreaker.make({ name: "payments" }))
          expect(duplicate).toEqual(
            Exit.fail(
              new ResilienceRegistry.DuplicateNameError({ kind: "circuit_breaker", registeredName: "payments" })
            )
          )
        }))
        expect(yield* registry.breakers).toEqual([])
      }).pipe(Effect.provide(ResilienceRegistry.layer)))
  })

  describe("metrics", () => {
    it.scoped("state gauge, transitions and calls by outcome; successes counted locally until flushed", () =>
      Effect.gen(function*() {
        const name = "metrics-breaker"
        const breaker = yield* CircuitBreaker.make({
          name,
          strategy: CircuitBreaker.consecutive(2),
          openDuration: "1 second"
        })
        const state = Metric.tagged(ResilienceMetrics.circuitBreakerState, "name", name)
        const calls = ResilienceMetrics.callsTotal.pipe(
          Metric.tagged("policy", "circuit_breaker"),
          Metric.tagged("name", name)
        )
        const count = (outcome: string) =>
          Effect.map(Metric.value(Metric.tagged(calls, "outcome", outcome)), (s) => s.count)
        const transitions = (from: string, to: string) =>
          Effect.map(
            Metric.value(ResilienceMetrics.circuitBreakerTransitionsTotal.pipe(
              Metric.tagged("name", name),
              Metric.tagged("from", from),
              Metric.tagged("to", to)
            )),
            (s) => s.count
          )
        expect((yield* Metric.value(state)).value).toBe(0)
        for (let i = 0; i < 3; i++) yield* outcome(breaker.execute(ok))
        expect(yield* count("success")).toBe(0)
        yield* ResilienceMetrics.flush
        expect(yield* count("success")).toBe(3)
        for (let i = 0; i < 3; i++) yield* outcome(breaker.execute(fail))
        expect((yield* Metric.value(state)).value).toBe(1)
        expect(yield* count("failure")).toBe(2)
        expect(yield* count("rejected")).toBe(1)
        yield* TestClock.adjust("1 second")
        expect(yield* breaker.state).toBe("HalfOpen")
        expect((yield* Metric.value(state)).value).toBe(2)
        yield* breaker.isolate
        expect((yield* Metric.value(state)).value).toBe(3)
        expect(yield* transitions("closed", "open")).toBe(1)
        expect(yield* transitions("open", "half_open")).toBe(1)
        expect(yield* transitions("half_open", "isolated")).toBe(1)
      }))
  })

  describe("validation", () => {
    const cases: Array<[string, CircuitBreaker.CircuitBreaker.Options, string, unknown]> = [
      ["empty name", { name: "" }, "name", ""],
      ["threshold 0", { name: "x", strategy: CircuitBreaker.consecutive(0) }, "strategy.threshold", 0],
      [
        "rate 0",
        { name: "x", strategy: CircuitBreaker.countWindow({ size: 10, failureRate: 0 }) },
        "strategy.failureRate",
        0
      ],
      [
        "rate above 1",
        { name: "x", strategy: CircuitBreaker.countWindow({ size: 10, failureRate: 1.5 }) },
        "strategy.failureRate",
        1.5
      ],
      [
        "minimumCalls above size",
        { name: "x", strategy: CircuitBreaker.countWindow({ size: 10, failureRate: 0.5, minimumCalls: 11 }) },
        "strategy.minimumCalls",
        11
      ],
      [
        "negative window",
        { name: "x", strategy: CircuitBreaker.timeWindow({ duration: -1, buckets: 10, failureRate: 0.5 }) },
        "strategy.duration",
        -1
      ],
      [
        "zero buckets",
        { name: "x", strategy: CircuitBreaker.timeWindow({ duration: "1 minute", buckets: 0, failureRate: 0.5 }) },
        "strategy.buckets",
        0
      ],
      ["negative openDuration", { name: "x", openDuration: "-5 seconds" }, "openDuration", "-5 seconds"],
      ["maxProbes 0", { name: "x", halfOpen: { maxProbes: 0 } }, "halfOpen.maxProbes", 0],
      ["successesToClose 0", { name: "x", halfOpen: { successesToClose: 0 } }, "halfOpen.successesToClose", 0],
      ["slow rate 0", { name: "x", slowCall: { duration: "1 second", rate: 0 } }, "slowCall.rate", 0],
      ["negative slow duration", { name: "x", slowCall: { duration: -3, rate: 0.5 } }, "slowCall.duration", -3]
    ]
    for (const [title, options, field, value] of cases) {
      it.scoped(`fails at construction on ${title}, naming ${field}`, () =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(CircuitBreaker.make(options))
          expect(error).toBeInstanceOf(InvalidOptionsError.InvalidOptionsError)
          expect(error).toMatchObject({ constructorName: "CircuitBreaker.make", field, value })
        }))
    }

    it.scoped("an openDuration schedule that never recurs is refused", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(CircuitBreaker.make({ name: "x", openDuration: Schedule.stop }))
        expect(error).toMatchObject({ _tag: "InvalidOptionsError", field: "openDuration" })
      }))

    it.scoped("keyed refuses maxKeys 0 and a zero idleTtl", () =>
      Effect.gen(function*() {
        expect(yield* Effect.flip(CircuitBreaker.keyed({ name: "x", maxKeys: 0, idleTtl: "1 minute" }))).toMatchObject(
          { constructorName: "CircuitBreaker.keyed", field: "maxKeys", value: 0 }
        )
        expect(yield* Effect.flip(CircuitBreaker.keyed({ name: "x", maxKeys: 10, idleTtl: 0 }))).toMatchObject({
          field: "idleTtl"
        })
      }))
  })

  describe("withBreaker", () => {
    it.scoped("is dual and keeps the error union", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({ name: "test", strategy: CircuitBreaker.consecutive(1) })
        const guarded: Effect.Effect<string, Boom | CircuitBreaker.CircuitBreakerOpenError> = fail.pipe(
          Effect.as("x"),
          CircuitBreaker.withBreaker(breaker)
        )
        expect(yield* outcome(guarded)).toBe("failure")
        expect(yield* outcome(CircuitBreaker.withBreaker(ok, breaker))).toBe("rejected")
        expect(CircuitBreaker.isCircuitBreaker(breaker)).toBe(true)
        expect(CircuitBreaker.isCircuitBreaker({})).toBe(false)
      }))
  })

  describe("changes", () => {
    it.scoped("is bounded: a reader that never reads loses the oldest, never blocks the breaker", () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({ name: "test" })
        const taken = yield* Effect.fork(Stream.runCollect(Stream.take(breaker.changes, 2)))
        yield* Effect.yieldNow()
        for (let i = 0; i < 1000; i++) {
          yield* breaker.isolate
          yield* breaker.reset
        }
        const first = Chunk.toReadonlyArray(yield* Fiber.join(taken)).map((c) => c.to)
        expect(first.length).toBe(2)
      }))
  })
})
