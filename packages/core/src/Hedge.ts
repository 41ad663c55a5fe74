/**
 * Hedged requests, against tail latency: when an attempt has not answered after `delay`, start another copy
 * (up to `maxHedges` more); the first success wins and the rest are interrupted. Hedging multiplies load, so it
 * suits idempotent, cheap reads, and a shared `RetryBudget` can cap the extra calls.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as internal from "./internal/hedge.js"
import type { RetryBudget } from "./RetryBudget.js"

/**
 * @since 0.1.0
 */
export declare namespace Hedge {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Options {
    /** How long an attempt may go without an answer before the next copy starts (finite, >= 0). */
    readonly delay: Duration.DurationInput
    /** Extra copies at most (an integer >= 0, default 1). */
    readonly maxHedges?: number | undefined
    /**
     * A budget shared with retries: each call records a request and each hedge takes a token; when it is spent,
     * no more hedges start.
     */
    readonly budget?: RetryBudget | undefined
  }
}

/**
 * Hedges an effect. The first attempt's success before `delay` costs no timer and no extra fiber round-trip.
 * When every attempt started has failed (and none is running), the call fails with the last failure: hedging
 * is about latency, failures are for `Retry`. Options are checked when `hedge` is called: a bad one throws
 * `InvalidOptionsError`.
 *
 * @example
 * ```ts
 * import { Hedge } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const read = Effect.succeed("row").pipe(Hedge.hedge({ delay: "50 millis", maxHedges: 2 }))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const hedge: {
  (options: Hedge.Options): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, options: Hedge.Options): Effect.Effect<A, E, R>
} = internal.hedge
