/**
 * The policies combined in the order that makes them work together, as one value (or one `Layer`) per
 * dependency. `client.execute(effect)` applies, outermost first: fallback, deadline, rate limiter, bulkhead,
 * retry (with its budget), circuit breaker, hedge, timeout per attempt, then the effect.
 *
 * Why this order: the deadline bounds everything, queue waits included; the rate limiter admits a call once,
 * however many attempts it makes; the bulkhead holds a slot per attempt, so a retry's wait (its backoff, a
 * `RetryAfter` hint) holds none and the attempt after it queues again (a rejection by the client's own bulkhead
 * is never retried); each attempt passes the breaker (so an open breaker fails an attempt fast) and has its own
 * timeout. A rejection by the client's own breaker is never retried (nor is a failure once that breaker is open):
 * the call fails fast with `CircuitBreakerOpenError`, so no call waits behind a dependency known to be down (a
 * call sleeping its backoff when the breaker opens ends then). `retry.onOpenBreaker: "wait"` makes the retry
 * wait for the breaker instead, when its `retryAfter` fits in `retry.maxRetryAfter` (1 second by default in a
 * client) and what is left of the deadline. Any other `RetryAfter` hint (a `RateLimitedError` or HTTP 429 from
 * inside the effect) longer than `retry.maxRetryAfter` ends the retries at once; an isolated breaker is never
 * retried.
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as AdaptiveThrottle from "./AdaptiveThrottle.js"
import type * as Bulkhead from "./Bulkhead.js"
import type * as CircuitBreaker from "./CircuitBreaker.js"
import type * as Hedge from "./Hedge.js"
import * as internal from "./internal/resilientClient.js"
import type { InvalidOptionsError } from "./InvalidOptionsError.js"
import type * as RateLimiter from "./RateLimiter.js"
import type { DuplicateNameError } from "./ResilienceRegistry.js"
import type * as Retry from "./Retry.js"
import type { TimeoutError } from "./Timeout.js"

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
 * The failures a client adds to those of the effect: an attempt or the deadline ran out, the bulkhead or the
 * rate limiter turned the call away, the breaker was open.
 *
 * @since 0.1.0
 * @category errors
 */
export type ClientError =
  | TimeoutError
  | Bulkhead.BulkheadRejectedError
  | CircuitBreaker.CircuitBreakerOpenError
  | RateLimiter.RateLimitedError
  | AdaptiveThrottle.AdaptiveThrottleError

/**
 * The failures a client adds to each attempt, before its retry sees it: the attempt timed out (or the deadline
 * ran out during it), or the breaker rejected it. `retry.while`, `retry.schedule` and `retry.onRetry` receive
 * `E | AttemptError`, as `Retry.retry` would around `Timeout.timeout` and `CircuitBreaker.withBreaker`.
 *
 * @since 0.2.0
 * @category errors
 */
export type AttemptError = TimeoutError | CircuitBreaker.CircuitBreakerOpenError

/**
 * Why a call was turned away without reaching the effect (or, for `"CircuitOpen"`, without another attempt).
 *
 * @since 0.1.0
 * @category models
 */
export type RejectionReason = "QueueFull" | "QueueTimeout" | "CircuitOpen" | "RateLimited" | "Throttled"

