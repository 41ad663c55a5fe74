import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Intervals from "effect/ScheduleIntervals"
import * as ResilienceMetrics from "../ResilienceMetrics.js"
import type * as Retry from "../Retry.js"
import * as RetryAfter from "../RetryAfter.js"
import * as backoff from "./backoff.js"
import { remainingMillis } from "./deadline.js"
import { isRetryBudget } from "./retryBudget.js"
import { validatedSync } from "./validate.js"

/** The schedule used when none is given: 100 ms doubling up to 10 s, full jitter. */
const defaultSchedule: Schedule.Schedule<Duration.Duration> = backoff.fullJitter(
  backoff.exponential({ base: "100 millis", cap: "10 seconds" })
)

const DEFAULT_MAX_ATTEMPTS_WITHOUT_SCHEDULE = 3

const resolve = <E, R>(options: Retry.Retry.Options<E, R>) =>
  validatedSync("Retry.retry", (v) => {
    if (options === null || typeof options !== "object" || Array.isArray(options)) {
      v.fail("options", options, "an options object")
    }
    v.optionalBoolean("respectRetryAfter", options.respectRetryAfter ?? undefined)
    if (options.schedule !== undefined && !Schedule.isSchedule(options.schedule)) {
      v.fail("schedule", options.schedule, "a Schedule")
    }
    if (options.while !== undefined && typeof options.while !== "function") {
      v.fail("while", options.while, "a function (error) => boolean")
    }
    if (options.onRetry !== undefined && typeof options.onRetry !== "function") {
      v.fail("onRetry", options.onRetry, "a function (event) => Effect<void>")
    }
    if (options.budget !== undefined && !isRetryBudget(options.budget)) {
      v.fail("budget", options.budget, "a RetryBudget (RetryBudget.make)")
    }
    const maxAttempts = options.maxAttempts !== undefined
      ? v.int("maxAttempts", options.maxAttempts, 1)
      : options.schedule === undefined
      ? DEFAULT_MAX_ATTEMPTS_WITHOUT_SCHEDULE
      : Number.POSITIVE_INFINITY
    const maxRetryAfter = options.maxRetryAfter === undefined
      ? 30_000
      : Duration.toMillis(v.duration("maxRetryAfter", options.maxRetryAfter))
    const name = options.name === undefined ? "default" : v.nonEmpty("name", options.name)
    return {
      name,
      maxAttempts,
      maxRetryAfter,
      schedule: (options.schedule ?? defaultSchedule) as Schedule.Schedule<unknown, E, R>,
      respectRetryAfter: options.respectRetryAfter ?? true
    }
  })

/**
 * The typed failure to retry on, if any. A cause holding a defect passes through, and so does one made only of
 * interruption (it has no failure). An interrupted caller never gets here: the runtime skips recovery handlers
 * of an interrupted fiber.
 */
const retryableError = <E>(cause: Cause.Cause<E>): Option.Option<E> =>
  Cause.isDie(cause) ? Option.none() : Cause.failureOption(cause)

/**
 * Validates the options once and returns the operator: an operator kept in a constant
 * (`const withRetry = Retry.retry(options)`) pays for this once, not per call. `wake` (a client's, see
 * `retryWaking`) is raced against every wait between attempts.
 */
