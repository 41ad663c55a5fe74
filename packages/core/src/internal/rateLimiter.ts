import * as Experimental from "@effect/experimental/RateLimiter"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import type * as Scope from "effect/Scope"
import type { InvalidOptionsError } from "../InvalidOptionsError.js"
import type * as RateLimiter from "../RateLimiter.js"
import * as ResilienceMetrics from "../ResilienceMetrics.js"
import * as ResilienceRegistry from "../ResilienceRegistry.js"
import * as RetryAfter from "../RetryAfter.js"
import { unsafeRemainingMillis } from "./deadline.js"
import { instrument } from "./instrument.js"
import { defaultMaxKeys, makeStore } from "./rateLimiterStore.js"
import { validated } from "./validate.js"

/** @internal */
export const TypeId: RateLimiter.TypeId = Symbol.for("@effect-resilience/core/RateLimiter") as RateLimiter.TypeId

/** @internal */
export const KeyedTypeId: RateLimiter.KeyedTypeId = Symbol.for(
  "@effect-resilience/core/RateLimiter/Keyed"
) as RateLimiter.KeyedTypeId

/** @internal */
export class RateLimitedError extends Data.TaggedError("RateLimitedError")<{
  readonly limiterName: string
  readonly retryAfter: Duration.Duration
}> {
  get [RetryAfter.symbol](): Duration.Duration {
    return this.retryAfter
  }
  override get message(): string {
    return `rate limiter ${JSON.stringify(this.limiterName)} rejected the call; retry after ${
      Duration.format(this.retryAfter)
    }`
  }
}

interface Resolved {
  readonly name: string
  readonly limit: number
  readonly interval: Duration.Duration
  readonly algorithm: "fixed-window" | "token-bucket"
  readonly onLimit: "wait" | "fail"
  readonly maxWaitMillis: number
  readonly maxKeys: number
  readonly keyToString: ((key: never) => string) | undefined
  readonly metrics: boolean
  readonly tracing: boolean
  readonly histogram: boolean
}

/**
 * The memory store the limiter uses when no `@effect/experimental` `RateLimiter` service is provided: bounded, so
 * keys from request data cannot grow it without limit.
 */
const makeLocal = (maxKeys: number): Effect.Effect<Experimental.RateLimiter> =>
  Effect.provideService(Experimental.make, Experimental.RateLimiterStore, makeStore(maxKeys))

const resolveOptions = (
  constructorName: string,
  options: RateLimiter.RateLimiter.Options & {
    readonly maxKeys?: number | undefined
    readonly keyToString?: ((key: never) => string) | undefined
  }
) =>
  validated(constructorName, (v): Resolved => {
    v.object("options", options)
    const algorithm = options.algorithm ?? "fixed-window"
    if (algorithm !== "fixed-window" && algorithm !== "token-bucket") {
      v.fail("algorithm", algorithm, "\"fixed-window\" or \"token-bucket\"")
    }
    const onLimit = options.onLimit ?? "fail"
    if (onLimit !== "wait" && onLimit !== "fail") v.fail("onLimit", onLimit, "\"wait\" or \"fail\"")
    const maxWait = options.maxWait === undefined ? Duration.infinity : v.duration("maxWait", options.maxWait)
    return {
      name: v.nonEmpty("name", options.name),
      limit: v.int("limit", options.limit, 1),
      interval: v.duration("interval", options.interval, { positive: true, finite: true }),
      algorithm,
      onLimit,
      maxWaitMillis: Duration.isFinite(maxWait) ? Duration.toMillis(maxWait) : Infinity,
      maxKeys: options.maxKeys === undefined ? defaultMaxKeys : v.int("maxKeys", options.maxKeys, 1),
      keyToString: v.optionalFunction("keyToString", options.keyToString),
      metrics: v.optionalBoolean("metrics", options.metrics) ?? true,
      tracing: v.optionalBoolean("tracing", options.tracing) ?? false,
      histogram: v.optionalBoolean("histogram", options.histogram) ?? false
    }
  })