/**
 * Calls through the client, not attempts. Each finished call is in exactly one of `succeeded`, `failed`,
 * `rejected[reason]` and `interrupted` (`total` also counts the calls still in flight); `fallbacks` counts the
 * failed or rejected calls the fallback answered.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly total: number
  readonly succeeded: number
  readonly failed: number
  readonly rejected: Readonly<Record<RejectionReason, number>>
  readonly fallbacks: number
  readonly interrupted: number
  readonly inFlight: number
}

/**
 * A resilient client. `E` is the error type of the calls it wraps: the callbacks of its options (`fallback`,
 * `retry.while`, `retry.schedule`, `retry.onRetry`) receive it, so `execute` takes only effects that fail with
 * an `E` (the default, `unknown`, takes any effect). `B` and `EB` are the success and error types of the
 * fallback; with a fallback (`HasFallback`), every typed failure goes to it, so the error type of a call is `EB`
 * alone.
 *
 * @example
 * ```ts
 * import { ResilientClient } from "@effect-resilience/core"
 * import { Context, Data, Effect } from "effect"
 *
 * class GatewayError extends Data.TaggedError("GatewayError")<{ readonly status: number }> {}
 *
 * // Typed by its tag: the options' callbacks receive GatewayError (plus the client's own errors).
 * class Gateway extends Context.Tag("Gateway")<Gateway, ResilientClient.ResilientClient<GatewayError>>() {}
 *
 * const GatewayLive = ResilientClient.layer(Gateway, {
 *   name: "gateway",
 *   ...ResilientClient.defaults,
 *   retry: {
 *     ...ResilientClient.defaults.retry,
 *     while: (error) => error._tag !== "GatewayError" || error.status >= 500
 *   }
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ResilientClient<E = unknown, B = never, EB = never, HasFallback extends boolean = false> {
  readonly [TypeId]: TypeId
  readonly name: string
  /** Runs `effect` through every policy of the client. */
  execute<A, E1 extends E, R>(
    effect: Effect.Effect<A, E1, R>
  ): Effect.Effect<A | B, HasFallback extends true ? EB : E1 | ClientError, R>
  /** Calls by outcome. */
  readonly stats: Effect.Effect<Stats>
  /** The client's parts, for their own read-outs (`state`, `changes`, `stats`). */
  readonly bulkhead: Option.Option<Bulkhead.Bulkhead>
  readonly circuitBreaker: Option.Option<CircuitBreaker.CircuitBreaker>
  readonly rateLimiter: Option.Option<RateLimiter.RateLimiter>
}

/**
 * @since 0.1.0
 */
export declare namespace ResilientClient {
  /**
   * Every part is optional: `make` uses only those given. A part given as options is made with the client's
   * name (and registers under it); a part given as an instance (a `Bulkhead`, `CircuitBreaker` or
   * `RateLimiter`) is shared with whoever else holds it. `E` is the error type of the calls the client wraps
   * (see `ResilientClient`).
   *
   * @since 0.1.0
   * @category models
   */
  export interface Options<E = unknown, B = never, EB = never> {
    /** The name of the client and of the parts it makes. */
    readonly name: string
    /**
     * Turns a final typed failure (never a defect or an interruption) into a degraded answer: an `E` of the
     * call, or one of the client's own (`ClientError`).
     */
    readonly fallback?: ((error: E | ClientError) => Effect.Effect<B, EB>) | undefined
    /** A total budget for the call, queue waits and retries included. */
    readonly deadline?: Duration.DurationInput | undefined
    readonly rateLimiter?: Omit<RateLimiter.RateLimiter.Options, "name"> | RateLimiter.RateLimiter | undefined
    readonly bulkhead?: Omit<Bulkhead.Bulkhead.Options, "name"> | Bulkhead.Bulkhead | undefined
    /**
     * Client-side adaptive throttling of each attempt (inside the retry, outside the breaker): options (the
     * throttle is made with the client's name) or a shared throttle. An attempt it refuses fails the call at once
     * with `AdaptiveThrottleError` (not retried: the point is to send less); the call counts as `"Throttled"`.
     */
    readonly adaptiveThrottle?:
      | Omit<AdaptiveThrottle.AdaptiveThrottle.Options, "name">
      | AdaptiveThrottle.AdaptiveThrottle
      | undefined
    /**
     * Retry options; `maxRetryAfter` defaults to 1 second here (a retry's wait holds no bulkhead slot). Its
     * callbacks and schedule receive the attempt's failure: an `E`, or an `AttemptError` (the attempt's timeout,
     * the breaker's rejection).
     */
    readonly retry?: RetryOptions<E | AttemptError> | undefined
    /**
     * The breaker of each attempt: options (the breaker is made with the client's name) or a shared breaker.
     * With options, `classify` judges each attempt, typed by the calls: `true` when its outcome counts as a
     * failure (it sees an `E`, the attempt's `TimeoutError`, a defect or the value); without it the breaker's
     * `isFailureCause` does.
     */
    readonly circuitBreaker?:
      | Omit<CircuitBreaker.CircuitBreaker.Options, "name"> & {
        readonly classify?: ((exit: Exit.Exit<unknown, E | TimeoutError>) => boolean) | undefined
      }
      | CircuitBreaker.CircuitBreaker
      | undefined
    readonly hedge?: Hedge.Hedge.Options | undefined
    /** The limit of each attempt. */
    readonly timeout?: Duration.DurationInput | undefined
    /** Record metrics (default true). */
    readonly metrics?: boolean | undefined
    /** A span per call, named `client <name>` (default false). */
    readonly tracing?: boolean | undefined
    /** Record `resilience_call_duration_seconds{policy="client",name}` per call (default false). */
    readonly histogram?: boolean | undefined
  }