const prepare = <E, R2>(options: Retry.Retry.Options<E, R2>, wake?: Effect.Effect<never, E>) => {
  const config = resolve(options)
  const { maxAttempts, maxRetryAfter, respectRetryAfter, schedule } = config
  const shouldRetry = options.while
  const onRetry = options.onRetry
  const budget = options.budget
  // Tagged on the first retry, not here: the data-first form and inline options prepare on every call.
  let countRetry: Effect.Effect<void> | undefined
  const counted = () =>
    countRetry ??= Metric.increment(Metric.tagged(ResilienceMetrics.retryAttemptsTotal, "name", config.name))

  return <A, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R | R2> => {
    const afterFailure = (
      cause: Cause.Cause<E>,
      attempt: number,
      state: unknown
    ): Effect.Effect<A, E, R | R2> => {
      const failure = retryableError(cause)
      if (Option.isNone(failure)) return Effect.failCause(cause)
      const error = failure.value
      if (attempt >= maxAttempts) return Effect.failCause(cause)
      if (shouldRetry !== undefined && !shouldRetry(error)) return Effect.failCause(cause)
      let hint = 0
      if (respectRetryAfter) {
        const retryAfter = RetryAfter.get(error)
        if (Option.isSome(retryAfter)) {
          hint = Duration.toMillis(retryAfter.value)
          // Coming back later than the caller is willing to wait: give up now rather than sleep in vain.
          if (hint > maxRetryAfter) return Effect.failCause(cause)
        }
      }
      return Effect.flatMap(
        Clock.currentTimeMillis,
        (now) =>
          Effect.flatMap(schedule.step(now, error, state), ([next, _, decision]) => {
            if (ScheduleDecision.isDone(decision)) return Effect.failCause(cause)
            const delay = Math.max(hint, Intervals.start(decision.intervals) - now, 0)
            return Effect.flatMap(remainingMillis, (left) => {
              // The wait would use up what is left of the deadline: no attempt could follow it.
              if (left !== undefined && delay >= left) return Effect.failCause(cause)
              if (budget !== undefined && !budget.unsafeTryAcquire(now)) return Effect.failCause(cause)
              const wait = Duration.millis(delay)
              const nextAttempt = Effect.catchAllCause(self, (c) => afterFailure(c, attempt + 1, next))
              const sleep = wake === undefined ? Effect.sleep(wait) : Effect.raceFirst(Effect.sleep(wait), wake)
              const sleepThenRetry = Effect.zipRight(Effect.zipRight(counted(), sleep), nextAttempt)
              return onRetry === undefined
                ? sleepThenRetry
                : Effect.zipRight(onRetry({ attempt, error, delay: wait }), sleepThenRetry)
            })
          })
      )
    }

    // Everything above runs only after a failure: the first attempt pays for one `catchAllCause`.
    const run = Effect.catchAllCause(self, (cause) => afterFailure(cause, 1, schedule.initial))
    if (budget === undefined) return run
    // One primitive for the request count: cheaper than `zipRight(budget.recordRequest, run)`.
    return Effect.withFiberRuntime(() => {
      budget.unsafeRecordRequest()
      return run
    })
  }
}

/**
 * `retry` whose waits between attempts end early when `wake` fails: the call then ends with `wake`'s error, without
 * another attempt. `wake` runs only while a retry waits (raced against the sleep, interrupted when the sleep ends
 * first), so a call that succeeds on its first attempt never meets it. `ResilientClient` passes its own breaker's
 * opening signal, so a call sleeping its backoff fails as soon as that breaker opens.
 *
 * @internal
 */
export const retryWaking = <E, R2>(
  options: Retry.Retry.Options<E, R2>,
  wake: Effect.Effect<never, E> | undefined
): <A, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R | R2> => prepare(options, wake)

/**
 * Written out rather than with `dual`: `dual`'s data-last form would run `prepare` again on every application.
 *
 * @internal
 */
export const retry: {
  <E, R2 = never>(
    options: Retry.Retry.Options<E, R2>
  ): <A, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R | R2>
  <A, E, R, R2 = never>(self: Effect.Effect<A, E, R>, options: Retry.Retry.Options<E, R2>): Effect.Effect<A, E, R | R2>
} = function<A, E, R, R2>(
  ...args: [Retry.Retry.Options<E, R2>] | [Effect.Effect<A, E, R>, Retry.Retry.Options<E, R2>]
) {
  return args.length === 1 ? prepare(args[0]) : prepare(args[1])(args[0])
} as never // one implementation for both overloads; each overload's types are checked at the call sites
