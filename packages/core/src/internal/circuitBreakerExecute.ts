/**
 * A call through one breaker's `Machine`: the closed fast path (one observer, no clock), the timed closed path, the
 * half-open probe and the rejection; and the read-outs and controls.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { Stats } from "../CircuitBreaker.js"
import {
  type CircuitBreakerOpenError,
  drain,
  type Machine,
  type ProbeLease,
  reject,
  thenDrain
} from "./circuitBreakerMachine.js"
import type { State } from "./circuitBreakerStore.js"

/**
 * A call's own classifier (`execute(self, { classify })`): `true` when its outcome counts as a failure.
 *
 * @internal
 */
export type Classify<A, E> = (exit: Exit.Exit<A, E>) => boolean

/** Whether a failed (not interrupted) call counts as a failure: by its classifier, else the breaker's default. */
const failedBy = <A, E>(m: Machine, cause: Cause.Cause<E>, classify: Classify<A, E> | undefined): boolean =>
  classify === undefined ? m.sink.settings.isFailure(cause) : classify(Exit.failCause(cause))

/**
 * A closed call's failure (or a cause its classifier let through as a success). Interruption counts as nothing.
 */
const closedFailure = <A, E>(
  m: Machine,
  cause: Cause.Cause<E>,
  slow: boolean,
  clock: Clock.Clock | undefined,
  classify?: Classify<A, E>
): Effect.Effect<never, E> => {
  if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause)
  return closedOutcome(m, failedBy(m, cause, classify), slow, clock, Effect.failCause(cause))
}

/** Counts a closed call's outcome that needs the clock: a failure, or anything a time window or slow call sees. */
const closedOutcome = <A, E>(
  m: Machine,
  failed: boolean,
  slow: boolean,
  clock: Clock.Clock | undefined,
  result: Effect.Effect<A, E>
): Effect.Effect<A, E> => {
  if (failed) m.sink.failures.unsafeUpdate(1, [])
  else m.sink.successes.count++
  if (clock === undefined) return Effect.clockWith((clock) => recordClosedWithClock(m, failed, slow, clock, result))
  return recordClosedWithClock(m, failed, slow, clock, result)
}

/**
 * The one way a call opens the breaker: as its next consecutive opening, once an `openDuration` schedule knows that
 * opening's delay, and only if `due()` holds then (another fiber may have moved the breaker meanwhile). Publishes
 * the change, then gives `result`.
 */
const trip = <A, E>(
  m: Machine,
  now: number,
  due: () => boolean,
  byProbe: boolean,
  result: Effect.Effect<A, E>
): Effect.Effect<A, E> =>
  Effect.zipRight(
    m.ensureDelay(m.openings + 1, now),
    Effect.suspend(() => {
      if (due()) {
        m.probeTransition = byProbe
        m.open(now, m.openings + 1, false)
      }
      return thenDrain(m, result)
    })
  )

/** Still closed in the same episode: a second fiber's concurrent verdict opens nothing twice. */
const stillClosed = (m: Machine, epoch: number) => () => m.state === "Closed" && m.epoch === epoch

const recordClosedWithClock = <A, E>(
  m: Machine,
  failed: boolean,
  slow: boolean,
  clock: Clock.Clock,
  result: Effect.Effect<A, E>
): Effect.Effect<A, E> => {
  const now = clock.unsafeCurrentTimeMillis()
  // Recorded once the delay is known, as a trip from any other path: the window's verdict opens at once.
  return trip(m, now, () => m.recordClosed(failed, slow, now), false, result)
}

/** A success in Closed with a window that just asked to open (rare: the count of calls reached minimumCalls). */
const tripAfterSuccess = <A>(m: Machine, epoch: number, value: A): Effect.Effect<A> =>
  Effect.clockWith((clock) =>
    trip(m, clock.unsafeCurrentTimeMillis(), stillClosed(m, epoch), false, Effect.succeed(value))
  )

interface ClosedHandlers {
  readonly onSuccess: <A>(value: A) => Effect.Effect<A>
  readonly onFailure: <E>(cause: Cause.Cause<E>) => Effect.Effect<never, E>
}

