import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import type * as Scope from "effect/Scope"
import * as AdaptiveThrottle from "../AdaptiveThrottle.js"
import * as Backoff from "../Backoff.js"
import * as Bulkhead from "../Bulkhead.js"
import * as CircuitBreaker from "../CircuitBreaker.js"
import * as Deadline from "../Deadline.js"
import * as Hedge from "../Hedge.js"
import type { InvalidOptionsError } from "../InvalidOptionsError.js"
import * as RateLimiter from "../RateLimiter.js"
import * as ResilienceMetrics from "../ResilienceMetrics.js"
import * as ResilienceRegistry from "../ResilienceRegistry.js"
import type * as ResilientClient from "../ResilientClient.js"
import * as Retry from "../Retry.js"
import * as Timeout from "../Timeout.js"
// The client composes the policies through their public modules. What it takes from internals has no public
// equivalent: the breaker's state read without an Effect (`stopsAtBreaker` runs inside the retry's synchronous
// `while`), a hedge that takes tokens from a budget without recording requests in it (when the retry shares the
// budget and records each call already), the tracing/histogram wrapper every policy shares, the option checks, and
// a retry whose waits end when the client's own breaker opens (its machine's opening signal).
import { openingSignalOf, unsafeStateOf } from "./circuitBreaker.js"
import { hedgeResolved, resolve as resolveHedge } from "./hedge.js"
import { instrument } from "./instrument.js"
import { retryWaking } from "./retry.js"
import { configDuration, configInteger, nestedSync, relabel, validated } from "./validate.js"

/** A nested policy's option error, restated as the client's (`bulkhead.maxConcurrent`). */
const nestedError = (prefix: string) => (error: InvalidOptionsError | ResilienceRegistry.DuplicateNameError) =>
  error._tag === "InvalidOptionsError" ? relabel("ResilientClient.make", prefix)(error) : error

/** @internal */
export const TypeId: ResilientClient.TypeId = Symbol.for(
  "@effect-resilience/core/ResilientClient"
) as ResilientClient.TypeId

/** @internal */
export const defaults: ResilientClient.ResilientClient.Defaults = {
  bulkhead: { maxConcurrent: 10, maxQueue: 100, queueTimeout: "5 seconds" },
  timeout: "2 seconds",
  retry: {
    maxAttempts: 4,
    schedule: Backoff.fullJitter(Backoff.exponential({ base: "100 millis", factor: 2 }))
  },
  circuitBreaker: { strategy: CircuitBreaker.consecutive(5), openDuration: "30 seconds" }
}

/** The longest `RetryAfter` hint a client's retry waits for, unless told otherwise (the call's deadline still bounds it). */
const clientMaxRetryAfter = Duration.seconds(1)

type Reason = ResilientClient.RejectionReason

/** Which rejection a final error is, if any. */
const rejectionOf = (error: unknown): Reason | undefined => {
  // A keyed bulkhead inside the effect with no room for a key: no slot, as with a full queue.
  if (error instanceof Bulkhead.BulkheadRejectedError) {
    return error.reason === "TooManyKeys"
      ? "QueueFull"
      : error.reason
  }
  if (error instanceof CircuitBreaker.CircuitBreakerOpenError) return "CircuitOpen"
  if (error instanceof RateLimiter.RateLimitedError) return "RateLimited"
  if (error instanceof AdaptiveThrottle.AdaptiveThrottleError) return "Throttled"
  return undefined
}

/**
 * Whether the client's retry stops at this failure because of a breaker. An isolated breaker will not come back by
 * itself: never retried. With `onOpenBreaker: "fail"` (the default), neither is a rejection by the client's own
 * breaker, nor any failure once that breaker is open (it opened on this attempt or meanwhile; the next attempt would
 * be turned away after the backoff): the call ends at once, rather than wait behind a dependency known to be down.
 * A call already sleeping its backoff when the breaker opens is woken with the breaker's rejection (`retryWaking`,
 * `openingSignal`).
 */
