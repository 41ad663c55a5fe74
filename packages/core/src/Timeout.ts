/**
 * A time limit on one attempt: the attempt is interrupted (its finalizers run) and the call fails with
 * `TimeoutError { scope: "attempt" }`. Inside a `Deadline`, the limit is cut to what is left of it.
 *
 * Unlike `Effect.timeout`, which races the effect against a sleeping fiber (two forks per call), the attempt runs
 * on one child fiber started at once (an attempt that completes synchronously sets no timer and never leaves the
 * caller's stack), and one timer, cancelled when the attempt ends, interrupts it. On the live clock, attempts
 * with the same limit share one JS timer; on any other `Clock` (e.g. `TestClock`) the timer is a fiber sleeping
 * on that clock, so tests stay exact.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as internal from "./internal/timeout.js"
import { TimeoutError } from "./internal/timeout.js"

export {
  /**
   * An attempt (scope `"attempt"`) or a whole deadline (scope `"deadline"`) ran out of time. `duration` is the
   * limit that ran out: the attempt's timeout, or the deadline's whole budget.
   *
   * @since 0.1.0
   * @category errors
   */
  TimeoutError
}

/**
 * Interrupts `effect` when it takes longer than `duration` and fails with `TimeoutError`.
 *
 * `duration` is checked once, when the operator is built (`Timeout.timeout(d)`), as `Retry.retry` checks its
 * options: a negative, NaN or unreadable duration (`-1`, `"-5 seconds"`, `"banana"`, `null`) throws
 * `InvalidOptionsError { constructorName: "Timeout.timeout", field: "duration", value }` instead of becoming 0 ms.
 * `0` is accepted (only a synchronous answer gets through) and an infinite duration means no limit.
 *
 * @example
 * ```ts
 * import { Timeout } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const slow = Effect.sleep("5 seconds").pipe(Timeout.timeout("1 second"))
 * // Effect<void, TimeoutError>
 * ```
 *
 * @throws InvalidOptionsError when `duration` is negative, NaN or not a duration
 * @since 0.1.0
 * @category combinators
 */
export const timeout: {
  (duration: Duration.DurationInput): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | TimeoutError, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, duration: Duration.DurationInput): Effect.Effect<A, E | TimeoutError, R>
} = internal.timeout
