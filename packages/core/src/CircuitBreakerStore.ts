/**
 * Where circuit breaker state lives when it must be shared (across the replicas of a service).
 *
 * The contract: a breaker keeps its own state machine and window, read and written synchronously on every call;
 * it never waits on the store. A replica sends the store batched `Report`s (outcome counts since the last report,
 * and the transition it made locally, if any, as a `Proposal` based on the newest version it has seen). The store
 * decides atomically (`decide`): a proposal made on a stale version is dropped, outcomes are merged into the shared
 * window while it is closed and may open it. Every decision is a `Snapshot` with a higher version, pushed to every
 * replica; a replica applies only a version newer than any it applied, so pushes may arrive late, twice or out of
 * order. Half-open is derived from time on each replica and is not proposed.
 *
 * `layerMemory` is the one-process store; `@effect-resilience/redis` provides the shared one.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { State } from "./CircuitBreaker.js"
import * as internal from "./internal/circuitBreakerStore.js"
import { CircuitBreakerStore } from "./internal/circuitBreakerStore.js"
import { CircuitBreakerStoreError } from "./internal/circuitBreakerStore.js"
import type { StrategyConfig as InternalStrategyConfig } from "./internal/circuitBreakerWindow.js"
import { makeWindow } from "./internal/circuitBreakerWindow.js"

/**
 * A breaker's strategy as plain data, defaults filled in and durations in millis.
 *
 * @since 0.1.0
 * @category models
 */
export type StrategyConfig = InternalStrategyConfig

/**
 * What a breaker tells the store when it joins: its name (the shared record), strategy and slow-call rate
 * (`Infinity` when slow calls are not tracked), so the store can judge the merged window.
 *
 * @since 0.1.0
 * @category models
 */
export interface SharedConfig {
  readonly name: string
  readonly strategy: StrategyConfig
  readonly slowCallRate: number
  /** The key, for one key of a keyed breaker (each key has its own shared record). */
  readonly key?: string | undefined
  /** `halfOpen.maxProbes`: how many probes the whole fleet may run at once (stores that grant probe leases). */
  readonly maxProbes?: number | undefined
}

/**
 * The shared state at a version. `at`: Clock millis of the transition; `openings`: consecutive openings (each
 * replica derives the open duration from its own `openDuration`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Snapshot {
  readonly version: number
  readonly state: State
  readonly at: number
  readonly openings: number
}

/**
 * A transition a replica made locally, on top of the version `baseVersion`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Proposal {
  readonly baseVersion: number
  readonly state: State
  readonly at: number
  readonly openings: number
}

/**
 * What a replica saw since its last report: closed-state outcomes (`failures` and `slowCalls` are parts of the
 * calls, `successes + failures` the calls) and its latest local transition.
 *
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly at: number
  readonly successes: number
  readonly failures: number
  readonly slowCalls: number
  readonly proposal: Proposal | undefined
}

/**
 * A breaker's link to its shared record, open for the breaker's scope.
 *
 * @since 0.1.0
 * @category models
 */
export interface Connection {
  /** The shared state when the breaker joined. */
  readonly initial: Snapshot
  /** Sends a report; on failure the breaker keeps the counts for the next one. */
  readonly report: (report: Report) => Effect.Effect<void, CircuitBreakerStoreError>
  /** The store's decisions (late, repeated or reordered pushes are fine). Never fails: a store reconnects itself. */
  readonly updates: Stream.Stream<Snapshot>
}

