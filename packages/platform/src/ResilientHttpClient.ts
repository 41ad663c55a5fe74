/**
 * Every policy around `@effect/platform`'s `HttpClient`, per host and aware of idempotency: the standard HTTP
 * resilience pipeline (the one Polly's `Microsoft.Extensions.Http.Resilience` gives a named .NET client) as one
 * `Layer`.
 *
 * Each request passes, outermost first: the deadline (`deadline` or the caller's `Deadline`: a total budget,
 * retries included), the bulkhead of its host, the retry (only when a retry is safe, with the retry budget of its
 * host), the circuit breaker of its host, the hedge (idempotent requests, off by default), the timeout of the
 * attempt (which aborts the request: the server sees the socket closed), then the request. A response whose status fails (5xx, 408 and 429 by default) fails
 * the attempt with `HttpStatusError`, after its body is drained so the connection is reused.
 *
 * Retries happen only where sending twice is safe: GET, HEAD, OPTIONS, PUT and DELETE, or any request with an
 * `Idempotency-Key` header; and only on connection errors, attempt timeouts and the retryable statuses (408, 429,
 * 502, 503, 504 by default). A `Retry-After` header (seconds or an HTTP date) sets the wait, capped by
 * `retry.maxRetryAfter`; a malformed or negative one is ignored.
 *
 * The keyed parts (breaker, bulkhead, retry budget) are bounded by `maxKeys` and forget idle keys. The key (the
 * host by default) never appears in a metric label; `host` does, only when the hosts are a configured set. The
 * URL's credentials and query string never reach an error, a span or a label.
 *
 * @since 0.1.0
 */
import type * as AdaptiveThrottle from "@effect-resilience/core/AdaptiveThrottle"
import type * as Bulkhead from "@effect-resilience/core/Bulkhead"
import type * as CircuitBreaker from "@effect-resilience/core/CircuitBreaker"
import type { InvalidOptionsError } from "@effect-resilience/core/InvalidOptionsError"
import type { DuplicateNameError } from "@effect-resilience/core/ResilienceRegistry"
import type { TimeoutError } from "@effect-resilience/core/Timeout"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Metric from "effect/Metric"
import type * as Option from "effect/Option"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as facts from "./internal/httpRequestFacts.js"
import * as internal from "./internal/resilientHttpClient.js"
import { HttpStatusError } from "./internal/resilientHttpClient.js"

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

export {
  /**
   * A response came back with a status that fails (5xx, 408 and 429 by default: see `failOn`). `retryable` says
   * whether the status is one a retry may cure (`retry.statuses`); `retryAfter` is the server's `Retry-After`, when
   * it sent a valid one, and the error carries it (capped by `retry.maxRetryAfter`) as a `RetryAfter` hint. `url`
   * has no credentials, query string or fragment. The response's body was drained.
   *
   * @since 0.1.0
   * @category errors
   */
  HttpStatusError
}

/**
 * What a request through a `ResilientHttpClient` may fail with: the wrapped client's errors (their request
 * redacted: no headers, no credentials, no query string), a failing status, an attempt or deadline timeout, an
 * open breaker or a full bulkhead of the request's host.
 *
 * @since 0.1.0
 * @category errors
 */
export type ResilientHttpClientError =
  | HttpClientError.HttpClientError
  | HttpStatusError
  | TimeoutError
  | CircuitBreaker.CircuitBreakerOpenError
  | Bulkhead.BulkheadRejectedError
  | AdaptiveThrottle.AdaptiveThrottleError

/**
 * Requests through the client (not attempts). Each finished request is in one of `succeeded`, `failed`,
 * `rejected` (breaker or bulkhead) and `timedOut` (attempt or deadline); `retries` counts attempts after the first.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly requests: number
  readonly succeeded: number
  readonly failed: number
  readonly rejected: number
  readonly timedOut: number
  readonly retries: number
}

/**
 * An `HttpClient` with the policies inside, whose error type names them.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResilientHttpClient extends HttpClient.HttpClient.With<ResilientHttpClientError> {
  readonly [TypeId]: TypeId
  /** The client's name: its metrics' `client` label, and the name of its breaker, bulkhead and budgets. */
  readonly clientName: string
  /** Requests by outcome. */
  readonly stats: Effect.Effect<Stats>
  /** The breaker per key, for `state(key)`, `changes`, `isolate(key)`. */
  readonly circuitBreaker: Option.Option<CircuitBreaker.KeyedCircuitBreaker>
  /** The bulkhead per key, for `stats`. */
  readonly bulkhead: Option.Option<Bulkhead.KeyedBulkhead<string>>
  /** How many keys hold a retry budget right now (bounded by `maxKeys`). */
  readonly retryBudgetKeys: Effect.Effect<number>
}

/**
 * @since 0.1.0
 */
