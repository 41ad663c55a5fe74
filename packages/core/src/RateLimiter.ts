/**
 * A rate limit as a policy: `limit` calls per `interval`, either waiting for the next slot (`onLimit: "wait"`,
 * at most `maxWait`) or failing at once with `RateLimitedError` and a `RetryAfter` hint (`onLimit: "fail"`).
 *
 * The counting is `@effect/experimental`'s `RateLimiter`: when its service is provided (e.g. with its Redis
 * store, shared by replicas) the policy uses it; otherwise the policy keeps a memory store of its own.
 *
 * @since 0.1.0
 */
import type * as Experimental from "@effect/experimental/RateLimiter"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/rateLimiter.js"
import { RateLimitedError } from "./internal/rateLimiter.js"
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
   * The limit is reached. `retryAfter` (also the `RetryAfter` hint) says when a slot frees.
   *
   * @since 0.1.0
   * @category errors
   */
  RateLimitedError
}

/**
 * Calls admitted (`delayed` of them after a wait) and rejected since the limiter was made.
 *
 * @since 0.1.0
 * @category models
 */
export interface RateLimiterStats {
  readonly admitted: number
  readonly delayed: number
  readonly rejected: number
}

/**
 * A rate limiter: `execute` runs an effect once the limit allows it.
 *
 * @since 0.1.0
 * @category models
 */
export interface RateLimiter {
  readonly [TypeId]: TypeId
  readonly name: string
  /** Runs `effect` within the limit, or fails with `RateLimitedError`. */
  execute<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | RateLimitedError, R>
  readonly stats: Effect.Effect<RateLimiterStats>
}

/**
 * A limit per key (per tenant, per client id): each key has its own `limit` per `interval`. The counts live in
 * the store under `name:key`.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyedRateLimiter<K> {
  readonly [KeyedTypeId]: KeyedTypeId
  readonly name: string
  /** Runs `effect` within the limit of `key`, or fails with `RateLimitedError`. */
  execute<A, E, R>(key: K, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | RateLimitedError, R>
  /** Totals over every key. */
  readonly stats: Effect.Effect<RateLimiterStats>
}

/**
 * @since 0.1.0
 */
export declare namespace RateLimiter {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Options {
    /** The name in metrics, errors and the registry (and the store key). */
    readonly name: string
    /** Calls allowed per `interval` (an integer >= 1). */
    readonly limit: number
    /** The window the limit applies to (positive, finite). */
    readonly interval: Duration.DurationInput
    /**
     * `"fixed-window"` (default): at most `limit` calls in a window that starts with the first call;
     * `"token-bucket"`: `limit` tokens refilled evenly over `interval`.
     */
    readonly algorithm?: "fixed-window" | "token-bucket" | undefined
    /** `"fail"` (default): reject at once; `"wait"`: wait for the next slot, at most `maxWait`. */
    readonly onLimit?: "wait" | "fail" | undefined
    /**
     * With `onLimit: "wait"`, the longest wait (default: no bound but the `Deadline`); a longer one fails at once.
     * A wait longer than what is left of the deadline fails at once too. A call that fails so, or is interrupted
     * while it waits, gives its reserved slot back.
     */
    readonly maxWait?: Duration.DurationInput | undefined
    /** Record `rate_limiter_rejected_total` and `resilience_calls_total` (default true). */
    readonly metrics?: boolean | undefined
    /** A span per call, named `rate_limiter <name>` (default false). */
    readonly tracing?: boolean | undefined
    /** Record `resilience_call_duration_seconds{policy="rate_limiter",name}`, waits included (default false). */
    readonly histogram?: boolean | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface KeyedOptions<K> extends Options {
    /** How a key becomes part of the store key (default `String`). */
    readonly keyToString?: ((key: K) => string) | undefined
    /**
     * With the limiter's own memory store (no `@effect/experimental` `RateLimiter` service provided), the most keys
     * it remembers (an integer >= 1, default 100,000). A key is forgotten anyway once its window has passed; past
     * the bound the key whose window began first is dropped, which only makes that key's limit more lenient.
     */
    readonly maxKeys?: number | undefined
  }
}

/**
 * Makes a rate limiter. It needs no layer: without `@effect/experimental`'s `RateLimiter` service it counts in
 * a memory store of its own. It registers in the `ResilienceRegistry` (kind `"rate_limiter"`) when provided, until
 * its `Scope` closes (then the name is free again); a duplicate name fails with `DuplicateNameError`.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const limiter = yield* RateLimiter.make({ name: "gateway", limit: 100, interval: "1 second", onLimit: "fail" })
 *   return yield* limiter.execute(Effect.succeed("ok"))
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options: RateLimiter.Options
) => Effect.Effect<RateLimiter, InvalidOptionsError | DuplicateNameError, Scope.Scope> = internal.make

/**
 * Makes a rate limiter with one limit per key.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const perTenant = yield* RateLimiter.keyed<string>({ name: "tenants", limit: 10, interval: "1 second" })
 *   return yield* perTenant.execute("tenant-42", Effect.succeed("ok"))
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const keyed: <K = string>(
  options: RateLimiter.KeyedOptions<K>
) => Effect.Effect<KeyedRateLimiter<K>, InvalidOptionsError | DuplicateNameError, Scope.Scope> = internal.keyed

/**
 * Runs an effect through a rate limiter: `effect.pipe(RateLimiter.withRateLimiter(limiter))`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withRateLimiter: {
  (limiter: RateLimiter): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | RateLimitedError, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, limiter: RateLimiter): Effect.Effect<A, E | RateLimitedError, R>
} = internal.withRateLimiter

/**
 * A bounded memory store for `@effect/experimental`'s `RateLimiter` (the counting our limiters do when no store is
 * provided): the same counts as its `layerStoreMemory`, but a key is forgotten once its window has passed (or its
 * bucket is full again) and at most `maxKeys` keys (default 100,000) are kept, so keys from request data cannot grow
 * memory without bound. Provide it with `Experimental.layer` to share counts between limiters of one process.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@effect-resilience/core"
 * import * as Experimental from "@effect/experimental/RateLimiter"
 * import { Layer } from "effect"
 *
 * const SharedLimits = Experimental.layer.pipe(Layer.provide(RateLimiter.layerStoreMemory({ maxKeys: 10_000 })))
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerStoreMemory = (
  options?: { readonly maxKeys?: number | undefined }
): Layer.Layer<Experimental.RateLimiterStore, InvalidOptionsError> => internal.layerStoreMemory(options)

/**
 * Whether a value is a `RateLimiter`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isRateLimiter: (u: unknown) => u is RateLimiter = internal.isRateLimiter
