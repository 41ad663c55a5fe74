import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { dual } from "effect/Function"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { CircuitBreaker, KeyedCircuitBreaker, StateChange, Stats } from "../CircuitBreaker.js"
import type { InvalidOptionsError } from "../InvalidOptionsError.js"
import * as ResilienceMetrics from "../ResilienceMetrics.js"
import * as ResilienceRegistry from "../ResilienceRegistry.js"
import * as RetryAfter from "../RetryAfter.js"
import {
  type Attachment,
  CircuitBreakerStore,
  type Proposal,
  type Report,
  type SharedConfig,
  type Snapshot,
  type State
} from "./circuitBreakerStore.js"
import { attachStore, connectStore, type Link } from "./circuitBreakerSync.js"
import { makeWindow, type StrategyConfig, type Window, type WindowCounts } from "./circuitBreakerWindow.js"
import { LruMap } from "./lru.js"
import { type OptionsValidator, validated } from "./validate.js"

// -----------------------------------------------------------------------------
// Public models (re-exported by CircuitBreaker.ts)
// -----------------------------------------------------------------------------

/** @internal */
export const TypeId: unique symbol = Symbol.for("@effect-resilience/core/CircuitBreaker")

/** @internal */
export const KeyedTypeId: unique symbol = Symbol.for("@effect-resilience/core/CircuitBreaker/Keyed")

/** @internal */
export type Strategy =
  | { readonly _tag: "Consecutive"; readonly threshold: number }
  | {
    readonly _tag: "CountWindow"
    readonly size: number
    readonly failureRate: number
    readonly minimumCalls?: number | undefined
  }
  | {
    readonly _tag: "TimeWindow"
    readonly duration: Duration.DurationInput
    readonly buckets: number
    readonly failureRate: number
    readonly minimumCalls?: number | undefined
  }

/** @internal */
export interface Options {
  readonly name: string
  readonly strategy?: Strategy | undefined
  readonly openDuration?: Duration.DurationInput | Schedule.Schedule<unknown, unknown> | undefined
  readonly maxOpenDuration?: Duration.DurationInput | undefined
  readonly halfOpen?: { readonly maxProbes?: number | undefined; readonly successesToClose?: number | undefined }
  readonly isFailureCause?: ((cause: Cause.Cause<unknown>) => boolean) | undefined
  readonly isFailure?: ((cause: Cause.Cause<unknown>) => boolean) | undefined
  readonly slowCall?: { readonly duration: Duration.DurationInput; readonly rate: number } | undefined
  readonly onStateChange?: ((change: StateChange) => Effect.Effect<void>) | undefined
}

/** @internal */
export interface KeyedOptions extends Options {
  readonly maxKeys: number
  readonly idleTtl: Duration.DurationInput
}

/** @internal */
export class CircuitBreakerOpenError extends Data.TaggedError("CircuitBreakerOpenError")<{
  readonly breakerName: string
  readonly state: "Open" | "HalfOpen" | "Isolated"
  readonly retryAfter: Duration.Duration
  /** Set when a keyed breaker had no room for a new key: every key's breaker still mattered. */
  readonly reason?: "TooManyKeys"
}> {
  declare readonly [RetryAfter.symbol]?: Duration.Duration
  constructor(args: {
    readonly breakerName: string
    readonly state: "Open" | "HalfOpen" | "Isolated"
    readonly retryAfter: Duration.Duration
    readonly reason?: "TooManyKeys"
  }) {
    super(args)
    // An isolated breaker stays closed to calls until someone resets it: no hint to wait for.
    if (args.state !== "Isolated") {
      Object.defineProperty(this, RetryAfter.symbol, { value: args.retryAfter, enumerable: true })
    }
  }
  override get message(): string {
    const what = this.reason === "TooManyKeys"
      ? "has no room for a new key (maxKeys breakers still matter)"
      : this.state === "Isolated"
      ? "is isolated"
      : this.state === "Open"
      ? "is open"
      : "is half-open and full"
    return `circuit breaker ${JSON.stringify(this.breakerName)} ${what}${
      this.state === "Isolated" ? "" : `; retry after ${Duration.format(this.retryAfter)}`
    }`
  }
}

/** @internal */
export const consecutive = (threshold: number): Strategy => ({ _tag: "Consecutive", threshold })

/** @internal */
export const countWindow = (options: {
  readonly size: number
  readonly failureRate: number
  readonly minimumCalls?: number | undefined
}): Strategy => ({ _tag: "CountWindow", ...options })

/** @internal */
export const timeWindow = (options: {
  readonly duration: Duration.DurationInput
  readonly buckets: number
  readonly failureRate: number
  readonly minimumCalls?: number | undefined
}): Strategy => ({ _tag: "TimeWindow", ...options })

