import { ResilienceMetrics, ResilienceRegistry } from "@effect-resilience/core"
import { Health } from "@effect-resilience/platform"
import { HttpClient, HttpServer } from "@effect/platform"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, FastCheck, Layer, Logger, Metric, Ref, TestClock } from "effect"
import { createServer } from "node:http"

const settle = TestClock.adjust("0 millis")

const failing = (message: string) => Effect.fail(new Error(message))

const collectLogs = (lines: Array<string>) =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ logLevel, message }) => {
      lines.push(`${logLevel.label} ${Array.isArray(message) ? message.join(" ") : String(message)}`)
    })
  )

describe("Health", () => {
  it.scoped("is healthy when every check passes, with latency and time from the Clock", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_000)
      const health = yield* Health.make({
        checks: [
          Health.check({ name: "db", check: Effect.sleep("30 millis").pipe(Effect.as(true)) }),
          Health.check({ name: "cache", check: Effect.void, critical: false })
        ],
        eventLoop: false
      })
      yield* settle
      yield* TestClock.adjust("30 millis")
      const report = yield* health.status
      assert.strictEqual(report.status, "healthy")
      assert.isFalse(report.draining)
      assert.deepStrictEqual(report.checks.db, { ok: true, critical: true, latencyMillis: 30, checkedAt: 1_000 })
      assert.deepStrictEqual(report.checks.cache, { ok: true, critical: false, latencyMillis: 0, checkedAt: 1_000 })
    }))

  it.scoped("reads as pending (unhealthy for a critical check) until the first round ends", () =>
    Effect.gen(function*() {
      const health = yield* Health.make({
        checks: [Health.check({ name: "db", check: Effect.sleep("1 second") })],
        eventLoop: false
      })
      const report = yield* health.status
      assert.strictEqual(report.status, "unhealthy")
      assert.strictEqual(report.checks.db?.error, "pending")
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* health.status).status, "healthy")
    }))

  it.scoped("a failing optional check gives degraded", () =>
    Effect.gen(function*() {
      const health = yield* Health.make({
        checks: [
          Health.check({ name: "db", check: Effect.void }),
          Health.check({ name: "search", check: failing("index unavailable"), critical: false })
        ],
        eventLoop: false
      })
      yield* settle
      const report = yield* health.status
      assert.strictEqual(report.status, "degraded")
      assert.isFalse(report.checks.search!.ok)
      assert.strictEqual(report.checks.search!.error, "Error: index unavailable")
    }))

  it.scoped("a failing critical check, or one that returns false, gives unhealthy", () =>
    Effect.gen(function*() {
      const health = yield* Health.make({
        checks: [Health.check({ name: "db", check: Effect.succeed(false) })],
        eventLoop: false
      })
      yield* settle
      const report = yield* health.status
      assert.strictEqual(report.status, "unhealthy")
      assert.strictEqual(report.checks.db!.error, "CheckFailed: returned false")
    }))

  it.scoped("a check that hangs is cut by its own timeout while reads stay instant", () =>
    Effect.gen(function*() {
      const health = yield* Health.make({
        checks: [
          Health.check({ name: "stuck", check: Effect.never, timeout: "500 millis" }),
          Health.check({ name: "stuck-uninterruptible", check: Effect.uninterruptible(Effect.never), critical: false })
        ],
        eventLoop: false
      })
      yield* settle
      // no clock movement: the read answers from the cache, never waiting on the hanging checks
      assert.strictEqual((yield* health.status).checks.stuck!.error, "pending")
      yield* TestClock.adjust("500 millis")
      const first = yield* health.status
      assert.deepInclude(first.checks.stuck, { ok: false, latencyMillis: 500, error: "timed out after 500 ms" })
      assert.strictEqual(first.checks["stuck-uninterruptible"]!.error, "pending")
      yield* TestClock.adjust("1500 millis")
      const second = yield* health.status
      assert.deepInclude(second.checks["stuck-uninterruptible"], {
        ok: false,
        latencyMillis: 2000,
        error: "timed out after 2000 ms"
      })
      assert.strictEqual(second.status, "unhealthy")
    }))

  it.scoped("a check that ignores interruption is not started again while its last run goes on", () =>
    Effect.gen(function*() {
      const release = yield* Deferred.make<void>()
      let starts = 0
      const health = yield* Health.make({
        checks: [
          Health.check({
            name: "wedged",
            check: Effect.suspend(() => (starts++, Effect.uninterruptible(Deferred.await(release)))),
            timeout: "500 millis"
          })
        ],
        interval: "1 second",
        eventLoop: false
      })
      yield* settle
      yield* TestClock.adjust("500 millis")
      assert.deepInclude((yield* health.status).checks.wedged, { ok: false, error: "timed out after 500 ms" })
      // ten more rounds (a round every second after the last ended): each reports the run still going, none starts another (no fiber left behind per round)
      for (let i = 0; i < 10; i++) yield* TestClock.adjust("1 second")
      assert.strictEqual(starts, 1)
      assert.deepInclude((yield* health.status).checks.wedged, {
        ok: false,
        latencyMillis: 10_500,
        error: "still running after 10500 ms (timed out after 500 ms)"
      })
      // once the run ends, the next round starts the check again
      yield* Deferred.succeed(release, undefined)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(starts, 2)
      assert.deepInclude((yield* health.status).checks.wedged, { ok: true })
    }))

  it.scoped("runs the checks every interval and reflects recovery", () =>
    Effect.gen(function*() {
      const runs = yield* Ref.make(0)
      const up = yield* Ref.make(false)
      const health = yield* Health.make({
        checks: [
          Health.check({ name: "db", check: Ref.update(runs, (n) => n + 1).pipe(Effect.zipRight(Ref.get(up))) })
        ],
        interval: "5 seconds",
        eventLoop: false
      })
      yield* settle
      assert.strictEqual(yield* Ref.get(runs), 1)
      assert.strictEqual((yield* health.status).status, "unhealthy")
      yield* Ref.set(up, true)
      yield* TestClock.adjust("4999 millis")
      assert.strictEqual(yield* Ref.get(runs), 1)
      assert.strictEqual((yield* health.status).status, "unhealthy")
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* Ref.get(runs), 2)
      assert.strictEqual((yield* health.status).status, "healthy")
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(yield* Ref.get(runs), 4)
    }))

  it.scoped("logs each transition once, not every round", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      const up = yield* Ref.make(true)
      yield* Health.make({
        checks: [Health.check({ name: "db", check: Ref.get(up) })],
        interval: "1 second",
        eventLoop: false
      })
      yield* settle
      yield* Ref.set(up, false)
      yield* TestClock.adjust("5 seconds")
      yield* Ref.set(up, true)
      yield* TestClock.adjust("5 seconds")
      const health = lines.filter((line) => line.includes("health"))
      assert.deepStrictEqual(health, [
        "INFO health unhealthy -> healthy",
        "WARN health check db fails: CheckFailed: returned false",
        "WARN health healthy -> unhealthy",
        "INFO health check db passes again",
        "INFO health unhealthy -> healthy"
      ])
    }).pipe(Effect.provide(collectLogs(lines)))
  })

  it.scoped("lists breakers and pools from the registry, optional unless named critical", () =>
    Effect.gen(function*() {
      const registry = yield* ResilienceRegistry.make
      const breakerState = yield* Ref.make("Closed")
      yield* registry.register({
        kind: "circuit_breaker",
        name: "payments",
        status: Effect.map(Ref.get(breakerState), (state) => ({ healthy: state === "Closed", state }))
      })
      yield* registry.register({
        kind: "pool",
        name: "db",
        status: Effect.succeed({ healthy: true, state: "ok" })
      })
      yield* registry.register({ kind: "bulkhead", name: "b", status: Effect.succeed({ healthy: false, state: "x" }) })
      const make = (critical: ReadonlyArray<string>) =>
        Health.make({ eventLoop: false, critical }).pipe(
          Effect.provideService(ResilienceRegistry.ResilienceRegistry, registry)
        )
      const optional = yield* make([])
      const critical = yield* make(["payments"])
      yield* settle
      assert.deepStrictEqual(Object.keys((yield* optional.status).checks), ["payments", "db"])
      assert.strictEqual((yield* optional.status).status, "healthy")
      yield* Ref.set(breakerState, "Open")
      const degraded = yield* optional.refresh
      assert.strictEqual(degraded.status, "degraded")
      assert.deepInclude(degraded.checks.payments, {
        ok: false,
        critical: false,
        error: "circuit_breaker payments is Open"
      })
      const unhealthy = yield* critical.refresh
      assert.strictEqual(unhealthy.status, "unhealthy")
      assert.isTrue(unhealthy.checks.payments!.critical)
    }))

  it.scoped("feeds health_check_status{name}", () =>
    Effect.gen(function*() {
      yield* Health.make({
        checks: [
          Health.check({ name: "gauge-up", check: Effect.void }),
          Health.check({ name: "gauge-down", check: failing("no"), critical: false })
        ],
        eventLoop: false
      })
      yield* settle
      const up = yield* Metric.value(Metric.tagged(ResilienceMetrics.healthCheckStatus, "name", "gauge-up"))
      const down = yield* Metric.value(Metric.tagged(ResilienceMetrics.healthCheckStatus, "name", "gauge-down"))
      assert.strictEqual(up.value, 1)
      assert.strictEqual(down.value, 0)
    }))

  it.scoped("check errors are one short line without credentials", () =>
    Effect.gen(function*() {
      const health = yield* Health.make({
        checks: [
          Health.check({
            name: "db",
            check: failing("connect to postgres://app:hunter2@10.0.0.1/db failed password=hunter2\nstack…")
          }),
          Health.check({ name: "long", check: failing("x".repeat(500)), critical: false }),
          Health.check({ name: "defect", check: Effect.dieMessage("boom"), critical: false })
        ],
        eventLoop: false
      })
      yield* settle
      const { checks } = yield* health.status
      assert.strictEqual(checks.db!.error, "Error: connect to postgres://***@10.0.0.1/db failed password=***")
      assert.isAtMost(checks.long!.error!.length, 120)
      assert.strictEqual(checks.defect!.error, "defect: RuntimeException: boom")
    }))

  it.scoped("the event-loop check catches blocking work and feeds nodejs_eventloop_delay_seconds", () =>
    Effect.gen(function*() {
      const health = yield* Health.make({ eventLoop: { maxDelay: "50 millis", resolutionMillis: 1 } })
      // let the background fiber end its first round (it then sleeps on the TestClock), so that only `refresh`
      // reads the sample taken below
      for (let i = 0; i < 100 && (yield* health.status).checks.event_loop?.error === "pending"; i++) {
        yield* settle
      }
      assert.notStrictEqual((yield* health.status).checks.event_loop?.error, "pending")
      // block the executor for 200 ms of real time, then let the monitor take its sample
      const until = performance.now() + 200
      while (performance.now() < until) {
        // busy
      }
      // A real timer, not setImmediate: the monitor's own timer (due 1 ms after the block began) fires in the same
      // timers phase before this one, so the late sample is recorded; setImmediate can run first.
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
      const report = yield* health.refresh
      assert.strictEqual(report.status, "degraded")
      assert.match(report.checks.event_loop!.error!, /^EventLoopDelay: p99 \d+\.\d ms > 50 ms$/)
      const delay = yield* Metric.value(ResilienceMetrics.eventLoopDelaySeconds)
      assert.isAbove(delay.value, 0.05)
    }))

  it.scoped("markDraining shows in the report", () =>
    Effect.gen(function*() {
      const health = yield* Health.make({ eventLoop: false })
      yield* health.markDraining
      yield* health.markDraining
      assert.isTrue((yield* health.status).draining)
      assert.isTrue((yield* health.refresh).draining)
    }))

  it.scoped.prop(
    "status is unhealthy iff a critical check fails, degraded iff only optional ones fail",
    [FastCheck.array(FastCheck.record({ critical: FastCheck.boolean(), ok: FastCheck.boolean() }), { maxLength: 8 })],
    ([specs]) =>
      Effect.gen(function*() {
        const health = yield* Health.make({
          checks: specs.map((spec, i) =>
            Health.check({ name: `c${i}`, critical: spec.critical, check: spec.ok ? Effect.void : failing("down") })
          ),
          eventLoop: false
        })
        const report = yield* health.refresh
        const expected = specs.some((c) => c.critical && !c.ok)
          ? "unhealthy"
          : specs.some((c) => !c.ok)
          ? "degraded"
          : "healthy"
        assert.strictEqual(report.status, expected)
        assert.deepStrictEqual(
          Object.values(report.checks).map((c) => ({ critical: c.critical, ok: c.ok })),
          specs
        )
      }),
    { fastCheck: { numRuns: 50 } }
  )

  it.scoped.prop(
    "a secret in a URL or a password= pair never reaches the report",
    [FastCheck.stringMatching(/^[A-Za-z0-9]{6,20}$/), FastCheck.string({ maxLength: 40 })],
    ([secret, noise]) =>
      Effect.gen(function*() {
        const health = yield* Health.make({
          checks: [
            Health.check({ name: "url", check: failing(`${noise} https://svc:${secret}@db.internal/x ${noise}`) }),
            Health.check({ name: "pair", check: failing(`auth failed: password=${secret} ${noise}`) })
          ],
          eventLoop: false
        })
        const report = yield* health.refresh
        for (const c of Object.values(report.checks)) {
          assert.notInclude(c.error!, `:${secret}@`)
          assert.notInclude(c.error!, `=${secret}`)
          assert.isAtMost(c.error!.length, 120)
          assert.notInclude(c.error!, "\n")
        }
      }),
    { fastCheck: { numRuns: 50 } }
  )

  it.effect("bad options fail with InvalidOptionsError naming the field", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.scoped(Health.make({ interval: "0 millis" })).pipe(Effect.exit)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) assert.include(String(exit.cause), "interval")
      const dup = yield* Effect.scoped(Health.make({
        checks: [Health.check({ name: "a", check: Effect.void }), Health.check({ name: "a", check: Effect.void })]
      })).pipe(Effect.flip)
      assert.strictEqual(dup.field, "checks")
      assert.throws(() => Health.check({ name: "", check: Effect.void }), /name/)
      assert.isTrue(Health.isCheck(Health.check({ name: "x", check: Effect.void })))
      assert.isFalse(Health.isCheck({ name: "x" }))
      assert.throws(() => Health.check({ name: "x", check: Effect.void, timeout: -1 }), /timeout/)
    }))

  it.effect("options of the wrong shape fail with InvalidOptionsError naming the field and the value", () =>
    Effect.gen(function*() {
      const bad: ReadonlyArray<readonly [unknown, string, unknown]> = [
        [{ checks: 5 }, "checks", 5],
        [{ checks: [{ name: "x" }] }, "checks[0]", { name: "x" }],
        [{ critical: "db" }, "critical", "db"],
        [{ critical: [1] }, "critical[0]", 1],
        [{ eventLoop: true }, "eventLoop", true],
        [{ eventLoop: { critical: "yes" } }, "eventLoop.critical", "yes"],
        [{ interval: null }, "interval", null],
        [null, "options", null]
      ]
      for (const [options, field, value] of bad) {
        const error = yield* Effect.scoped(Health.make(options as Health.Health.Options<never>)).pipe(Effect.flip)
        assert.deepInclude(error, { _tag: "InvalidOptionsError", constructorName: "Health.layer", field, value })
      }
      const thrown = (f: () => unknown) => {
        try {
          f()
        } catch (error) {
          return error
        }
        return undefined
      }
      const checkOptions = (o: object) => o as Health.Health.CheckOptions<never>
      assert.deepInclude(thrown(() => Health.check(checkOptions({ name: "x", check: 5 }))), {
        field: "check",
        value: 5
      })
      assert.deepInclude(thrown(() => Health.check(checkOptions({ name: "x", check: Effect.void, critical: "no" }))), {
        field: "critical",
        value: "no"
      })
      assert.deepInclude(thrown(() => Health.check(checkOptions({ name: 7, check: Effect.void }))), { field: "name" })
      assert.deepInclude(thrown(() => Health.makeRouter({ details: "no" } as unknown as Health.Health.RouterOptions)), {
        _tag: "InvalidOptionsError",
        field: "details"
      })
    }))
})

