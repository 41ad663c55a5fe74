/**
 * The ways the payment service can call the gateway: with no policy (naive), through `ResilientHttpClient`
 * (resilient), and, for `--compare`, through cockatiel's stack and through the same stack in plain Effect,
 * configured alike (bulkhead 20 + queue 50, 2 s for the whole call, 3 attempts from 50 ms with jitter capped at
 * 400 ms, 300 ms per attempt, a breaker opening at a 60% failure rate over 40 calls, 20 at least, for 500 ms).
 * Ours also leases its half-open probe for 100 ms and checks the gateway's `/health` every 100 ms while open, which
 * neither cockatiel's breaker nor plain Effect can express.
 *
 * @since 0.1.0
 */
import { Backoff, CircuitBreaker } from "@effect-resilience/core"
import { ResilientHttpClient } from "@effect-resilience/platform"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import {
  BrokenCircuitError,
  bulkhead,
  BulkheadRejectedError,
  circuitBreaker,
  CircuitState,
  CountBreaker,
  ExponentialBackoff,
  handleWhen,
  retry,
  TaskCancelledError,
  timeout,
  TimeoutStrategy,
  wrap
} from "cockatiel"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { setMaxListeners } from "node:events"

/**
 * The stacks the demo can run.
 *
 * @since 0.1.0
 * @category models
 */
export type Name = "naive" | "resilient" | "cockatiel" | "effect"

/**
 * The gateway answered with an error status, or could not be reached.
 *
 * @since 0.1.0
 * @category errors
 */
export class GatewayError extends Data.TaggedError("GatewayError")<{
  /** The HTTP status, or 0 when the request failed before an answer. */
  readonly status: number
}> {}

/**
 * A breaker transition (`at`: Clock millis).
 *
 * @since 0.1.0
 * @category models
 */
export interface Change {
  readonly at: number
  readonly from: string
  readonly to: string
}

/**
 * One way of calling the gateway.
 *
 * @since 0.1.0
 * @category models
 */
export interface Caller {
  readonly name: Name
  /** A label for the report. */
  readonly label: string
  /** Charges one order (the same order may be charged again: the gateway counts its attempts). */
  readonly charge: (order: string) => Effect.Effect<void, unknown>
  /** The breaker's state now, when the stack has one. */
  readonly breakerState: Option.Option<Effect.Effect<string>>
  /** Breaker transitions so far. */
  readonly changes: () => ReadonlyArray<Change>
  /** Closes the breaker (where the stack can) and forgets the transitions: after the warm-up, before the script. */
  readonly reset: Effect.Effect<void>
}

/**
 * The resilient client's options: per attempt 300 ms (the gateway answers in 5-60 ms), 3 attempts, a breaker
 * opening at 60% failures over the last 40 calls, open 500 ms.
 *
 * @since 0.1.0
 * @category constants
 */
export const resilientOptions = {
  name: "gateway",
  deadline: "2 seconds",
  bulkhead: { maxConcurrent: 20, maxQueue: 50, queueTimeout: "500 millis" },
  timeout: "300 millis",
  retry: {
    maxAttempts: 3,
    // An open breaker's hint is at most `openDuration`: waiting for it would hold a bulkhead slot, so fail fast.
    maxRetryAfter: "100 millis",
    schedule: Backoff.fullJitter(Backoff.exponential({ base: "50 millis", cap: "400 millis" })),
    budget: { ratio: 0.5, minPerSecond: 10 }
  },
  circuitBreaker: {
    strategy: CircuitBreaker.countWindow({ size: 40, failureRate: 0.6, minimumCalls: 20 }),
    openDuration: "500 millis",
    // A healthy gateway answers within 60 ms: a probe silent for 100 ms is stuck, and no longer keeps the next call
    // from probing (else a probe sent as the outage ends hangs until its 300 ms timeout, then reopens the breaker
    // after the gateway is back).
    halfOpen: { probeLease: "100 millis" }
  }
} as const

/**
 * The resilient configuration as report lines.
 *
 * @since 0.1.0
 * @category constants
 */