/** The observer of the closed fast path (no clock): allocated once per breaker. */
const closedHandlers = (m: Machine): ClosedHandlers => ({
  onSuccess: <A>(value: A): Effect.Effect<A> => {
    m.sink.successes.count++
    if (m.recordClosed(false, false, 0)) return tripAfterSuccess(m, m.epoch, value)
    return Effect.succeed(value)
  },
  onFailure: <E>(cause: Cause.Cause<E>): Effect.Effect<never, E> => closedFailure(m, cause, false, undefined)
})

/** A closed call that needs the clock: a time window, or slow-call detection. */
const executeClosedTimed = <A, E, R>(
  m: Machine,
  self: Effect.Effect<A, E, R>,
  clock: Clock.Clock,
  classify: Classify<A, E> | undefined
): Effect.Effect<A, E, R> => {
  const start = clock.unsafeCurrentTimeMillis()
  const slowMillis = m.sink.settings.slowMillis
  return Effect.matchCauseEffect(self, {
    onSuccess: (value) => {
      const now = clock.unsafeCurrentTimeMillis()
      const slow = slowMillis !== undefined && now - start > slowMillis
      if (classify !== undefined && classify(Exit.succeed(value))) {
        return closedOutcome(m, true, slow, clock, Effect.succeed(value))
      }
      m.sink.successes.count++
      const epoch = m.epoch
      if (m.recordClosed(false, slow, now)) return trip(m, now, stillClosed(m, epoch), false, Effect.succeed(value))
      return Effect.succeed(value)
    },
    onFailure: (cause) => {
      const slow = slowMillis !== undefined && clock.unsafeCurrentTimeMillis() - start > slowMillis
      return closedFailure(m, cause, slow, clock, classify)
    }
  })
}

/** A half-open probe: its slot is freed however it ends, interruption included. */
const executeProbe = <A, E, R>(
  m: Machine,
  self: Effect.Effect<A, E, R>,
  clock: Clock.Clock,
  restore: <AX, EX, RX>(effect: Effect.Effect<AX, EX, RX>) => Effect.Effect<AX, EX, RX>,
  classify: Classify<A, E> | undefined,
  start: number,
  lease: ProbeLease | undefined
): Effect.Effect<A, E, R> => {
  const epoch = m.epoch
  const slowMillis = m.sink.settings.slowMillis
  const settle = <X, Y>(failed: boolean | undefined, result: Effect.Effect<X, Y>): Effect.Effect<X, Y> => {
    // A probe of an episode that is over (reset, isolated, reopened) settles nothing.
    if (m.epoch !== epoch || m.state !== "HalfOpen") return result
    const late = lease !== undefined && !lease.held
    m.releaseProbe(lease)
    if (failed === undefined) return result
    const now = clock.unsafeCurrentTimeMillis()
    const slow = slowMillis !== undefined && now - start > slowMillis
    if (failed || slow) {
      // A probe whose lease ran out answers late: once another probe of this period has succeeded, newer evidence
      // wins and the late failure counts as nothing.
      if (late && m.probeSuccesses > 0) return result
      return trip(m, now, () => m.epoch === epoch && m.state === "HalfOpen", true, result)
    }
    if (++m.probeSuccesses >= m.sink.settings.successesToClose) {
      m.probeTransition = true
      m.close(now, false)
    }
    return thenDrain(m, result)
  }
  return Effect.matchCauseEffect(restore(self), {
    onSuccess: (value) => {
      const failed = classify !== undefined && classify(Exit.succeed(value))
      if (failed) m.sink.failures.unsafeUpdate(1, [])
      else m.sink.successes.count++
      return settle(failed, Effect.succeed(value))
    },
    onFailure: (cause) => {
      if (Cause.isInterruptedOnly(cause)) return settle(undefined, Effect.failCause(cause))
      const failed = failedBy(m, cause, classify)
      if (failed) m.sink.failures.unsafeUpdate(1, [])
      else m.sink.successes.count++
      return settle(failed, Effect.failCause(cause))
    }
  })
}

