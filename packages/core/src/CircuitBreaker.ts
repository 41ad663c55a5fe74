/**
 * A circuit breaker: after enough failures it opens and rejects calls at once, without running them, so a
 * failing dependency gets room to recover and callers fail fast; after `openDuration` it lets a few probes
 * through (half-open) and closes again when they succeed.
 *
 * The state machine is local and synchronous: a healthy call that succeeds pays one state check and one
 * observer, no clock read, no `Metric`, no `Ref`. Breaker state can be shared across replicas through an
 * optional `CircuitBreakerStore`; without one the breaker keeps its state to itself.
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/circuitBreaker.js"
import { CircuitBreakerOpenError } from "./internal/circuitBreaker.js"
import type { InvalidOptionsError } from "./InvalidOptionsError.js"
import type { DuplicateNameError } from "./ResilienceRegistry.js"

/**
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: typeof internal.TypeId = internal.TypeId

/**
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * @since 0.1.0
 * @category symbols
 */
export const KeyedTypeId: typeof internal.KeyedTypeId = internal.KeyedTypeId

/**
 * @since 0.1.0
 * @category symbols
 */
export type KeyedTypeId = typeof KeyedTypeId

/**
 * The state of a breaker. `Closed`: calls run and their outcomes are counted. `Open`: calls are rejected until
 * `openDuration` has passed. `HalfOpen`: up to `halfOpen.maxProbes` probes run at a time; enough successes close
 * it, a failure opens it again. `Isolated`: opened by hand (`isolate`) until `reset`.
 *
 * @since 0.1.0
 * @category models
 */
export type State = "Closed" | "Open" | "HalfOpen" | "Isolated"

/**
 * A transition. `at` is the Clock instant (millis) it happened: for Open → HalfOpen, the instant
 * `openDuration` ended, even when it is observed later. `key` is set for the breakers of `keyed`.
 *
 * @since 0.1.0
 * @category models
 */
export interface StateChange {
  readonly breakerName: string
  readonly from: State
  readonly to: State
  readonly at: number
  readonly key?: string
}

/**
 * What a breaker has seen: the outcomes of its current window (kept while open, cleared when it closes) and the
 * calls it rejected since it was made. The rates are fractions, 0 when the window is empty.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly state: State
  readonly successes: number
  readonly failures: number
  readonly slowCalls: number
  readonly rejected: number
  readonly failureRate: number
  readonly slowCallRate: number
}

/**
 * When a breaker opens: built with `consecutive`, `countWindow` or `timeWindow`.
 *
 * @since 0.1.0
 * @category models
 */
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

/**
 * Opens after `threshold` failures in a row (a success starts the count over; a slow call counts as a failure).
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/core"
 *
 * const strategy = CircuitBreaker.consecutive(5)
 * ```
 *
 * @since 0.1.0
 * @category strategies
 */
export const consecutive: (threshold: number) => Strategy = internal.consecutive

/**
 * Opens when the failure rate of the last `size` calls is at least `failureRate`, once `minimumCalls` calls
 * (default: `size`) are in the window.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/core"
 *
 * const strategy = CircuitBreaker.countWindow({ size: 100, failureRate: 0.5, minimumCalls: 20 })
 * ```
 *
 * @since 0.1.0
 * @category strategies
 */
export const countWindow: (options: {
  /** How many of the latest calls the window holds. */
  readonly size: number
  /** The failure rate, in (0, 1], at or above which the breaker opens. */
  readonly failureRate: number
  /** How many calls the window needs before a rate counts; default `size`. */
  readonly minimumCalls?: number | undefined
}) => Strategy = internal.countWindow

/**
 * Opens when the failure rate over the last `duration` is at least `failureRate`, once `minimumCalls` calls
 * (default 20) are in the window. The window is `buckets` buckets aligned to the clock; a bucket is forgotten once
 * `duration` has passed since it began.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/core"
 *
 * const strategy = CircuitBreaker.timeWindow({ duration: "10 seconds", buckets: 10, failureRate: 0.5 })
 * ```
 *
 * @since 0.1.0
 * @category strategies
 */
