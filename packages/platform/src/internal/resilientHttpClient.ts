import * as AdaptiveThrottle from "@effect-resilience/core/AdaptiveThrottle"
import * as Bulkhead from "@effect-resilience/core/Bulkhead"
import * as CircuitBreaker from "@effect-resilience/core/CircuitBreaker"
import * as Deadline from "@effect-resilience/core/Deadline"
import * as Hedge from "@effect-resilience/core/Hedge"
import { InvalidOptionsError } from "@effect-resilience/core/InvalidOptionsError"
import * as ResilienceRegistry from "@effect-resilience/core/ResilienceRegistry"
import * as Retry from "@effect-resilience/core/Retry"
import * as RetryAfter from "@effect-resilience/core/RetryAfter"
import * as RetryBudget from "@effect-resilience/core/RetryBudget"
import * as Timeout from "@effect-resilience/core/Timeout"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import type { HttpMethod } from "@effect/platform/HttpMethod"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { constTrue } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import type * as Scope from "effect/Scope"
import type * as Api from "../ResilientHttpClient.js"
import { hostOf, isRetrySafe, parseRetryAfter, redactUrl } from "./httpRequestFacts.js"
import { resolve, type Resolved } from "./resilientHttpClientOptions.js"

import { config } from "./resilientHttpClientOptions.js"
import {
  Counters,
  KeyRetries,
  type KeyRetry,
  type Outcome,
  RequestMetrics,
  requestsTotal
} from "./resilientHttpClientState.js"

export { config, requestsTotal }

/** @internal */
export const TypeId: Api.TypeId = Symbol.for("@effect-resilience/platform/ResilientHttpClient") as Api.TypeId

/** The facts an `HttpStatusError` carries. */
interface HttpStatusErrorFields {
  /** The client that made the request. */
  readonly clientName: string
  readonly method: HttpMethod
  /** The URL without credentials, query string or fragment. */
  readonly url: string
  readonly status: number
  /** Whether the status is one a retry may cure (`retry.statuses`). */
  readonly retryable: boolean
  /** The server's `Retry-After`, when it sent a valid one. */
  readonly retryAfter: Option.Option<Duration.Duration>
}

/** @internal */
export class HttpStatusError extends Data.TaggedError("HttpStatusError")<HttpStatusErrorFields> {
  declare readonly [RetryAfter.symbol]?: Duration.Duration
  constructor(
    args: HttpStatusErrorFields,
    /** The wait to hint at: `retryAfter` cut to `maxRetryAfter`. */
    hint?: Duration.Duration
  ) {
    super(args)
    if (hint !== undefined) Object.defineProperty(this, RetryAfter.symbol, { value: hint, enumerable: true })
  }
  override get message(): string {
    const after = Option.match(this.retryAfter, {
      onNone: () => "",
      onSome: (d) => `; retry after ${Duration.format(d)}`
    })
    return `${this.method} ${this.url} answered ${this.status}${after}`
  }
}

/** @internal */
export const tag = Context.GenericTag<Api.ResilientHttpClient>("@effect-resilience/platform/ResilientHttpClient")

const outcomeOf = (error: unknown): Outcome =>
  error instanceof Timeout.TimeoutError
    ? "timeout"
    : error instanceof CircuitBreaker.CircuitBreakerOpenError || error instanceof Bulkhead.BulkheadRejectedError ||
        error instanceof AdaptiveThrottle.AdaptiveThrottleError
    ? "rejected"
    : "failure"

/** A failure the host is to blame for: what the breaker counts. */
const isHostFailure = (error: unknown): boolean => {
  if (error instanceof HttpStatusError) return error.status >= 500 || error.status === 408 || error.status === 429
  if (HttpClientError.isHttpClientError(error)) return error._tag === "RequestError" && error.reason === "Transport"
  return true
}

