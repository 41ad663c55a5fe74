/**
 * Client-side adaptive throttling (Google SRE book, "Handling Overload"): a client that sees its backend refuse
 * more and more requests starts refusing them itself, locally, before they cost the backend anything. Over a
 * sliding time window it counts `requests` (every call the application made, those refused locally included) and
 * `accepts` (calls that succeeded), and refuses a new call with probability
 * `max(0, (requests − k·accepts) / (requests + 1))`. With `k = 2` the backend sees at most about twice the requests
 * it accepts; while it accepts more than half, nothing is refused.
 *
 * Time comes from `Clock` (the window is `buckets` buckets aligned to the clock, no timer), randomness from
 * `Random` (a seeded `Random` makes the refusals reproducible). A refused call fails at once with
 * `AdaptiveThrottleError`, whose `RetryAfter` hint is the time until the oldest bucket leaves the window.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/adaptiveThrottle.js"
import { AdaptiveThrottleError } from "./internal/adaptiveThrottle.js"
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

export {
  /**
   * The throttle refused the call locally: `probability` is the rejection probability at that moment, `retryAfter`
   * (also the `RetryAfter` hint) the time until the window forgets its oldest bucket.
   *
   * @since 0.1.0
   * @category errors
   */
  AdaptiveThrottleError
}

/**
 * The window's counts and the rejection probability they give.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly requests: number
  readonly accepts: number
  /** Calls refused locally since the throttle was made. */
  readonly rejected: number
  readonly probability: number
}

/**
 * An adaptive throttle: `execute` runs an effect unless the throttle refuses it.
 *
 * @since 0.1.0
 * @category models
 */
export interface AdaptiveThrottle {
  readonly [TypeId]: TypeId
  readonly name: string
  readonly k: number
  /** Runs `effect`, or fails at once with `AdaptiveThrottleError`; counts its outcome in the window. */
  execute<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | AdaptiveThrottleError, R>
  /** The window's counts now. */
  readonly stats: Effect.Effect<Stats>
}

/**
 * @since 0.1.0
 */
export declare namespace AdaptiveThrottle {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Options {
    /** The name in metrics, errors and the registry. */
    readonly name: string
    /** Requests the backend may see per accepted one before refusals start (>= 1, default 2). */
    readonly k?: number | undefined
    /** How far back outcomes count (default 2 minutes). */
    readonly window?: Duration.DurationInput | undefined
    /** Buckets of the window (default 10). */
    readonly buckets?: number | undefined
    /**
     * Which typed failures are refusals by the backend (default: all). A failure it rejects counts as accepted
     * (a 404 is an answer). Defects always count as refusals; interruptions count as nothing, and so do
     * refusals by a policy of this process inside the throttle (`CircuitBreakerOpenError`,
     * `BulkheadRejectedError`, `RateLimitedError`, `AdaptiveThrottleError`): those requests never reached the backend.
     */
    readonly isFailure?: ((error: unknown) => boolean) | undefined
    /** Record `adaptive_throttle_rejected_total{name}` (default true). */
    readonly metrics?: boolean | undefined
  }
}

/**
 * Makes an adaptive throttle. It registers in the `ResilienceRegistry` (kind `"adaptive_throttle"`) when one is
 * provided, until its `Scope` closes.
 *
 * @example
 * ```ts
 * import { AdaptiveThrottle } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const throttle = yield* AdaptiveThrottle.make({ name: "recommendations", k: 2, window: "1 minute" })
 *   return yield* throttle.execute(Effect.succeed(["a", "b"]))
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options: AdaptiveThrottle.Options
) => Effect.Effect<AdaptiveThrottle, InvalidOptionsError | DuplicateNameError, Scope.Scope> = internal.make

/**
 * Runs an effect through a throttle: `effect.pipe(AdaptiveThrottle.withThrottle(throttle))`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withThrottle: {
  (
    throttle: AdaptiveThrottle
  ): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | AdaptiveThrottleError, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, throttle: AdaptiveThrottle): Effect.Effect<A, E | AdaptiveThrottleError, R>
} = internal.withThrottle

/**
 * The SRE rule alone: `max(0, (requests − k·accepts) / (requests + 1))`.
 *
 * @since 0.1.0
 * @category utils
 */
export const rejectionProbability: (requests: number, accepts: number, k: number) => number =
  internal.rejectionProbability

/**
 * Whether a value is an `AdaptiveThrottle`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isAdaptiveThrottle: (u: unknown) => u is AdaptiveThrottle = internal.isAdaptiveThrottle
