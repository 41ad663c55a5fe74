import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Metric from "effect/Metric"
import * as Predicate from "effect/Predicate"
import * as Random from "effect/Random"
import type * as Scope from "effect/Scope"
import type * as AdaptiveThrottle from "../AdaptiveThrottle.js"
import type { InvalidOptionsError } from "../InvalidOptionsError.js"
import * as ResilienceMetrics from "../ResilienceMetrics.js"
import * as ResilienceRegistry from "../ResilienceRegistry.js"
import * as RetryAfter from "../RetryAfter.js"
import { clockOf } from "./timer.js"
import { validated } from "./validate.js"

/** @internal */
export const TypeId: AdaptiveThrottle.TypeId = Symbol.for(
  "@effect-resilience/core/AdaptiveThrottle"
) as AdaptiveThrottle.TypeId

/** @internal */
export class AdaptiveThrottleError extends Data.TaggedError("AdaptiveThrottleError")<{
  readonly throttleName: string
  /** The rejection probability when the call was turned away. */
  readonly probability: number
  readonly retryAfter: Duration.Duration
}> {
  get [RetryAfter.symbol](): Duration.Duration {
    return this.retryAfter
  }
  override get message(): string {
    return `adaptive throttle ${JSON.stringify(this.throttleName)} rejected the call locally (p = ${
      this.probability.toFixed(3)
    }); retry after ${Duration.format(this.retryAfter)}`
  }
}

/**
 * The SRE rule: the probability of rejecting a request locally, given the requests and the accepts of the window.
 *
 * @internal
 */
export const rejectionProbability = (requests: number, accepts: number, k: number): number =>
  Math.max(0, (requests - k * accepts) / (requests + 1))

/**
 * Refusals by a policy of this process (a breaker, a bulkhead, a rate limiter, another throttle) inside the
 * throttle: the request never reached the backend, so it counts as nothing.
 */
const localRejections = new Set([
  "CircuitBreakerOpenError",
  "BulkheadRejectedError",
  "RateLimitedError",
  "AdaptiveThrottleError"
])

const isLocalRejection = (cause: Cause.Cause<unknown>): boolean => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "None" || !Predicate.hasProperty(failure.value, "_tag")) return false
  const tag = failure.value._tag
  return typeof tag === "string" && localRejections.has(tag)
}

/** The window: `buckets` buckets aligned to the clock, totals kept up to date as buckets are forgotten. */
class Window {
  private readonly requests: Float64Array
  private readonly accepts: Float64Array
  /** The bucket (clock millis / bucket width) of the newest slot. */
  private epoch = Number.NEGATIVE_INFINITY
  totalRequests = 0
  totalAccepts = 0

  constructor(readonly buckets: number, readonly bucketMillis: number) {
    this.requests = new Float64Array(buckets)
    this.accepts = new Float64Array(buckets)
  }

  /** Moves the window to `now`, forgetting the buckets that left it; returns the current slot. */
  advance(now: number): number {
    const epoch = Math.floor(now / this.bucketMillis)
    if (epoch > this.epoch) {
      if (epoch - this.epoch >= this.buckets) {
        this.requests.fill(0)
        this.accepts.fill(0)
        this.totalRequests = 0
        this.totalAccepts = 0
      } else {
        for (let e = this.epoch + 1; e <= epoch; e++) {
          const slot = e % this.buckets
          this.totalRequests -= this.requests[slot]!
          this.totalAccepts -= this.accepts[slot]!
          this.requests[slot] = 0
          this.accepts[slot] = 0
        }
      }
      this.epoch = epoch
    }
    return ((epoch % this.buckets) + this.buckets) % this.buckets
  }

  record(now: number, accepted: boolean): void {
    const slot = this.advance(now)
    this.requests[slot]!++
    this.totalRequests++
    if (accepted) {
      this.accepts[slot]!++
      this.totalAccepts++
    }
  }

  /** Time until the oldest bucket leaves the window (when the probability may fall without new outcomes). */
  untilNextBucket(now: number): number {
    return this.bucketMillis - (now % this.bucketMillis)
  }
}

class ThrottleImpl implements AdaptiveThrottle.AdaptiveThrottle {
  readonly [TypeId]: AdaptiveThrottle.TypeId = TypeId
  rejected = 0
  private readonly rejectedCounter: Metric.Metric.Counter<number>

  constructor(
    readonly name: string,
    readonly k: number,
    readonly window: Window,
    readonly isAccepted: (cause: Cause.Cause<unknown>) => boolean,
    readonly metrics: boolean
  ) {
    this.rejectedCounter = ResilienceMetrics.adaptiveThrottleRejectedTotal.pipe(Metric.tagged("name", name))
  }

