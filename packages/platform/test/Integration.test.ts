import { CircuitBreaker, ResilienceRegistry } from "@effect-resilience/core"
import { Health, Prometheus } from "@effect-resilience/platform"
import { ResourcePool } from "@effect-resilience/pool"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, TestClock } from "effect"
import parse from "parse-prometheus-text-format"

describe("Health and Prometheus with a real circuit breaker", () => {
  it.scoped("an open breaker degrades health (unhealthy when critical) and shows in /metrics", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({
        name: "gateway",
        strategy: CircuitBreaker.consecutive(3),
        openDuration: "30 seconds"
      })
      const optional = yield* Health.make({ eventLoop: false })
      const critical = yield* Health.make({ eventLoop: false, critical: ["gateway"] })
      const prometheus = yield* Prometheus.make()

      for (let i = 0; i < 7; i++) yield* breaker.execute(Effect.void)
      assert.strictEqual((yield* optional.refresh).status, "healthy")
      for (let i = 0; i < 3; i++) yield* breaker.execute(Effect.fail("boom")).pipe(Effect.ignore)
      yield* breaker.execute(Effect.void).pipe(Effect.ignore)

      const degraded = yield* optional.refresh
      assert.strictEqual(degraded.status, "degraded")
      assert.deepInclude(degraded.checks.gateway, { ok: false, critical: false })
      assert.strictEqual((yield* critical.refresh).status, "unhealthy")

      const families = parse(yield* prometheus.scrape)
      const series = (name: string) => families.find((f) => f.name === name)?.metrics ?? []
      const calls = series("resilience_calls_total").filter((m) => m.labels?.name === "gateway")
      const byOutcome = Object.fromEntries(calls.map((m) => [m.labels?.outcome, m.value]))
      assert.deepStrictEqual(byOutcome, { success: "7", failure: "3", rejected: "1" })
      assert.strictEqual(series("circuit_breaker_state").find((m) => m.labels?.name === "gateway")?.value, "1")
      const opened = series("circuit_breaker_transitions_total").find((m) =>
        m.labels?.name === "gateway" && m.labels.from === "closed" && m.labels.to === "open"
      )
      assert.strictEqual(opened?.value, "1")
      assert.strictEqual(series("health_check_status").find((m) => m.labels?.name === "gateway")?.value, "0")
    }).pipe(Effect.provide(Layer.fresh(ResilienceRegistry.layer))))

  it.scoped("a pool that cannot create resources fails its check (unhealthy when critical)", () =>
    Effect.gen(function*() {
      const healthy = yield* ResourcePool.make({ name: "cache", acquire: Effect.succeed(1), min: 0, max: 2 })
      const broken = yield* ResourcePool.make({
        name: "db",
        acquire: Effect.fail("connection refused"),
        min: 0,
        max: 2,
        acquireTimeout: "1 second"
      })
      const health = yield* Health.make({ eventLoop: false, critical: ["db"] })
      yield* healthy.use(() => Effect.void)
      const borrow = yield* Effect.fork(Effect.either(broken.use(() => Effect.void)))
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(borrow)
      const report = yield* health.refresh
      assert.deepInclude(report.checks.cache, { ok: true, critical: false })
      assert.deepInclude(report.checks.db, { ok: false, critical: true, error: "pool db is failing" })
      assert.strictEqual(report.status, "unhealthy")
    }).pipe(Effect.provide(Layer.fresh(ResilienceRegistry.layer))))
})