export const resilientConfigLines: ReadonlyArray<string> = [
  "ResilientHttpClient \"gateway\" (POST with an Idempotency-Key, so retries are safe):",
  "  deadline 2 s per payment; bulkhead 20 at once, queue 50, 500 ms queue wait",
  "  timeout 300 ms per attempt (the socket aborted); 3 attempts, 50 ms doubling to 400 ms, full jitter",
  "  retry budget 50% of recent requests + 10/s; retries on 503, timeouts and connection errors",
  "  circuit breaker: opens at >= 60% failures over the last 40 calls (20 at least), open 500 ms, 1 probe",
  "    at a time, its slot leased 100 ms (a stuck probe lets the next call probe); while open, GET /health",
  "    every 100 ms: the first 200 turns it half-open",
  "fallback: a payment the gateway cannot take is accepted as pending into a bounded queue (256), replayed",
  "  through the same client once the breaker lets calls through"
]

const url = (gatewayUrl: string, order: string) => `${gatewayUrl}/charge?order=${order}`

/**
 * No policy: a plain `HttpClient` call.
 *
 * @since 0.1.0
 * @category constructors
 */
export const naive = (gatewayUrl: string): Effect.Effect<Caller, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (http) => ({
    name: "naive",
    label: "naive",
    charge: (order) => answered(http, HttpClientRequest.post(url(gatewayUrl, order))),
    breakerState: Option.none(),
    changes: () => [],
    reset: Effect.void
  }))

/** One request to the gateway: a 200 succeeds (its body read), anything else fails with `GatewayError`. */
const answered = (
  http: HttpClient.HttpClient,
  request: HttpClientRequest.HttpClientRequest
): Effect.Effect<void, GatewayError> =>
  http.execute(request).pipe(
    Effect.flatMap((response) =>
      response.status === 200
        ? Effect.asVoid(response.text)
        : Effect.zipRight(response.text, Effect.fail(new GatewayError({ status: response.status })))
    ),
    Effect.scoped,
    Effect.catchTag("RequestError", "ResponseError", () => Effect.fail(new GatewayError({ status: 0 })))
  )

/** `GET /health` of the gateway at `host`: succeeds on a 200. */
const ping = (http: HttpClient.HttpClient, host: string): Effect.Effect<void, GatewayError> =>
  answered(http, HttpClientRequest.get(`http://${host}/health`))

/**
 * Ours: `ResilientHttpClient` over the `HttpClient` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const resilient = (gatewayUrl: string): Effect.Effect<Caller, never, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    const http = yield* HttpClient.HttpClient
    const client = yield* ResilientHttpClient.make({
      ...resilientOptions,
      circuitBreaker: {
        ...resilientOptions.circuitBreaker,
        // While the breaker is open: the gateway's health endpoint every 100 ms (straight through the plain client),
        // so a recovery is seen within about 100 ms, not up to the open duration (500 ms) later.
        healthCheck: { check: (host) => ping(http, host ?? new URL(gatewayUrl).host), interval: "100 millis" }
      }
    }).pipe(Effect.orDie) // fixed, valid options
    const key = new URL(gatewayUrl).host
    const changes: Array<Change> = []
    if (Option.isSome(client.circuitBreaker)) {
      yield* client.circuitBreaker.value.changes.pipe(
        Stream.runForEach((change) =>
          Effect.sync(() => changes.push({ at: change.at, from: change.from, to: change.to }))
        ),
        Effect.forkScoped
      )
    }
    return {
      name: "resilient",
      label: "resilient (ours)",
      charge: (order) =>
        client.execute(
          HttpClientRequest.post(url(gatewayUrl, order)).pipe(HttpClientRequest.setHeader("Idempotency-Key", order))
        ).pipe(Effect.flatMap((response) => response.text), Effect.scoped, Effect.asVoid),
      breakerState: Option.map(client.circuitBreaker, (breaker) => breaker.state(key)),
      changes: () => changes,
      reset: Effect.gen(function*() {
        if (Option.isSome(client.circuitBreaker)) yield* client.circuitBreaker.value.reset(key)
        yield* Effect.yieldNow()
        changes.length = 0
      })
    }
  })

const cockatielState = (state: CircuitState): string =>
  state === CircuitState.Closed
    ? "Closed"
    : state === CircuitState.Open
    ? "Open"
    : state === CircuitState.HalfOpen
    ? "HalfOpen"
    : "Isolated"

/**
 * cockatiel 3.2.1: `wrap(timeout 2 s, bulkhead(20, 50), retry, circuitBreaker(CountBreaker), timeout 300 ms)`, the
 * same stack as ours (no queue wait limit and no retry budget: cockatiel has neither).
 *
 * @since 0.1.0
 * @category constructors
 */