/** The policy over one limiter service: shared by `make` and `keyed`. */
class Core {
  admitted = 0
  delayed = 0
  rejected = 0
  readonly rejectedCounter: Metric.Metric.Counter<number>
  readonly rejectedCalls: Metric.Metric.Counter<number>
  readonly storeErrors: Metric.Metric.Counter<number>
  readonly admittedCounter: ResilienceMetrics.LocalCounter
  readonly consumeOptions: Parameters<Experimental.RateLimiter["consume"]>[0]
  /** Gives back a slot reserved by a call that will not run (too long a wait, or interrupted while waiting). */
  readonly release: (key: string) => Effect.Effect<void>

  constructor(readonly options: Resolved, readonly limiter: Experimental.RateLimiter, readonly metrics: boolean) {
    this.rejectedCounter = ResilienceMetrics.rateLimiterRejectedTotal.pipe(Metric.tagged("name", options.name))
    const calls = ResilienceMetrics.callsTotal.pipe(
      Metric.tagged("policy", "rate_limiter"),
      Metric.tagged("name", options.name)
    )
    this.rejectedCalls = calls.pipe(Metric.tagged("outcome", "rejected"))
    this.admittedCounter = new ResilienceMetrics.LocalCounter(calls.pipe(Metric.tagged("outcome", "success")))
    this.storeErrors = ResilienceMetrics.storeErrorsTotal.pipe(Metric.tagged("store", "rate_limiter"))
    if (metrics) ResilienceMetrics.registerCollector(this.admittedCounter)
    this.consumeOptions = {
      key: "",
      limit: options.limit,
      window: options.interval,
      algorithm: options.algorithm,
      onExceeded: options.onLimit === "wait" ? "delay" : "fail"
    }
    // Taking -1 token undoes a reservation in every store (@effect/experimental's memory and Redis scripts, ours):
    // the count and its time to live go back by one slot. A failure here (e.g. the key has expired meanwhile)
    // leaves nothing to give back.
    this.release = (key) =>
      Effect.ignore(limiter.consume({ ...this.consumeOptions, key, onExceeded: "delay", tokens: -1 }))
  }

  reject(retryAfter: Duration.Duration): RateLimitedError {
    this.rejected++
    if (this.metrics) {
      this.rejectedCounter.unsafeUpdate(1, [])
      this.rejectedCalls.unsafeUpdate(1, [])
    }
    return new RateLimitedError({ limiterName: this.options.name, retryAfter })
  }

  admit(): void {
    this.admitted++
    this.admittedCounter.count++
  }

