/**
 * A hint an error carries to say when the caller may come back: a `Duration` under the symbol
 * `RetryAfter.symbol`. `CircuitBreakerOpenError`, `RateLimitedError` and HTTP 429/503 errors carry one, and
 * `Retry` waits at least that long before the next attempt.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"

/**
 * The key under which an error keeps its hint.
 *
 * @since 0.1.0
 * @category symbols
 */
export const symbol: unique symbol = Symbol.for("@effect-resilience/core/RetryAfter")

/**
 * An error (or any value) that tells when to come back.
 *
 * @since 0.1.0
 * @category models
 */
export interface HasRetryAfter {
  readonly [symbol]: Duration.Duration
}

/**
 * Whether a value carries a `RetryAfter` hint.
 *
 * @since 0.1.0
 * @category guards
 */
export const isHasRetryAfter = (u: unknown): u is HasRetryAfter => Option.isSome(read(u))

/** The hint, read once: a getter that throws (an error of someone else's making) counts as no hint. */
const read = (u: unknown): Option.Option<Duration.Duration> => {
  if (!Predicate.hasProperty(u, symbol)) return Option.none()
  try {
    const hint = u[symbol]
    return Duration.isDuration(hint) ? Option.some(hint) : Option.none()
  } catch {
    return Option.none()
  }
}

/**
 * Reads the hint of an error: `Option.none()` when it carries none, or one that is not a `Duration`, or when reading
 * it throws.
 *
 * @example
 * ```ts
 * import { RetryAfter } from "@effect-resilience/core"
 * import { Data, Duration, Option } from "effect"
 *
 * class Busy extends Data.TaggedError("Busy")<{}> {
 *   readonly [RetryAfter.symbol] = Duration.seconds(2)
 * }
 * console.log(Option.map(RetryAfter.get(new Busy()), Duration.toMillis)) // Some(2000)
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const get = (error: unknown): Option.Option<Duration.Duration> => read(error)
