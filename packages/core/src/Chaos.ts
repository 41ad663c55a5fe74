/**
 * Fault injection for tests and demos: added latency, random failures and timed outages, each a combinator
 * (`effect.pipe(Chaos.failures({ rate: 0.25 }))`). Randomness comes from `Random` and time from `Clock`, so a
 * seeded `Random` and `TestClock` make a chaotic run reproducible.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type { LazyArg } from "effect/Function"
import * as internal from "./internal/chaos.js"
import { ChaosError } from "./internal/chaos.js"
import type { InvalidOptionsError } from "./InvalidOptionsError.js"

export {
  /**
   * The failure an injected fault produces when no `error` is given.
   *
   * @since 0.1.0
   * @category errors
   */
  ChaosError
}

/**
 * A fault: wraps an effect, possibly delaying it or failing it with `E2` instead of running it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Fault<E2> {
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | E2, R>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface LatencyOptions {
  /** The added delay, or the lower bound when `max` is given. */
  readonly delay: Duration.DurationInput
  /** When given, each delay is drawn uniformly from `[delay, max)`. */
  readonly max?: Duration.DurationInput | undefined
  /** The share of calls delayed, in `[0, 1]` (default 1: all). */
  readonly rate?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface OutageOptions {
  /** When the outage begins, counted from when it is made (default 0: at once). */
  readonly after?: Duration.DurationInput | undefined
  /** How long it lasts; every call in it fails without running. */
  readonly duration: Duration.DurationInput
}

/**
 * Delays calls before they run. Throws `InvalidOptionsError` for a bad option.
 *
 * @example
 * ```ts
 * import { Chaos } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const slowSometimes = Effect.succeed("ok").pipe(Chaos.latency({ delay: "100 millis", max: "2 seconds", rate: 0.1 }))
 * ```
 *
 * @since 0.1.0
 * @category faults
 */
export const latency: (options: LatencyOptions) => Fault<never> = internal.latency

/**
 * Fails a share `rate` of calls (in `[0, 1]`) without running them, with `error()` or a `ChaosError`. Throws
 * `InvalidOptionsError` for a bad rate.
 *
 * @example
 * ```ts
 * import { Chaos } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const flaky = Effect.succeed("ok").pipe(Chaos.failures({ rate: 0.25 }))
 * // Effect<string, ChaosError>
 * ```
 *
 * @since 0.1.0
 * @category faults
 */
export const failures: {
  (options: { readonly rate: number }): Fault<ChaosError>
  <E2>(options: { readonly rate: number; readonly error: LazyArg<E2> }): Fault<E2>
} = internal.failures

/**
 * Makes an outage: from `after` (counted from now, on the `Clock`) for `duration`, every call fails without
 * running, with `error()` or a `ChaosError`.
 *
 * @example
 * ```ts
 * import { Chaos } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const down = yield* Chaos.outage({ after: "10 seconds", duration: "30 seconds" })
 *   return yield* Effect.succeed("ok").pipe(down)
 * })
 * ```
 *
 * @since 0.1.0
 * @category faults
 */
export const outage: {
  (options: OutageOptions): Effect.Effect<Fault<ChaosError>, InvalidOptionsError>
  <E2>(options: OutageOptions & { readonly error: LazyArg<E2> }): Effect.Effect<Fault<E2>, InvalidOptionsError>
} = internal.outage
