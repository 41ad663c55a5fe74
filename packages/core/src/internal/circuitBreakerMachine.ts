/**
 * One breaker's local state machine (`Machine`), read and written synchronously, and the `Sink` a breaker (or every
 * key of a keyed breaker) reports to: metrics, the `changes` PubSub and the `onStateChange` hook.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Metric from "effect/Metric"
import * as PubSub from "effect/PubSub"
import * as ScheduleDecision from "effect/ScheduleDecision"
import type * as Scope from "effect/Scope"
import type { StateChange, Stats } from "../CircuitBreaker.js"
import * as ResilienceMetrics from "../ResilienceMetrics.js"
import * as RetryAfter from "../RetryAfter.js"
import type { HealthCheck, Settings } from "./circuitBreakerSettings.js"
import type { State } from "./circuitBreakerStore.js"
import type { Link } from "./circuitBreakerSync.js"
import { makeWindow, type Window, type WindowCounts } from "./circuitBreakerWindow.js"

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

// -----------------------------------------------------------------------------
// Sink: where a breaker (or every key of a keyed breaker) reports
// -----------------------------------------------------------------------------

const stateLabel = (state: State): string =>
  state === "Closed" ? "closed" : state === "Open" ? "open" : state === "HalfOpen" ? "half_open" : "isolated"

const stateValue = (state: State): number =>
  state === "Closed" ? 0 : state === "Open" ? 1 : state === "HalfOpen" ? 2 : 3

const allStates: ReadonlyArray<State> = ["Closed", "Open", "HalfOpen", "Isolated"]

/** @internal */
export class Sink {
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

/**
 * A half-open probe's hold on its slot (`halfOpen.probeLease`): `held` until the probe ends or the lease runs out.
 *
 * @internal
 */
export interface ProbeLease {
  readonly at: number
  held: boolean
}

/** @internal */
export class Machine {
  state: State = "Closed"
  /** Bumped on every transition: a probe admitted in one half-open episode does not count in the next. */
  epoch = 0
  /** When the state was entered (Clock millis). */
  since = 0
  /** When Open: the instant probes are admitted. */
  openUntil = 0
  /** Consecutive openings since the breaker last closed. */
  openings = 0
  /** Probes holding a half-open slot (a probe whose lease ran out holds none). */
  probes = 0
  probeSuccesses = 0
  /** With `halfOpen.probeLease`: the leases of the probes holding a slot, oldest first. */
  leases: Array<ProbeLease> | undefined = undefined
  /** The open period (epoch) whose health checks are running, if any (`healthCheck`). */
  checking = -1
  rejected = 0
  pending: Array<StateChange> | undefined = undefined
  link: Link | undefined = undefined
  /**
   * Completed by the next transition to Open or Isolated, then dropped: made on demand by a client's retry that waits
   * between attempts (`openingSignal`), so a breaker nobody retries on never has one.
   */
  opening: Deferred.Deferred<void> | undefined = undefined
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

  // --- half-open probes -------------------------------------------------------

  /** Frees the slots of the probes whose lease ran out (`halfOpen.probeLease`); they keep running. */
  expireLeases(now: number): void {
    const leaseMillis = this.sink.settings.probeLeaseMillis
    const leases = this.leases
    if (leaseMillis === undefined || leases === undefined) return
    while (leases.length > 0 && leases[0]!.at + leaseMillis <= now) {
      leases.shift()!.held = false
      this.probes--
    }
  }

  /** Takes a half-open slot for a probe; its lease, when probes have one. */
  admitProbe(now: number): ProbeLease | undefined {
    this.probes++
    if (this.sink.settings.probeLeaseMillis === undefined) return undefined
    const lease: ProbeLease = { at: now, held: true }
    if (this.leases === undefined) this.leases = [lease]
    else this.leases.push(lease)
    return lease
  }

  /** Gives a probe's slot back as it ends (nothing when its lease already ran out). */
  releaseProbe(lease: ProbeLease | undefined): void {
    if (lease === undefined) {
      this.probes--
      return
    }
    if (!lease.held) return
    lease.held = false
    this.probes--
    const leases = this.leases!
    const i = leases.indexOf(lease)
    if (i >= 0) leases.splice(i, 1)
  }

  /** A full half-open's hint: the current open duration, or sooner when a lease runs out first. */
  halfOpenRetryAfter(now: number): number {
    const delay = this.openDelay(this.openings)
    const leaseMillis = this.sink.settings.probeLeaseMillis
    const oldest = this.leases?.[0]
    if (leaseMillis === undefined || oldest === undefined) return delay
    return Math.min(delay, Math.max(0, oldest.at + leaseMillis - now))
  }

  // --- transitions -------------------------------------------------------------

