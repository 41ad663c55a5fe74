/**
 * A pool of resources (connections, clients, sessions) on Effect's `Pool`, with what it lacks: a bounded wait,
 * validation on borrow, idle eviction down to `min`, back-off after failed creations, leak warnings, stats,
 * metrics and a drain that ends in bounded time.
 *
 * @since 0.1.0
 */
import type { InvalidOptionsError } from "@effect-resilience/core/InvalidOptionsError"
import type { DuplicateNameError, EntryStatus } from "@effect-resilience/core/ResilienceRegistry"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type { Pipeable } from "effect/Pipeable"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/resourcePool.js"
import { PoolTimeoutError } from "./internal/resourcePool.js"

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
 * A pool of resources of type `A` whose creation fails with `E`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResourcePool<in out A, out E = never> extends Pipeable {
  readonly [TypeId]: TypeId
  /** The pool's name, as registered and in metric labels. */
  readonly name: string
  /**
   * Borrows a resource for the life of the current `Scope`; closing the scope gives it back, whatever the exit.
   * Fails with `PoolTimeoutError` when none could be had within `acquireTimeout`.
   */
  readonly get: Effect.Effect<A, PoolTimeoutError<E>, Scope.Scope>
  /** Borrows a resource for the span of `f`: it goes back on success, failure and interruption. */
  readonly use: <B, E2, R>(f: (resource: A) => Effect.Effect<B, E2, R>) => Effect.Effect<B, E2 | PoolTimeoutError<E>, R>
  /**
   * Marks a resource as broken: it is closed at once when idle, or when given back when borrowed, and replaced on
   * demand. Counted in `pool_invalidated_total`.
   */
  readonly invalidate: (resource: A) => Effect.Effect<void>
  /** The pool's figures now. */
  readonly stats: Effect.Effect<Stats>
  /** What the pool reports to the registry and health checks: unhealthy when it cannot create resources. */
  readonly status: Effect.Effect<EntryStatus>
}

/**
 * The figures of a pool.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  /** Resources alive, idle or borrowed. */
  readonly size: number
  /** Resources alive and not borrowed. */
  readonly idle: number
  /** Resources lent out. */
  readonly borrowed: number
  /** Borrowers waiting for a resource (for a free slot, or for one to be created). */
  readonly waiting: number
}

/**
 * @since 0.1.0
 */
export declare namespace ResourcePool {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Options<A, E, R> {
    /** The pool's name: registry entry, metric label, log lines. */
    readonly name: string
    /**
     * Creates a resource. It runs in a `Scope` that is closed when the resource leaves the pool: release it there
     * (`Effect.acquireRelease`). A failed creation is retried by waiting borrowers with a growing, jittered pause
     * (50 ms doubling up to 1 s), never in a tight loop.
     */
    readonly acquire: Effect.Effect<A, E, R>
    /** Resources kept even when idle. Default 0. */
    readonly min?: number | undefined
    /** Most resources alive at once, borrowed or idle. Default 10. */
    readonly max?: number | undefined
    /**
     * Longest a borrower waits for a resource (a free one, or one being created, retries included) before failing
     * with `PoolTimeoutError`. Also bounds one creation attempt. Default 30 seconds.
     */
    readonly acquireTimeout?: Duration.DurationInput | undefined
    /**
     * Checks a resource before it is lent out; `false`, a failure, a defect, a throw or a value that is not an
     * `Effect` evicts it and another is tried.
     */
    readonly validate?: ((resource: A) => Effect.Effect<boolean>) | undefined
    /**
     * When to run `validate`: `true` (default when `validate` is given) on every borrow, `false` never, or a
     * duration: only when the resource has been idle at least that long (cheap validation).
     */
    readonly validateOnBorrow?: boolean | Duration.DurationInput | undefined
    /** A resource is closed once this old (when idle, or when given back). Finite. Default 30 minutes. */
    readonly maxLifetime?: Duration.DurationInput | undefined
    /** Idle resources beyond `min` are closed after this long unused. Default 10 minutes. */
    readonly idleTimeout?: Duration.DurationInput | undefined
    /**
     * A resource borrowed longer than this is reported once: a warning log line and `pool_leak_warnings_total`.
     * Off by default.
     */
    readonly leakDetection?: Duration.DurationInput | undefined
    /**
     * When the pool's scope closes: how long to wait for borrowed resources to come back before interrupting
     * their borrowers (without waiting for them) and taking the resources back, with a warning naming how many.
     * Default 30 seconds.
     */
    readonly drainTimeout?: Duration.DurationInput | undefined
    /**
     * Record every borrow in `pool_acquire_duration_seconds`, immediate ones included. By default only borrows
     * that had to wait (for a slot or a creation) are recorded, which keeps the hot path free of clock reads.
     */
    readonly histogram?: boolean | undefined
  }
}

export {
  /**
   * No resource could be had within `acquireTimeout`: all were borrowed, or creating new ones failed (the last
   * creation failure is in `lastError`).
   *
   * @since 0.1.0
   * @category errors
   */
  PoolTimeoutError
}

/**
 * Makes a pool in the current scope; closing the scope drains it (see `drainTimeout`) and closes every resource.
 * Registers in the `ResilienceRegistry` (kind `"pool"`) when one is provided.
 *
 * Bad options fail with `InvalidOptionsError` naming the field and the value: `max` < 1, `min` > `max`, negative,
 * zero or unparsable durations, values of the wrong type (`null` included), an `acquire` that is not an `Effect`.
 *
 * @example
 * ```ts
 * import { ResourcePool } from "@effect-resilience/pool"
 * import { Effect } from "effect"
 *
 * class Connection {
 *   close() {}
 * }
 *
 * const program = Effect.gen(function*() {
 *   const pool = yield* ResourcePool.make({
 *     name: "connections",
 *     acquire: Effect.acquireRelease(Effect.sync(() => new Connection()), (c) => Effect.sync(() => c.close())),
 *     max: 4,
 *     acquireTimeout: "2 seconds"
 *   })
 *   yield* pool.use((connection) => Effect.log("borrowed", connection))
 *   return yield* pool.stats
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: <A, E, R>(
  options: ResourcePool.Options<A, E, R>
) => Effect.Effect<
  ResourcePool<A, E>,
  InvalidOptionsError | DuplicateNameError,
  Scope.Scope | Exclude<R, Scope.Scope>
> = internal.make

/**
 * Whether a value is a `ResourcePool`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isResourcePool: (u: unknown) => u is ResourcePool<unknown, unknown> = internal.isResourcePool

/**
 * `pool_leak_warnings_total{name}`: resources held longer than `leakDetection` (not among the design's metrics,
 * so defined here, once).
 *
 * @since 0.1.0
 * @category metrics
 */
export const leakWarningsTotal = internal.poolLeaksTotal