/**
 * A breaker (or one key of a keyed breaker) as a store that drives the sync itself sees it (`Store.attach`): the
 * store's own fiber takes the breaker's reports, sends them, and applies the decisions. Every method is
 * synchronous but `apply`, and none waits on the store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Member {
  /**
   * What the breaker saw since the last take (`undefined` when nothing). `byProbe`: its proposal was made by a
   * half-open probe (a store that grants probe leases accepts it only under a live lease).
   */
  readonly take: (now: number) => { readonly report: Report; readonly byProbe: boolean } | undefined
  /** Gives back a report the store could not deliver: its counts go into the next one. */
  readonly restore: (report: Report) => void
  /** The newest version applied. */
  readonly version: () => number
  /**
   * Applies a decision: only a version newer than any applied, or with `resync` the store's current state even at
   * the same version (after the store dropped a proposal of this breaker). `own`: the decision is the store's
   * answer to this breaker's own proposal; a transition the breaker made since is kept and proposed on top of it.
   */
  readonly apply: (snapshot: Snapshot, resync: boolean, own?: boolean) => Effect.Effect<void>
}

/**
 * What gates half-open probes when a store grants them fleet-wide: `admits(running, now)` says whether one more
 * probe may start now, with `running` probes running in this breaker (and asks the store for a lease if not).
 *
 * @since 0.1.0
 * @category models
 */
export interface ProbeGate {
  readonly admits: (running: number, now: number) => boolean
}

/**
 * A member's tie to a store-driven store: `signal` marks it as having something to report (called on the hot
 * path at most once per flush: it must be a plain write), `detach` ends it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Attachment {
  readonly signal: () => void
  /** Marks it as having a transition to report (rare): a store may flush sooner than its interval. */
  readonly transition?: (() => void) | undefined
  readonly probes: ProbeGate | undefined
  readonly detach: () => void
}

/**
 * A store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Store {
  /** The `store` label of `resilience_store_errors_total`. */
  readonly storeName: string
  /** How long a breaker batches outcomes before it reports. */
  readonly flushInterval: Duration.Duration
  /** Joins (or creates) the shared record of `config.name`. */
  readonly connect: (config: SharedConfig) => Effect.Effect<Connection, never, Scope.Scope>
  /**
   * A store that drives the sync itself (one fiber for every breaker and key, no fiber or timer per breaker)
   * offers this; breakers then use it instead of `connect`, and keyed breakers share state only through it.
   * Synchronous and without I/O: the store learns the shared state on its next flush.
   */
  readonly attach?: ((config: SharedConfig, member: Member) => Attachment) | undefined
}

export {
  /**
   * A store could not take a report.
   *
   * @since 0.1.0
   * @category errors
   */
  CircuitBreakerStoreError
}

export {
  /**
   * The store's tag. Optional: `CircuitBreaker.make` uses it when provided.
   *
   * @since 0.1.0
   * @category tags
   */
  CircuitBreakerStore
}

/**
 * The state of a record no replica has reported to: version 0, closed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const initialSnapshot: Snapshot = internal.initialSnapshot

/**
 * The shared window of a record, as the memory store keeps it.
 *
 * @since 0.1.0
 * @category models
 */
export interface SharedWindow {
  readonly record: (failures: number, slowCalls: number, calls: number, now: number) => boolean
  readonly clear: () => void
}

/**
 * Makes the shared window of a record, for stores that decide in process.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeSharedWindow = (config: SharedConfig): SharedWindow => {
  const window = makeWindow(config.strategy, config.slowCallRate)
  return {
    record: (failures, slowCalls, calls, now) => window.record(failures, slowCalls, calls, now),
    clear: () => window.clear()
  }
}

/**
 * The rule every store applies to a report, atomically: first the proposal (a compare-and-set: accepted only when
 * made on the current version and different from it in state, `at` or `openings`), then the outcomes, merged into the shared window while the record is closed (the window may open it). Returns
 * the next snapshot, or `current` itself when nothing changed.
 *
 * @since 0.1.0
 * @category decisions
 */
export const decide: (current: Snapshot, window: SharedWindow, report: Report) => Snapshot = internal.decide

/**
 * Makes a one-process store.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: Effect.Effect<Store> = internal.makeMemory

/**
 * The one-process store: breakers of the same name made with it share one record.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<CircuitBreakerStore> = internal.layerMemory