// -----------------------------------------------------------------------------
// Settings: the validated options, shared by every key of a keyed breaker
// -----------------------------------------------------------------------------

const defaultIsFailure = (cause: Cause.Cause<unknown>): boolean => !Cause.isInterruptedOnly(cause)

/** `isFailureCause`, or its deprecated alias `isFailure`, as the settings' `isFailure`; both at once is a mistake. */
const withFailureCause = <O extends Options>(
  constructorName: string,
  options: O
): Effect.Effect<O, InvalidOptionsError> =>
  typeof options !== "object" || options === null || options.isFailureCause === undefined
    ? Effect.succeed(options)
    : validated(constructorName, (v) => {
      if (options.isFailure !== undefined) {
        v.fail("isFailure", options.isFailure, "absent when isFailureCause is given (its deprecated alias)")
      }
      return { ...options, isFailure: v.function("isFailureCause", options.isFailureCause) }
    })

interface Settings {
  readonly name: string
  readonly strategy: StrategyConfig
  readonly slowMillis: number | undefined
  readonly slowRate: number
  readonly openMillis: number
  /** The longest an `openDuration` schedule may keep the breaker open. */
  readonly maxOpenMillis: number
  readonly schedule: Schedule.Schedule<Duration.Duration, unknown> | undefined
  readonly maxProbes: number
  readonly successesToClose: number
  readonly isFailure: (cause: Cause.Cause<unknown>) => boolean
  readonly onStateChange: ((change: StateChange) => Effect.Effect<void>) | undefined
  /** Whether a closed call needs the clock (time window or slow calls). */
  readonly timed: boolean
}

const validateStrategy = (v: OptionsValidator, strategy: Strategy): StrategyConfig => {
  switch (strategy._tag) {
    case "Consecutive":
      return { _tag: "Consecutive", threshold: v.int("strategy.threshold", strategy.threshold, 1) }
    case "CountWindow": {
      const size = v.int("strategy.size", strategy.size, 1)
      const failureRate = v.number("strategy.failureRate", strategy.failureRate, { min: 0, max: 1, exclusiveMin: true })
      const minimumCalls = strategy.minimumCalls === undefined
        ? size
        : v.int("strategy.minimumCalls", strategy.minimumCalls, 1, size)
      return { _tag: "CountWindow", size, failureRate, minimumCalls }
    }
    case "TimeWindow": {
      const duration = v.duration("strategy.duration", strategy.duration, { positive: true, finite: true })
      const buckets = v.int("strategy.buckets", strategy.buckets, 1)
      const failureRate = v.number("strategy.failureRate", strategy.failureRate, { min: 0, max: 1, exclusiveMin: true })
      const minimumCalls = strategy.minimumCalls === undefined
        ? 20
        : v.int("strategy.minimumCalls", strategy.minimumCalls, 1)
      return { _tag: "TimeWindow", durationMillis: Duration.toMillis(duration), buckets, failureRate, minimumCalls }
    }
    default:
      return v.fail("strategy", strategy, "consecutive(n), countWindow({...}) or timeWindow({...})")
  }
}

/** `maxOpenDuration` when none is given: 10 minutes. */
const DEFAULT_MAX_OPEN_MILLIS = 10 * 60 * 1000

