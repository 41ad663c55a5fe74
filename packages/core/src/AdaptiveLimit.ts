/**
 * Concurrency limits learned from latency (after Netflix's concurrency-limits): instead of a guessed
 * `maxConcurrent`, a bulkhead admits up to a limit that grows while latency stays at its no-load level and shrinks
 * when latency grows with load (calls queue somewhere below). Pass one wherever a `Bulkhead` takes
 * `maxConcurrent` (`Bulkhead.make`, `Bulkhead.keyed`, `ResilientClient.make`'s `bulkhead`, and the platform's
 * `LoadShedding.middleware`'s `limit`).
 *
 * An `AdaptiveLimit` is a description: each bulkhead (each key of a keyed one) learns its own limit from it. A call
 * gives one sample when it ends: its latency (from `Clock`), the calls running when it started, and whether it was
 * a drop (it failed with a `TimeoutError`). Other failures and interruptions give no sample. The limit always stays
 * in `[minLimit, maxLimit]`.
 *
 * - `aimd`: additive increase (+1 per sample while the limit is used), multiplicative decrease (× `backoffRatio`)
 *   on a drop or a latency beyond `timeout`. The simplest; it reacts to timeouts, not to a latency that creeps up.
 * - `vegas`: estimates the queue below from how far latency is above the lowest seen (no-load) latency, and grows
 *   while that queue is short (below `alpha`·log10(limit)), shrinks when it is long (above `beta`·log10(limit)).
 * - `gradient2`: compares each latency with a long-term average; the limit follows their ratio (within
 *   `rttTolerance`) plus a small headroom (`queueSize`), smoothed.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as internal from "./internal/adaptiveLimit.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = internal.TypeId as TypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * How a concurrency limit is learned: the algorithm and its bounds.
 *
 * @since 0.1.0
 * @category models
 */
export interface AdaptiveLimit {
  readonly [TypeId]: TypeId
  readonly algorithm: "aimd" | "vegas" | "gradient2"
  readonly minLimit: number
  readonly maxLimit: number
  readonly initialLimit: number
}

/**
 * What a call tells the limit when it ends.
 *
 * @since 0.1.0
 * @category models
 */
export interface Sample {
  /** Its latency in milliseconds. */
  readonly rttMillis: number
  /** Calls running when it started (itself included). */
  readonly inflight: number
  /** It was dropped (timed out, or refused by what it called). */
  readonly dropped?: boolean | undefined
}

/**
 * One learned limit, fed by hand: what a bulkhead keeps inside, for tests and for other admission schemes.
 *
 * @since 0.1.0
 * @category models
 */
export interface Estimator {
  readonly adaptiveLimit: AdaptiveLimit
  /** The current limit (an integer in `[minLimit, maxLimit]`). */
  readonly limit: Effect.Effect<number>
  /** Learns from one sample; returns the new limit. */
  sample(sample: Sample): Effect.Effect<number>
}

/**
 * @since 0.1.0
 */
export declare namespace AdaptiveLimit {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface BaseOptions {
    /** The lowest limit (an integer >= 1, default 1). */
    readonly minLimit?: number | undefined
    /** The highest limit (an integer >= `minLimit`, default 200). */
    readonly maxLimit?: number | undefined
    /** The limit before any sample (in `[minLimit, maxLimit]`, default 20 within the bounds). */
    readonly initialLimit?: number | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface AimdOptions extends BaseOptions {
    /** The factor applied on a drop (in `[0.5, 1)`, default 0.9). */
    readonly backoffRatio?: number | undefined
    /** A call slower than this counts as a drop (default 5 seconds). */
    readonly timeout?: Duration.DurationInput | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface VegasOptions extends BaseOptions {
    /** The weight of a new estimate (in `(0, 1]`, default 1: no smoothing). */
    readonly smoothing?: number | undefined
    /** Grow by log10(limit) while the estimated queue is below `alpha`·log10(limit) (default 3). */
    readonly alpha?: number | undefined
    /** Shrink by log10(limit) once the estimated queue is above `beta`·log10(limit) (>= `alpha`, default 6, or 2·`alpha` when larger). */
    readonly beta?: number | undefined
    /** The no-load latency is measured again every `probeMultiplier`·limit samples (default 30). */
    readonly probeMultiplier?: number | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface Gradient2Options extends BaseOptions {
    /** The weight of a new estimate (in `(0, 1]`, default 0.2). */
    readonly smoothing?: number | undefined
    /** How much slower than the long-term average a call may be before the limit shrinks (>= 1, default 1.5). */
    readonly rttTolerance?: number | undefined
    /** The samples the long-term average spans (default 600). */
    readonly longWindow?: number | undefined
    /** The headroom added to the limit at each sample (default 4). */
    readonly queueSize?: number | undefined
  }
}

/**
 * AIMD: +1 per sample while the limit is at least half used, × `backoffRatio` on a drop or a call slower than
 * `timeout`. Throws `InvalidOptionsError` on a bad option.
 *
 * @example
 * ```ts
 * import { AdaptiveLimit, Bulkhead } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const bulkhead = yield* Bulkhead.make({
 *     name: "search",
 *     maxConcurrent: AdaptiveLimit.aimd({ minLimit: 5, maxLimit: 100, timeout: "1 second" })
 *   })
 *   return yield* bulkhead.execute(Effect.succeed("found"))
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const aimd: (options?: AdaptiveLimit.AimdOptions) => AdaptiveLimit = internal.aimd

/**
 * Vegas: learns the no-load latency and keeps the estimated queue below the limit between `alpha` and `beta`.
 * Throws `InvalidOptionsError` on a bad option.
 *
 * @example
 * ```ts
 * import { AdaptiveLimit, Bulkhead } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const bulkhead = yield* Bulkhead.make({
 *     name: "db",
 *     maxConcurrent: AdaptiveLimit.vegas({ minLimit: 2, maxLimit: 50, initialLimit: 10 }),
 *     maxQueue: 20
 *   })
 *   return yield* bulkhead.execute(Effect.succeed("row"))
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const vegas: (options?: AdaptiveLimit.VegasOptions) => AdaptiveLimit = internal.vegas

/**
 * Gradient2: the limit follows the ratio of the long-term average latency to the latest one, smoothed. Throws
 * `InvalidOptionsError` on a bad option.
 *
 * @example
 * ```ts
 * import { AdaptiveLimit, ResilientClient } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const client = yield* ResilientClient.make({
 *     name: "inventory",
 *     bulkhead: { maxConcurrent: AdaptiveLimit.gradient2({ minLimit: 4, maxLimit: 64 }), maxQueue: 50 }
 *   })
 *   return yield* client.execute(Effect.succeed(3))
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const gradient2: (options?: AdaptiveLimit.Gradient2Options) => AdaptiveLimit = internal.gradient2

/**
 * A learned limit fed by hand with samples: what a bulkhead does inside, to see an algorithm at work.
 *
 * @example
 * ```ts
 * import { AdaptiveLimit } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const estimator = yield* AdaptiveLimit.estimator(AdaptiveLimit.aimd({ initialLimit: 10 }))
 *   yield* estimator.sample({ rttMillis: 20, inflight: 10 })
 *   return yield* estimator.limit // 11
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const estimator: (limit: AdaptiveLimit) => Effect.Effect<Estimator> = internal.estimator

/**
 * Whether a value is an `AdaptiveLimit`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isAdaptiveLimit: (u: unknown) => u is AdaptiveLimit = internal.isAdaptiveLimit
