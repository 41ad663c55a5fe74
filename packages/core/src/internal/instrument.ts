import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as ResilienceMetrics from "../ResilienceMetrics.js"
import { clockOf } from "./timer.js"

/**
 * The opt-in instrumentation of a policy: a span per call (`tracing`) and the latency histogram
 * `resilience_call_duration_seconds{policy,name}` (`histogram`). Off, it returns the effect untouched.
 *
 * @internal
 */
export const instrument = (options: {
  readonly policy: string
  readonly name: string
  readonly tracing?: boolean | undefined
  readonly histogram?: boolean | undefined
}): <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R> => {
  const tracing = options.tracing === true
  const histogram = options.histogram === true
    ? ResilienceMetrics.callDurationSeconds.pipe(
      Metric.tagged("policy", options.policy),
      Metric.tagged("name", options.name)
    )
    : undefined
  const spanName = `${options.policy} ${options.name}`
  const attributes = { "resilience.policy": options.policy, "resilience.name": options.name }
  return <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
    let e = effect
    if (histogram !== undefined) {
      e = Effect.withFiberRuntime((fiber) => {
        const clock = clockOf(fiber)
        const start = clock.unsafeCurrentTimeNanos()
        return Effect.ensuring(
          effect,
          Effect.sync(() => histogram.unsafeUpdate(Number(clock.unsafeCurrentTimeNanos() - start) / 1e9, []))
        )
      })
    }
    if (tracing) e = Effect.withSpan(e, spanName, { attributes })
    return e
  }
}
