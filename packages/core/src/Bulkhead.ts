/**
 * Bounded concurrency: at most `maxConcurrent` calls run at once, at most `maxQueue` more wait in a FIFO queue
 * (for at most `queueTimeout`), and the rest are rejected at once with `BulkheadRejectedError`. Below the limit a
 * bulkhead is a plain counter: no semaphore, no fiber, no allocation per call.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as AdaptiveLimit from "./AdaptiveLimit.js"
import * as internal from "./internal/bulkhead.js"
import { BulkheadRejectedError } from "./internal/bulkhead.js"
import type { InvalidOptionsError } from "./InvalidOptionsError.js"
import type { DuplicateNameError } from "./ResilienceRegistry.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = internal.TypeId as TypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export const KeyedTypeId: unique symbol = internal.KeyedTypeId as KeyedTypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type KeyedTypeId = typeof KeyedTypeId

export {
  /**
   * The bulkhead turned a call away: its queue was full (`"QueueFull"`, at once), the call waited
   * `queueTimeout` without getting a slot (`"QueueTimeout"`), or a keyed bulkhead had no room for a new key as all
   * `maxKeys` keys had calls running or queued (`"TooManyKeys"`, at once).
   *
   * @since 0.1.0
   * @category errors
   */
  BulkheadRejectedError
}

/**
 * What a bulkhead holds right now, and how many calls it has turned away since it was made.
 *
 * @since 0.1.0
 * @category models
 */
export interface BulkheadStats {
  readonly active: number
  readonly queued: number
  readonly rejected: number
}

/**
 * A bulkhead: `execute` runs an effect in one of its slots.
 *
 * @since 0.1.0
 * @category models
 */
export interface Bulkhead {
  readonly [TypeId]: TypeId
  readonly name: string
  /** The calls that may run at once now (for an adaptive limit, what it has learned so far). */
  readonly maxConcurrent: number
  /** Runs `effect` in a slot, waiting in the queue when all are taken, or fails with `BulkheadRejectedError`. */
  execute<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | BulkheadRejectedError, R>
  /** Running, queued and rejected calls. */
  readonly stats: Effect.Effect<BulkheadStats>
}

/**
 * One bulkhead per key (per host, per tenant), created on first use; at most `maxKeys` are kept, idle ones
 * (nothing running or queued for `idleTtl`) are forgotten lazily. A bulkhead with calls running or queued is
 * never forgotten: while all `maxKeys` are busy, a call on a new key is rejected (`"TooManyKeys"`), never run
 * without a limit. Metrics are per name, never per key.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyedBulkhead<K> {
  readonly [KeyedTypeId]: KeyedTypeId
  readonly name: string
  /** The bulkhead of `key`. */
  get(key: K): Effect.Effect<Bulkhead>
  /** Runs `effect` in the bulkhead of `key`. */
  execute<A, E, R>(key: K, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | BulkheadRejectedError, R>
  /** Totals over every live key, and how many keys are live. */
  readonly stats: Effect.Effect<BulkheadStats & { readonly keys: number }>
}

/**
 * @since 0.1.0
 */
export declare namespace Bulkhead {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Options {
    /** The name in metrics, errors and the registry. */
    readonly name: string
    /**
     * Calls that may run at once: an integer >= 1, or an `AdaptiveLimit` that learns the limit from latency
     * (each bulkhead, each key of a keyed one, learns its own; `bulkhead.maxConcurrent` reads the current limit).
     */
    readonly maxConcurrent: number | AdaptiveLimit.AdaptiveLimit
    /** Calls that may wait for a slot (default 0: reject as soon as all slots are taken). */
    readonly maxQueue?: number | undefined
    /**
     * How long a call may wait in the queue (default: until a slot frees, or the `Deadline` ends). It bounds the
     * wait only, not the run.
     */
    readonly queueTimeout?: Duration.DurationInput | undefined
    /**
     * An adaptive queue timeout (CoDel, as Facebook applies it to its servers' queues): once the queue has not
     * been empty for `interval` (default 100 ms), it is a standing queue, not a burst, and a call that joins it
     * waits at most `target` (default 5 ms) before it is rejected with `QueueTimeout`. A burst
     * shorter than `interval` queues as usual (up to `queueTimeout`). Under sustained overload the queue then
     * drains instead of holding calls until their callers have given up, and the calls it serves have waited
     * little. Default: off. See docs/bulkhead.md.
     *
     * @since 0.1.0
     */
    readonly codel?: {
      readonly target?: Duration.DurationInput | undefined
      readonly interval?: Duration.DurationInput | undefined
    } | undefined
    /** Record `bulkhead_*` metrics (default true). */
    readonly metrics?: boolean | undefined
    /** A span per call, named `bulkhead <name>` (default false). */
    readonly tracing?: boolean | undefined
    /** Record `resilience_call_duration_seconds{policy="bulkhead",name}` (default false). */
    readonly histogram?: boolean | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface KeyedOptions extends Options {
    /** Keys kept at most (default 10,000). */
    readonly maxKeys?: number | undefined
    /** A key idle this long may be forgotten (default 10 minutes). */
    readonly idleTtl?: Duration.DurationInput | undefined
  }
}

/**
 * Makes a bulkhead. It registers in the `ResilienceRegistry` (kind `"bulkhead"`) when one is provided, until its
 * `Scope` closes (then the name is free again); a duplicate name fails with `DuplicateNameError`.
 *
 * @example
 * ```ts
 * import { Bulkhead } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const bulkhead = yield* Bulkhead.make({ name: "payments", maxConcurrent: 10, maxQueue: 100, queueTimeout: "5 seconds" })
 *   return yield* bulkhead.execute(Effect.succeed("charged"))
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options: Bulkhead.Options
) => Effect.Effect<Bulkhead, InvalidOptionsError | DuplicateNameError, Scope.Scope> = internal.make

/**
 * Makes a keyed bulkhead: one bulkhead of the same options per key. It registers once (kind `"bulkhead"`) for
 * the life of its `Scope`.
 *
 * @example
 * ```ts
 * import { Bulkhead } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const perHost = yield* Bulkhead.keyed({ name: "http", maxConcurrent: 20, maxKeys: 1000 })
 *   return yield* perHost.execute("api.example.com", Effect.succeed(200))
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const keyed: <K = string>(
  options: Bulkhead.KeyedOptions
) => Effect.Effect<KeyedBulkhead<K>, InvalidOptionsError | DuplicateNameError, Scope.Scope> = internal.keyed

/**
 * Runs an effect in a bulkhead: `effect.pipe(Bulkhead.withBulkhead(bulkhead))`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withBulkhead: {
  (bulkhead: Bulkhead): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | BulkheadRejectedError, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, bulkhead: Bulkhead): Effect.Effect<A, E | BulkheadRejectedError, R>
} = internal.withBulkhead

/**
 * Whether a value is a `Bulkhead`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isBulkhead: (u: unknown) => u is Bulkhead = internal.isBulkhead