export declare namespace ResilientHttpClient {
  /**
   * Every part has a default; `false` turns a part off.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Options {
    /** The client's name (metrics, errors, registry). */
    readonly name: string
    /** The limit of each attempt, up to the response's headers; the request is aborted. Default 10 seconds. */
    readonly timeout?: Duration.DurationInput | false | undefined
    /**
     * A total budget for a request, retries and waits included. Default none: a caller's `Deadline.within` bounds
     * the call anyway, and without either a request takes at most `maxAttempts` timeouts plus the waits between.
     */
    readonly deadline?: Duration.DurationInput | false | undefined
    readonly retry?: RetryOptions | false | undefined
    /** The breaker of each key. Default: opens at a 50% failure rate over 30 s (20 calls at least), for 5 s. */
    readonly circuitBreaker?: Omit<CircuitBreaker.CircuitBreaker.Options, "name"> | false | undefined
    /** The bulkhead of each key. Default: 100 requests at once, no queue. */
    readonly bulkhead?: Omit<Bulkhead.Bulkhead.Options, "name"> | false | undefined
    /**
     * Client-side adaptive throttling of each attempt (off by default; one throttle per client, not per key): once
     * the hosts refuse more than `1/k` of the attempts (the failures the breaker counts), attempts are refused
     * locally with `AdaptiveThrottleError` (counted as rejected, not retried). See docs/adaptive.md.
     */
    readonly adaptiveThrottle?: Omit<AdaptiveThrottle.AdaptiveThrottle.Options, "name"> | false | undefined
    /** Hedging for requests safe to retry (off by default): another copy after `delay` without an answer. */
    readonly hedge?: { readonly delay: Duration.DurationInput; readonly maxHedges?: number | undefined } | undefined
    /** The key of the keyed parts: default the request's host and port (e.g. `api.example.com:443`). */
    readonly key?: ((request: HttpClientRequest.HttpClientRequest) => string) | undefined
    /** Keys kept by each keyed part at most (least recently used forgotten first). Default 1,000. */
    readonly maxKeys?: number | undefined
    /** A key unused this long is forgotten (lazily, no timer per key). Default 10 minutes. */
    readonly idleTtl?: Duration.DurationInput | undefined
    /** Which statuses fail a request with `HttpStatusError`. Default: 5xx, 408, 429 (and every retry status). */
    readonly failOn?: ((status: number) => boolean) | undefined
    /**
     * The hosts worth a `host` label in `http_client_requests_total` (other hosts are labelled `other`). Without
     * it, the metric has no `host` label: keys from requests must never grow the series without bound.
     */
    readonly hosts?: ReadonlyArray<string> | undefined
    /** Record `http_client_requests_total` and the parts' metrics (default true). */
    readonly metrics?: boolean | undefined
    /** A span per request, `http.client <METHOD>`, with the attempt count (default false). */
    readonly tracing?: boolean | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface RetryOptions {
    /** Attempts in total, the first included (default 3). */
    readonly maxAttempts?: number | undefined
    /** Waits between attempts. Default: from 100 ms doubling, at most 5 s, full jitter. */
    readonly schedule?: Schedule.Schedule<unknown, unknown> | undefined
    /** Statuses worth a retry. Default 408, 429, 502, 503, 504. */
    readonly statuses?: ReadonlyArray<number> | undefined
    /** The longest wait a `Retry-After` header may ask for; a longer one is cut to it. Default 10 seconds. */
    readonly maxRetryAfter?: Duration.DurationInput | undefined
    /** The retry budget of each key (ratio, minPerSecond, window), or `false` for none. Default ratio 0.2. */
    readonly budget?:
      | { readonly ratio?: number; readonly minPerSecond?: number; readonly window?: Duration.DurationInput }
      | false
      | undefined
  }
}

/**
 * The `Context` tag of the typed client `layer` provides next to `HttpClient.HttpClient`.
 *
 * @since 0.1.0
 * @category tags
 */
export const ResilientHttpClient: Context.Tag<ResilientHttpClient, ResilientHttpClient> = internal.tag

/**
 * `http_client_requests_total{client,method,outcome}` (+ `host` when `hosts` is configured): requests, not
 * attempts; outcome `success|failure|rejected|timeout`, method in lower case.
 *
 * @since 0.1.0
 * @category metrics
 */
export const requestsTotal: Metric.Metric.Counter<number> = internal.requestsTotal

