import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleInterval from "effect/ScheduleInterval"
import * as Intervals from "effect/ScheduleIntervals"
import type * as Backoff from "../Backoff.js"
import { validatedSync } from "./validate.js"

type ExponentialOptions = Backoff.Backoff.ExponentialOptions
type LinearOptions = Backoff.Backoff.LinearOptions
type DecorrelatedJitterOptions = Backoff.Backoff.DecorrelatedJitterOptions

/**
 * A schedule that recurs forever and whose n-th delay (0-based) is `delayMillis(n)`; it outputs that delay.
 */
const fromDelayMillis = (delayMillis: (n: number) => number): Schedule.Schedule<Duration.Duration> =>
  Schedule.delayedSchedule(Schedule.map(Schedule.forever, (n) => Duration.millis(delayMillis(n))))

const capMillis = (
  constructorName: string,
  options: { readonly base: Duration.DurationInput; readonly cap?: Duration.DurationInput | undefined },
  required: boolean
) =>
  validatedSync(constructorName, (v) => {
    v.object("options", options)
    // decorrelated jitter multiplies the previous delay: a zero base would stay zero forever
    const base = Duration.toMillis(v.duration("base", options.base, { finite: true, positive: required }))
    if (options.cap === undefined && !required) return { base, cap: Number.POSITIVE_INFINITY }
    const cap = Duration.toMillis(v.duration("cap", options.cap as Duration.DurationInput))
    if (cap < base) v.fail("cap", options.cap, `a duration >= base (${Duration.format(Duration.millis(base))})`)
    return { base, cap }
  })

/** @internal */
export const exponential = (options: ExponentialOptions): Schedule.Schedule<Duration.Duration> => {
  const { base, cap } = capMillis("Backoff.exponential", options, false)
  const factor = options.factor === undefined || options.factor === null
    ? 2
    : validatedSync("Backoff.exponential", (v) => v.number("factor", options.factor as number, { min: 1 }))
  return fromDelayMillis((n) => Math.min(cap, base * Math.pow(factor, n)))
}

/** @internal */
export const linear = (options: LinearOptions): Schedule.Schedule<Duration.Duration> => {
  const { base, cap } = capMillis("Backoff.linear", options, false)
  const step = options.step === undefined || options.step === null
    ? base
    : validatedSync(
      "Backoff.linear",
      (v) => Duration.toMillis(v.duration("step", options.step as Duration.DurationInput, { finite: true }))
    )
  return fromDelayMillis((n) => Math.min(cap, base + step * n))
}

/** @internal */
export const constant = (delay: Duration.DurationInput): Schedule.Schedule<Duration.Duration> => {
  const d = validatedSync("Backoff.constant", (v) => v.duration("delay", delay))
  return Schedule.delayedSchedule(Schedule.map(Schedule.forever, () => d))
}

/** @internal */
export const decorrelatedJitter = (options: DecorrelatedJitterOptions): Schedule.Schedule<Duration.Duration> => {
  const { base, cap } = capMillis("Backoff.decorrelatedJitter", options, true)
  return Schedule.makeWithState(base, (now, _input: unknown, previous: number) =>
    Effect.map(Random.next, (r) => {
      // AWS "decorrelated jitter": sleep = min(cap, random_between(base, sleep * 3)), sleep starting at base.
      const high = previous * 3
      const delay = Math.min(cap, base + r * (high - base))
      return [
        delay,
        Duration.millis(delay),
        ScheduleDecision.continueWith(ScheduleInterval.after(now + delay))
      ] as const
    }))
}

/** @internal */
export const fullJitter = <Out, In, R>(self: Schedule.Schedule<Out, In, R>): Schedule.Schedule<Out, In, R> =>
  Schedule.modifyDelayEffect(self, (_, delay) => {
    const d = Duration.toMillis(delay)
    return Number.isFinite(d) ? Effect.map(Random.next, (r) => Duration.millis(r * d)) : Effect.succeed(delay)
  })

/** @internal */
export const equalJitter = <Out, In, R>(self: Schedule.Schedule<Out, In, R>): Schedule.Schedule<Out, In, R> =>
  Schedule.modifyDelayEffect(self, (_, delay) => {
    const d = Duration.toMillis(delay)
    return Number.isFinite(d)
      ? Effect.map(Random.next, (r) => Duration.millis(d / 2 + r * (d / 2)))
      : Effect.succeed(delay)
  })

/** The most delays `preview` lists. */
const MAX_PREVIEW = 100_000

/** @internal */
export const preview = <Out, R>(
  schedule: Schedule.Schedule<Out, undefined, R>,
  n: number
): Effect.Effect<Array<Duration.Duration>, never, R> => {
  // NaN, Infinity or a huge n would step a schedule that never ends for ever.
  validatedSync("Backoff.preview", (v) => {
    if (typeof n !== "number" || !Number.isInteger(n) || n > MAX_PREVIEW) {
      v.fail("n", n, `an integer <= ${MAX_PREVIEW} (n <= 0 lists nothing)`)
    }
  })
  return Effect.flatMap(Clock.currentTimeMillis, (start) => {
    const delays: Array<Duration.Duration> = []
    const loop = (now: number, state: unknown): Effect.Effect<Array<Duration.Duration>, never, R> =>
      delays.length >= n
        ? Effect.succeed(delays)
        : Effect.flatMap(schedule.step(now, undefined, state), ([next, _, decision]) => {
          if (ScheduleDecision.isDone(decision)) return Effect.succeed(delays)
          const at = Intervals.start(decision.intervals)
          delays.push(Duration.millis(Math.max(0, at - now)))
          return loop(Math.max(now, at), next)
        })
    return loop(start, schedule.initial)
  })
}