export const timeWindow: (options: {
  /** How far back the window reaches. */
  readonly duration: Duration.DurationInput
  /** How many buckets the window is cut into (its resolution): 1 to 10,000, and a bucket at least 1 ms. */
  readonly buckets: number
  /** The failure rate, in (0, 1], at or above which the breaker opens. */
  readonly failureRate: number
  /** How many calls the window needs before a rate counts; default 20. */
  readonly minimumCalls?: number | undefined
}) => Strategy = internal.timeWindow

/**
 * A circuit breaker.
 *
 * @since 0.1.0
 * @category models
 */
export interface CircuitBreaker {
  readonly [TypeId]: TypeId
  readonly name: string
  /**
   * Runs `self` through the breaker, or fails with `CircuitBreakerOpenError` without running it. `options.classify`
   * decides, for this call, which outcomes count as failures (typed by the call); without it the breaker's
   * `isFailureCause` does.
   */
  readonly execute: <A, E, R>(
    self: Effect.Effect<A, E, R>,
    options?: CircuitBreaker.ExecuteOptions<NoInfer<A>, NoInfer<E>>
  ) => Effect.Effect<A, E | CircuitBreakerOpenError, R>
  /** The current state (an open breaker whose `openDuration` has passed reads `HalfOpen`). */
  readonly state: Effect.Effect<State>
  /** The current window's counts and rates, and the calls rejected since creation. */
  readonly stats: Effect.Effect<Stats>
  /** The transitions from the moment the stream is run on (bounded: a slow reader loses the oldest). */
  readonly changes: Stream.Stream<StateChange>
  /** Opens the breaker by hand until `reset`; rejections carry no `RetryAfter` hint. */
  readonly isolate: Effect.Effect<void>
  /** Closes the breaker and clears its window. */
  readonly reset: Effect.Effect<void>
}

/**
 * One breaker per key (per host, per tenant), created on first use. Keys never appear in metric labels.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyedCircuitBreaker {
  readonly [KeyedTypeId]: KeyedTypeId
  readonly name: string
  /** Runs `self` through the breaker of `key` (`options` as for `CircuitBreaker.execute`). */
  readonly execute: <A, E, R>(
    key: string,
    self: Effect.Effect<A, E, R>,
    options?: CircuitBreaker.ExecuteOptions<NoInfer<A>, NoInfer<E>>
  ) => Effect.Effect<A, E | CircuitBreakerOpenError, R>
  /** The state of the breaker of `key` (`Closed` when there is none). */
  readonly state: (key: string) => Effect.Effect<State>
  /** The stats of the breaker of `key` (empty when there is none). */
  readonly stats: (key: string) => Effect.Effect<Stats>
  /** Isolates the breaker of `key` (creating it). */
  readonly isolate: (key: string) => Effect.Effect<void>
  /** Resets the breaker of `key`, if there is one. */
  readonly reset: (key: string) => Effect.Effect<void>
  /** How many keys have a breaker (after evicting the idle ones). */
  readonly size: Effect.Effect<number>
  /** The transitions of every key, with the key. */
  readonly changes: Stream.Stream<StateChange>
}

/**
 * @since 0.1.0
 */
