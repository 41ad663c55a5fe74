import * as ResilienceMetrics from "@effect-resilience/core/ResilienceMetrics"
import type * as RetryBudget from "@effect-resilience/core/RetryBudget"
import type * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"

/** @internal */
export type Outcome = "success" | "failure" | "rejected" | "timeout"

/** @internal */
export const requestsTotal = Metric.counter("http_client_requests_total", {
  description: "Requests through a ResilientHttpClient (not attempts), by outcome",
  incremental: true
})

/** Per key: the retry budget and the retry operator prepared with it (prepared once, not per request). */
/** @internal */
export interface KeyRetry<A, E> {
  readonly budget: RetryBudget.RetryBudget | undefined
  readonly retry: (self: Effect.Effect<A, E>) => Effect.Effect<A, E>
}

/** The keys' retry state, bounded by a key count and an idle time; idle keys go lazily, no timer per key. */
/** @internal */
export class KeyRetries<A, E> {
  private readonly entries = new Map<string, { value: KeyRetry<A, E>; lastUsed: number }>()
  constructor(readonly maxKeys: number, readonly idleTtlMillis: number) {}

  get size(): number {
    return this.entries.size
  }

  get(key: string, now: number): KeyRetry<A, E> | undefined {
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    if (now - entry.lastUsed > 1000) {
      // Refresh recency at most once a second per key: the hot path stays one Map lookup.
      entry.lastUsed = now
      this.entries.delete(key)
      this.entries.set(key, entry)
    }
    return entry.value
  }

  set(key: string, now: number, value: KeyRetry<A, E>): void {
    this.evict(now)
    this.entries.delete(key)
    this.entries.set(key, { value, lastUsed: now })
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.maxKeys) break
      this.entries.delete(oldest)
    }
  }

  evict(now: number): void {
    for (const [key, entry] of this.entries) {
      if (now - entry.lastUsed < this.idleTtlMillis) break
      this.entries.delete(key)
    }
  }
}

/** @internal */
export class Counters {
  requests = 0
  succeeded = 0
  failed = 0
  rejected = 0
  timedOut = 0
  retries = 0
}

/** The `http_client_requests_total` series of one client: successes counted locally, the rest on the slow path. */
/** @internal */
export class RequestMetrics {
  private readonly success = new Map<string, ResilienceMetrics.LocalCounter>()
  private readonly other = new Map<string, Metric.Metric.Counter<number>>()
  constructor(readonly clientName: string, readonly hosts: ReadonlySet<string> | undefined) {}

  private series(host: string, method: string): Metric.Metric.Counter<number> {
    let metric = requestsTotal.pipe(
      Metric.tagged("client", this.clientName),
      Metric.tagged("method", method.toLowerCase())
    )
    if (this.hosts !== undefined) metric = Metric.tagged(metric, "host", this.hosts.has(host) ? host : "other")
    return metric
  }

  private labelKey(host: string, method: string): string {
    return this.hosts === undefined ? method : `${this.hosts.has(host) ? host : ""} ${method}`
  }

  successCounter(host: string, method: string): ResilienceMetrics.LocalCounter {
    const key = this.labelKey(host, method)
    let counter = this.success.get(key)
    if (counter === undefined) {
      counter = new ResilienceMetrics.LocalCounter(Metric.tagged(this.series(host, method), "outcome", "success"))
      ResilienceMetrics.registerCollector(counter)
      this.success.set(key, counter)
    }
    return counter
  }

  count(host: string, method: string, outcome: Outcome): void {
    const key = `${this.labelKey(host, method)} ${outcome}`
    let counter = this.other.get(key)
    if (counter === undefined) {
      counter = Metric.tagged(this.series(host, method), "outcome", outcome)
      this.other.set(key, counter)
    }
    counter.unsafeUpdate(1, [])
  }
}