/** A failure a retry may cure: connection errors, attempt timeouts, retryable statuses. */
const isRetryable = (error: unknown): boolean => {
  if (error instanceof HttpStatusError) return error.retryable
  if (error instanceof Timeout.TimeoutError) return error.scope === "attempt"
  return HttpClientError.isHttpClientError(error) && error._tag === "RequestError" && error.reason === "Transport"
}

/** The request as it may appear in an error: method and redacted URL, no headers, no body. */
const redactRequest = (request: HttpClientRequest.HttpClientRequest): HttpClientRequest.HttpClientRequest =>
  HttpClientRequest.make(request.method)(redactUrl(request.url))

/** The wrapped client's errors carry the whole request (headers, credentials): keep only what is safe. */
const redactError = <E>(
  error: E,
  request: HttpClientRequest.HttpClientRequest
): E | HttpClientError.HttpClientError => {
  if (!HttpClientError.isHttpClientError(error)) return error
  const safe = redactRequest(request)
  return error._tag === "RequestError"
    ? new HttpClientError.RequestError({
      request: safe,
      reason: error.reason,
      cause: error.cause,
      ...(error.description === undefined ? {} : { description: error.description })
    })
    : new HttpClientError.ResponseError({
      request: safe,
      response: error.response,
      reason: error.reason,
      cause: error.cause,
      ...(error.description === undefined ? {} : { description: error.description })
    })
}

const disableInnerSpans = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  // The wrapped client's own span records the full URL, query string included: ours replaces it.
  Effect.locally(self, HttpClient.currentTracerDisabledWhen, constTrue)