export declare namespace CircuitBreaker {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Options {
    /** The breaker's name, for errors, metrics and the registry. */
    readonly name: string
    /** When to open; default `consecutive(5)`. */
    readonly strategy?: Strategy | undefined
    /**
     * How long to stay open before admitting probes; default 30 seconds. A `Schedule` makes repeated openings
     * wait longer: the n-th consecutive opening waits its n-th delay (a finished schedule keeps its last delay),
     * and closing starts it over.
     */
    readonly openDuration?: Duration.DurationInput | Schedule.Schedule<unknown, unknown> | undefined
    /**
     * The longest one opening may last when `openDuration` is a `Schedule` (positive, finite; default 10 minutes):
     * each delay of the schedule is cut to it, so a schedule that grows without end (or `Schedule.spaced(Infinity)`)
     * cannot keep the breaker open for ever. A plain `openDuration` is used as given.
     */
    readonly maxOpenDuration?: Duration.DurationInput | undefined
    /** Half-open: concurrent probes admitted (default 1) and successes needed to close (default 1). */
    readonly halfOpen?: {
      readonly maxProbes?: number | undefined
      readonly successesToClose?: number | undefined
      /**
       * How long a probe holds its half-open slot (positive, finite; default: until it ends). A probe that has
       * not answered within `probeLease` is not interrupted, but no longer counts against `maxProbes`: the next
       * call probes. A stuck probe then cannot keep the breaker from seeing that the dependency is back; set it a
       * little above the dependency's healthy latency and below the attempt timeout (a probe sent just before an
       * outage ends otherwise hangs until its timeout, then reopens the breaker after the dependency is back).
       * A late probe's success counts; its failure reopens the breaker only if no probe of the same half-open
       * period has succeeded (the late answer is the stale one). With no answer coming, each lease that runs out
       * lets one more probe through: at most `maxProbes` per `probeLease`.
       *
       * @since 0.1.0
       */
      readonly probeLease?: Duration.DurationInput | undefined
    }
    /**
     * Checks the dependency while the breaker is open, without spending a call on it: `interval` (positive,
     * finite) after it opens and every `interval` from then on, `check` starts on a fiber of the breaker's scope,
     * given `interval` to succeed (one at a time); the first success turns the breaker half-open at once (before `openDuration` has passed), so the next call probes and
     * closes it. A failure, a defect or a check cut short changes nothing. The checks stop when the breaker leaves
     * `Open` (a check is due then or not: half-open, reset, isolated) and when its scope closes; none run while
     * it is closed, half-open or isolated. `check` receives the key of a keyed breaker (`undefined` for `make`).
     * Use a cheap call that fails when the dependency is down, such as its health endpoint: a breaker open when
     * the dependency recovers then turns half-open within about `interval`, not up to `openDuration` later.
     *
     * @since 0.1.0
     */
    readonly healthCheck?: {
      readonly check: (key: string | undefined) => Effect.Effect<unknown, unknown>
      readonly interval: Duration.DurationInput
    } | undefined
    /**
     * The breaker-wide default of which failed calls count as failures: it receives the whole `Cause` (match it
     * with `Cause.failureOption`, `Cause.isDie`, ...), not the error. Default: typed failures and defects. A cause
     * it refuses counts as a success. Interruption counts as nothing and never reaches it. To judge a call by its
     * typed error (or its value), pass `classify` to `execute` / `withBreaker`.
     */
    readonly isFailureCause?: ((cause: Cause.Cause<unknown>) => boolean) | undefined
    /**
     * The former name of `isFailureCause` (it receives the `Cause`, not the error). Giving both is an
     * `InvalidOptionsError`.
     *
     * @deprecated Use `isFailureCause`, or a typed `classify` per call.
     */
    readonly isFailure?: ((cause: Cause.Cause<unknown>) => boolean) | undefined
    /**
     * A call is slow when it takes strictly longer than `duration`; the breaker opens when the slow-call rate of
     * the window reaches `rate` (under `consecutive`, a slow call counts as a failure).
     */
    readonly slowCall?: { readonly duration: Duration.DurationInput; readonly rate: number } | undefined
    /**
     * Runs on every transition, after the state changed, on its own fiber in the breaker's scope (started in order,
     * never awaited): a hook that throws, fails, dies or never ends is logged and cannot wedge the breaker or block
     * the caller.
     */
    readonly onStateChange?: ((change: StateChange) => Effect.Effect<void>) | undefined
  }