const stopsAtBreaker = (error: unknown, own: CircuitBreaker.CircuitBreaker | undefined, failFast: boolean): boolean => {
  if (error instanceof CircuitBreaker.CircuitBreakerOpenError) {
    return error.state === "Isolated" || (failFast && own !== undefined && error.breakerName === own.name)
  }
  if (!failFast || own === undefined) return false
  const state = unsafeStateOf(own)
  return state === "Open" || state === "Isolated"
}

/** A rejection by the client's own bulkhead (full queue, queue timeout): the call ends there, never retried. */
const isOwnRejection = (error: unknown, own: Bulkhead.Bulkhead | undefined): boolean =>
  own !== undefined && error instanceof Bulkhead.BulkheadRejectedError && error.bulkheadName === own.name

class Counters {
  succeeded = 0
  failed = 0
  interrupted = 0
  fallbacks = 0
  started = 0
  readonly rejected: Record<Reason, number> = {
    QueueFull: 0,
    QueueTimeout: 0,
    CircuitOpen: 0,
    RateLimited: 0,
    Throttled: 0
  }
}

class ClientImpl implements ResilientClient.ResilientClient<unknown, unknown, unknown, boolean> {
  readonly [TypeId]: ResilientClient.TypeId = TypeId
  readonly counters = new Counters()
  readonly stats: Effect.Effect<ResilientClient.Stats>
  private readonly successCounter: ResilienceMetrics.LocalCounter
  private readonly failureCounter: Metric.Metric.Counter<number>
  private readonly timeoutCounter: Metric.Metric.Counter<number>
  private readonly rejectedCounter: Metric.Metric.Counter<number>
  private readonly onFailure: (
    cause: Cause.Cause<unknown>,
    restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>
  ) => Effect.Effect<unknown, unknown>
  private readonly onSuccess: <A>(a: A) => Effect.Effect<A>

  constructor(
    readonly name: string,
    readonly bulkhead: Option.Option<Bulkhead.Bulkhead>,
    readonly circuitBreaker: Option.Option<CircuitBreaker.CircuitBreaker>,
    readonly rateLimiter: Option.Option<RateLimiter.RateLimiter>,
    /** The whole stack between the counters and the effect, built once. */
    private readonly stack: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, unknown, R>,
    fallback: ((error: unknown) => Effect.Effect<unknown, unknown>) | undefined,
    readonly metrics: boolean
  ) {
    const counters = this.counters
    const calls = ResilienceMetrics.callsTotal.pipe(Metric.tagged("policy", "client"), Metric.tagged("name", name))
    this.successCounter = new ResilienceMetrics.LocalCounter(calls.pipe(Metric.tagged("outcome", "success")))
    this.failureCounter = calls.pipe(Metric.tagged("outcome", "failure"))
    this.timeoutCounter = calls.pipe(Metric.tagged("outcome", "timeout"))
    this.rejectedCounter = calls.pipe(Metric.tagged("outcome", "rejected"))
    if (metrics) ResilienceMetrics.registerCollector(this.successCounter)
    const successCounter = this.successCounter
    this.onSuccess = (a) => {
      counters.succeeded++
      successCounter.count++
      return Effect.succeed(a)
    }
    // Runs however the call ends, interruption included (the caller's region is uninterruptible around it): every
    // call ends in exactly one counter, so `inFlight` is exact.
    this.onFailure = (cause, restore) => {
      const failure = Cause.failureOption(cause)
      if (Option.isNone(failure)) {
        if (Cause.isInterruptedOnly(cause)) counters.interrupted++
        else counters.failed++
        return Effect.failCause(cause)
      }
      const error = failure.value
      const reason = rejectionOf(error)
      if (reason !== undefined) {
        counters.rejected[reason]++
        if (this.metrics) this.rejectedCounter.unsafeUpdate(1, [])
      } else {
        counters.failed++
        if (this.metrics) {
          ;(error instanceof Timeout.TimeoutError ? this.timeoutCounter : this.failureCounter).unsafeUpdate(1, [])
        }
      }
      if (fallback === undefined) return Effect.failCause(cause)
      counters.fallbacks++
      return restore(fallback(error))
    }
    this.stats = Effect.sync(() => {
      const c = this.counters
      return {
        total: c.started,
        succeeded: c.succeeded,
        failed: c.failed,
        rejected: { ...c.rejected },
        fallbacks: c.fallbacks,
        interrupted: c.interrupted,
        inFlight: c.started - c.succeeded - c.failed - c.interrupted - c.rejected.QueueFull - c.rejected.QueueTimeout -
          c.rejected.CircuitOpen - c.rejected.RateLimited - c.rejected.Throttled
      }
    })
  }

