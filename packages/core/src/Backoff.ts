/**
 * Backoff schedules: how long to wait before each retry. Every builder is a `Schedule<Duration>` whose n-th
 * delay is the n-th wait, so it composes with Effect's own `Schedule` combinators (`Schedule.intersect`,
 * `Schedule.upTo`, `Schedule.recurs`, ...) and drives `Retry.retry`, `Effect.retry` or `Effect.repeat` alike.
 *
 * Randomness comes from Effect's `Random` service: real randomness in production, reproducible delays under
 * `Effect.withRandom(Random.make(seed))`. The jitter strategies follow the AWS Architecture Blog analysis
 * "Exponential Backoff And Jitter": without jitter, clients that failed together retry together, and every
 * retry wave hits the recovering service at the same instant.
 *
 * Invalid options (negative or NaN durations, `factor` < 1, `cap` < `base`) throw `InvalidOptionsError`
 * naming the field and the value when the schedule is built.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import * as internal from "./internal/backoff.js"

/**
 * @since 0.1.0
 */
export declare namespace Backoff {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface ExponentialOptions {
    /** The first delay. */
    readonly base: Duration.DurationInput
    /** What each delay is multiplied by to give the next one; at least 1. Default 2. */
    readonly factor?: number | undefined
    /** The longest delay: once reached, every further delay is `cap`. Default: no cap. */
    readonly cap?: Duration.DurationInput | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface LinearOptions {
    /** The first delay. */
    readonly base: Duration.DurationInput
    /** What each delay adds to the previous one. Default: `base` (base, 2·base, 3·base, ...). */
    readonly step?: Duration.DurationInput | undefined
    /** The longest delay. Default: no cap. */
    readonly cap?: Duration.DurationInput | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface DecorrelatedJitterOptions {
    /** The shortest delay, and where the walk starts; positive. */
    readonly base: Duration.DurationInput
    /** The longest delay; at least `base`. */
    readonly cap: Duration.DurationInput
  }
}

/**
 * Exponential backoff, capped: the n-th delay (from 0) is `min(cap, base * factor^n)`. Effect's own
 * `Schedule.exponential` has no cap; this one stops growing at `cap`.
 *
 * @example
 * ```ts
 * import { Backoff } from "@effect-resilience/core"
 * import { Duration, Effect } from "effect"
 *
 * const schedule = Backoff.exponential({ base: "100 millis", cap: "1 second" })
 * Effect.runPromise(Backoff.preview(schedule, 6)).then((delays) => console.log(delays.map(Duration.toMillis)))
 * // [100, 200, 400, 800, 1000, 1000]
 * ```
 *
 * @throws InvalidOptionsError when `base` or `cap` is negative or NaN, `factor` < 1, or `cap` < `base`
 * @since 0.1.0
 * @category constructors
 */
export const exponential: (options: Backoff.ExponentialOptions) => Schedule.Schedule<Duration.Duration> =
  internal.exponential

/**
 * Linear backoff: the n-th delay (from 0) is `min(cap, base + n * step)`.
 *
 * @example
 * ```ts
 * import { Backoff } from "@effect-resilience/core"
 *
 * // 100, 150, 200, 250, 300, 300, ... millis
 * const schedule = Backoff.linear({ base: "100 millis", step: "50 millis", cap: "300 millis" })
 * ```
 *
 * @throws InvalidOptionsError when a duration is negative or NaN, or `cap` < `base`
 * @since 0.1.0
 * @category constructors
 */
export const linear: (options: Backoff.LinearOptions) => Schedule.Schedule<Duration.Duration> = internal.linear

/**
 * The same delay every time.
 *
 * @example
 * ```ts
 * import { Backoff } from "@effect-resilience/core"
 *
 * const schedule = Backoff.constant("1 second")
 * ```
 *
 * @throws InvalidOptionsError when `delay` is negative or NaN
 * @since 0.1.0
 * @category constructors
 */
export const constant: (delay: Duration.DurationInput) => Schedule.Schedule<Duration.Duration> = internal.constant

/**
 * AWS "decorrelated jitter": each delay is `min(cap, uniform[base, previous * 3])`, the walk starting from
 * `previous = base`. Random by construction: it needs no `fullJitter` on top. Outputs the delay it chose.
 *
 * @example
 * ```ts
 * import { Backoff } from "@effect-resilience/core"
 * import { Effect, Random } from "effect"
 *
 * const schedule = Backoff.decorrelatedJitter({ base: "100 millis", cap: "10 seconds" })
 * // the same five delays on every run
 * const delays = Backoff.preview(schedule, 5).pipe(Effect.withRandom(Random.make(42)))
 * ```
 *
 * @throws InvalidOptionsError when `base` is not positive, `cap` is missing, negative or NaN, or `cap` < `base`
 * @since 0.1.0
 * @category constructors
 */
export const decorrelatedJitter: (options: Backoff.DecorrelatedJitterOptions) => Schedule.Schedule<Duration.Duration> =
  internal.decorrelatedJitter

/**
 * "Full jitter": replaces each delay `d` of a schedule with a uniform draw from `[0, d]`. The AWS analysis
 * found it spreads competing clients best for the least total work. The schedule's outputs are unchanged
 * (for a `Backoff` builder, the delay before jitter); `preview` and `Retry` read the jittered delay.
 *
 * @example
 * ```ts
 * import { Backoff } from "@effect-resilience/core"
 *
 * const schedule = Backoff.exponential({ base: "100 millis", cap: "10 seconds" }).pipe(Backoff.fullJitter)
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const fullJitter: <Out, In, R>(self: Schedule.Schedule<Out, In, R>) => Schedule.Schedule<Out, In, R> =
  internal.fullJitter

/**
 * "Equal jitter": replaces each delay `d` with `d/2 + uniform[0, d/2]`: never shorter than half the delay,
 * at the price of less spread than `fullJitter`. Outputs are unchanged.
 *
 * @example
 * ```ts
 * import { Backoff } from "@effect-resilience/core"
 *
 * const schedule = Backoff.exponential({ base: "100 millis", cap: "10 seconds" }).pipe(Backoff.equalJitter)
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const equalJitter: <Out, In, R>(self: Schedule.Schedule<Out, In, R>) => Schedule.Schedule<Out, In, R> =
  internal.equalJitter

/**
 * The first `n` delays of a schedule (not its outputs), computed without sleeping: time is advanced
 * virtually from the current `Clock` time. Fewer come back when the schedule ends sooner; none when `n` is
 * not positive. Jittered schedules draw from the current `Random`, so a seeded `Random` gives a fixed list.
 *
 * @example
 * ```ts
 * import { Backoff } from "@effect-resilience/core"
 * import { Duration, Effect, Random } from "effect"
 *
 * const program = Backoff.preview(Backoff.exponential({ base: 100, cap: 1000 }).pipe(Backoff.fullJitter), 4).pipe(
 *   Effect.map((delays) => delays.map(Duration.toMillis)),
 *   Effect.withRandom(Random.make("seed"))
 * )
 * ```
 *
 * @throws InvalidOptionsError when `n` is not an integer or above 100,000 (NaN or Infinity would step a schedule
 * that never ends for ever); `n <= 0` lists nothing
 * @since 0.1.0
 * @category getters
 */
export const preview: <Out, R>(
  schedule: Schedule.Schedule<Out, undefined, R>,
  n: number
) => Effect.Effect<Array<Duration.Duration>, never, R> = internal.preview