/** Every path but the closed fast one: reads the clock, admits or rejects, observes. */
const executeSlow = <A, E, R>(
  m: Machine,
  self: Effect.Effect<A, E, R>,
  classify: Classify<A, E> | undefined
): Effect.Effect<A, E | CircuitBreakerOpenError, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.clockWith((clock) =>
      Effect.suspend((): Effect.Effect<A, E | CircuitBreakerOpenError, R> => {
        const now = clock.unsafeCurrentTimeMillis()
        m.observe(now)
        switch (m.state) {
          case "Closed":
            return thenDrain(m, restore(executeClosedTimed(m, self, clock, classify)))
          case "HalfOpen":
            m.expireLeases(now)
            // With a store that grants probe leases, the fleet's probes are bounded too.
            if (
              m.probes < m.sink.settings.maxProbes && (m.link?.gate === undefined || m.link.gate.admits(m.probes, now))
            ) {
              const lease = m.admitProbe(now)
              return thenDrain(m, executeProbe(m, self, clock, restore, classify, now, lease))
            }
            return reject(m, now)
          default:
            return reject(m, now)
        }
      })
    )
  )

/** The closed fast path: one observer, no clock. */
const observeClosed = <A, E, R>(self: Effect.Effect<A, E, R>, handlers: ClosedHandlers): Effect.Effect<A, E, R> =>
  Effect.matchCauseEffect<A, E, R, never, E, never, A, never, never>(self, handlers)

/** The closed path of a call with its own classifier: as the fast one, plus the classifier. */
const observeClosedClassified = <A, E, R>(
  m: Machine,
  self: Effect.Effect<A, E, R>,
  handlers: ClosedHandlers,
  classify: Classify<A, E>
): Effect.Effect<A, E, R> =>
  Effect.matchCauseEffect(self, {
    onSuccess: (value) =>
      classify(Exit.succeed(value))
        ? closedOutcome(m, true, false, undefined, Effect.succeed(value))
        : handlers.onSuccess(value),
    onFailure: (cause) => closedFailure(m, cause, false, undefined, classify)
  })

/** What `execute` may be told per call (the public `CircuitBreaker.ExecuteOptions`). */
interface ExecuteOptions<A, E> {
  readonly classify?: Classify<A, E> | undefined
}

/** @internal */
export const makeExecute = (m: Machine) => {
  const handlers = closedHandlers(m)
  const fast = !m.sink.settings.timed
  return <A, E, R>(
    self: Effect.Effect<A, E, R>,
    options?: ExecuteOptions<A, E>
  ): Effect.Effect<A, E | CircuitBreakerOpenError, R> => {
    const classify = options?.classify
    if (classify === undefined) {
      return Effect.suspend(() =>
        fast && m.state === "Closed" ? observeClosed(self, handlers) : executeSlow(m, self, undefined)
      )
    }
    return Effect.suspend(() =>
      fast && m.state === "Closed"
        ? observeClosedClassified(m, self, handlers, classify)
        : executeSlow(m, self, classify)
    )
  }
}

/** @internal */
export const executeWith = <A, E, R>(
  m: Machine,
  self: Effect.Effect<A, E, R>,
  classify: Classify<A, E> | undefined
): Effect.Effect<A, E | CircuitBreakerOpenError, R> =>
  !m.sink.settings.timed && m.state === "Closed"
    ? classify === undefined
      ? observeClosed(self, closedHandlers(m))
      : observeClosedClassified(m, self, closedHandlers(m), classify)
    : executeSlow(m, self, classify)

// --- read-outs and controls ----------------------------------------------------

const withNow = <A>(f: (now: number) => A): Effect.Effect<A> =>
  Effect.clockWith((clock) => Effect.sync(() => f(clock.unsafeCurrentTimeMillis())))

/** @internal */
export const readState = (m: Machine): Effect.Effect<State> =>
  Effect.flatMap(
    withNow((now) => {
      m.observe(now)
      return m.state
    }),
    (state) => thenDrain(m, Effect.succeed(state))
  )

/** @internal */
export const readStats = (m: Machine): Effect.Effect<Stats> =>
  Effect.flatMap(withNow((now) => m.stats(now)), (stats) => thenDrain(m, Effect.succeed(stats)))

/** @internal */
export const isolateMachine = (m: Machine): Effect.Effect<void> =>
  Effect.flatMap(
    withNow((now) => {
      m.observe(now)
      if (m.state !== "Isolated") m.isolate(now, false)
    }),
    () => drain(m)
  )

/** @internal */
export const resetMachine = (m: Machine): Effect.Effect<void> =>
  Effect.flatMap(
    withNow((now) => {
      if (m.state !== "Closed") m.close(now, false)
      else {
        m.window.clear()
        m.openings = 0
        m.resetSchedule()
      }
    }),
    () => drain(m)
  )