const withoutRegistry = <A, E>(self: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  // A budget per key must not register per key: the registry would grow with the keys.
  Effect.mapInputContext(
    self,
    (context: Context.Context<never>) => Context.omit(ResilienceRegistry.ResilienceRegistry)(context)
  )

/** The typed client, and the same pipeline seen as a plain `HttpClient` (its errors mapped into `HttpClientError`). */
interface Built {
  readonly client: Api.ResilientHttpClient
  readonly plain: HttpClient.HttpClient
}

/** A part's option error, restated as the client's: `bulkhead.maxConcurrent`, not `Bulkhead.keyed`'s `maxConcurrent`. */
const nestedError = (prefix: string) => <E>(error: E | InvalidOptionsError): E | InvalidOptionsError =>
  error instanceof InvalidOptionsError
    ? new InvalidOptionsError({
      constructorName: "ResilientHttpClient.make",
      field: error.field === "options" ? prefix : `${prefix}.${error.field}`,
      value: error.value,
      expected: error.expected
    })
    : error

const build = (
  inner: HttpClient.HttpClient,
  o: Resolved
): Effect.Effect<Built, InvalidOptionsError | ResilienceRegistry.DuplicateNameError, Scope.Scope> =>
  Effect.gen(function*() {
    const breaker = o.circuitBreaker === undefined ? undefined : yield* Effect.mapError(
      CircuitBreaker.keyed({
        // The host-failure default, unless the options bring their own (isFailureCause, or its alias isFailure).
        ...(o.circuitBreaker.isFailureCause === undefined && o.circuitBreaker.isFailure === undefined
          ? {
            isFailureCause: (cause: Cause.Cause<unknown>) =>
              Option.match(Cause.failureOption(cause), { onNone: constTrue, onSome: isHostFailure })
          }
          : {}),
        ...o.circuitBreaker,
        name: o.name,
        maxKeys: o.maxKeys,
        idleTtl: o.idleTtl
      }),
      nestedError("circuitBreaker")
    )
    const bulkhead = o.bulkhead === undefined ? undefined : yield* Effect.mapError(
      Bulkhead.keyed<string>({
        metrics: o.metrics,
        ...o.bulkhead,
        name: o.name,
        maxKeys: o.maxKeys,
        idleTtl: o.idleTtl
      }),
      nestedError("bulkhead")
    )
    const throttle = o.adaptiveThrottle === undefined ? undefined : yield* Effect.mapError(
      AdaptiveThrottle.make({ isFailure: isHostFailure, metrics: o.metrics, ...o.adaptiveThrottle, name: o.name }),
      nestedError("adaptiveThrottle")
    )
    const counters = new Counters()
    const metrics = o.metrics ? new RequestMetrics(o.name, o.hosts) : undefined
    const retries = new KeyRetries<HttpClientResponse.HttpClientResponse, Api.ResilientHttpClientError>(
      o.maxKeys,
      Duration.toMillis(o.idleTtl)
    )
    type Retried = KeyRetry<HttpClientResponse.HttpClientResponse, Api.ResilientHttpClientError>
    const retry = o.retry
    const makeBudget: Effect.Effect<
      RetryBudget.RetryBudget | undefined,
      InvalidOptionsError | ResilienceRegistry.DuplicateNameError
    > = retry?.budget === undefined
      ? Effect.succeed(undefined)
      : withoutRegistry(Effect.scoped(RetryBudget.make({ name: o.name, ...retry.budget })))
    // Checks the budget options now: a bad one fails `make`, not the first request.
    yield* makeBudget
    const retryOf = (budget: RetryBudget.RetryBudget | undefined): Retried["retry"] =>
      retry === undefined ? (self) => self : Retry.retry<Api.ResilientHttpClientError>({
        name: o.name,
        schedule: retry.schedule,
        maxAttempts: retry.maxAttempts,
        while: isRetryable,
        budget,
        maxRetryAfter: retry.maxRetryAfter,
        onRetry: () =>
          Effect.sync(() => {
            counters.retries++
          })
      })
    // Prepared once per key: a known key costs one `Map` lookup; a new one waits for its budget to be made.
    const withRetry = (
      key: string,
      now: number,
      attempt: Effect.Effect<HttpClientResponse.HttpClientResponse, Api.ResilientHttpClientError>
    ): Effect.Effect<HttpClientResponse.HttpClientResponse, Api.ResilientHttpClientError> => {
      const found = retries.get(key, now)
      if (found !== undefined) return found.retry(attempt)
      return Effect.flatMap(Effect.orDie(makeBudget), (budget) => {
        const made: Retried = { budget, retry: retryOf(budget) }
        retries.set(key, now, made)
        return made.retry(attempt)
      })
    }

    const statusError = (
      request: HttpClientRequest.HttpClientRequest,
      response: HttpClientResponse.HttpClientResponse,
      now: number
    ): HttpStatusError => {
      const retryAfter = parseRetryAfter(response.headers["retry-after"], now)
      const hint = Option.isNone(retryAfter)
        ? undefined
        : retry === undefined || Duration.lessThanOrEqualTo(retryAfter.value, retry.maxRetryAfter)
        ? retryAfter.value
        : retry.maxRetryAfter
      return new HttpStatusError({
        clientName: o.name,
        method: request.method,
        url: redactUrl(request.url),
        status: response.status,
        retryable: o.retryStatuses.has(response.status),
        retryAfter
      }, hint)
    }
    const checkStatus = (request: HttpClientRequest.HttpClientRequest) =>
    (
      response: HttpClientResponse.HttpClientResponse
    ): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpStatusError> =>
      o.fails(response.status)
        ? Effect.flatMap(Clock.currentTimeMillis, (now) =>
          // Drained so that the connection goes back to the pool instead of being destroyed.
          Effect.zipRight(Effect.ignore(response.arrayBuffer), Effect.fail(statusError(request, response, now))))
        : Effect.succeed(response)

    const hedge = o.hedge
    // Built once: each operator checks its options when built, not per request.
    const timeoutOp = o.timeout === undefined ? undefined : Timeout.timeout(o.timeout)
    const hedgeOp = hedge === undefined ? undefined : yield* Effect.suspend(() => {
      try {
        return Effect.succeed(Hedge.hedge(hedge))
      } catch (error) {
        return error instanceof InvalidOptionsError ? Effect.fail(nestedError("hedge")(error)) : Effect.die(error)
      }
    })
    const deadlineOp = o.deadline === undefined ? undefined : Deadline.within(o.deadline)
    const policies = (
      effect: Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>,
      request: HttpClientRequest.HttpClientRequest,
      key: string,
      now: number,
      onAttempt: (() => void) | undefined
    ): Effect.Effect<HttpClientResponse.HttpClientResponse, Api.ResilientHttpClientError> => {
      const safe = isRetrySafe(request)
      let e: Effect.Effect<HttpClientResponse.HttpClientResponse, Api.ResilientHttpClientError> = Effect.flatMap(
        effect,
        checkStatus(request)
      )
      if (onAttempt !== undefined) e = Effect.zipRight(Effect.sync(onAttempt), e)
      if (timeoutOp !== undefined) e = timeoutOp(e)
      if (hedgeOp !== undefined && safe) e = hedgeOp(e)
      if (breaker !== undefined) e = breaker.execute(key, e)
      if (throttle !== undefined) e = throttle.execute(e)
      // a slot per attempt: a retry's wait (backoff, Retry-After) holds none
      if (bulkhead !== undefined) e = bulkhead.execute(key, e)
      if (retry !== undefined && safe) e = withRetry(key, now, e)
      if (deadlineOp !== undefined) e = deadlineOp(e)
      return e
    }

    const execute = (
      effect: Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>,
      request: HttpClientRequest.HttpClientRequest
    ): Effect.Effect<HttpClientResponse.HttpClientResponse, Api.ResilientHttpClientError> =>
      Effect.withFiberRuntime((fiber) => {
        const now = Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis()
        const host = hostOf(request.url)
        const key = o.key === undefined ? host : o.key(request)
        const method = request.method
        counters.requests++
        const onFailure = (cause: Cause.Cause<Api.ResilientHttpClientError>) => {
          const failure = Cause.failureOption(cause)
          if (Option.isNone(failure)) {
            if (!Cause.isInterruptedOnly(cause)) counters.failed++
            return Effect.failCause(cause)
          }
          const outcome = outcomeOf(failure.value)
          if (outcome === "timeout") counters.timedOut++
          else if (outcome === "rejected") counters.rejected++
          else counters.failed++
          metrics?.count(host, method, outcome)
          return Effect.fail(redactError(failure.value, request))
        }
        const onSuccess = (response: HttpClientResponse.HttpClientResponse) => {
          counters.succeeded++
          if (metrics !== undefined) metrics.successCounter(host, method).count++
          return response
        }
        const run = (onAttempt: (() => void) | undefined) =>
          Effect.catchAllCause(
            Effect.map(disableInnerSpans(policies(effect, request, key, now, onAttempt)), onSuccess),
            onFailure
          )
        if (!o.tracing) return run(undefined)
        let attempts = 0
        return Effect.useSpan(`http.client ${method}`, {
          kind: "client",
          attributes: {
            "http.request.method": method,
            "server.address": host,
            "url.full": redactUrl(request.url),
            "resilience.client": o.name
          }
        }, (span) =>
          Effect.onExit(run(() => attempts++), (exit) =>
            Effect.sync(() => {
              span.attribute("resilience.attempts", attempts)
              if (exit._tag === "Success") span.attribute("http.response.status_code", exit.value.status)
              else {
                const failure = Cause.failureOption(exit.cause)
                if (Option.isSome(failure) && failure.value instanceof HttpStatusError) {
                  span.attribute("http.response.status_code", failure.value.status)
                }
              }
            })))
      })

    const typed = HttpClient.transform(inner, execute)
    const plain = HttpClient.transform(
      inner,
      (effect, request) =>
        Effect.catchAll(execute(effect, request), (error) => Effect.fail(toHttpClientError(error, request)))
    )
    const stats: Effect.Effect<Api.Stats> = Effect.sync(() => ({ ...counters }))
    const retryBudgetKeys: Effect.Effect<number> = Effect.clockWith((clock) =>
      Effect.sync(() => {
        retries.evict(clock.unsafeCurrentTimeMillis())
        return retries.size
      })
    )
    const fields: Omit<Api.ResilientHttpClient, keyof HttpClient.HttpClient.With<never>> = {
      [TypeId]: TypeId,
      clientName: o.name,
      stats,
      circuitBreaker: Option.fromNullable(breaker),
      bulkhead: Option.fromNullable(bulkhead),
      retryBudgetKeys
    }
    // `metrics` keeps the collectors alive as long as either client.
    return { client: Object.assign(typed, fields, { metrics }), plain: Object.assign(plain, { metrics }) }
  })

const makeBuilt = (
  options: Api.ResilientHttpClient.Options & { readonly client?: HttpClient.HttpClient | undefined }
): Effect.Effect<
  Built,
  InvalidOptionsError | ResilienceRegistry.DuplicateNameError,
  Scope.Scope | HttpClient.HttpClient
> =>
  Effect.flatMap(resolve(options), (resolved) =>
    options.client === undefined
      ? Effect.flatMap(HttpClient.HttpClient, (inner) => build(inner, resolved))
      : build(options.client, resolved))

/**
 * The overloads' types follow from whether `client` is given; the implementation needs the context's client only
 * when it is not.
 *
 * @internal
 */
export const make = (
  options: Api.ResilientHttpClient.Options & { readonly client?: HttpClient.HttpClient | undefined }
): Effect.Effect<
  Api.ResilientHttpClient,
  InvalidOptionsError | ResilienceRegistry.DuplicateNameError,
  Scope.Scope | HttpClient.HttpClient
> => Effect.map(makeBuilt(options), (built) => built.client)

/** A typed error as one of `HttpClientError`'s, for code that sees the client as a plain `HttpClient`. */
const toHttpClientError = (
  error: Api.ResilientHttpClientError,
  request: HttpClientRequest.HttpClientRequest
): HttpClientError.HttpClientError => {
  if (HttpClientError.isHttpClientError(error)) return error
  const safe = redactRequest(request)
  const mapped = error instanceof HttpStatusError
    ? new HttpClientError.ResponseError({
      request: safe,
      response: HttpClientResponse.fromWeb(safe, new Response(null, { status: error.status })),
      reason: "StatusCode",
      cause: error,
      description: error.message
    })
    : new HttpClientError.RequestError({ request: safe, reason: "Transport", cause: error, description: error.message })
  const hint = RetryAfter.get(error)
  if (Option.isSome(hint)) Object.defineProperty(mapped, RetryAfter.symbol, { value: hint.value, enumerable: true })
  return mapped
}

/** @internal */
export const layer = (
  options: Api.ResilientHttpClient.Options
): Layer.Layer<
  HttpClient.HttpClient | Api.ResilientHttpClient,
  InvalidOptionsError | ResilienceRegistry.DuplicateNameError,
  HttpClient.HttpClient
> =>
  Layer.scopedContext(
    Effect.map(makeBuilt(options), (built) =>
      Context.make(tag, built.client).pipe(Context.add(HttpClient.HttpClient, built.plain)))
  )

/** @internal */
export const isResilientHttpClient = (u: unknown): u is Api.ResilientHttpClient => Predicate.hasProperty(u, TypeId)

/** @internal */
export const layerConfig = (
  prefix: string
): Layer.Layer<
  HttpClient.HttpClient | Api.ResilientHttpClient,
  ConfigError.ConfigError | InvalidOptionsError | ResilienceRegistry.DuplicateNameError,
  HttpClient.HttpClient
> => Layer.unwrapEffect(Effect.map(config(prefix), layer))