export const cockatiel = (gatewayUrl: string): Effect.Effect<Caller> =>
  Effect.gen(function*() {
    const changes: Array<Change> = []
    const breaker = circuitBreaker(handleWhen((e) => !(e instanceof BrokenCircuitError)), {
      halfOpenAfter: 500,
      breaker: new CountBreaker({ threshold: 0.6, size: 40, minimumNumberOfCalls: 20 })
    })
    const runtime = yield* Effect.runtime<never>()
    let last = "Closed"
    breaker.onStateChange((state) => {
      const to = cockatielState(state)
      const at = Runtime.runSync(runtime)(Clock.currentTimeMillis)
      changes.push({ at, from: last, to })
      last = to
    })
    const policy = wrap(
      timeout(2_000, TimeoutStrategy.Aggressive),
      bulkhead(20, 50),
      retry(
        handleWhen((e) => !(e instanceof BrokenCircuitError) && !(e instanceof BulkheadRejectedError)),
        { maxAttempts: 2, backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 400 }) }
      ),
      breaker,
      timeout(300, TimeoutStrategy.Aggressive)
    )
    return {
      name: "cockatiel",
      label: "cockatiel 3.2.1",
      charge: (order) =>
        Effect.tryPromise({
          try: (signal) => {
            // Each of cockatiel's five layers listens on the call's signal, retries included: more than Node's 10.
            setMaxListeners(64, signal)
            return policy.execute(async ({ signal }) => {
              const response = await fetch(url(gatewayUrl, order), { method: "POST", signal })
              await response.text()
              if (response.status !== 200) throw new GatewayError({ status: response.status })
            }, signal)
          },
          catch: (e) =>
            e instanceof GatewayError
              ? e
              : e instanceof BrokenCircuitError
              ? { _tag: "CircuitBreakerOpenError" }
              : e instanceof TaskCancelledError
              ? { _tag: "TimeoutError", scope: "attempt" }
              : e instanceof BulkheadRejectedError
              ? { _tag: "BulkheadRejectedError", reason: "QueueFull" }
              : new GatewayError({ status: 0 })
        }),
      breakerState: Option.some(Effect.sync(() => cockatielState(breaker.state))),
      changes: () => changes,
      reset: Effect.sync(() => {
        changes.length = 0
      })
    }
  })

/**
 * The same stack in plain Effect: a semaphore of 20 (its queue unbounded), `Effect.retry` with a jittered
 * exponential schedule capped at 400 ms, `Effect.timeout` per attempt and for the whole call. Effect has no breaker.
 *
 * @since 0.1.0
 * @category constructors
 */
export const plainEffect = (gatewayUrl: string): Effect.Effect<Caller, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const base = yield* naive(gatewayUrl)
    const semaphore = yield* Effect.makeSemaphore(20)
    const schedule = Schedule.exponential("50 millis").pipe(
      Schedule.jittered,
      Schedule.modifyDelay((d) => Duration.min(d, Duration.millis(400))),
      Schedule.intersect(Schedule.recurs(2))
    )
    return {
      name: "effect",
      label: "plain Effect",
      charge: (order) =>
        base.charge(order).pipe(
          Effect.timeoutFail({ duration: "300 millis", onTimeout: () => ({ _tag: "TimeoutError", scope: "attempt" }) }),
          Effect.retry(schedule),
          semaphore.withPermits(1),
          Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => ({ _tag: "TimeoutError", scope: "deadline" }) })
        ),
      breakerState: Option.none(),
      changes: () => [],
      reset: Effect.void
    }
  })