const makeSettings = (constructorName: string, options: Options): Effect.Effect<Settings, InvalidOptionsError> =>
  Effect.flatMap(
    validated(constructorName, (v) => {
      const name = v.nonEmpty("name", v.object("options", options).name)
      const strategy = validateStrategy(v, options.strategy ?? consecutive(5))
      if (options.halfOpen != null) v.object("halfOpen", options.halfOpen)
      if (options.slowCall != null) v.object("slowCall", options.slowCall)
      const maxOpenMillis = options.maxOpenDuration === undefined
        ? DEFAULT_MAX_OPEN_MILLIS
        : Duration.toMillis(v.duration("maxOpenDuration", options.maxOpenDuration, { positive: true, finite: true }))
      const isFailure = v.optionalFunction("isFailure", options.isFailure ?? undefined)
      const onStateChange = v.optionalFunction("onStateChange", options.onStateChange ?? undefined)
      const openInput = options.openDuration ?? "30 seconds"
      let openMillis = 0
      let schedule: Schedule.Schedule<Duration.Duration, unknown> | undefined
      if (Schedule.isSchedule(openInput)) {
        schedule = Schedule.delays(openInput as Schedule.Schedule<unknown, unknown>)
      } else {
        openMillis = Duration.toMillis(v.duration("openDuration", openInput, { finite: true }))
      }
      const maxProbes = v.int("halfOpen.maxProbes", options.halfOpen?.maxProbes ?? 1, 1)
      const successesToClose = v.int("halfOpen.successesToClose", options.halfOpen?.successesToClose ?? 1, 1)
      let slowMillis: number | undefined
      let slowRate = Infinity
      if (options.slowCall != null) {
        slowMillis = Duration.toMillis(v.duration("slowCall.duration", options.slowCall.duration, { finite: true }))
        slowRate = v.number("slowCall.rate", options.slowCall.rate, { min: 0, max: 1, exclusiveMin: true })
      }
      const settings: Settings = {
        name,
        strategy,
        slowMillis,
        slowRate,
        openMillis,
        maxOpenMillis,
        schedule,
        maxProbes,
        successesToClose,
        isFailure: isFailure ?? defaultIsFailure,
        onStateChange,
        timed: slowMillis !== undefined || strategy._tag === "TimeWindow"
      }
      return settings
    }),
    (settings) => {
      const schedule = settings.schedule
      if (schedule === undefined) return Effect.succeed(settings)
      // A schedule that gives no delay at all cannot say how long to stay open.
      return Effect.flatMap(
        Effect.clockWith((clock) => schedule.step(clock.unsafeCurrentTimeMillis(), undefined, schedule.initial)),
        ([, , decision]) =>
          ScheduleDecision.isDone(decision)
            ? validated(
              constructorName,
              (v): Settings => v.fail("openDuration", options.openDuration, "a Schedule that recurs at least once")
            )
            : Effect.succeed(settings)
      )
    }
  )

// -----------------------------------------------------------------------------
// Sink: where a breaker (or every key of a keyed breaker) reports
// -----------------------------------------------------------------------------

const stateLabel = (state: State): string =>
  state === "Closed" ? "closed" : state === "Open" ? "open" : state === "HalfOpen" ? "half_open" : "isolated"

const stateValue = (state: State): number =>
  state === "Closed" ? 0 : state === "Open" ? 1 : state === "HalfOpen" ? 2 : 3

const allStates: ReadonlyArray<State> = ["Closed", "Open", "HalfOpen", "Isolated"]

class Sink {
  readonly successes: ResilienceMetrics.LocalCounter
  readonly failures: Metric.Metric.Counter<number>
  readonly rejections: Metric.Metric.Counter<number>
  readonly transitions: Map<string, Metric.Metric.Counter<number>>
  readonly stateGauge: Metric.Metric.Gauge<number> | undefined
  /** Where `onStateChange` runs: the breaker's scope (set by `make` and `keyed`). */
  hookScope: Scope.Scope | undefined = undefined

  constructor(
    readonly settings: Settings,
    readonly pubsub: PubSub.PubSub<StateChange>,
    keyed: boolean
  ) {
    const name = settings.name
    const calls = ResilienceMetrics.callsTotal.pipe(
      Metric.tagged("policy", "circuit_breaker"),
      Metric.tagged("name", name)
    )
    this.successes = new ResilienceMetrics.LocalCounter(Metric.tagged(calls, "outcome", "success"))
    ResilienceMetrics.registerCollector(this.successes)
    this.failures = Metric.tagged(calls, "outcome", "failure")
    this.rejections = Metric.tagged(calls, "outcome", "rejected")
    this.transitions = new Map()
    for (const from of allStates) {
      for (const to of allStates) {
        if (from === to) continue
        this.transitions.set(
          `${from}>${to}`,
          ResilienceMetrics.circuitBreakerTransitionsTotal.pipe(
            Metric.tagged("name", name),
            Metric.tagged("from", stateLabel(from)),
            Metric.tagged("to", stateLabel(to))
          )
        )
      }
    }
    // A keyed breaker has no one state: it reports transitions and calls, summed over its keys.
    this.stateGauge = keyed ? undefined : Metric.tagged(ResilienceMetrics.circuitBreakerState, "name", name)
    this.stateGauge?.unsafeUpdate(0, [])
  }
}

// -----------------------------------------------------------------------------
// Machine: one breaker's local state, read and written synchronously
// -----------------------------------------------------------------------------

class Machine {
  state: State = "Closed"
  /** Bumped on every transition: a probe admitted in one half-open episode does not count in the next. */
  epoch = 0
  /** When the state was entered (Clock millis). */
  since = 0
  /** When Open: the instant probes are admitted. */
  openUntil = 0
  /** Consecutive openings since the breaker last closed. */
  openings = 0
  probes = 0
  probeSuccesses = 0
  rejected = 0
  pending: Array<StateChange> | undefined = undefined
  link: Link | undefined = undefined
  /** The transition being made settles a half-open probe (a store with probe leases checks the lease). */
  probeTransition = false
  // openDuration as a Schedule: the delays of the current run of openings, stepped on demand.
  delays: Array<number> | undefined = undefined
  scheduleState: unknown = undefined
  scheduleDone = false
  readonly window: Window

