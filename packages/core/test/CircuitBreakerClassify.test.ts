import { CircuitBreaker, InvalidOptionsError, ResilientClient } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Data, Deferred, Effect, Exit, Fiber, Option, TestClock } from "effect"
import { outcome } from "./utils/breaker.js"

class Transient extends Data.TaggedError("Transient")<{}> {}
class Permanent extends Data.TaggedError("Permanent")<{}> {}
type CallError = Transient | Permanent

const call = (error: CallError): Effect.Effect<string, CallError> => Effect.fail(error)
const transient = call(new Transient())
const permanent = call(new Permanent())

/** Only transient errors (and defects) say the upstream is in trouble. */
const isOutage = <A>(exit: Exit.Exit<A, CallError>): boolean =>
  Exit.isFailure(exit) &&
  Option.match(Cause.failureOption(exit.cause), { onNone: () => true, onSome: (e) => e._tag === "Transient" })

/** A value that is an answer from a broken upstream (an HTTP 503 returned as a value). */
const response = (status: number) => Effect.succeed({ status })
const is5xx = (exit: Exit.Exit<{ readonly status: number }, never>) => Exit.isSuccess(exit) && exit.value.status >= 500

// Each call may say which of its outcomes count as failures, typed by the call (`classify`); the breaker's
// `isFailureCause` (a function of the Cause) is the default.
describe("CircuitBreaker: classify per call", () => {
  it.scoped("a typed classifier counts only what it says; the breaker opens on those alone", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ name: "classify", strategy: CircuitBreaker.consecutive(2) })
      const run = <A>(self: Effect.Effect<A, CallError>) => outcome(breaker.execute(self, { classify: isOutage }))
      for (let i = 0; i < 5; i++) expect(yield* run(permanent)).toBe("failure")
      expect(yield* breaker.state).toBe("Closed")
      expect((yield* breaker.stats).failures).toBe(0)
      expect(yield* run(transient)).toBe("failure")
      expect(yield* run(transient)).toBe("failure")
      expect(yield* breaker.state).toBe("Open")
      expect(yield* run(permanent)).toBe("rejected")
    }))

  it.scoped("a success can count as a failure (a 503 returned as a value); the value still comes back", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ name: "values", strategy: CircuitBreaker.consecutive(2) })
      expect(yield* breaker.execute(response(503), { classify: is5xx })).toEqual({ status: 503 })
      expect(yield* breaker.execute(response(200), { classify: is5xx })).toEqual({ status: 200 })
      expect(yield* breaker.execute(response(503), { classify: is5xx })).toEqual({ status: 503 })
      expect(yield* breaker.state).toBe("Closed")
      yield* breaker.execute(response(503), { classify: is5xx })
      expect(yield* breaker.state).toBe("Open")
      expect(yield* breaker.stats).toMatchObject({ failures: 3, successes: 1 })
    }))

  it.scoped("the call's classifier replaces the breaker's isFailureCause for that call", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({
        name: "override",
        strategy: CircuitBreaker.consecutive(1),
        isFailureCause: () => false // by default nothing counts
      })
      yield* Effect.either(breaker.execute(transient))
      expect(yield* breaker.state).toBe("Closed")
      yield* Effect.either(breaker.execute(transient, { classify: isOutage }))
      expect(yield* breaker.state).toBe("Open")
    }))

  it.scoped("in a time window and with slow-call detection (the timed path) too", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({
        name: "timed",
        strategy: CircuitBreaker.timeWindow({ duration: "10 seconds", buckets: 10, failureRate: 0.5, minimumCalls: 4 }),
        slowCall: { duration: "1 minute", rate: 1 }
      })
      yield* Effect.either(breaker.execute(permanent, { classify: isOutage }))
      yield* Effect.either(breaker.execute(permanent, { classify: isOutage }))
      yield* breaker.execute(response(503), { classify: is5xx })
      expect(yield* breaker.stats).toMatchObject({ state: "Closed", failures: 1, successes: 2 })
      yield* Effect.either(breaker.execute(transient, { classify: isOutage }))
      expect(yield* breaker.stats).toMatchObject({ state: "Open", failures: 2, successes: 2 })
    }))

  it.scoped("a half-open probe is judged by its classifier", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({
        name: "probe",
        strategy: CircuitBreaker.consecutive(1),
        openDuration: "1 second"
      })
      yield* Effect.either(breaker.execute(transient))
      yield* TestClock.adjust("1 second")
      expect(yield* breaker.state).toBe("HalfOpen")
      // A probe that fails with a permanent error is no failure of the upstream: it closes the breaker.
      yield* Effect.either(breaker.execute(permanent, { classify: isOutage }))
      expect(yield* breaker.state).toBe("Closed")
      yield* Effect.either(breaker.execute(transient))
      yield* TestClock.adjust("1 second")
      // A probe that succeeds with a 503 reopens it.
      yield* breaker.execute(response(503), { classify: is5xx })
      expect(yield* breaker.state).toBe("Open")
    }))

  it.scoped("interruption never reaches the classifier and counts as nothing", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ name: "interrupt", strategy: CircuitBreaker.consecutive(1) })
      const seen: Array<Exit.Exit<unknown, unknown>> = []
      const started = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(
        breaker.execute(Effect.zipRight(Deferred.succeed(started, undefined), Effect.never), {
          classify: (exit) => {
            seen.push(exit)
            return true
          }
        })
      )
      yield* Deferred.await(started)
      yield* Fiber.interrupt(fiber)
      expect(seen).toEqual([])
      expect(yield* breaker.stats).toMatchObject({ state: "Closed", failures: 0, successes: 0 })
    }))

  it.scoped("withBreaker takes the classifier, data-first and data-last; keyed breakers too", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ name: "with", strategy: CircuitBreaker.consecutive(2) })
      yield* Effect.either(permanent.pipe(CircuitBreaker.withBreaker(breaker, { classify: isOutage })))
      yield* Effect.either(CircuitBreaker.withBreaker(permanent, breaker, { classify: isOutage }))
      expect(yield* breaker.state).toBe("Closed")
      yield* Effect.either(transient.pipe(CircuitBreaker.withBreaker(breaker, { classify: isOutage })))
      yield* Effect.either(CircuitBreaker.withBreaker(transient, breaker, { classify: isOutage }))
      expect(yield* breaker.state).toBe("Open")

      const keyed = yield* CircuitBreaker.keyed({
        name: "keyed-classify",
        strategy: CircuitBreaker.consecutive(1),
        maxKeys: 10,
        idleTtl: "1 minute"
      })
      yield* Effect.either(keyed.execute("a", permanent, { classify: isOutage }))
      expect(yield* keyed.state("a")).toBe("Closed")
      yield* Effect.either(keyed.execute("a", transient, { classify: isOutage }))
      expect(yield* keyed.state("a")).toBe("Open")
    }))
})