  execute<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<unknown, unknown, R> {
    return Effect.uninterruptibleMask((restore) => {
      this.counters.started++
      return Effect.matchCauseEffect(restore(this.stack(effect)), {
        onSuccess: this.onSuccess,
        onFailure: (cause) => this.onFailure(cause, restore)
      })
    })
  }

  status(): Effect.Effect<ResilienceRegistry.EntryStatus> {
    const breakerState: Effect.Effect<string> = Option.match(this.circuitBreaker, {
      onNone: () => Effect.succeed("ok"),
      onSome: (breaker) => breaker.state
    })
    return Effect.map(breakerState, (state) => {
      const c = this.counters
      return {
        healthy: state !== "Open" && state !== "Isolated",
        state: state === "ok" ? "ok" : state,
        details: {
          total: c.started,
          succeeded: c.succeeded,
          failed: c.failed,
          fallbacks: c.fallbacks,
          rejected: c.rejected.QueueFull + c.rejected.QueueTimeout + c.rejected.CircuitOpen + c.rejected.RateLimited +
            c.rejected.Throttled
        }
      }
    })
  }
}

/** @internal */
export const make = (
  options: ResilientClient.ResilientClient.Options<unknown, unknown, unknown>
): Effect.Effect<
  ResilientClient.ResilientClient<unknown, unknown, unknown, boolean>,
  InvalidOptionsError | ResilienceRegistry.DuplicateNameError,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const checked = yield* validated("ResilientClient.make", (v) => {
      v.object("options", options)
      v.optionalFunction("fallback", options.fallback)
      v.optionalBoolean("metrics", options.metrics)
      v.optionalBoolean("tracing", options.tracing)
      v.optionalBoolean("histogram", options.histogram)
      for (const part of ["rateLimiter", "bulkhead", "retry", "circuitBreaker", "hedge", "adaptiveThrottle"] as const) {
        if (options[part] !== undefined) v.object(part, options[part])
      }
      v.optionalFunction("retry.while", options.retry?.while)
      return {
        name: v.nonEmpty("name", options.name),
        timeout: options.timeout === undefined ? undefined : v.duration("timeout", options.timeout, { positive: true }),
        deadline: options.deadline === undefined
          ? undefined
          : v.duration("deadline", options.deadline, { positive: true }),
        hedge: options.hedge === undefined ? undefined : nestedSync("ResilientClient.make", "hedge", () => {
          const hedgeOptions = options.hedge!
          // `Hedge.hedge` checks the options (a bad one is named `hedge.<field>` here) and builds the operator once.
          const operator = Hedge.hedge(hedgeOptions)
          // No extra copies: no operator at all, as `Hedge.hedge` would give back the attempt unchanged.
          if (hedgeOptions.maxHedges === 0) return undefined
          // A budget shared with the retry already counts each call once: the hedge only takes its tokens.
          if (hedgeOptions.budget !== undefined && hedgeOptions.budget === options.retry?.budget) {
            const resolved = { ...resolveHedge(hedgeOptions), recordRequest: false }
            return <A, E, R>(self: Effect.Effect<A, E, R>) => hedgeResolved(self, resolved)
          }
          return operator
        })
      }
    })
    const name = checked.name
    const metrics = options.metrics !== false

    const bulkhead = options.bulkhead === undefined
      ? undefined
      : Bulkhead.isBulkhead(options.bulkhead)
      ? options.bulkhead
      : yield* Effect.mapError(
        Bulkhead.make({ metrics, ...options.bulkhead, name }),
        nestedError("bulkhead")
      )
    const breakerOptions =
      options.circuitBreaker === undefined || CircuitBreaker.isCircuitBreaker(options.circuitBreaker)
        ? undefined
        : options.circuitBreaker
    // The attempts' own classifier, typed by the calls (`circuitBreaker.classify`), passed to the breaker per attempt.
    const classify = breakerOptions === undefined ? undefined : yield* validated(
      "ResilientClient.make",
      (v) => v.optionalFunction("circuitBreaker.classify", breakerOptions.classify ?? undefined)
    )
    const perAttempt = classify === undefined ? undefined : { classify }
    const breaker = options.circuitBreaker === undefined
      ? undefined
      : CircuitBreaker.isCircuitBreaker(options.circuitBreaker)
      ? options.circuitBreaker
      : yield* Effect.mapError(CircuitBreaker.make({ ...options.circuitBreaker, name }), nestedError("circuitBreaker"))
    const limiter = options.rateLimiter === undefined
      ? undefined
      : RateLimiter.isRateLimiter(options.rateLimiter)
      ? options.rateLimiter
      : yield* Effect.mapError(
        RateLimiter.make({ metrics, ...options.rateLimiter, name }),
        nestedError("rateLimiter")
      )

    const throttle = options.adaptiveThrottle === undefined
      ? undefined
      : AdaptiveThrottle.isAdaptiveThrottle(options.adaptiveThrottle)
      ? options.adaptiveThrottle
      : yield* Effect.mapError(
        AdaptiveThrottle.make({ metrics, ...options.adaptiveThrottle, name }),
        nestedError("adaptiveThrottle")
      )

    // Per attempt, innermost first: timeout, hedge, breaker, throttle. The operators are built once, here; an
    // infinite limit adds none.
    const timeout = checked.timeout !== undefined && Duration.isFinite(checked.timeout)
      ? Timeout.timeout(checked.timeout)
      : undefined
    const hedge = checked.hedge
    const attempt = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, unknown, R> => {
      let e: Effect.Effect<A, unknown, R> = effect
      if (timeout !== undefined) e = timeout(e)
      if (hedge !== undefined) e = hedge(e)
      if (breaker !== undefined) e = breaker.execute(e, perAttempt)
      if (throttle !== undefined) e = throttle.execute(e)
      return e
    }

    // Around the attempts, innermost first: bulkhead (per attempt), retry, rate limiter, deadline.
    const retryOptions = options.retry
    const userWhile = retryOptions?.while
    const failFast = yield* validated("ResilientClient.make", (v) => {
      const onOpenBreaker = retryOptions?.onOpenBreaker
      if (onOpenBreaker !== undefined && onOpenBreaker !== "fail" && onOpenBreaker !== "wait") {
        v.fail("retry.onOpenBreaker", onOpenBreaker, "\"fail\" or \"wait\"")
      }
      return onOpenBreaker !== "wait"
    })
    const retry: Retry.Retry.Options<unknown> | undefined = retryOptions === undefined
      ? undefined
      : {
        ...retryOptions,
        name: retryOptions.name ?? name,
        maxRetryAfter: retryOptions.maxRetryAfter ?? clientMaxRetryAfter,
        while: (error) =>
          !stopsAtBreaker(error, breaker, failFast) && !(error instanceof AdaptiveThrottle.AdaptiveThrottleError) &&
          !isOwnRejection(error, bulkhead) && (userWhile === undefined || userWhile(error))
      }
    const deadline = checked.deadline !== undefined && Duration.isFinite(checked.deadline)
      ? Deadline.within(checked.deadline)
      : undefined
    // Fail-fast also wakes the calls sleeping between attempts when the client's own breaker opens (or is isolated):
    // each ends at once with the breaker's rejection, the one its next attempt would meet after the backoff, rather
    // than sleep it out. The signal is raced only during such a wait, never on a first attempt.
    const wake: Effect.Effect<never, unknown> | undefined = failFast && breaker !== undefined
      ? openingSignalOf(breaker)
      : undefined
    // Prepared once (options checked here, so a bad option fails `make`); costs one `catchAllCause` per call until
    // the first failure.
    const retried = retry === undefined
      ? undefined
      : yield* validated(
        "ResilientClient.make",
        // without a wake, `retryWaking` is `Retry.retry`
        () => nestedSync("ResilientClient.make", "retry", () => retryWaking(retry, wake))
      )
    const instrumented = options.tracing === true || options.histogram === true
      ? instrument({ policy: "client", name, tracing: options.tracing, histogram: options.histogram })
      : undefined
    // The bulkhead holds a slot per attempt, not per call: a retry's wait (its backoff, a `RetryAfter` hint, an open
    // breaker with `onOpenBreaker: "wait"`) holds none, so calls waiting to retry neither block new calls nor fill
    // the queue; the attempt after the wait queues for a slot again.
    const stack = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, unknown, R> => {
      let e = attempt(effect)
      if (bulkhead !== undefined) e = bulkhead.execute(e)
      if (retried !== undefined) e = retried(e)
      if (limiter !== undefined) e = limiter.execute(e)
      if (deadline !== undefined) e = deadline(e)
      if (instrumented !== undefined) e = instrumented(e)
      return e
    }

    const client = new ClientImpl(
      name,
      Option.fromNullable(bulkhead),
      Option.fromNullable(breaker),
      Option.fromNullable(limiter),
      stack,
      options.fallback,
      metrics
    )
    yield* ResilienceRegistry.register({ kind: "client", name, status: client.status() })
    return client
  })

