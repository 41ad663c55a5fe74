import { ResilienceMetrics } from "@effect-resilience/core"
import { Health, Prometheus } from "@effect-resilience/platform"
import { HttpClient, HttpServer } from "@effect/platform"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Metric } from "effect"
import { createServer } from "node:http"
import parse from "parse-prometheus-text-format"

const ServerLive = NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })
const ClientLive = HttpServer.layerTestClient.pipe(
  Layer.provide(NodeHttpClient.layerUndici),
  Layer.provideMerge(ServerLive)
)

const tagged = <T extends Metric.Metric<any, any, any>>(metric: T, tags: Record<string, string>): T =>
  Object.entries(tags).reduce((m, [k, v]) => Metric.tagged(m, k, v) as T, metric)

/** Traffic as the policies record it: slow-path updates, and successes counted locally and pushed at flush. */
const traffic = Effect.gen(function*() {
  const success = new ResilienceMetrics.LocalCounter(
    tagged(ResilienceMetrics.callsTotal, { policy: "circuit_breaker", name: "payments", outcome: "success" })
  )
  ResilienceMetrics.registerCollector(success)
  success.count += 41
  yield* Metric.increment(
    tagged(ResilienceMetrics.callsTotal, { policy: "circuit_breaker", name: "payments", outcome: "failure" })
  )
  yield* Metric.set(tagged(ResilienceMetrics.circuitBreakerState, { name: "payments" }), 1)
  yield* Metric.increment(
    tagged(ResilienceMetrics.circuitBreakerTransitionsTotal, { name: "payments", from: "closed", to: "open" })
  )
  yield* Metric.incrementBy(tagged(ResilienceMetrics.retryAttemptsTotal, { name: "payments" }), 3)
  yield* Metric.increment(tagged(ResilienceMetrics.bulkheadRejectedTotal, { name: "api", reason: "queue_full" }))
  yield* Metric.set(tagged(ResilienceMetrics.bulkheadActive, { name: "api" }), 4)
  yield* Metric.update(tagged(ResilienceMetrics.poolAcquireDurationSeconds, { name: "db" }), 0.003)
  yield* Metric.update(tagged(ResilienceMetrics.poolAcquireDurationSeconds, { name: "db" }), 0.2)
  yield* Metric.set(tagged(ResilienceMetrics.poolResources, { name: "db", state: "idle" }), 2)
  return success
})

