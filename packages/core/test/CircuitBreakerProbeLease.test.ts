import { CircuitBreaker, InvalidOptionsError } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, FastCheck as fc, Fiber, TestClock } from "effect"
import { Boom, outcome, recordChanges } from "./utils/breaker.js"

const fail = Effect.fail(new Boom({}))
const ok = Effect.succeed("ok")

/** A breaker that opens on its first failure for 1 s, with `halfOpen` as given. */
const makeBreaker = (halfOpen?: NonNullable<CircuitBreaker.CircuitBreaker.Options["halfOpen"]>) =>
  CircuitBreaker.make({
    name: "lease",
    strategy: CircuitBreaker.consecutive(1),
    openDuration: "1 second",
    ...(halfOpen === undefined ? {} : { halfOpen })
  })

/** Opens the breaker and waits out `openDuration`: the next call is a probe. */
const toHalfOpen = (breaker: CircuitBreaker.CircuitBreaker) =>
  Effect.gen(function*() {
    expect(yield* outcome(breaker.execute(fail))).toBe("failure")
    yield* TestClock.adjust("1 second")
    expect(yield* breaker.state).toBe("HalfOpen")
  })

/** A probe that hangs until `gate` is completed, then answers with what the gate holds. */
const stuckProbe = (breaker: CircuitBreaker.CircuitBreaker) =>
  Effect.gen(function*() {
    const gate = yield* Deferred.make<string, Boom>()
    const fiber = yield* Effect.fork(outcome(breaker.execute(Deferred.await(gate))))
    yield* Effect.yieldNow()
    return { gate, fiber }
  })