  constructor(readonly sink: Sink, readonly key: string | undefined) {
    this.window = makeWindow(sink.settings.strategy, sink.settings.slowRate)
  }

  // --- open durations --------------------------------------------------------

  /** The delay of the n-th consecutive opening (n >= 1): a finished schedule keeps its last delay. */
  openDelay(n: number): number {
    const settings = this.sink.settings
    if (settings.schedule === undefined) return settings.openMillis
    const delays = this.delays
    if (delays === undefined || delays.length === 0) return 0
    return delays[Math.min(n, delays.length) - 1]!
  }

  resetSchedule(): void {
    this.delays = undefined
    this.scheduleState = undefined
    this.scheduleDone = false
  }

  /** Steps the schedule until the n-th delay is known (or it is done). */
  ensureDelay(n: number, now: number): Effect.Effect<void> {
    const schedule = this.sink.settings.schedule
    if (schedule === undefined) return Effect.void
    if (this.scheduleDone || (this.delays !== undefined && this.delays.length >= n)) return Effect.void
    return Effect.suspend(() => {
      if (this.delays === undefined) {
        this.delays = []
        this.scheduleState = schedule.initial
      }
      const delays = this.delays
      const before = delays.length
      return Effect.flatMap(schedule.step(now, undefined, this.scheduleState), ([state, delay, decision]) => {
        // Another fiber stepped it meanwhile, or the breaker closed: keep what is there.
        if (this.delays !== delays || delays.length !== before) return this.ensureDelay(n, now)
        this.scheduleState = state
        if (ScheduleDecision.isDone(decision)) {
          this.scheduleDone = true
          return Effect.void
        }
        // A schedule may grow without end (or be `spaced(Infinity)`): no opening lasts longer than maxOpenDuration.
        delays.push(Math.min(Duration.toMillis(delay), this.sink.settings.maxOpenMillis))
        return this.ensureDelay(n, now)
      })
    })
  }

  // --- transitions -------------------------------------------------------------

  private change(from: State, to: State, at: number, remote: boolean): void {
    this.epoch++
    this.state = to
    this.since = at
    this.probes = 0
    this.probeSuccesses = 0
    const sink = this.sink
    sink.transitions.get(`${from}>${to}`)?.unsafeUpdate(1, [])
    sink.stateGauge?.unsafeUpdate(stateValue(to), [])
    const change: StateChange = this.key === undefined
      ? { breakerName: sink.settings.name, from, to, at }
      : { breakerName: sink.settings.name, from, to, at, key: this.key }
    if (this.pending === undefined) this.pending = [change]
    else this.pending.push(change)
    if (!remote && to !== "HalfOpen" && this.link !== undefined) {
      this.link.proposal = true
      this.link.byProbe = this.probeTransition
      this.link.transition()
    }
    this.probeTransition = false
  }

  /** Opens as the n-th consecutive opening; `ensureDelay(openings)` must have run. */
  open(at: number, openings: number, remote: boolean): void {
    const from = this.state
    this.openings = openings
    this.openUntil = at + this.openDelay(openings)
    this.change(from, "Open", at, remote)
  }

  close(at: number, remote: boolean): void {
    const from = this.state
    this.openings = 0
    this.window.clear()
    this.resetSchedule()
    this.change(from, "Closed", at, remote)
  }

  isolate(at: number, remote: boolean): void {
    this.change(this.state, "Isolated", at, remote)
  }

  /** Open turns half-open once openDuration has passed (inclusive), stamped with the instant it ended. */
  observe(now: number): void {
    if (this.state === "Open" && now >= this.openUntil) this.change("Open", "HalfOpen", this.openUntil, false)
  }

  // --- outcomes ----------------------------------------------------------------

  /** A closed call's outcome; says whether the window asks to open. */
  recordClosed(failed: boolean, slow: boolean, now: number): boolean {
    if (this.state !== "Closed") return false
    const link = this.link
    if (link !== undefined) {
      if (failed) link.failures++
      else link.successes++
      if (slow) link.slowCalls++
      link.signal()
    }
    return this.window.record(failed ? 1 : 0, slow ? 1 : 0, 1, now)
  }

  /** Opens from Closed after a window said so; the epoch check drops a second fiber's concurrent verdict. */
  tripFromClosed(epoch: number, now: number): void {
    if (this.state === "Closed" && this.epoch === epoch) this.open(now, this.openings + 1, false)
  }