  get stats(): Effect.Effect<AdaptiveThrottle.Stats> {
    return Effect.withFiberRuntime((fiber) => {
      this.window.advance(clockOf(fiber).unsafeCurrentTimeMillis())
      const { totalAccepts: accepts, totalRequests: requests } = this.window
      return Effect.succeed({
        requests,
        accepts,
        rejected: this.rejected,
        probability: rejectionProbability(requests, accepts, this.k)
      })
    })
  }

  private reject(now: number, probability: number): AdaptiveThrottleError {
    this.rejected++
    // A request turned away locally is still a request the application made (the SRE rule counts it).
    this.window.record(now, false)
    if (this.metrics) this.rejectedCounter.unsafeUpdate(1, [])
    return new AdaptiveThrottleError({
      throttleName: this.name,
      probability,
      retryAfter: Duration.millis(this.window.untilNextBucket(now))
    })
  }

  execute<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | AdaptiveThrottleError, R> {
    return Effect.withFiberRuntime<A, E | AdaptiveThrottleError, R>((fiber) => {
      const clock = clockOf(fiber)
      const now = clock.unsafeCurrentTimeMillis()
      this.window.advance(now)
      const p = rejectionProbability(this.window.totalRequests, this.window.totalAccepts, this.k)
      const run = this.recorded(effect, clock)
      if (p === 0) return run
      return Effect.flatMap(
        Random.next,
        (r): Effect.Effect<A, E | AdaptiveThrottleError, R> => r < p ? Effect.fail(this.reject(now, p)) : run
      )
    })
  }

  /** Runs `effect` and counts its outcome when it ends (an interrupted call counts as nothing). */
  private recorded<A, E, R>(
    effect: Effect.Effect<A, E, R>,
    clock: { readonly unsafeCurrentTimeMillis: () => number }
  ): Effect.Effect<A, E, R> {
    return Effect.onExit(effect, (exit) =>
      Effect.sync(() => {
        if (exit._tag === "Success") this.window.record(clock.unsafeCurrentTimeMillis(), true)
        else if (!Cause.isInterruptedOnly(exit.cause) && !isLocalRejection(exit.cause)) {
          this.window.record(clock.unsafeCurrentTimeMillis(), this.isAccepted(exit.cause))
        }
      }))
  }
}

/** @internal */
export const make = (
  options: AdaptiveThrottle.AdaptiveThrottle.Options
): Effect.Effect<
  AdaptiveThrottle.AdaptiveThrottle,
  InvalidOptionsError | ResilienceRegistry.DuplicateNameError,
  Scope.Scope
> =>
  Effect.flatMap(
    validated("AdaptiveThrottle.make", (v) => {
      v.object("options", options)
      v.optionalBoolean("metrics", options.metrics)
      const window = Duration.toMillis(
        v.duration("window", options.window ?? "2 minutes", { positive: true, finite: true })
      )
      const buckets = v.int("buckets", options.buckets ?? 10, 1, 1_000)
      return {
        name: v.nonEmpty("name", options.name),
        k: v.number("k", options.k ?? 2, { min: 1 }),
        window,
        buckets,
        isFailure: v.optionalFunction("isFailure", options.isFailure)
      }
    }),
    (resolved) => {
      const isFailure = resolved.isFailure
      // By default every typed failure is a request the backend did not accept; defects are too.
      const isAccepted = isFailure === undefined ? () => false : (cause: Cause.Cause<unknown>) => {
        const failure = Cause.failureOption(cause)
        return failure._tag === "Some" && !isFailure(failure.value)
      }
      const impl = new ThrottleImpl(
        resolved.name,
        resolved.k,
        new Window(resolved.buckets, resolved.window / resolved.buckets),
        isAccepted,
        options.metrics !== false
      )
      return Effect.as(
        ResilienceRegistry.register({
          kind: "adaptive_throttle",
          name: resolved.name,
          status: Effect.map(impl.stats, (stats) => ({
            healthy: true,
            state: stats.probability > 0 ? "throttling" : "ok",
            details: { ...stats }
          }))
        }),
        impl
      )
    }
  )

/** @internal */
export const withThrottle = dual<
  (
    throttle: AdaptiveThrottle.AdaptiveThrottle
  ) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | AdaptiveThrottleError, R>,
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    throttle: AdaptiveThrottle.AdaptiveThrottle
  ) => Effect.Effect<A, E | AdaptiveThrottleError, R>
>(2, (self, throttle) => throttle.execute(self))

/** @internal */
export const isAdaptiveThrottle = (u: unknown): u is AdaptiveThrottle.AdaptiveThrottle =>
  Predicate.hasProperty(u, TypeId)