describe("CircuitBreaker: classify in a ResilientClient", () => {
  it.scoped("circuitBreaker.classify judges each attempt of the client's breaker", () =>
    Effect.gen(function*() {
      const client = yield* ResilientClient.make<CallError>({
        name: "client-classify",
        circuitBreaker: {
          strategy: CircuitBreaker.consecutive(2),
          classify: (exit) =>
            Exit.isFailure(exit) &&
            Option.match(Cause.failureOption(exit.cause), { onNone: () => true, onSome: (e) => e._tag !== "Permanent" })
        }
      })
      const breaker = Option.getOrThrow(client.circuitBreaker)
      for (let i = 0; i < 3; i++) yield* Effect.either(client.execute(permanent))
      expect(yield* breaker.state).toBe("Closed")
      yield* Effect.either(client.execute(transient))
      yield* Effect.either(client.execute(transient))
      expect(yield* breaker.state).toBe("Open")
    }))

  it.scoped("a classify that is not a function is an InvalidOptionsError naming it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ResilientClient.make({
        name: "client-bad-classify",
        circuitBreaker: { classify: "yes" as unknown as () => boolean }
      }))
      expect(error).toMatchObject({ _tag: "InvalidOptionsError", field: "circuitBreaker.classify" })
    }))
})

describe("CircuitBreaker: the breaker-wide isFailureCause", () => {
  const onlyTransient = (cause: Cause.Cause<unknown>) =>
    Option.match(Cause.failureOption(cause), {
      onNone: () => true,
      onSome: (e) => e instanceof Transient
    })

  it.scoped("receives the Cause; isFailure is its deprecated alias", () =>
    Effect.gen(function*() {
      for (const options of [{ isFailureCause: onlyTransient }, { isFailure: onlyTransient }]) {
        const breaker = yield* CircuitBreaker.make({
          name: "wide",
          strategy: CircuitBreaker.consecutive(1),
          ...options
        })
        yield* Effect.either(breaker.execute(permanent))
        expect(yield* breaker.state).toBe("Closed")
        yield* Effect.either(breaker.execute(transient))
        expect(yield* breaker.state).toBe("Open")
        yield* Effect.scoped(Effect.void)
      }
    }))

  it.scoped("both at once, or a non-function, is an InvalidOptionsError naming the field", () =>
    Effect.gen(function*() {
      const both = yield* Effect.flip(
        CircuitBreaker.make({ name: "both", isFailureCause: onlyTransient, isFailure: onlyTransient })
      )
      expect(both).toBeInstanceOf(InvalidOptionsError.InvalidOptionsError)
      expect(both).toMatchObject({ constructorName: "CircuitBreaker.make", field: "isFailure" })
      const notFunction = yield* Effect.flip(
        CircuitBreaker.keyed({
          name: "nf",
          maxKeys: 1,
          idleTtl: "1 minute",
          isFailureCause: "Transient" as unknown as () => boolean
        })
      )
      expect(notFunction).toMatchObject({ constructorName: "CircuitBreaker.keyed", field: "isFailureCause" })
    }))
})