  /** Moves to `to`, counts and queues the change; `remote`: applied from the store, so not proposed to it. */
  change(from: State, to: State, at: number, remote: boolean): void {
    this.epoch++
    this.state = to
    this.since = at
    this.probes = 0
    this.probeSuccesses = 0
    // The probes of the period that ends settle nothing (their epoch is over): their leases go with it.
    if (this.leases !== undefined) this.leases.length = 0
    const sink = this.sink
    sink.transitions.get(`${from}>${to}`)?.unsafeUpdate(1, [])
    sink.stateGauge?.unsafeUpdate(stateValue(to), [])
    const change: StateChange = this.key === undefined
      ? { breakerName: sink.settings.name, from, to, at }
      : { breakerName: sink.settings.name, from, to, at, key: this.key }
    if (this.pending === undefined) this.pending = [change]
    else this.pending.push(change)
    // Local or applied from a store alike: the calls waiting to retry through this breaker learn it opened.
    if ((to === "Open" || to === "Isolated") && this.opening !== undefined) {
      const opening = this.opening
      this.opening = undefined
      Deferred.unsafeDone(opening, Exit.void)
    }
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
}

/**
 * Publishes the changes a synchronous step made (the state machine has already moved) and starts the hook for each,
 * in order, on a fiber of the breaker's scope: a hook that throws, fails, dies or never ends can neither wedge the
 * breaker (a probe slot, a transition) nor hold up or pin the caller, and what goes wrong is logged.
 */
/** @internal */
export const drain = (m: Machine): Effect.Effect<void> => {
  const changes = m.pending
  if (changes === undefined) return Effect.void
  m.pending = undefined
  const sink = m.sink
  const hook = sink.settings.onStateChange
  const scope = sink.hookScope
  const published = Effect.forEach(
    changes,
    (change): Effect.Effect<unknown> =>
      hook === undefined || scope === undefined
        ? PubSub.publish(sink.pubsub, change)
        : Effect.zipRight(PubSub.publish(sink.pubsub, change), Effect.forkIn(runHook(hook, change), scope)),
    { discard: true }
  )
  const healthCheck = sink.settings.healthCheck
  // Open now, in a period with no health checks yet: start them, on a fiber of the breaker's scope.
  if (healthCheck === undefined || scope === undefined || m.state !== "Open" || m.checking === m.epoch) {
    return published
  }
  m.checking = m.epoch
  return Effect.zipRight(published, Effect.asVoid(Effect.forkIn(healthChecks(m, m.epoch, healthCheck), scope)))
}

/**
 * `healthCheck`: while the breaker stays open in the period `epoch` (and before its probes are due anyway), starts
 * a check every `intervalMillis` (the first one `intervalMillis` after it opened), each given that long to succeed;
 * the first success turns the breaker half-open at once, so its next call probes. Ends with the period, or when the
 * scope closes.
 */
const healthChecks = (m: Machine, epoch: number, healthCheck: HealthCheck): Effect.Effect<void> => {
  const { check, intervalMillis } = healthCheck
  const open = (now: number) => m.epoch === epoch && m.state === "Open" && now < m.openUntil
  const once = Effect.timeout(Effect.suspend(() => check(m.key)), intervalMillis)
  return Effect.interruptible(Effect.clockWith((clock) => {
    const round: Effect.Effect<void> = Effect.suspend(() => {
      const started = clock.unsafeCurrentTimeMillis()
      if (!open(started)) return Effect.void
      return Effect.flatMap(Effect.exit(once), (exit) => {
        const now = clock.unsafeCurrentTimeMillis()
        if (!open(now)) return Effect.void
        if (exit._tag === "Failure") {
          return Effect.zipRight(Effect.sleep(Math.max(0, started + intervalMillis - now)), round)
        }
        m.openUntil = now
        m.observe(now)
        return drain(m)
      })
    })
    return Effect.zipRight(Effect.sleep(intervalMillis), round)
  }))
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

/** @internal */
export const thenDrain = <A, E, R>(m: Machine, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  m.pending === undefined ? effect : Effect.zipRight(drain(m), effect)

/**
 * For a client's retry about to wait between attempts (`onOpenBreaker: "fail"`): fails with the breaker's rejection
 * as soon as the breaker opens or is isolated (at once if it already is), never succeeds; the retry races its wait
 * against it. The call ends as it would have after the wait, turned away by the open breaker, only sooner (and the
 * rejection is counted as such). Costs nothing until a retry waits: the signal is made then, one per opening.
 *
 * @internal
 */
export const openingSignal = (m: Machine): Effect.Effect<never, CircuitBreakerOpenError> =>
  Effect.clockWith((clock) => {
    const now = clock.unsafeCurrentTimeMillis()
    if (m.state === "Isolated" || (m.state === "Open" && now < m.openUntil)) return reject(m, now)
    const opening = m.opening ??= Deferred.unsafeMake<void>(FiberId.none)
    return Effect.zipRight(
      Deferred.await(opening),
      Effect.clockWith((clock) => reject(m, clock.unsafeCurrentTimeMillis()))
    )
  })

/** A call the breaker turns away: counted, and failed with its `retryAfter`. @internal */
export const reject = (m: Machine, now: number): Effect.Effect<never, CircuitBreakerOpenError> => {
  m.rejected++
  m.sink.rejections.unsafeUpdate(1, [])
  const state = m.state
  const retryAfter = state === "Open"
    ? Duration.millis(Math.max(0, m.openUntil - now))
    : state === "HalfOpen"
    ? Duration.millis(m.halfOpenRetryAfter(now))
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