  /**
   * A client's retry: `Retry.retry`'s options, and what to do when the client's own breaker stands in the way.
   *
   * @since 0.1.0
   * @category models
   */
  export interface RetryOptions<E> extends Retry.Retry.Options<E> {
    /**
     * When the client's own breaker rejects an attempt (open, or half-open with its probes taken), or is open
     * when an attempt fails: `"fail"` (default) ends the call at once with that error, and a call sleeping
     * between attempts when that breaker opens (or is isolated) ends at once with its `CircuitBreakerOpenError`;
     * `"wait"` retries as for any failure, waiting out the rejection's `RetryAfter` hint when it fits in
     * `maxRetryAfter` and the deadline. Waiting costs: the caller waits (holding no bulkhead slot), and the waiting
     * calls all come back when the breaker half-opens, where only `halfOpen.maxProbes` get through and the rest
     * wait again or fail, into the recovery.
     */
    readonly onOpenBreaker?: "fail" | "wait" | undefined
  }

  /**
   * The type of `ResilientClient.defaults`.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Defaults {
    readonly bulkhead: {
      readonly maxConcurrent: number
      readonly maxQueue: number
      readonly queueTimeout: Duration.DurationInput
    }
    readonly timeout: Duration.DurationInput
    readonly retry: { readonly maxAttempts: number; readonly schedule: Schedule.Schedule<Duration.Duration> }
    readonly circuitBreaker: {
      readonly strategy: CircuitBreaker.Strategy
      readonly openDuration: Duration.DurationInput
    }
  }
}

/**
 * The seed's client as a ready options object (add a `name`): a bulkhead of 10 with a queue of 100 waiting at
 * most 5 seconds, a 2 second timeout per attempt, 4 attempts from 100 ms doubling with full jitter, and a breaker
 * that opens after 5 consecutive failures for 30 seconds.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults: ResilientClient.Defaults = internal.defaults

/**
 * Makes a client. It needs a `Scope`: it registers itself (kind `"client"`) and the parts it makes in the
 * `ResilienceRegistry` when one is provided, until the scope closes, and its breaker owns a fiber while a store is
 * in use. Bad options fail with `InvalidOptionsError`.
 *
 * Type the client by the errors of the calls it wraps, `make<E>(…)`, and every callback receives them: `E` with
 * the attempt's own errors in `retry` (`E | AttemptError`), `E | ClientError` in `fallback`. With a fallback, give
 * its types too (`make<E, B, EB>`) or annotate the fallback's parameter and let them be inferred. Without a type,
 * `E` is `unknown`. Options whose fallback may or may not be there (a `ResilientClient.Options` value) give a
 * client whose calls fail with `EB` or `E | ClientError`.
 *
 * @example
 * ```ts
 * import { Backoff, ResilientClient } from "@effect-resilience/core"
 * import { Data, Effect, Schedule } from "effect"
 *
 * class GatewayError extends Data.TaggedError("GatewayError")<{ readonly status: number }> {}
 *
 * const program = Effect.gen(function*() {
 *   const payments = yield* ResilientClient.make<GatewayError>({
 *     name: "payments",
 *     ...ResilientClient.defaults,
 *     retry: {
 *       maxAttempts: 4,
 *       // the schedule reads the error: a GatewayError, or the client's TimeoutError / CircuitBreakerOpenError
 *       schedule: Backoff.exponential({ base: "100 millis" }).pipe(
 *         Schedule.whileInput((error: GatewayError | ResilientClient.AttemptError) =>
 *           error._tag !== "GatewayError" || error.status >= 500
 *         )
 *       )
 *     }
 *   })
 *   return yield* payments.execute(Effect.succeed({ id: "ch_1" }))
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: {
  <E = unknown, B = never, EB = never>(
    options: ResilientClient.Options<E, B, EB> & {
      readonly fallback: (error: E | ClientError) => Effect.Effect<B, EB>
    }
  ): Effect.Effect<ResilientClient<E, B, EB, true>, InvalidOptionsError | DuplicateNameError, Scope.Scope>
  <E = unknown>(
    options: ResilientClient.Options<E, never, never> & { readonly fallback?: undefined }
  ): Effect.Effect<ResilientClient<E>, InvalidOptionsError | DuplicateNameError, Scope.Scope>
  <E = unknown, B = never, EB = never>(
    options: ResilientClient.Options<E, B, EB>
  ): Effect.Effect<ResilientClient<E, B, EB, boolean>, InvalidOptionsError | DuplicateNameError, Scope.Scope>
} = internal.make as typeof make

/**
 * Provides a client under a tag, for the life of the layer: every service that uses the tag shares one client
 * (one bulkhead, one breaker, one set of stats). The client's types come from the tag: with a tag of
 * `ResilientClient<E>`, the options' callbacks receive `E` (see `make`).
 *
 * @example
 * ```ts
 * import { ResilientClient } from "@effect-resilience/core"
 * import { Context, Effect } from "effect"
 *
 * class Payments extends Context.Tag("Payments")<Payments, ResilientClient.ResilientClient>() {}
 *
 * const PaymentsLive = ResilientClient.layer(Payments, { name: "payments", ...ResilientClient.defaults })
 *
 * const charge = Effect.flatMap(Payments, (client) => client.execute(Effect.succeed("charged")))
 * const program = charge.pipe(Effect.provide(PaymentsLive))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: {
  <I, E, B, EB>(
    tag: Context.Tag<I, ResilientClient<E, B, EB, true>>,
    options: ResilientClient.Options<NoInfer<E>, B, EB> & {
      readonly fallback: (error: NoInfer<E> | ClientError) => Effect.Effect<B, EB>
    }
  ): Layer.Layer<I, InvalidOptionsError | DuplicateNameError>
  <I, E>(
    tag: Context.Tag<I, ResilientClient<E>>,
    options: ResilientClient.Options<NoInfer<E>, never, never> & { readonly fallback?: undefined }
  ): Layer.Layer<I, InvalidOptionsError | DuplicateNameError>
} = internal.layer as typeof layer

/**
 * Reads a client's options from `effect/Config` on top of `defaults`. Keys are the prefix and the option path in
 * constant case; each is optional:
 *
 * `<P>_TIMEOUT`, `<P>_DEADLINE`, `<P>_RETRY_MAX_ATTEMPTS`, `<P>_RETRY_BASE_DELAY`, `<P>_RETRY_MAX_DELAY`,
 * `<P>_RETRY_MAX_RETRY_AFTER`, `<P>_BULKHEAD_MAX_CONCURRENT`, `<P>_BULKHEAD_MAX_QUEUE`,
 * `<P>_BULKHEAD_QUEUE_TIMEOUT`, `<P>_BULKHEAD_CODEL_TARGET`, `<P>_BULKHEAD_CODEL_INTERVAL` (either one turns the
 * bulkhead's `codel` on), `<P>_CIRCUIT_BREAKER_CONSECUTIVE_FAILURES`, `<P>_CIRCUIT_BREAKER_OPEN_DURATION`,
 * `<P>_RATE_LIMITER_LIMIT`, `<P>_RATE_LIMITER_INTERVAL`, `<P>_HEDGE_DELAY`, `<P>_HEDGE_MAX_HEDGES`.
 *
 * Durations read as `"2 seconds"`, `"500 millis"`. A bad value is a `ConfigError` naming the key. The client is
 * named after the prefix in lower case.
 *
 * @since 0.1.0
 * @category config
 */
export const config: (prefix: string) => Config.Config<ResilientClient.Options<unknown, never, never>> = internal.config

/**
 * Provides a client under a tag with options read by `config(prefix)`.
 *
 * @example
 * ```ts
 * import { ResilientClient } from "@effect-resilience/core"
 * import { Context } from "effect"
 *
 * class Payments extends Context.Tag("Payments")<Payments, ResilientClient.ResilientClient>() {}
 *
 * // PAYMENTS_TIMEOUT="1 second" PAYMENTS_RETRY_MAX_ATTEMPTS=3 ...
 * const PaymentsLive = ResilientClient.layerConfig(Payments, "PAYMENTS")
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: <I, E = unknown>(
  tag: Context.Tag<I, ResilientClient<E>>,
  prefix: string
) => Layer.Layer<I, ConfigError.ConfigError | InvalidOptionsError | DuplicateNameError> = internal.layerConfig

/**
 * Whether a value is a `ResilientClient`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isResilientClient: (u: unknown) => u is ResilientClient = internal.isResilientClient
