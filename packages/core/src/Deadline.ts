/**
 * A total time budget for a whole operation, retries and queue waits included. It lives in a `FiberRef`, so
 * every policy underneath sees it: timeouts, retry waits and bulkhead queue waits are cut to what is left, and
 * running out fails with `TimeoutError { scope: "deadline" }`.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import * as deadline from "./internal/deadline.js"
import * as internal from "./internal/timeout.js"
import type { TimeoutError } from "./internal/timeout.js"

/**
 * Runs `effect` within a total budget. Nested deadlines can only shorten the one around them.
 *
 * `duration` is checked once, when the operator is built (`Deadline.within(d)`): a negative, NaN or unreadable
 * duration throws `InvalidOptionsError { constructorName: "Deadline.within", field: "duration", value }` instead of
 * becoming 0 ms. `0` is accepted (a budget already spent, e.g. a caller's remaining deadline passed on: only a
 * synchronous answer gets through) and an infinite duration means no deadline.
 *
 * @example
 * ```ts
 * import { Deadline, Retry, Backoff } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const call = Effect.fail("boom").pipe(
 *   Retry.retry({ schedule: Backoff.constant("1 second"), maxAttempts: 10 }),
 *   Deadline.within("3 seconds")
 * )
 * ```
 *
 * @throws InvalidOptionsError when `duration` is negative, NaN or not a duration
 * @since 0.1.0
 * @category combinators
 */
export const within: {
  (duration: Duration.DurationInput): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | TimeoutError, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, duration: Duration.DurationInput): Effect.Effect<A, E | TimeoutError, R>
} = internal.within

/**
 * What is left of the current deadline: `None` outside any deadline, `Duration.zero` once it has passed. Pass
 * it on to downstream services (e.g. as a `grpc-timeout` or header) so they stop when the caller has.
 *
 * @since 0.1.0
 * @category getters
 */
export const remaining: Effect.Effect<Option.Option<Duration.Duration>> = deadline.remaining
