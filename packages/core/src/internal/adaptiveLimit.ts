import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import type * as AdaptiveLimit from "../AdaptiveLimit.js"
import { type OptionsValidator, validatedSync } from "./validate.js"

/** @internal */
export const TypeId: AdaptiveLimit.TypeId = Symbol.for("@effect-resilience/core/AdaptiveLimit") as AdaptiveLimit.TypeId

/** @internal */
export const isAdaptiveLimit = (u: unknown): u is AdaptiveLimit.AdaptiveLimit =>
  Predicate.hasProperty(u, TypeId) && u instanceof LimitImpl

/**
 * One learned limit: the algorithm's state, updated synchronously by one sample per call. `limit` is the integer a
 * bulkhead admits up to; `estimate` the real-valued state behind it.
 *
 * @internal
 */
export interface State {
  limit: number
  estimate: number
  readonly onSample: (rttMillis: number, inflight: number, dropped: boolean) => number
}

interface Bounds {
  readonly minLimit: number
  readonly maxLimit: number
  readonly initialLimit: number
}

const bounds = (v: OptionsValidator, options: AdaptiveLimit.AdaptiveLimit.BaseOptions): Bounds => {
  const minLimit = v.int("minLimit", options.minLimit ?? 1, 1)
  const maxLimit = v.int("maxLimit", options.maxLimit ?? Math.max(200, minLimit), minLimit)
  const initialLimit = v.int(
    "initialLimit",
    options.initialLimit ?? Math.min(maxLimit, Math.max(minLimit, 20)),
    minLimit,
    maxLimit
  )
  return { minLimit, maxLimit, initialLimit }
}

const clamp = (b: Bounds, x: number): number => Math.max(b.minLimit, Math.min(b.maxLimit, x))

/** `max(1, floor(log10(n)))`, the step of Vegas (Netflix's `Log10RootFunction`). */
const log10 = (n: number): number => Math.max(1, Math.floor(Math.log10(Math.max(1, n))))

class LimitImpl implements AdaptiveLimit.AdaptiveLimit {
  readonly [TypeId]: AdaptiveLimit.TypeId = TypeId
  constructor(
    readonly algorithm: "aimd" | "vegas" | "gradient2",
    readonly minLimit: number,
    readonly maxLimit: number,
    readonly initialLimit: number,
    readonly unsafeMakeState: () => State
  ) {}
}

const optionsObject = <O>(v: OptionsValidator, options: O | undefined): O | Record<string, never> => {
  if (options === undefined) return {}
  return v.object("options", options)
}

/** @internal */
export const aimd = (input?: AdaptiveLimit.AdaptiveLimit.AimdOptions): AdaptiveLimit.AdaptiveLimit =>
  validatedSync("AdaptiveLimit.aimd", (v) => {
    const options: AdaptiveLimit.AdaptiveLimit.AimdOptions = optionsObject(v, input)
    const b = bounds(v, options)
    const backoffRatio = v.number("backoffRatio", options.backoffRatio ?? 0.9, { min: 0.5, max: 1 })
    if (backoffRatio === 1) v.fail("backoffRatio", backoffRatio, "a number in [0.5, 1)")
    const timeoutMillis = Duration.toMillis(
      v.duration("timeout", options.timeout ?? "5 seconds", { positive: true, finite: true })
    )
    return new LimitImpl("aimd", b.minLimit, b.maxLimit, b.initialLimit, () => {
      const state: State = {
        limit: b.initialLimit,
        estimate: b.initialLimit,
        onSample: (rtt, inflight, dropped) => {
          let next = state.estimate
          if (dropped || rtt > timeoutMillis) next = Math.floor(next * backoffRatio)
          else if (inflight * 2 >= next) next = next + 1
          else return state.limit
          state.estimate = clamp(b, next)
          return state.limit = state.estimate
        }
      }
      return state
    })
  })