describe("Prometheus", () => {
  it.scoped("GET /metrics parses as the text format and holds the design's names after traffic", () =>
    Effect.gen(function*() {
      const success = yield* traffic
      const health = yield* Health.make({
        checks: [Health.check({ name: "metrics-db", check: Effect.void })],
        eventLoop: { maxDelay: "10 seconds" }
      })
      yield* health.refresh
      const prometheus = yield* Prometheus.make({ serviceName: "prometheus-test" })
      yield* HttpServer.serveEffect(Prometheus.router).pipe(Effect.provideService(Prometheus.Prometheus, prometheus))

      const response = yield* HttpClient.get("/metrics")
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers["content-type"], Prometheus.contentType)
      const text = yield* response.text
      const families = parse(text)
      const byName = new Map(families.map((f) => [f.name, f]))
      const family = (name: string) => {
        const found = byName.get(name)
        assert.isDefined(found, `${name} is exported`)
        return found!
      }
      const sample = (name: string, labels: Record<string, string>) => {
        const found = family(name).metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
        assert.isDefined(found, `${name}${JSON.stringify(labels)} is exported`)
        return found!
      }

      // counters created with `incremental: true` are counters, not gauges, and keep their `_total` name
      assert.strictEqual(family("resilience_calls_total").type, "COUNTER")
      assert.strictEqual(sample("resilience_calls_total", { name: "payments", outcome: "success" }).value, "41")
      assert.strictEqual(sample("resilience_calls_total", { policy: "circuit_breaker", outcome: "failure" }).value, "1")
      assert.strictEqual(family("circuit_breaker_transitions_total").type, "COUNTER")
      assert.strictEqual(sample("circuit_breaker_transitions_total", { from: "closed", to: "open" }).value, "1")
      assert.strictEqual(sample("retry_attempts_total", { name: "payments" }).value, "3")
      assert.strictEqual(sample("bulkhead_rejected_total", { reason: "queue_full" }).value, "1")
      assert.strictEqual(family("circuit_breaker_state").type, "GAUGE")
      assert.strictEqual(sample("circuit_breaker_state", { name: "payments" }).value, "1")
      assert.strictEqual(sample("bulkhead_active", { name: "api" }).value, "4")
      assert.strictEqual(sample("pool_resources", { name: "db", state: "idle" }).value, "2")
      // the parser keeps a histogram's buckets but not its labels: read count and sum from the text
      const histogram = family("pool_acquire_duration_seconds")
      assert.strictEqual(histogram.type, "HISTOGRAM")
      assert.strictEqual(histogram.metrics[0]?.buckets?.["0.004"], "1")
      assert.strictEqual(histogram.metrics[0]?.buckets?.["+Inf"], "2")
      assert.include(text, `pool_acquire_duration_seconds_count{name="db"} 2\n`)
      assert.match(text, /^pool_acquire_duration_seconds_sum\{name="db"\} 0\.203/m)
      assert.strictEqual(sample("health_check_status", { name: "metrics-db" }).value, "1")
      assert.strictEqual(sample("health_check_status", { name: "event_loop" }).value, "1")
      assert.strictEqual(family("nodejs_eventloop_delay_seconds").type, "GAUGE")
      assert.deepInclude(sample("target_info", {}).labels, { service_name: "prometheus-test" })

      // local counts are pushed at every scrape, as deltas
      success.count += 9
      const again = parse(yield* prometheus.scrape)
      const calls = again.find((f) => f.name === "resilience_calls_total")!
      const successes = calls.metrics.find((m) => m.labels?.outcome === "success" && m.labels?.name === "payments")
      assert.strictEqual(successes?.value, "50")
    }).pipe(Effect.provide(ClientLive)))

  it.scoped("a prefix renames every series, and the scope label can be kept", () =>
    Effect.gen(function*() {
      yield* Metric.increment(tagged(ResilienceMetrics.poolTimeoutsTotal, { name: "prefixed" }))
      const prometheus = yield* Prometheus.make({
        prefix: "payments",
        withoutScopeInfo: false,
        withoutTargetInfo: true
      })
      const families = parse(yield* prometheus.scrape)
      const timeouts = families.find((f) => f.name === "payments_pool_timeouts_total")
      assert.isDefined(timeouts)
      assert.strictEqual(timeouts!.type, "COUNTER")
      assert.strictEqual(timeouts!.metrics[0]?.labels?.otel_scope_name, "@effect/opentelemetry/Metrics")
      assert.isUndefined(families.find((f) => f.name.endsWith("target_info")))
    }))

  it.effect("bad options fail with InvalidOptionsError naming the field and the value", () =>
    Effect.gen(function*() {
      const bad: ReadonlyArray<readonly [unknown, string, unknown]> = [
        [{ serviceName: "" }, "serviceName", ""],
        [{ serviceName: 5 }, "serviceName", 5],
        [{ prefix: "my-app" }, "prefix", "my-app"],
        [{ withoutTargetInfo: "no" }, "withoutTargetInfo", "no"],
        ["payments", "options", "payments"]
      ]
      for (const [options, field, value] of bad) {
        const error = yield* Prometheus.make(options as Prometheus.Prometheus.Options).pipe(Effect.scoped, Effect.flip)
        assert.deepInclude(error, { _tag: "InvalidOptionsError", constructorName: "Prometheus.make", field, value })
      }
    }))
})