  execute<A, E, R>(key: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | RateLimitedError, R> {
    const o = this.options
    return Effect.matchEffect(
      this.limiter.consume({ ...this.consumeOptions, key }),
      {
        onFailure: (error): Effect.Effect<A, E | RateLimitedError, R> => {
          if (error.reason === "Exceeded") return Effect.fail(this.reject(error.retryAfter))
          // The store is unreachable (e.g. Redis): let the call through rather than fail every call, and say so.
          if (this.metrics) this.storeErrors.unsafeUpdate(1, [])
          this.admit()
          return effect
        },
        onSuccess: ({ delay }) => {
          if (Duration.isZero(delay)) {
            this.admit()
            return effect
          }
          return Effect.withFiberRuntime<A, E | RateLimitedError, R>((fiber) => {
            const delayMillis = Duration.toMillis(delay)
            const left = unsafeRemainingMillis(fiber)
            // A wait longer than maxWait, or than what is left of the deadline, fails at once, and gives its slot
            // back: a burst of rejected calls must not push every later slot away.
            if (delayMillis > o.maxWaitMillis || (left !== undefined && delayMillis > left)) {
              return Effect.zipRight(this.release(key), Effect.fail(this.reject(delay)))
            }
            return Effect.zipRight(
              Effect.onInterrupt(Effect.sleep(delay), () => this.release(key)),
              Effect.suspend(() => {
                this.delayed++
                this.admit()
                return effect
              })
            )
          })
        }
      }
    )
  }

  get stats(): Effect.Effect<RateLimiter.RateLimiterStats> {
    return Effect.sync(() => ({ admitted: this.admitted, delayed: this.delayed, rejected: this.rejected }))
  }

  status(): Effect.Effect<ResilienceRegistry.EntryStatus> {
    return Effect.sync(() => ({
      healthy: true,
      state: "ok",
      details: { admitted: this.admitted, delayed: this.delayed, rejected: this.rejected, limit: this.options.limit }
    }))
  }
}

const limiterService = (maxKeys: number): Effect.Effect<Experimental.RateLimiter> =>
  Effect.flatMap(
    Effect.serviceOption(Experimental.RateLimiter),
    Option.match({ onNone: () => makeLocal(maxKeys), onSome: Effect.succeed })
  )

class LimiterImpl implements RateLimiter.RateLimiter {
  readonly [TypeId]: RateLimiter.TypeId = TypeId
  readonly name: string
  readonly stats: Effect.Effect<RateLimiter.RateLimiterStats>
  constructor(
    readonly core: Core,
    readonly instrumented: (<A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>) | undefined
  ) {
    this.name = core.options.name
    this.stats = core.stats
  }
  execute<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | RateLimitedError, R> {
    const limited = this.core.execute(this.name, effect)
    return this.instrumented === undefined ? limited : this.instrumented(limited)
  }
}

const instrumentedIfAsked = (name: string, options: RateLimiter.RateLimiter.Options) =>
  options.tracing === true || options.histogram === true
    ? instrument({ policy: "rate_limiter", name, tracing: options.tracing, histogram: options.histogram })
    : undefined

/** @internal */
export const make = (
  options: RateLimiter.RateLimiter.Options
): Effect.Effect<RateLimiter.RateLimiter, InvalidOptionsError | ResilienceRegistry.DuplicateNameError, Scope.Scope> =>
  Effect.gen(function*() {
    const resolved = yield* resolveOptions("RateLimiter.make", options)
    const core = new Core(resolved, yield* limiterService(resolved.maxKeys), options.metrics !== false)
    yield* ResilienceRegistry.register({ kind: "rate_limiter", name: resolved.name, status: core.status() })
    return new LimiterImpl(core, instrumentedIfAsked(resolved.name, options))
  })

class KeyedImpl<K> implements RateLimiter.KeyedRateLimiter<K> {
  readonly [KeyedTypeId]: RateLimiter.KeyedTypeId = KeyedTypeId
  readonly name: string
  readonly stats: Effect.Effect<RateLimiter.RateLimiterStats>
  constructor(readonly core: Core, readonly keyOf: (key: K) => string) {
    this.name = core.options.name
    this.stats = core.stats
  }
  execute<A, E, R>(key: K, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | RateLimitedError, R> {
    let storeKey: string
    try {
      storeKey = `${this.name}:${this.keyOf(key)}`
    } catch (error) {
      // A throwing keyToString is that call's defect, not a throw out of `execute`.
      return Effect.die(error)
    }
    return this.core.execute(storeKey, effect)
  }
}

/** @internal */
export const keyed = <K = string>(
  options: RateLimiter.RateLimiter.KeyedOptions<K>
): Effect.Effect<
  RateLimiter.KeyedRateLimiter<K>,
  InvalidOptionsError | ResilienceRegistry.DuplicateNameError,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const resolved = yield* resolveOptions("RateLimiter.keyed", options)
    const core = new Core(resolved, yield* limiterService(resolved.maxKeys), options.metrics !== false)
    yield* ResilienceRegistry.register({ kind: "rate_limiter", name: resolved.name, status: core.status() })
    return new KeyedImpl<K>(core, options.keyToString ?? String)
  })

/** @internal */
export const withRateLimiter = dual<
  (
    limiter: RateLimiter.RateLimiter
  ) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | RateLimitedError, R>,
  <A, E, R>(self: Effect.Effect<A, E, R>, limiter: RateLimiter.RateLimiter) => Effect.Effect<A, E | RateLimitedError, R>
>(2, (self, limiter) => limiter.execute(self))

/** @internal */
export const layerStoreMemory = (
  options?: { readonly maxKeys?: number | undefined }
): Layer.Layer<Experimental.RateLimiterStore, InvalidOptionsError> =>
  Layer.effect(
    Experimental.RateLimiterStore,
    Effect.map(
      validated("RateLimiter.layerStoreMemory", (v) => {
        if (options !== undefined) v.object("options", options)
        return options?.maxKeys === undefined ? defaultMaxKeys : v.int("maxKeys", options.maxKeys, 1)
      }),
      makeStore
    )
  )

/** @internal */
export const isRateLimiter = (u: unknown): u is RateLimiter.RateLimiter => Predicate.hasProperty(u, TypeId)