/** @internal */
export const layer = <I, E, B, EB, F extends boolean>(
  tag: Context.Tag<I, ResilientClient.ResilientClient<E, B, EB, F>>,
  options: ResilientClient.ResilientClient.Options<E, B, EB>
): Layer.Layer<I, InvalidOptionsError | ResilienceRegistry.DuplicateNameError> =>
  // The client's types follow from its tag and options (see `layer`'s overloads); the implementation is typed
  // loosely: its callbacks receive what the typed options promise, the failures of the calls and of the client.
  Layer.scoped(
    tag,
    make(options as ResilientClient.ResilientClient.Options<unknown, unknown, unknown>) as Effect.Effect<
      ResilientClient.ResilientClient<E, B, EB, F>,
      InvalidOptionsError | ResilienceRegistry.DuplicateNameError,
      Scope.Scope
    >
  )

const key = (prefix: string, path: string) => `${prefix}_${path}`

/** @internal */
export const config = (
  prefix: string
): Config.Config<ResilientClient.ResilientClient.Options<unknown, never, never>> => {
  const int = (path: string, min: number) => Config.option(configInteger(key(prefix, path), { min }))
  const duration = (path: string, positive = false) => Config.option(configDuration(key(prefix, path), { positive }))
  const get = <A>(o: Option.Option<A>, fallback: A): A => Option.getOrElse(o, () => fallback)
  return Config.all({
    timeout: duration("TIMEOUT", true),
    deadline: duration("DEADLINE", true),
    retryMaxAttempts: int("RETRY_MAX_ATTEMPTS", 1),
    retryBaseDelay: duration("RETRY_BASE_DELAY"),
    retryMaxDelay: duration("RETRY_MAX_DELAY"),
    retryMaxDelayText: Config.option(Config.string(key(prefix, "RETRY_MAX_DELAY"))),
    retryMaxRetryAfter: duration("RETRY_MAX_RETRY_AFTER"),
    bulkheadMaxConcurrent: int("BULKHEAD_MAX_CONCURRENT", 1),
    bulkheadMaxQueue: int("BULKHEAD_MAX_QUEUE", 0),
    bulkheadQueueTimeout: duration("BULKHEAD_QUEUE_TIMEOUT"),
    bulkheadCodelTarget: duration("BULKHEAD_CODEL_TARGET", true),
    bulkheadCodelInterval: duration("BULKHEAD_CODEL_INTERVAL", true),
    breakerFailures: int("CIRCUIT_BREAKER_CONSECUTIVE_FAILURES", 1),
    breakerOpenDuration: duration("CIRCUIT_BREAKER_OPEN_DURATION"),
    limiterLimit: int("RATE_LIMITER_LIMIT", 1),
    limiterInterval: duration("RATE_LIMITER_INTERVAL", true),
    hedgeDelay: duration("HEDGE_DELAY"),
    hedgeMaxHedges: int("HEDGE_MAX_HEDGES", 0)
  }).pipe(
    Config.mapOrFail(
      (c): Either.Either<ResilientClient.ResilientClient.Options<unknown, never, never>, ConfigError.ConfigError> => {
        const base = get(c.retryBaseDelay, Duration.millis(100))
        if (Option.isSome(c.retryMaxDelay) && Duration.lessThan(c.retryMaxDelay.value, base)) {
          return Either.left(
            ConfigError.InvalidData(
              [key(prefix, "RETRY_MAX_DELAY")],
              `Expected a duration >= the base delay (${Duration.format(base)}) but received ${
                JSON.stringify(Option.getOrElse(c.retryMaxDelayText, () => ""))
              }`
            )
          )
        }
        const exponential = Backoff.exponential(
          Option.isSome(c.retryMaxDelay) ? { base, cap: c.retryMaxDelay.value } : { base }
        )
        const schedule = Option.isNone(c.retryBaseDelay) && Option.isNone(c.retryMaxDelay)
          ? defaults.retry.schedule
          : Backoff.fullJitter(exponential)
        return Either.right({
          name: prefix.toLowerCase(),
          timeout: get(c.timeout, Duration.decode(defaults.timeout)),
          ...(Option.isSome(c.deadline) ? { deadline: c.deadline.value } : {}),
          retry: {
            maxAttempts: get(c.retryMaxAttempts, defaults.retry.maxAttempts),
            schedule,
            ...(Option.isSome(c.retryMaxRetryAfter) ? { maxRetryAfter: c.retryMaxRetryAfter.value } : {})
          },
          bulkhead: {
            maxConcurrent: get(c.bulkheadMaxConcurrent, defaults.bulkhead.maxConcurrent),
            maxQueue: get(c.bulkheadMaxQueue, defaults.bulkhead.maxQueue),
            queueTimeout: get(c.bulkheadQueueTimeout, Duration.decode(defaults.bulkhead.queueTimeout)),
            // either key turns CoDel on; the other keeps its default
            ...(Option.isSome(c.bulkheadCodelTarget) || Option.isSome(c.bulkheadCodelInterval)
              ? {
                codel: {
                  ...(Option.isSome(c.bulkheadCodelTarget) ? { target: c.bulkheadCodelTarget.value } : {}),
                  ...(Option.isSome(c.bulkheadCodelInterval) ? { interval: c.bulkheadCodelInterval.value } : {})
                }
              }
              : {})
          },
          circuitBreaker: {
            strategy: Option.isSome(c.breakerFailures)
              ? CircuitBreaker.consecutive(c.breakerFailures.value)
              : defaults.circuitBreaker.strategy,
            openDuration: get(c.breakerOpenDuration, Duration.decode(defaults.circuitBreaker.openDuration))
          },
          ...(Option.isSome(c.limiterLimit) || Option.isSome(c.limiterInterval)
            ? {
              rateLimiter: {
                limit: get(c.limiterLimit, 100),
                interval: get(c.limiterInterval, Duration.seconds(1))
              }
            }
            : {}),
          ...(Option.isSome(c.hedgeDelay)
            ? { hedge: { delay: c.hedgeDelay.value, maxHedges: get(c.hedgeMaxHedges, 1) } }
            : {})
        })
      }
    )
  )
}

/** @internal */
export const layerConfig = <I, E = unknown>(
  tag: Context.Tag<I, ResilientClient.ResilientClient<E>>,
  prefix: string
): Layer.Layer<I, ConfigError.ConfigError | InvalidOptionsError | ResilienceRegistry.DuplicateNameError> =>
  Layer.scoped(
    tag,
    Effect.flatMap(
      config(prefix),
      (options) =>
        make(options) as Effect.Effect<
          ResilientClient.ResilientClient<E>,
          InvalidOptionsError | ResilienceRegistry.DuplicateNameError,
          Scope.Scope
        >
    )
  )

/** @internal */
export const isResilientClient = (u: unknown): u is ResilientClient.ResilientClient => Predicate.hasProperty(u, TypeId)
