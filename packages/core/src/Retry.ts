/**
 * Retries a failing effect on a backoff schedule, within an attempt limit, a retry budget, the caller's
 * deadline and the `RetryAfter` hints the errors carry.
 *
 * Only typed failures are retried: defects and interruption pass through at once, and interrupting the caller
 * during a backoff wait stops everything. When the retries end, the last failure comes back unchanged (its
 * whole `Cause`), so the type stays `Effect<A, E, R>`.
 *
 * Before each retry, in this order, the retries end at once with the last failure when:
 * 1. `maxAttempts` attempts have been made, or `while(error)` is false;
 * 2. the error carries a `RetryAfter` hint longer than `maxRetryAfter` (with `respectRetryAfter`);
 * 3. the schedule is done;
 * 4. the wait (the schedule's delay, raised to the hint) would use up what is left of the `Deadline`;
 * 5. the `budget` has no token left (counted in `retry_budget_exhausted_total{name}`).
 *
 * Otherwise `onRetry` runs, `retry_attempts_total{name}` counts the retry, the fiber sleeps, and the effect runs
 * again. A first attempt that succeeds costs one `Effect.catchAllCause` (plus a counter increment with a
 * budget): no clock read, no schedule step, no metric.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import * as internal from "./internal/retry.js"
import type { RetryBudget } from "./RetryBudget.js"

/**
 * What `onRetry` receives: the 1-based attempt that failed, its error, and the wait before the next attempt.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryEvent<E> {
  readonly attempt: number
  readonly error: E
  readonly delay: Duration.Duration
}

/**
 * @since 0.1.0
 */
export declare namespace Retry {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Options<E, R = never> {
    /** The `name` label of `retry_attempts_total`. Default `"default"`. */
    readonly name?: string | undefined
    /**
     * The waits between attempts; it receives each error as input and may end the retries. Default:
     * `Backoff.exponential({ base: "100 millis", cap: "10 seconds" })` with `Backoff.fullJitter`.
     */
    readonly schedule?: Schedule.Schedule<unknown, NoInfer<E>, R> | undefined
    /**
     * Attempts in total, the first included: an integer >= 1. Default: 3 when no `schedule` is given; otherwise
     * unlimited (the schedule alone decides when to stop).
     */
    readonly maxAttempts?: number | undefined
    /** Retries only errors for which this returns `true`. Default: every typed failure. */
    readonly while?: ((error: E) => boolean) | undefined
    /** A shared `RetryBudget`: each call records a request, each retry takes a token or ends the retries. */
    readonly budget?: RetryBudget | undefined
    /** Honour `RetryAfter` hints on errors. Default `true`. */
    readonly respectRetryAfter?: boolean | undefined
    /** The longest `RetryAfter` hint worth waiting for; a longer one ends the retries. Default 30 seconds. */
    readonly maxRetryAfter?: Duration.DurationInput | undefined
    /** Runs after each failure that will be retried, before the wait. */
    readonly onRetry?: ((event: RetryEvent<E>) => Effect.Effect<void>) | undefined
  }
}

/**
 * Retries `self` according to `options`. Options are checked when `retry` is called: a bad one throws
 * `InvalidOptionsError` naming the field and the value (`maxAttempts` not an integer >= 1, a negative or NaN
 * `maxRetryAfter`, a `schedule` that is not a `Schedule`, ...).
 *
 * @example
 * ```ts
 * import { Backoff, Retry } from "@effect-resilience/core"
 * import { Duration, Effect } from "effect"
 *
 * let calls = 0
 * const flaky = Effect.suspend(() => ++calls < 3 ? Effect.fail(new Error(`failure ${calls}`)) : Effect.succeed("ok"))
 *
 * const program = flaky.pipe(
 *   Retry.retry({
 *     schedule: Backoff.exponential({ base: "100 millis", cap: "2 seconds" }).pipe(Backoff.fullJitter),
 *     maxAttempts: 4,
 *     onRetry: ({ attempt, delay, error }) => Effect.log(`attempt ${attempt} failed (${error.message}), next in ${Duration.format(delay)}`)
 *   })
 * )
 * // fails twice, succeeds the third time: "ok"
 * ```
 *
 * @throws InvalidOptionsError when an option is invalid
 * @since 0.1.0
 * @category combinators
 */
export const retry: {
  <E, R2 = never>(options: Retry.Options<E, R2>): <A, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R | R2>
  <A, E, R, R2 = never>(self: Effect.Effect<A, E, R>, options: Retry.Options<E, R2>): Effect.Effect<A, E, R | R2>
} = internal.retry