  /**
   * What a call may tell the breaker it runs through.
   *
   * @since 0.2.0
   * @category models
   */
  export interface ExecuteOptions<A, E> {
    /**
     * Whether this call's outcome counts as a failure: `true` for a failure, `false` for a success. Typed by the
     * call, it sees the error (`Exit.Fail`), a defect (`Exit.Die`) or the value, so a success can count as a
     * failure too (an HTTP 503 returned as a value). Interruption counts as nothing and never reaches it. It
     * replaces the breaker's `isFailureCause` for this call.
     */
    readonly classify?: ((exit: Exit.Exit<A, E>) => boolean) | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface KeyedOptions extends Options {
    /**
     * At most this many keys have a breaker. To make room, the least recently used key whose breaker is closed with
     * no failure in its window goes first; when none may go, a call on a new key fails with
     * `CircuitBreakerOpenError { reason: "TooManyKeys" }` instead of running unguarded.
     */
    readonly maxKeys: number
    /**
     * A key unused for this long loses its breaker (evicted lazily, no timer per key), unless it is still open,
     * isolated or running probes.
     */
    readonly idleTtl: Duration.DurationInput
  }
}

export {
  /**
   * A call was rejected by an open, full half-open or isolated breaker. `retryAfter` is the time until probes are
   * admitted when open, the current open duration when half-open is full, and `Duration.infinity` when isolated.
   * The error carries it as a `RetryAfter` hint, except when isolated.
   *
   * @since 0.1.0
   * @category errors
   */
  CircuitBreakerOpenError
}

/**
 * Makes a breaker. It registers in the `ResilienceRegistry` when one is provided (a duplicate name fails) until
 * the scope closes, and shares its state through the `CircuitBreakerStore` when one is provided (with a `connect`
 * store it runs two fibers in the scope; a store that attaches, such as Redis, runs them itself); with neither, it
 * keeps its state locally.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const breaker = yield* CircuitBreaker.make({
 *     name: "payments",
 *     strategy: CircuitBreaker.consecutive(5),
 *     openDuration: "30 seconds"
 *   })
 *   return yield* breaker.execute(Effect.succeed("paid"))
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options: CircuitBreaker.Options
) => Effect.Effect<CircuitBreaker, InvalidOptionsError | DuplicateNameError, Scope.Scope> = internal.make

/**
 * Makes a keyed breaker: one breaker per key, created on first use, at most `maxKeys` of them (least recently
 * used evicted), idle ones evicted after `idleTtl`. Its metrics sum over the keys (no key in a label). Each key
 * shares its state through a `CircuitBreakerStore` that attaches (`Store.attach`, e.g. the Redis store: one record
 * per key, nothing per key in the process but its entry); otherwise its state is local.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const perHost = yield* CircuitBreaker.keyed({ name: "upstreams", maxKeys: 1000, idleTtl: "10 minutes" })
 *   return yield* perHost.execute("api.example.com", Effect.succeed(200))
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const keyed: (
  options: CircuitBreaker.KeyedOptions
) => Effect.Effect<KeyedCircuitBreaker, InvalidOptionsError | DuplicateNameError, Scope.Scope> = internal.keyed

/**
 * Runs an effect through a breaker; `options.classify` (typed by the call) decides which of its outcomes count
 * as failures.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/core"
 * import { Cause, Data, Effect, Exit, Option } from "effect"
 *
 * class HttpError extends Data.TaggedError("HttpError")<{ readonly status: number }> {}
 * declare const get: Effect.Effect<string, HttpError>
 *
 * // A 4xx is the caller's mistake, not the upstream's: it does not count toward opening the breaker.
 * const isOutage = (exit: Exit.Exit<string, HttpError>) =>
 *   Exit.isFailure(exit) && Option.match(Cause.failureOption(exit.cause), {
 *     onNone: () => true, // a defect
 *     onSome: (error) => error.status >= 500
 *   })
 *
 * const call = (breaker: CircuitBreaker.CircuitBreaker) =>
 *   get.pipe(CircuitBreaker.withBreaker(breaker, { classify: isOutage }))
 * // or: breaker.execute(get, { classify: (exit) => ... }), with exit: Exit<string, HttpError>
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withBreaker: {
  (breaker: CircuitBreaker): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | CircuitBreakerOpenError, R>
  <A, E>(
    breaker: CircuitBreaker,
    options: CircuitBreaker.ExecuteOptions<A, E>
  ): <R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | CircuitBreakerOpenError, R>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    breaker: CircuitBreaker,
    options?: CircuitBreaker.ExecuteOptions<NoInfer<A>, NoInfer<E>>
  ): Effect.Effect<A, E | CircuitBreakerOpenError, R>
} = internal.withBreaker

/**
 * @since 0.1.0
 * @category guards
 */
export const isCircuitBreaker: (u: unknown) => u is CircuitBreaker = internal.isCircuitBreaker

/**
 * @since 0.1.0
 * @category guards
 */
export const isKeyedCircuitBreaker: (u: unknown) => u is KeyedCircuitBreaker = internal.isKeyedCircuitBreaker