const ServerLive = NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })
const ClientLive = HttpServer.layerTestClient.pipe(
  Layer.provide(NodeHttpClient.layerUndici),
  Layer.provideMerge(ServerLive)
)

const get = (path: string) =>
  HttpClient.get(path).pipe(
    Effect.flatMap((response) =>
      Effect.map(response.json, (body) => ({ status: response.status, body, headers: response.headers }))
    ),
    Effect.scoped
  )

describe("Health.router", () => {
  const serve = <R>(options: Health.Health.Options<R>, details = true) =>
    Effect.gen(function*() {
      const health = yield* Health.make(options)
      yield* HttpServer.serveEffect(Health.makeRouter({ details })).pipe(
        Effect.provideService(Health.Health, health)
      )
      yield* settle
      return health
    })

  it.scoped("live is 200; ready is 200 when degraded, with each check in the body", () =>
    Effect.gen(function*() {
      yield* serve({
        checks: [
          Health.check({ name: "db", check: Effect.void }),
          Health.check({ name: "search", check: failing("down"), critical: false })
        ],
        eventLoop: false
      })
      const live = yield* get("/health/live")
      assert.strictEqual(live.status, 200)
      assert.deepStrictEqual(live.body, { status: "ok" })
      const ready = yield* get("/health/ready")
      assert.strictEqual(ready.status, 200)
      assert.strictEqual(ready.headers["cache-control"], "no-store")
      assert.deepInclude(ready.body as object, { status: "degraded", draining: false })
      assert.deepInclude((ready.body as Health.HealthReport).checks.search, { ok: false, error: "Error: down" })
    }).pipe(Effect.provide(ClientLive)))

  it.scoped("ready is 503 when a critical check fails, and when draining", () =>
    Effect.gen(function*() {
      const up = yield* Ref.make(false)
      const health = yield* serve({ checks: [Health.check({ name: "db", check: Ref.get(up) })], eventLoop: false })
      const down = yield* get("/health/ready")
      assert.strictEqual(down.status, 503)
      assert.strictEqual((down.body as Health.HealthReport).status, "unhealthy")
      yield* Ref.set(up, true)
      yield* health.refresh
      assert.strictEqual((yield* get("/health/ready")).status, 200)
      yield* health.markDraining
      const draining = yield* get("/health/ready")
      assert.strictEqual(draining.status, 503)
      assert.deepInclude(draining.body as object, { status: "healthy", draining: true })
      assert.strictEqual((yield* get("/health/live")).status, 200)
    }).pipe(Effect.provide(ClientLive)))

  it.scoped("details can be turned off for public exposure", () =>
    Effect.gen(function*() {
      yield* serve({ checks: [Health.check({ name: "db", check: failing("secret detail") })], eventLoop: false }, false)
      const ready = yield* get("/health/ready")
      assert.strictEqual(ready.status, 503)
      assert.deepStrictEqual(ready.body, { status: "unhealthy", draining: false })
    }).pipe(Effect.provide(ClientLive)))
})