/** @internal */
export const vegas = (input?: AdaptiveLimit.AdaptiveLimit.VegasOptions): AdaptiveLimit.AdaptiveLimit =>
  validatedSync("AdaptiveLimit.vegas", (v) => {
    const options: AdaptiveLimit.AdaptiveLimit.VegasOptions = optionsObject(v, input)
    const b = bounds(v, options)
    const smoothing = v.number("smoothing", options.smoothing ?? 1, { min: 0, max: 1, exclusiveMin: true })
    const alpha = v.number("alpha", options.alpha ?? 3, { min: 0 })
    const beta = v.number("beta", options.beta ?? Math.max(6, 2 * alpha), { min: alpha })
    const probeMultiplier = v.int("probeMultiplier", options.probeMultiplier ?? 30, 1)
    return new LimitImpl("vegas", b.minLimit, b.maxLimit, b.initialLimit, () => {
      let noLoadRtt = 0
      let probeCount = 0
      const state: State = {
        limit: b.initialLimit,
        estimate: b.initialLimit,
        onSample: (rtt, inflight, dropped) => {
          if (!(rtt > 0)) return state.limit
          // Now and then forget the no-load latency, so a lasting change in the backend is learned again.
          probeCount++
          if (probeMultiplier * state.estimate <= probeCount) {
            probeCount = 0
            noLoadRtt = rtt
            return state.limit
          }
          if (noLoadRtt === 0 || rtt < noLoadRtt) {
            noLoadRtt = rtt
            return state.limit
          }
          const estimate = state.estimate
          const step = log10(estimate)
          // The calls queued somewhere below us, as Vegas estimates them from how far latency is above no-load.
          const queue = Math.ceil(estimate * (1 - noLoadRtt / rtt))
          let next: number
          if (dropped) next = estimate - step
          else if (inflight * 2 < estimate) return state.limit
          else if (queue <= step) next = estimate + beta * step
          else if (queue < alpha * step) next = estimate + step
          else if (queue > beta * step) next = estimate - step
          else return state.limit
          next = clamp(b, next)
          state.estimate = clamp(b, (1 - smoothing) * estimate + smoothing * next)
          return state.limit = Math.floor(state.estimate)
        }
      }
      return state
    })
  })

/** @internal */
export const gradient2 = (input?: AdaptiveLimit.AdaptiveLimit.Gradient2Options): AdaptiveLimit.AdaptiveLimit =>
  validatedSync("AdaptiveLimit.gradient2", (v) => {
    const options: AdaptiveLimit.AdaptiveLimit.Gradient2Options = optionsObject(v, input)
    const b = bounds(v, options)
    const smoothing = v.number("smoothing", options.smoothing ?? 0.2, { min: 0, max: 1, exclusiveMin: true })
    const tolerance = v.number("rttTolerance", options.rttTolerance ?? 1.5, { min: 1 })
    const longWindow = v.int("longWindow", options.longWindow ?? 600, 1)
    const queueSize = v.number("queueSize", options.queueSize ?? 4, { min: 0 })
    const warmup = 10
    const factor = 2 / (longWindow + 1)
    return new LimitImpl("gradient2", b.minLimit, b.maxLimit, b.initialLimit, () => {
      // The long-term latency: a plain mean over the first samples, then an exponential average.
      let longRtt = 0
      let count = 0
      let sum = 0
      const state: State = {
        limit: b.initialLimit,
        estimate: b.initialLimit,
        onSample: (rtt, inflight) => {
          if (!(rtt > 0)) return state.limit
          if (count < warmup) {
            count++
            sum += rtt
            longRtt = sum / count
          } else {
            longRtt = longRtt * (1 - factor) + rtt * factor
          }
          // Latency back to normal after an overload: let the long average follow it down faster.
          if (longRtt / rtt > 2) longRtt = longRtt * 0.95
          // Do not grow a limit the load does not use.
          const estimate = state.estimate
          if (inflight < estimate / 2) return state.limit
          const gradient = Math.max(0.5, Math.min(1, tolerance * longRtt / rtt))
          const next = estimate * gradient + queueSize
          state.estimate = clamp(b, estimate * (1 - smoothing) + next * smoothing)
          return state.limit = Math.floor(state.estimate)
        }
      }
      return state
    })
  })

class EstimatorImpl implements AdaptiveLimit.Estimator {
  constructor(readonly adaptiveLimit: AdaptiveLimit.AdaptiveLimit, readonly state: State) {}
  get limit(): Effect.Effect<number> {
    return Effect.sync(() => this.state.limit)
  }
  sample(sample: AdaptiveLimit.Sample): Effect.Effect<number> {
    return Effect.sync(() => this.state.onSample(sample.rttMillis, sample.inflight, sample.dropped === true))
  }
}

/** A fresh state of `limit` (one per bulkhead, one per key of a keyed bulkhead). @internal */
export const unsafeMakeState = (limit: AdaptiveLimit.AdaptiveLimit): State => {
  if (!(limit instanceof LimitImpl)) {
    throw new TypeError(
      "not an AdaptiveLimit made by AdaptiveLimit.aimd, AdaptiveLimit.vegas or AdaptiveLimit.gradient2"
    )
  }
  return limit.unsafeMakeState()
}

/** @internal */
export const estimator = (limit: AdaptiveLimit.AdaptiveLimit): Effect.Effect<AdaptiveLimit.Estimator> =>
  Effect.sync(() => new EstimatorImpl(limit, unsafeMakeState(limit)))