  counts(now: number): WindowCounts {
    return this.window.counts(now)
  }

  stats(now: number): Stats {
    this.observe(now)
    const counts = this.counts(now)
    const calls = counts.successes + counts.failures
    return {
      state: this.state,
      successes: counts.successes,
      failures: counts.failures,
      slowCalls: counts.slowCalls,
      rejected: this.rejected,
      failureRate: calls === 0 ? 0 : counts.failures / calls,
      slowCallRate: calls === 0 ? 0 : counts.slowCalls / calls
    }
  }

  // --- store -------------------------------------------------------------------

  takeReport(now: number): Report {
    const link = this.link!
    let proposal: Proposal | undefined
    if (link.proposal) {
      // Half-open is derived from time on every replica: what is proposed is the opening.
      proposal = this.state === "HalfOpen"
        ? {
          baseVersion: link.confirmed,
          state: "Open",
          at: this.openUntil - this.openDelay(this.openings),
          openings: this.openings
        }
        : { baseVersion: link.confirmed, state: this.state, at: this.since, openings: this.openings }
    }
    const report: Report = {
      at: now,
      successes: link.successes,
      failures: link.failures,
      slowCalls: link.slowCalls,
      proposal
    }
    link.successes = 0
    link.failures = 0
    link.slowCalls = 0
    link.proposal = false
    return report
  }

  restoreReport(report: Report): void {
    const link = this.link!
    link.successes += report.successes
    link.failures += report.failures
    link.slowCalls += report.slowCalls
    if (report.proposal !== undefined) link.proposal = true
  }

  /**
   * Applies a snapshot pushed by the store: only a newer version than any applied counts, or with `resync` the
   * store's current state at the same version (the store dropped this replica's proposal). With `own` (the store
   * accepted this replica's proposal) and a newer local transition pending, the version is taken as the base of
   * that transition's proposal and the local state is kept: the store's answer to an older step must not undo it.
   */
  applyRemote(snapshot: Snapshot, resync = false, own = false): Effect.Effect<void> {
    const link = this.link!
    if (resync ? snapshot.version < link.confirmed : snapshot.version <= link.confirmed) return Effect.void
    if (own && link.proposal) {
      link.confirmed = snapshot.version
      return Effect.void
    }
    return Effect.flatMap(
      snapshot.state === "Open" ? this.ensureDelay(snapshot.openings, snapshot.at) : Effect.void,
      () =>
        Effect.suspend(() => {
          if (resync ? snapshot.version < link.confirmed : snapshot.version <= link.confirmed) return Effect.void
          link.confirmed = snapshot.version
          link.proposal = false
          switch (snapshot.state) {
            case "Closed":
              if (this.state !== "Closed") this.close(snapshot.at, true)
              break
            case "Open":
              if (this.state === "Open" || this.state === "HalfOpen") {
                const openedAt = this.openUntil - this.openDelay(this.openings)
                if (openedAt !== snapshot.at || this.openings !== snapshot.openings) {
                  if (this.state === "HalfOpen") this.open(snapshot.at, snapshot.openings, true)
                  else {
                    this.openings = snapshot.openings
                    this.openUntil = snapshot.at + this.openDelay(snapshot.openings)
                  }
                }
              } else {
                this.open(snapshot.at, snapshot.openings, true)
              }
              break
            case "HalfOpen":
              if (this.state !== "HalfOpen") {
                this.openings = Math.max(1, snapshot.openings)
                this.change(this.state, "HalfOpen", snapshot.at, true)
              }
              break
            case "Isolated":
              if (this.state !== "Isolated") this.isolate(snapshot.at, true)
              break
          }
          return drain(this)
        })
    )
  }
}

/**
 * Publishes the changes a synchronous step made (the state machine has already moved) and starts the hook for each,
 * in order, on a fiber of the breaker's scope: a hook that throws, fails, dies or never ends can neither wedge the
 * breaker (a probe slot, a transition) nor hold up or pin the caller, and what goes wrong is logged.
 */
const drain = (m: Machine): Effect.Effect<void> => {
  const changes = m.pending
  if (changes === undefined) return Effect.void
  m.pending = undefined
  const sink = m.sink
  const hook = sink.settings.onStateChange
  const scope = sink.hookScope
  return Effect.forEach(
    changes,
    (change): Effect.Effect<unknown> =>
      hook === undefined || scope === undefined
        ? PubSub.publish(sink.pubsub, change)
        : Effect.zipRight(PubSub.publish(sink.pubsub, change), Effect.forkIn(runHook(hook, change), scope)),
    { discard: true }
  )
}

