import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { LazyArg } from "effect/Function"
import * as Random from "effect/Random"
import type * as Chaos from "../Chaos.js"
import type { InvalidOptionsError } from "../InvalidOptionsError.js"
import { validated, validatedSync } from "./validate.js"

/** @internal */
export class ChaosError extends Data.TaggedError("ChaosError")<{
  readonly kind: "failure" | "outage"
}> {
  override get message(): string {
    return this.kind === "failure" ? "injected failure" : "injected outage"
  }
}

const injectedFailure = () => new ChaosError({ kind: "failure" })
const injectedOutage = () => new ChaosError({ kind: "outage" })

/** @internal */
export const latency = (options: Chaos.LatencyOptions): Chaos.Fault<never> => {
  const { maxMillis, minMillis, rate } = validatedSync("Chaos.latency", (v) => {
    const min = Duration.toMillis(v.duration("delay", v.object("options", options).delay, { finite: true }))
    const max = options.max === undefined ? min : Duration.toMillis(v.duration("max", options.max, { finite: true }))
    if (max < min) v.fail("max", options.max, "a duration >= delay")
    return { minMillis: min, maxMillis: max, rate: v.number("rate", options.rate ?? 1, { min: 0, max: 1 }) }
  })
  const pause: Effect.Effect<void> = maxMillis === minMillis
    ? Effect.sleep(Duration.millis(minMillis))
    : Effect.flatMap(Random.nextRange(minMillis, maxMillis), (millis) => Effect.sleep(Duration.millis(millis)))
  const maybePause = rate >= 1 ? pause : Effect.flatMap(Random.next, (r) => r < rate ? pause : Effect.void)
  return <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.zipRight(maybePause, self)
}

/** @internal */
export function failures(options: { readonly rate: number }): Chaos.Fault<ChaosError>
/** @internal */
export function failures<E2>(options: { readonly rate: number; readonly error: LazyArg<E2> }): Chaos.Fault<E2>
/** @internal */
export function failures<E2>(
  options: { readonly rate: number; readonly error?: LazyArg<E2> | undefined }
): Chaos.Fault<E2 | ChaosError> {
  const rate = validatedSync("Chaos.failures", (v) => {
    v.optionalFunction("error", v.object("options", options).error)
    return v.number("rate", options.rate, { min: 0, max: 1 })
  })
  const error: LazyArg<E2 | ChaosError> = options.error ?? injectedFailure
  return <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | E2 | ChaosError, R> =>
    Effect.flatMap(Random.next, (r): Effect.Effect<A, E | E2 | ChaosError, R> => r < rate ? Effect.fail(error()) : self)
}

/** @internal */
export function outage(options: Chaos.OutageOptions): Effect.Effect<Chaos.Fault<ChaosError>, InvalidOptionsError>
/** @internal */
export function outage<E2>(
  options: Chaos.OutageOptions & { readonly error: LazyArg<E2> }
): Effect.Effect<Chaos.Fault<E2>, InvalidOptionsError>
/** @internal */
export function outage<E2>(
  options: Chaos.OutageOptions & { readonly error?: LazyArg<E2> | undefined }
): Effect.Effect<Chaos.Fault<E2 | ChaosError>, InvalidOptionsError> {
  return Effect.flatMap(
    validated("Chaos.outage", (v) => {
      v.optionalFunction("error", v.object("options", options).error)
      return {
        afterMillis: Duration.toMillis(v.duration("after", options.after ?? 0, { finite: true })),
        durationMillis: Duration.toMillis(v.duration("duration", options.duration))
      }
    }),
    ({ afterMillis, durationMillis }) =>
      Effect.map(Clock.currentTimeMillis, (createdAt) => {
        const from = createdAt + afterMillis
        const until = from + durationMillis
        const error: LazyArg<E2 | ChaosError> = options.error ?? injectedOutage
        return <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | E2 | ChaosError, R> =>
          Effect.flatMap(
            Clock.currentTimeMillis,
            (now): Effect.Effect<A, E | E2 | ChaosError, R> => now >= from && now < until ? Effect.fail(error()) : self
          )
      })
  )
}