describe("CircuitBreaker halfOpen.probeLease", () => {
  it.scoped("without a lease, a stuck probe holds its slot until it ends", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker()
      yield* toHalfOpen(breaker)
      const probe = yield* stuckProbe(breaker)
      yield* TestClock.adjust("10 seconds")
      expect(yield* outcome(breaker.execute(ok))).toBe("rejected")
      yield* Deferred.succeed(probe.gate, "ok")
      expect(yield* Fiber.join(probe.fiber)).toBe("success")
      expect(yield* breaker.state).toBe("Closed")
    }))

  it.scoped("a probe stuck past its lease frees the slot: the next call probes and closes; the late failure counts as nothing", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ probeLease: "100 millis" })
      const changes = yield* recordChanges(breaker.changes)
      yield* toHalfOpen(breaker)
      const probe = yield* stuckProbe(breaker)
      yield* TestClock.adjust("60 millis")
      // Still leased: rejected, told to come back when the lease runs out (not after a whole open duration).
      const rejected = yield* Effect.flip(breaker.execute(ok))
      expect(rejected).toMatchObject({ _tag: "CircuitBreakerOpenError", state: "HalfOpen" })
      expect(Duration.toMillis(rejected.retryAfter)).toBe(40)
      yield* TestClock.adjust("40 millis")
      // The lease ran out (inclusive): this call is the probe, it succeeds and closes the breaker.
      expect(yield* outcome(breaker.execute(ok))).toBe("success")
      expect(yield* breaker.state).toBe("Closed")
      // The stuck probe fails at last, after the dependency is back: it reopens nothing.
      yield* Deferred.fail(probe.gate, new Boom({}))
      expect(yield* Fiber.join(probe.fiber)).toBe("failure")
      expect(yield* breaker.stats).toMatchObject({ state: "Closed", failures: 0 })
      yield* Effect.yieldNow()
      expect(changes).toEqual(["Closed>Open@0", "Open>HalfOpen@1000", "HalfOpen>Closed@1100"])
    }))

  it.scoped("with every probe stuck, one more probe per lease; the first failure with no success reopens", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ probeLease: "100 millis" })
      yield* toHalfOpen(breaker)
      const first = yield* stuckProbe(breaker)
      yield* TestClock.adjust("100 millis")
      const second = yield* stuckProbe(breaker)
      yield* TestClock.adjust("50 millis")
      expect(yield* outcome(breaker.execute(ok))).toBe("rejected")
      // The first probe times out (its own failure): no probe has succeeded, so the breaker opens again.
      yield* Deferred.fail(first.gate, new Boom({}))
      expect(yield* Fiber.join(first.fiber)).toBe("failure")
      expect(yield* breaker.state).toBe("Open")
      // The second belongs to the period that ended: its answer settles nothing.
      yield* Deferred.succeed(second.gate, "ok")
      expect(yield* Fiber.join(second.fiber)).toBe("success")
      expect(yield* breaker.state).toBe("Open")
      expect(yield* outcome(breaker.execute(ok))).toBe("rejected")
    }))

  it.scoped("successesToClose 2: a probe's late success counts towards closing", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ probeLease: "100 millis", successesToClose: 2 })
      yield* toHalfOpen(breaker)
      // The first's lease ran out, the second probes; the first then succeeds: a success all the same.
      const first = yield* stuckProbe(breaker)
      yield* TestClock.adjust("100 millis")
      const second = yield* stuckProbe(breaker)
      yield* Deferred.succeed(first.gate, "ok")
      expect(yield* Fiber.join(first.fiber)).toBe("success")
      expect(yield* breaker.state).toBe("HalfOpen")
      // The second's lease runs out: a third call probes, succeeds and closes; the second's late failure is stale.
      yield* TestClock.adjust("100 millis")
      expect(yield* outcome(breaker.execute(ok))).toBe("success")
      expect(yield* breaker.state).toBe("Closed")
      yield* Deferred.fail(second.gate, new Boom({}))
      expect(yield* Fiber.join(second.fiber)).toBe("failure")
      expect(yield* breaker.state).toBe("Closed")
    }))

  it.scoped("a late failure after another probe's success in the same period does not reopen", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ probeLease: "100 millis", successesToClose: 2 })
      yield* toHalfOpen(breaker)
      const first = yield* stuckProbe(breaker)
      yield* TestClock.adjust("100 millis")
      expect(yield* outcome(breaker.execute(ok))).toBe("success")
      yield* Deferred.fail(first.gate, new Boom({}))
      expect(yield* Fiber.join(first.fiber)).toBe("failure")
      expect(yield* breaker.state).toBe("HalfOpen")
      expect(yield* outcome(breaker.execute(ok))).toBe("success")
      expect(yield* breaker.state).toBe("Closed")
    }))

  it.scoped("a probe whose lease ran out, interrupted, gives back no slot it no longer holds", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ probeLease: "100 millis" })
      yield* toHalfOpen(breaker)
      const first = yield* stuckProbe(breaker)
      yield* TestClock.adjust("100 millis")
      const second = yield* stuckProbe(breaker)
      yield* Fiber.interrupt(first.fiber)
      // The second still holds the only slot.
      expect(yield* outcome(breaker.execute(ok))).toBe("rejected")
      yield* Deferred.succeed(second.gate, "ok")
      expect(yield* Fiber.join(second.fiber)).toBe("success")
      expect(yield* breaker.state).toBe("Closed")
    }))

  it.scoped("keyed: each key's probes have their own leases", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.keyed({
        name: "lease-keyed",
        strategy: CircuitBreaker.consecutive(1),
        openDuration: "1 second",
        halfOpen: { probeLease: "100 millis" },
        maxKeys: 10,
        idleTtl: "1 minute"
      })
      for (const key of ["a", "b"]) expect(yield* outcome(breaker.execute(key, fail))).toBe("failure")
      yield* TestClock.adjust("1 second")
      const gate = yield* Deferred.make<string>()
      const stuck = yield* Effect.fork(outcome(breaker.execute("a", Deferred.await(gate))))
      yield* Effect.yieldNow()
      expect(yield* outcome(breaker.execute("a", ok))).toBe("rejected")
      expect(yield* outcome(breaker.execute("b", ok))).toBe("success")
      yield* TestClock.adjust("100 millis")
      expect(yield* outcome(breaker.execute("a", ok))).toBe("success")
      expect(yield* breaker.state("a")).toBe("Closed")
      yield* Fiber.interrupt(stuck)
    }))

  it.effect.prop(
    "with probes that never answer, a call probes exactly when fewer than maxProbes leases are live",
    {
      maxProbes: fc.integer({ min: 1, max: 4 }),
      leaseMillis: fc.integer({ min: 1, max: 200 }),
      steps: fc.array(fc.tuple(fc.integer({ min: 0, max: 150 }), fc.integer({ min: 0, max: 4 })), {
        minLength: 1,
        maxLength: 30
      })
    },
    ({ leaseMillis, maxProbes, steps }) =>
      Effect.gen(function*() {
        const breaker = yield* makeBreaker({ maxProbes, probeLease: Duration.millis(leaseMillis) })
        yield* toHalfOpen(breaker)
        const never = Effect.never
        const admitted: Array<number> = []
        let now = 1_000
        let running = 0
        for (const [wait, callers] of steps) {
          yield* TestClock.adjust(Duration.millis(wait))
          now += wait
          for (let i = 0; i < callers; i++) {
            const live = admitted.filter((at) => at + leaseMillis > now).length
            const before = running
            const fiber = yield* Effect.fork(
              breaker.execute(Effect.zipRight(Effect.sync(() => running++), never))
            )
            yield* Effect.yieldNow()
            const exit = fiber.unsafePoll()
            if (live < maxProbes) {
              // Admitted: it runs (and never ends), holding a slot for leaseMillis.
              expect(exit).toBeNull()
              expect(running).toBe(before + 1)
              admitted.push(now)
            } else {
              expect(exit).not.toBeNull()
              expect(Exit.isFailure(exit!)).toBe(true)
              expect(running).toBe(before)
            }
          }
          expect(admitted.filter((at) => at + leaseMillis > now).length).toBeLessThanOrEqual(maxProbes)
        }
        expect(yield* breaker.state).toBe("HalfOpen")
      }).pipe(Effect.scoped),
    { fastCheck: { numRuns: 30 } }
  )

  it.scoped("probeLease is validated: positive and finite, named in the error", () =>
    Effect.gen(function*() {
      const bads: Array<Duration.DurationInput> = [0, -1, "-5 millis", Duration.infinity, Number.NaN]
      for (const bad of bads) {
        const error = yield* Effect.flip(makeBreaker({ probeLease: bad }))
        expect(error).toBeInstanceOf(InvalidOptionsError.InvalidOptionsError)
        expect(error).toMatchObject({
          constructorName: "CircuitBreaker.make",
          field: "halfOpen.probeLease",
          value: bad
        })
      }
    }))
})