/**
 * Wraps a client: the one given as `client`, or the `HttpClient` in context. It needs a `Scope` (the breaker's)
 * and registers its breaker and bulkhead in a provided `ResilienceRegistry`. Bad options fail with
 * `InvalidOptionsError`.
 *
 * @example
 * ```ts
 * import { ResilientHttpClient } from "@effect-resilience/platform"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const client = yield* ResilientHttpClient.make({ name: "catalog", timeout: "2 seconds" })
 *   const response = yield* client.get("http://127.0.0.1:8080/items")
 *   return yield* response.json
 * }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layer))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: {
  (
    options: ResilientHttpClient.Options & { readonly client: HttpClient.HttpClient }
  ): Effect.Effect<ResilientHttpClient, InvalidOptionsError | DuplicateNameError, Scope.Scope>
  (
    options: ResilientHttpClient.Options
  ): Effect.Effect<ResilientHttpClient, InvalidOptionsError | DuplicateNameError, Scope.Scope | HttpClient.HttpClient>
} = internal.make as typeof make

/**
 * Replaces the `HttpClient` in context with one that applies the policies, so code that already uses
 * `HttpClient.HttpClient` gets them without a change; also provides the typed client under the
 * `ResilientHttpClient` tag. Through `HttpClient.HttpClient` the errors keep its type: a failing status is a
 * `ResponseError` (reason `"StatusCode"`), a policy's rejection or timeout a `RequestError` (reason
 * `"Transport"`), each with the typed error as its `cause` (and its `RetryAfter` hint).
 *
 * @example
 * ```ts
 * import { ResilientHttpClient } from "@effect-resilience/platform"
 * import { HttpClient } from "@effect/platform"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Layer } from "effect"
 *
 * const HttpLive = ResilientHttpClient.layer({ name: "upstreams" }).pipe(Layer.provide(NodeHttpClient.layer))
 *
 * const program = Effect.flatMap(HttpClient.HttpClient, (http) => http.get("http://127.0.0.1:8080/health")).pipe(
 *   Effect.scoped,
 *   Effect.provide(HttpLive)
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (
  options: ResilientHttpClient.Options
) => Layer.Layer<
  HttpClient.HttpClient | ResilientHttpClient,
  InvalidOptionsError | DuplicateNameError,
  HttpClient.HttpClient
> = internal.layer

/**
 * Reads options from `effect/Config`; every key is optional: `<P>_TIMEOUT`, `<P>_DEADLINE`,
 * `<P>_RETRY_MAX_ATTEMPTS`, `<P>_RETRY_BASE_DELAY`, `<P>_RETRY_MAX_DELAY`, `<P>_RETRY_MAX_RETRY_AFTER`,
 * `<P>_RETRY_STATUSES` (comma separated), `<P>_BULKHEAD_MAX_CONCURRENT`, `<P>_BULKHEAD_MAX_QUEUE`,
 * `<P>_BULKHEAD_QUEUE_TIMEOUT`, `<P>_BULKHEAD_CODEL_TARGET`, `<P>_BULKHEAD_CODEL_INTERVAL` (either one turns the
 * bulkhead's `codel` on), `<P>_CIRCUIT_BREAKER_CONSECUTIVE_FAILURES`, `<P>_CIRCUIT_BREAKER_OPEN_DURATION`,
 * `<P>_MAX_KEYS`, `<P>_HOSTS` (comma separated), `<P>_HEDGE_DELAY`. The client is named after the prefix in lower
 * case.
 *
 * @since 0.1.0
 * @category config
 */
export const config: (prefix: string) => Config.Config<ResilientHttpClient.Options> = internal.config

/**
 * `layer` with options read by `config(prefix)`.
 *
 * @example
 * ```ts
 * import { ResilientHttpClient } from "@effect-resilience/platform"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Layer } from "effect"
 *
 * // PAYMENTS_TIMEOUT="2 seconds" PAYMENTS_RETRY_MAX_ATTEMPTS=4 ...
 * const HttpLive = ResilientHttpClient.layerConfig("PAYMENTS").pipe(Layer.provide(NodeHttpClient.layer))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: (
  prefix: string
) => Layer.Layer<
  HttpClient.HttpClient | ResilientHttpClient,
  ConfigError.ConfigError | InvalidOptionsError | DuplicateNameError,
  HttpClient.HttpClient
> = internal.layerConfig

/**
 * Whether sending the request twice is safe: GET, HEAD, OPTIONS, PUT, DELETE, or an `Idempotency-Key` header.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isRetrySafe: (request: HttpClientRequest.HttpClientRequest) => boolean = facts.isRetrySafe

/**
 * Reads a `Retry-After` header: delay-seconds or an HTTP date (relative to `nowMillis`; a past date is zero).
 * Empty, negative, fractional or malformed values are `None`.
 *
 * @example
 * ```ts
 * import { ResilientHttpClient } from "@effect-resilience/platform"
 *
 * ResilientHttpClient.parseRetryAfter("120", 0) // Some(2 minutes)
 * ResilientHttpClient.parseRetryAfter("soon", 0) // None
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseRetryAfter: (value: string | undefined, nowMillis: number) => Option.Option<Duration.Duration> =
  facts.parseRetryAfter

/**
 * The URL as it may appear in errors, spans and logs: no credentials, no query string, no fragment.
 *
 * @since 0.1.0
 * @category utils
 */
export const redactUrl: (url: string) => string = facts.redactUrl

/**
 * Whether a value is a `ResilientHttpClient`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isResilientHttpClient: (u: unknown) => u is ResilientHttpClient = internal.isResilientHttpClient
