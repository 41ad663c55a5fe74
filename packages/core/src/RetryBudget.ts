/**
 * A retry budget: a token bucket shared by many callers that bounds how much extra load retries may add, in
 * the style of Finagle's and Envoy's retry budgets. Over the last `window`, retries may add at most `ratio` of
 * the original requests plus `minPerSecond` per second of the window (a floor so that a quiet service can
 * still retry). When the budget is spent, a retry is denied and the call fails at once with its own error.
 *
 * Without a budget, every layer of a call tree that retries 3 times multiplies the load on a failing
 * dependency; with one, a retry storm costs at most `ratio` more traffic.
 *
 * How callers use it (`Retry.retry({ budget })` does both for you):
 * - each original request (not a retry) is recorded with `recordRequest` / `unsafeRecordRequest()`: a plain
 *   counter increment, no clock read, fit for the hot path;
 * - before each retry (or hedge), the caller asks for a token with `tryAcquire` / `unsafeTryAcquire(now)`:
 *   `true` means go ahead (the token is spent), `false` means the budget is exhausted (counted in
 *   `retry_budget_exhausted_total{name}`).
 *
 * Accounting: the window is cut into 10 buckets aligned to the clock. Requests recorded between two clock
 * reads carry no time stamp; at the next `tryAcquire` or `stats` they are taken as spread evenly over the time
 * since the previous read, and the part older than the window is dropped. Under steady traffic this is exact to
 * a bucket; after a long quiet spell it errs by at most the requests of that spell's last window.
 *
 * With a `ResilienceRegistry` provided, the budget registers as kind `"retry_budget"` under its name until its
 * `Scope` closes.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/retryBudget.js"
import type { InvalidOptionsError } from "./InvalidOptionsError.js"
import type { DuplicateNameError } from "./ResilienceRegistry.js"

/**
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: unique symbol = internal.TypeId

/**
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * What a budget reports about its current window.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  /** Original requests counted in the window (rounded: see the accounting note). */
  readonly requests: number
  /** Retry tokens taken in the window. */
  readonly retries: number
  /** Whole tokens left: how many retries would be allowed right now. */
  readonly available: number
  /** Retries denied since the budget was made. */
  readonly exhausted: number
}

/**
 * A retry budget shared by every call that uses it.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryBudget {
  readonly [TypeId]: TypeId
  /** The name, used in metrics and the registry. */
  readonly name: string
  /** The share of recent requests retries may add. */
  readonly ratio: number
  /** The floor of retries allowed per second of the window, whatever the traffic. */
  readonly minPerSecond: number
  /** How far back requests and retries are counted. */
  readonly window: Duration.Duration
  /** Records one original request (call it once per call, not per retry). */
  readonly recordRequest: Effect.Effect<void>
  /** Takes a retry token: `true` when the retry may go ahead, `false` (and counted) when the budget is spent. */
  readonly tryAcquire: Effect.Effect<boolean>
  /** The current window's figures. */
  readonly stats: Effect.Effect<Stats>
  /** `recordRequest` without the `Effect`: a counter increment for hot paths. */
  unsafeRecordRequest(): void
  /** `tryAcquire` without the `Effect`, given the current `Clock` time in milliseconds. */
  unsafeTryAcquire(nowMillis: number): boolean
}

/**
 * @since 0.1.0
 */
export declare namespace RetryBudget {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Options {
    /** The budget's name: metrics label and registry entry. */
    readonly name: string
    /** The share of the window's original requests that retries may add, in [0, 1]. Default 0.2. */
    readonly ratio?: number | undefined
    /** Retries allowed per second whatever the traffic (`minPerSecond * window` tokens), >= 0. Default 10. */
    readonly minPerSecond?: number | undefined
    /** How far back requests and retries count; positive and finite. Default 10 seconds. */
    readonly window?: Duration.DurationInput | undefined
  }
}

/**
 * Whether a value is a `RetryBudget`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isRetryBudget: (u: unknown) => u is RetryBudget = internal.isRetryBudget

/**
 * Makes a retry budget. Fails with `InvalidOptionsError` for a bad option, and with `DuplicateNameError` when a
 * provided `ResilienceRegistry` already holds a retry budget of that name. It needs a `Scope`: its registry
 * entry lasts until the scope closes.
 *
 * @example
 * ```ts
 * import { Backoff, Retry, RetryBudget } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* RetryBudget.make({ name: "payments", ratio: 0.1 })
 *   const call = (id: string) =>
 *     Effect.fail(`gateway down for ${id}`).pipe(
 *       Retry.retry({ schedule: Backoff.exponential({ base: "50 millis", cap: "1 second" }), maxAttempts: 3, budget })
 *     )
 *   yield* Effect.forEach(["a", "b", "c"], (id) => Effect.either(call(id)))
 *   return yield* budget.stats
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options: RetryBudget.Options
) => Effect.Effect<RetryBudget, InvalidOptionsError | DuplicateNameError, Scope.Scope> = internal.make