/** One run of `onStateChange`: guarded (a throw is a defect, logged) and interruptible whatever region forked it. */
const runHook = (hook: (change: StateChange) => Effect.Effect<void>, change: StateChange): Effect.Effect<void> =>
  Effect.interruptible(
    Effect.catchAllCause(
      Effect.suspend(() => hook(change)),
      (cause) =>
        Cause.isInterruptedOnly(cause) ? Effect.void : Effect.logWarning("CircuitBreaker onStateChange failed", cause)
    )
  )

const thenDrain = <A, E, R>(m: Machine, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  m.pending === undefined ? effect : Effect.zipRight(drain(m), effect)

// -----------------------------------------------------------------------------
// Execution
// -----------------------------------------------------------------------------

const reject = (m: Machine, now: number): Effect.Effect<never, CircuitBreakerOpenError> => {
  m.rejected++
  m.sink.rejections.unsafeUpdate(1, [])
  const state = m.state
  const retryAfter = state === "Open"
    ? Duration.millis(Math.max(0, m.openUntil - now))
    : state === "HalfOpen"
    ? Duration.millis(m.openDelay(m.openings))
    : Duration.infinity
  return thenDrain(
    m,
    Effect.fail(
      new CircuitBreakerOpenError({
        breakerName: m.sink.settings.name,
        state: state === "Closed" ? "Open" : state,
        retryAfter
      })
    )
  )
}

/** A call's own classifier (`execute(self, { classify })`): `true` when its outcome counts as a failure. */
type Classify<A, E> = (exit: Exit.Exit<A, E>) => boolean

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

const recordClosedWithClock = <A, E>(
  m: Machine,
  failed: boolean,
  slow: boolean,
  clock: Clock.Clock,
  result: Effect.Effect<A, E>
): Effect.Effect<A, E> => {
  const now = clock.unsafeCurrentTimeMillis()
  return Effect.zipRight(
    m.ensureDelay(m.openings + 1, now),
    Effect.suspend(() => {
      const epoch = m.epoch
      if (m.recordClosed(failed, slow, now)) m.tripFromClosed(epoch, now)
      return thenDrain(m, result)
    })
  )
}

/** A success in Closed with a window that just asked to open (rare: the count of calls reached minimumCalls). */
const tripAfterSuccess = <A>(m: Machine, epoch: number, value: A): Effect.Effect<A> =>
  Effect.clockWith((clock) => {
    const now = clock.unsafeCurrentTimeMillis()
    return Effect.zipRight(
      m.ensureDelay(m.openings + 1, now),
      Effect.suspend(() => {
        m.tripFromClosed(epoch, now)
        return thenDrain(m, Effect.succeed(value))
      })
    )
  })

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
      if (m.recordClosed(false, slow, now)) {
        return Effect.zipRight(
          m.ensureDelay(m.openings + 1, now),
          Effect.suspend(() => {
            m.tripFromClosed(epoch, now)
            return thenDrain(m, Effect.succeed(value))
          })
        )
      }
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
  classify: Classify<A, E> | undefined
): Effect.Effect<A, E, R> => {
  const epoch = m.epoch
  const start = clock.unsafeCurrentTimeMillis()
  const slowMillis = m.sink.settings.slowMillis
  const settle = <X, Y>(failed: boolean | undefined, result: Effect.Effect<X, Y>): Effect.Effect<X, Y> => {
    // A probe of an episode that is over (reset, isolated, reopened) settles nothing.
    if (m.epoch !== epoch || m.state !== "HalfOpen") return result
    m.probes--
    if (failed === undefined) return result
    const now = clock.unsafeCurrentTimeMillis()
    const slow = slowMillis !== undefined && now - start > slowMillis
    if (failed || slow) {
      return Effect.zipRight(
        m.ensureDelay(m.openings + 1, now),
        Effect.suspend(() => {
          if (m.epoch === epoch && m.state === "HalfOpen") {
            m.probeTransition = true
            m.open(now, m.openings + 1, false)
          }
          return thenDrain(m, result)
        })
      )
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
            // With a store that grants probe leases, the fleet's probes are bounded too.
            if (
              m.probes < m.sink.settings.maxProbes && (m.link?.gate === undefined || m.link.gate.admits(m.probes, now))
            ) {
              m.probes++
              return thenDrain(m, executeProbe(m, self, clock, restore, classify))
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

const makeExecute = (m: Machine) => {
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

const executeWith = <A, E, R>(
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

const readState = (m: Machine): Effect.Effect<State> =>
  Effect.flatMap(
    withNow((now) => {
      m.observe(now)
      return m.state
    }),
    (state) => thenDrain(m, Effect.succeed(state))
  )

const readStats = (m: Machine): Effect.Effect<Stats> =>
  Effect.flatMap(withNow((now) => m.stats(now)), (stats) => thenDrain(m, Effect.succeed(stats)))

const isolateMachine = (m: Machine): Effect.Effect<void> =>
  Effect.flatMap(
    withNow((now) => {
      m.observe(now)
      if (m.state !== "Isolated") m.isolate(now, false)
    }),
    () => drain(m)
  )

const resetMachine = (m: Machine): Effect.Effect<void> =>
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

// -----------------------------------------------------------------------------
// Store sync
// -----------------------------------------------------------------------------

// -----------------------------------------------------------------------------
// Constructors
// -----------------------------------------------------------------------------

const changesCapacity = 256

const sharedConfig = (settings: Settings, key: string | undefined): SharedConfig => ({
  name: settings.name,
  strategy: settings.strategy,
  slowCallRate: settings.slowRate,
  key,
  maxProbes: settings.maxProbes
})

const statusOf = (state: State, stats: Stats): ResilienceRegistry.EntryStatus => ({
  healthy: state === "Closed",
  state,
  details: {
    successes: stats.successes,
    failures: stats.failures,
    rejected: stats.rejected,
    failureRate: stats.failureRate
  }
})

/** @internal */
export const make = (
  options: Options
): Effect.Effect<CircuitBreaker, InvalidOptionsError | ResilienceRegistry.DuplicateNameError, Scope.Scope> =>
  Effect.gen(function*() {
    const settings = yield* makeSettings("CircuitBreaker.make", yield* withFailureCause("CircuitBreaker.make", options))
    const pubsub = yield* PubSub.sliding<StateChange>(changesCapacity)
    const sink = new Sink(settings, pubsub, false)
    sink.hookScope = yield* Effect.scope
    const m = new Machine(sink, undefined)
    const stats = readStats(m)
    const breaker: CircuitBreaker & { readonly sink: Sink } = {
      [TypeId]: TypeId,
      name: settings.name,
      // Keeps the success collector alive as long as the breaker.
      sink,
      execute: makeExecute(m),
      state: readState(m),
      stats,
      changes: Stream.fromPubSub(pubsub),
      isolate: isolateMachine(m),
      reset: resetMachine(m)
    }
    unsafeStates.set(breaker, () => m.state)
    yield* ResilienceRegistry.register({
      kind: "circuit_breaker",
      name: settings.name,
      status: Effect.map(stats, (s) => statusOf(s.state, s))
    })
    const store = yield* Effect.serviceOption(CircuitBreakerStore)
    if (Option.isSome(store)) {
      const config = sharedConfig(settings, undefined)
      const attach = store.value.attach
      if (attach !== undefined) {
        const attachment = attachStore(m, attach, config)
        yield* Effect.addFinalizer(() => Effect.sync(() => attachment.detach()))
      } else {
        yield* connectStore(m, store.value, config)
      }
    }
    return breaker
  })

/** The state of each breaker `make` built, read synchronously. */
const unsafeStates = new WeakMap<CircuitBreaker, () => State>()

/**
 * A breaker's state as last observed, read synchronously, without the clock (so `"Open"` may be due to turn
 * half-open); `undefined` for a breaker `make` did not build. A client's retry asks it after a failure.
 *
 * @internal
 */
export const unsafeStateOf = (breaker: CircuitBreaker): State | undefined => unsafeStates.get(breaker)?.()

/** @internal */
export const withBreaker: {
  <A, E>(
    breaker: CircuitBreaker,
    options?: { readonly classify?: ((exit: Exit.Exit<A, E>) => boolean) | undefined }
  ): <R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | CircuitBreakerOpenError, R>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    breaker: CircuitBreaker,
    options?: { readonly classify?: ((exit: Exit.Exit<A, E>) => boolean) | undefined }
  ): Effect.Effect<A, E | CircuitBreakerOpenError, R>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    breaker: CircuitBreaker,
    options?: { readonly classify?: ((exit: Exit.Exit<A, E>) => boolean) | undefined }
  ): Effect.Effect<A, E | CircuitBreakerOpenError, R> => breaker.execute(self, options)
)

/** @internal */
export const keyed = (
  options: KeyedOptions
): Effect.Effect<KeyedCircuitBreaker, InvalidOptionsError | ResilienceRegistry.DuplicateNameError, Scope.Scope> =>
  Effect.gen(function*() {
    const settings = yield* makeSettings(
      "CircuitBreaker.keyed",
      yield* withFailureCause("CircuitBreaker.keyed", options)
    )
    const { idleTtlMillis, maxKeys } = yield* validated("CircuitBreaker.keyed", (v) => ({
      maxKeys: v.int("maxKeys", options.maxKeys, 1),
      idleTtlMillis: Duration.toMillis(v.duration("idleTtl", options.idleTtl, { positive: true }))
    }))
    const pubsub = yield* PubSub.sliding<StateChange>(changesCapacity)
    const sink = new Sink(settings, pubsub, true)
    sink.hookScope = yield* Effect.scope
    // A store that drives the sync (`attach`) shares every key's state: one record per key, no fiber per key.
    const store = yield* Effect.serviceOption(CircuitBreakerStore)
    const attach = Option.isSome(store) ? store.value.attach : undefined
    const attachments = new WeakMap<Machine, Attachment>()
    const machines = new LruMap<string, Machine>(maxKeys, idleTtlMillis, canEvictMachine, (_key, m) => {
      attachments.get(m)?.detach()
    })
    const create = (key: string) => {
      const m = new Machine(sink, key)
      if (attach !== undefined) attachments.set(m, attachStore(m, attach, sharedConfig(settings, key)))
      return m
    }
    if (attach !== undefined) yield* Effect.addFinalizer(() => Effect.sync(() => machines.clear()))
    const get = (key: string, clock: Clock.Clock, force = false) =>
      machines.getOrCreate(key, clock.unsafeCurrentTimeMillis(), create, force)
    // Every key's breaker still matters and there is no room for a new one: rejected, never run unguarded.
    const tooManyKeys = Effect.suspend(() => {
      sink.rejections.unsafeUpdate(1, [])
      return Effect.fail(
        new CircuitBreakerOpenError({
          breakerName: settings.name,
          state: "Open",
          retryAfter: Duration.millis(settings.schedule === undefined ? settings.openMillis : idleTtlMillis),
          reason: "TooManyKeys"
        })
      )
    })
    const peek = (key: string, f: (m: Machine) => Effect.Effect<void>): Effect.Effect<void> =>
      Effect.suspend(() => {
        const m = machines.peek(key)
        return m === undefined ? Effect.void : f(m)
      })
    const openCount = () => {
      let open = 0
      for (const m of machines.values()) if (m.state !== "Closed") open++
      return open
    }
    const breaker: KeyedCircuitBreaker & { readonly sink: Sink } = {
      [KeyedTypeId]: KeyedTypeId,
      name: settings.name,
      sink,
      execute: (key, self, options) =>
        Effect.clockWith((clock) => {
          const m = get(key, clock)
          return m === undefined ? tooManyKeys : executeWith(m, self, options?.classify)
        }),
      state: (key) =>
        Effect.suspend(() => {
          const m = machines.peek(key)
          return m === undefined ? Effect.succeed("Closed" as const) : readState(m)
        }),
      stats: (key) =>
        Effect.suspend(() => {
          const m = machines.peek(key)
          return m === undefined
            ? Effect.succeed<Stats>({
              state: "Closed",
              successes: 0,
              failures: 0,
              slowCalls: 0,
              rejected: 0,
              failureRate: 0,
              slowCallRate: 0
            })
            : readStats(m)
        }),
      // An operator's isolation always takes: past maxKeys if need be.
      isolate: (key) => Effect.clockWith((clock) => isolateMachine(get(key, clock, true)!)),
      reset: (key) => peek(key, resetMachine),
      size: Effect.clockWith((clock) =>
        Effect.sync(() => {
          machines.evictIdle(clock.unsafeCurrentTimeMillis())
          return machines.size
        })
      ),
      changes: Stream.fromPubSub(pubsub)
    }
    yield* ResilienceRegistry.register({
      kind: "circuit_breaker",
      name: settings.name,
      status: Effect.sync(() => {
        const open = openCount()
        return {
          healthy: true,
          state: open === 0 ? "Closed" : "PartlyOpen",
          details: { keys: machines.size, notClosed: open }
        }
      })
    })
    return breaker
  })

/**
 * Whether a keyed breaker may forget a key's breaker. In use, only a closed one with no failure in its window (its
 * state is what a new breaker would have); idle for `idleTtl`, any but an isolated one, one still open, or one with
 * probes running.
 */
const canEvictMachine = (m: Machine, idle: boolean, now: number): boolean => {
  if (m.probes > 0 || m.state === "Isolated") return false
  if (m.state === "Open" && now < m.openUntil) return false
  if (idle) return true
  return m.state === "Closed" && m.counts(now).failures === 0
}

/** @internal */
export const isCircuitBreaker = (u: unknown): u is CircuitBreaker => typeof u === "object" && u !== null && TypeId in u

/** @internal */
export const isKeyedCircuitBreaker = (u: unknown): u is KeyedCircuitBreaker =>
  typeof u === "object" && u !== null && KeyedTypeId in u
