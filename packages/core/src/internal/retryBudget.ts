import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Predicate from "effect/Predicate"
import type * as Scope from "effect/Scope"
import type { InvalidOptionsError } from "../InvalidOptionsError.js"
import * as ResilienceMetrics from "../ResilienceMetrics.js"
import type { DuplicateNameError } from "../ResilienceRegistry.js"
import * as ResilienceRegistry from "../ResilienceRegistry.js"
import type * as RetryBudget from "../RetryBudget.js"
import { validated } from "./validate.js"

/** @internal */
export const TypeId: RetryBudget.TypeId = Symbol.for("@effect-resilience/core/RetryBudget") as RetryBudget.TypeId

/** @internal */
export const isRetryBudget = (u: unknown): u is RetryBudget.RetryBudget => Predicate.hasProperty(u, TypeId)

/** How many buckets the window is cut into. */
const BUCKETS = 10

/** Slack for floating-point sums: `0.29 * 100` is 28.999999999999996 and must still buy 29 tokens. */
const EPSILON = 1e-9

class RetryBudgetImpl implements RetryBudget.RetryBudget {
  readonly [TypeId]: RetryBudget.TypeId = TypeId
  private readonly bucketMillis: number
  private readonly reserve: number
  /** Original requests per bucket (fractional: see `rotate`). */
  private readonly requests = new Float64Array(BUCKETS)
  /** Retry tokens taken per bucket. */
  private readonly retries = new Float64Array(BUCKETS)
  /** Absolute index (`floor(now / bucketMillis)`) of the newest bucket. */
  private head: number
  /** Requests recorded since the last rotation: the only state the hot path touches. */
  private pending = 0
  private exhausted = 0
  private readonly exhaustedMetric: Metric.Metric.Counter<number>

  readonly recordRequest: Effect.Effect<void>
  readonly tryAcquire: Effect.Effect<boolean>
  readonly stats: Effect.Effect<RetryBudget.Stats>

  constructor(
    readonly name: string,
    readonly ratio: number,
    readonly minPerSecond: number,
    readonly window: Duration.Duration,
    now: number
  ) {
    const windowMillis = Duration.toMillis(window)
    this.bucketMillis = windowMillis / BUCKETS
    this.reserve = minPerSecond * (windowMillis / 1000)
    this.head = Math.floor(now / this.bucketMillis)
    this.exhaustedMetric = Metric.tagged(ResilienceMetrics.retryBudgetExhaustedTotal, "name", name)
    this.recordRequest = Effect.sync(() => this.unsafeRecordRequest())
    this.tryAcquire = Effect.map(Clock.currentTimeMillis, (now) => this.unsafeTryAcquire(now))
    this.stats = Effect.map(Clock.currentTimeMillis, (now) => this.unsafeStats(now))
  }

  unsafeRecordRequest(): void {
    this.pending++
  }

  /**
   * Brings the buckets up to `now`. Requests recorded since the last rotation carry no time stamp (the hot path
   * reads no clock): they are taken as spread evenly over the buckets from the last rotation to now, and the
   * shares of buckets that have left the window are dropped.
   */
  private rotate(now: number): void {
    const index = Math.max(this.head, Math.floor(now / this.bucketMillis))
    const span = index - this.head + 1
    if (index > this.head) {
      const clear = Math.min(index - this.head, BUCKETS)
      for (let k = 1; k <= clear; k++) {
        const slot = (this.head + k) % BUCKETS
        this.requests[slot] = 0
        this.retries[slot] = 0
      }
    }
    if (this.pending > 0) {
      const share = this.pending / span
      for (let b = Math.max(this.head, index - BUCKETS + 1); b <= index; b++) this.requests[b % BUCKETS]! += share
      this.pending = 0
    }
    this.head = index
  }

  private sums(): { readonly requests: number; readonly retries: number } {
    let requests = 0
    let retries = 0
    for (let i = 0; i < BUCKETS; i++) {
      requests += this.requests[i]!
      retries += this.retries[i]!
    }
    return { requests, retries }
  }

  private available(sums: { readonly requests: number; readonly retries: number }): number {
    return this.ratio * sums.requests + this.reserve - sums.retries
  }

  unsafeTryAcquire(now: number): boolean {
    this.rotate(now)
    if (this.available(this.sums()) >= 1 - EPSILON) {
      this.retries[this.head % BUCKETS]! += 1
      return true
    }
    this.exhausted++
    this.exhaustedMetric.unsafeUpdate(1, [])
    return false
  }

  unsafeStats(now: number): RetryBudget.Stats {
    this.rotate(now)
    const sums = this.sums()
    return {
      requests: Math.round(sums.requests),
      retries: sums.retries,
      available: Math.max(0, Math.floor(this.available(sums) + EPSILON)),
      exhausted: this.exhausted
    }
  }
}

/** @internal */
export const make = (
  options: RetryBudget.RetryBudget.Options
): Effect.Effect<RetryBudget.RetryBudget, InvalidOptionsError | DuplicateNameError, Scope.Scope> =>
  Effect.gen(function*() {
    const config = yield* validated("RetryBudget.make", (v) => ({
      name: v.nonEmpty("name", v.object("options", options).name),
      ratio: options.ratio === undefined ? 0.2 : v.number("ratio", options.ratio, { min: 0, max: 1 }),
      minPerSecond: options.minPerSecond === undefined ? 10 : v.number("minPerSecond", options.minPerSecond, {
        min: 0
      }),
      window: options.window === undefined
        ? Duration.seconds(10)
        : v.duration("window", options.window, { positive: true, finite: true })
    }))
    const now = yield* Clock.currentTimeMillis
    const budget = new RetryBudgetImpl(config.name, config.ratio, config.minPerSecond, config.window, now)
    yield* ResilienceRegistry.register({
      kind: "retry_budget",
      name: config.name,
      status: Effect.map(budget.stats, (stats) => ({
        healthy: stats.available >= 1,
        state: stats.available >= 1 ? "ok" : "exhausted",
        details: { ...stats }
      }))
    })
    return budget
  })
