/**
 * The metrics of the design, defined once (names and label sets are the contract), and the collector
 * mechanism that keeps them off the hot path: a policy counts successes in a plain local number and pushes the
 * difference into Effect's metrics only when `flush` runs (on scrape), so a healthy call touches no `Metric`.
 *
 * Label values are lower snake case. Keyed policies never put the key in a label.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"

/**
 * `resilience_calls_total{policy,name,outcome}`, outcome one of `success|failure|rejected|timeout`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const callsTotal = Metric.counter("resilience_calls_total", {
  description: "Calls through a resilience policy, by outcome",
  incremental: true
})

/**
 * `resilience_call_duration_seconds{policy,name}` (opt-in per policy with `histogram: true`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const callDurationSeconds = Metric.histogram(
  "resilience_call_duration_seconds",
  MetricBoundaries.exponential({ start: 0.001, factor: 2, count: 16 }),
  "Latency of calls through a resilience policy, in seconds"
)

/**
 * `circuit_breaker_state{name}`: 0 closed, 1 open, 2 half_open, 3 isolated.
 *
 * @since 0.1.0
 * @category metrics
 */
export const circuitBreakerState = Metric.gauge("circuit_breaker_state", {
  description: "Circuit breaker state: 0 closed, 1 open, 2 half_open, 3 isolated"
})

/**
 * `circuit_breaker_transitions_total{name,from,to}`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const circuitBreakerTransitionsTotal = Metric.counter("circuit_breaker_transitions_total", {
  description: "Circuit breaker state transitions",
  incremental: true
})

/**
 * `retry_attempts_total{name}`: attempts after the first.
 *
 * @since 0.1.0
 * @category metrics
 */
export const retryAttemptsTotal = Metric.counter("retry_attempts_total", {
  description: "Retries (attempts after the first)",
  incremental: true
})

/**
 * `retry_budget_exhausted_total{name}`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const retryBudgetExhaustedTotal = Metric.counter("retry_budget_exhausted_total", {
  description: "Retries denied because the retry budget was spent",
  incremental: true
})

/**
 * `bulkhead_active{name}`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const bulkheadActive = Metric.gauge("bulkhead_active", { description: "Calls running inside a bulkhead" })

/**
 * `bulkhead_queued{name}`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const bulkheadQueued = Metric.gauge("bulkhead_queued", { description: "Calls waiting in a bulkhead's queue" })

/**
 * `bulkhead_rejected_total{name,reason}`, reason `queue_full|queue_timeout|too_many_keys`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const bulkheadRejectedTotal = Metric.counter("bulkhead_rejected_total", {
  description: "Calls a bulkhead rejected, by reason",
  incremental: true
})

/**
 * `rate_limiter_rejected_total{name}`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const rateLimiterRejectedTotal = Metric.counter("rate_limiter_rejected_total", {
  description: "Calls a rate limiter rejected",
  incremental: true
})

/**
 * `adaptive_limit{name}`: the concurrency limit an adaptive bulkhead has learned (pushed on scrape).
 *
 * @since 0.1.0
 * @category metrics
 */
export const adaptiveLimit = Metric.gauge("adaptive_limit", {
  description: "The concurrency limit an adaptive limit has learned"
})

/**
 * `adaptive_throttle_rejected_total{name}`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const adaptiveThrottleRejectedTotal = Metric.counter("adaptive_throttle_rejected_total", {
  description: "Calls an adaptive throttle rejected locally",
  incremental: true
})

/**
 * `load_shed_total{reason}`, reason `limit|queue_full|queue_timeout`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const loadShedTotal = Metric.counter("load_shed_total", {
  description: "Requests the load shedder answered with 503, by reason",
  incremental: true
})

/**
 * `pool_resources{name,state}`, state `idle|borrowed`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const poolResources = Metric.gauge("pool_resources", { description: "Pool resources by state" })

/**
 * `pool_acquire_duration_seconds{name}`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const poolAcquireDurationSeconds = Metric.histogram(
  "pool_acquire_duration_seconds",
  MetricBoundaries.exponential({ start: 0.0005, factor: 2, count: 16 }),
  "Time to borrow a resource from a pool, in seconds"
)

/**
 * `pool_timeouts_total{name}`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const poolTimeoutsTotal = Metric.counter("pool_timeouts_total", {
  description: "Borrows that gave up waiting for a resource",
  incremental: true
})

/**
 * `pool_invalidated_total{name}`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const poolInvalidatedTotal = Metric.counter("pool_invalidated_total", {
  description: "Resources evicted from a pool as broken",
  incremental: true
})

/**
 * `health_check_status{name}`: 1 passing, 0 failing.
 *
 * @since 0.1.0
 * @category metrics
 */
export const healthCheckStatus = Metric.gauge("health_check_status", {
  description: "Health check result: 1 passing, 0 failing"
})

/**
 * `resilience_store_errors_total{store}`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const storeErrorsTotal = Metric.counter("resilience_store_errors_total", {
  description: "Errors talking to a shared state store",
  incremental: true
})

/**
 * `nodejs_eventloop_delay_seconds`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const eventLoopDelaySeconds = Metric.gauge("nodejs_eventloop_delay_seconds", {
  description: "Event loop delay (p99 over the last interval), in seconds"
})

/**
 * Something that pushes what a policy counted locally into Effect's metrics.
 *
 * @since 0.1.0
 * @category models
 */
export interface Collector {
  readonly collect: () => void
}

const collectors = new Set<WeakRef<Collector>>()

/**
 * Registers a collector. The registry holds it weakly: a policy that is garbage collected stops being
 * collected, so short-lived policies leak nothing. The caller keeps the collector alive (store it on the policy).
 *
 * @since 0.1.0
 * @category collectors
 */
export const registerCollector = (collector: Collector): void => {
  collectors.add(new WeakRef(collector))
}

/**
 * Runs every live collector: call before reading `Metric.snapshot` (the Prometheus endpoint does).
 *
 * @since 0.1.0
 * @category collectors
 */
export const flush: Effect.Effect<void> = Effect.sync(() => {
  for (const ref of collectors) {
    const collector = ref.deref()
    if (collector === undefined) collectors.delete(ref)
    else collector.collect()
  }
})

/**
 * A counter of local increments that a collector pushes as deltas into a tagged Effect counter.
 *
 * @since 0.1.0
 * @category collectors
 */
export class LocalCounter implements Collector {
  /**
   * The local count since creation.
   *
   * @since 0.1.0
   */
  count = 0
  private reported = 0
  constructor(readonly metric: Metric.Metric.Counter<number>) {}
  /**
   * @since 0.1.0
   */
  collect(): void {
    const delta = this.count - this.reported
    if (delta > 0) {
      this.reported = this.count
      this.metric.unsafeUpdate(delta, [])
    }
  }
}
