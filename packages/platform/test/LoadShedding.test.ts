import { AdaptiveLimit, InvalidOptionsError, ResilienceMetrics } from "@effect-resilience/core"
import { LoadShedding } from "@effect-resilience/platform"
import { HttpApp, HttpRouter, HttpServerResponse } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, FiberId, Metric } from "effect"

/** An app whose `/work/<id>` requests wait for their gate; `/health/ready` and `/metrics` answer at once. */
const gated = () => {
  const gates = new Map<string, Deferred.Deferred<void>>()
  const started: Array<string> = []
  const gate = (id: string) => {
    let g = gates.get(id)
    if (g === undefined) gates.set(id, g = Deferred.unsafeMake<void>(FiberId.none))
    return g
  }
  const app = HttpRouter.empty.pipe(
    HttpRouter.get(
      "/work/:id",
      Effect.flatMap(HttpRouter.params, (params) => {
        const id = params.id ?? ""
        started.push(id)
        return Effect.as(Deferred.await(gate(id)), HttpServerResponse.text(`done ${id}`))
      })
    ),
    HttpRouter.get("/health/ready", HttpServerResponse.text("ready")),
    HttpRouter.get("/metrics", HttpServerResponse.text("# metrics"))
  )
  const open = (id: string) => Effect.runSync(Deferred.succeed(gate(id), undefined))
  return { app, started, open }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 20))

describe("LoadShedding", () => {
  it.effect("past the limit: 503 with Retry-After at once; health and metrics are never shed", () =>
    Effect.gen(function*() {
      const { app, open, started } = gated()
      const shedder = yield* LoadShedding.make({ limit: 2, retryAfter: "2 seconds", name: "t-limit" })
      const handler = HttpApp.toWebHandler(app, shedder.middleware)
      const a = handler(new Request("http://localhost/work/a"))
      const b = handler(new Request("http://localhost/work/b"))
      yield* Effect.promise(settle)
      const c = yield* Effect.promise(() => handler(new Request("http://localhost/work/c")))
      assert.strictEqual(c.status, 503)
      assert.strictEqual(c.headers.get("retry-after"), "2")
      assert.strictEqual(c.headers.get("x-load-shed"), "limit")
      assert.deepStrictEqual(started, ["a", "b"])
      const ready = yield* Effect.promise(() => handler(new Request("http://localhost/health/ready")))
      assert.strictEqual(ready.status, 200)
      const metrics = yield* Effect.promise(() => handler(new Request("http://localhost/metrics")))
      assert.strictEqual(metrics.status, 200)
      assert.deepStrictEqual(yield* shedder.stats, {
        limit: 2,
        inFlight: 2,
        queued: 0,
        shed: { limit: 1, queue_full: 0, queue_timeout: 0 }
      })
      open("a")
      open("b")
      assert.strictEqual((yield* Effect.promise(() => a)).status, 200)
      assert.strictEqual((yield* Effect.promise(() => b)).status, 200)
      open("d")
      assert.strictEqual((yield* Effect.promise(() => handler(new Request("http://localhost/work/d")))).status, 200)
      assert.strictEqual((yield* shedder.stats).inFlight, 0)
      yield* ResilienceMetrics.flush
      const shed = ResilienceMetrics.loadShedTotal.pipe(Metric.tagged("reason", "limit"))
      assert.isAtLeast((yield* Metric.value(shed)).count, 1)
    }))

  it.effect("priority: a critical request displaces a queued one from a full queue and is served first", () =>
    Effect.gen(function*() {
      const { app, open, started } = gated()
      const shedder = yield* LoadShedding.make({
        limit: 1,
        maxQueue: 2,
        priority: (request) => request.url.includes("critical") ? 10 : 0
      })
      const handler = HttpApp.toWebHandler(app, shedder.middleware)
      const first = handler(new Request("http://localhost/work/first"))
      yield* Effect.promise(settle)
      const low1 = handler(new Request("http://localhost/work/low1"))
      const low2 = handler(new Request("http://localhost/work/low2"))
      yield* Effect.promise(settle)
      const critical = handler(new Request("http://localhost/work/critical"))
      // The queue was full: the last low one makes room.
      const displaced = yield* Effect.promise(() => low2)
      assert.strictEqual(displaced.status, 503)
      assert.strictEqual(displaced.headers.get("x-load-shed"), "queue_full")
      open("first")
      open("critical")
      open("low1")
      assert.strictEqual((yield* Effect.promise(() => first)).status, 200)
      assert.strictEqual((yield* Effect.promise(() => critical)).status, 200)
      assert.strictEqual((yield* Effect.promise(() => low1)).status, 200)
      assert.deepStrictEqual(started, ["first", "critical", "low1"])
      // A low request while the queue is full of equals is shed itself.
      assert.deepStrictEqual((yield* shedder.stats).shed, { limit: 0, queue_full: 1, queue_timeout: 0 })
    }))

  it.effect("a request that waits queueTimeout in the queue gets 503 (queue_timeout)", () =>
    Effect.gen(function*() {
      const { app, open } = gated()
      const shedder = yield* LoadShedding.make({ limit: 1, maxQueue: 1, queueTimeout: "30 millis" })
      const handler = HttpApp.toWebHandler(app, shedder.middleware)
      const held = handler(new Request("http://localhost/work/held"))
      yield* Effect.promise(settle)
      const late = yield* Effect.promise(() => handler(new Request("http://localhost/work/late")))
      assert.strictEqual(late.status, 503)
      assert.strictEqual(late.headers.get("x-load-shed"), "queue_timeout")
      const full = handler(new Request("http://localhost/work/x"))
      const fuller = yield* Effect.promise(() => handler(new Request("http://localhost/work/y")))
      assert.strictEqual(fuller.headers.get("x-load-shed"), "queue_full")
      open("held")
      open("x")
      assert.strictEqual((yield* Effect.promise(() => held)).status, 200)
      assert.strictEqual((yield* Effect.promise(() => full)).status, 200)
      assert.deepStrictEqual(yield* shedder.stats, {
        limit: 1,
        inFlight: 0,
        queued: 0,
        shed: { limit: 0, queue_full: 1, queue_timeout: 1 }
      })
    }))

  it.effect(
    "an adaptive limit: starts at initialLimit and learns from each answered request",
    () =>
      Effect.gen(function*() {
        const app = HttpRouter.empty.pipe(
          HttpRouter.get("/q", Effect.as(Effect.sleep(2), HttpServerResponse.text("ok")))
        )
        const shedder = yield* LoadShedding.make({ limit: AdaptiveLimit.aimd({ initialLimit: 1, maxLimit: 5 }) })
        const handler = HttpApp.toWebHandler(app, shedder.middleware)
        assert.strictEqual((yield* shedder.stats).limit, 1)
        for (let i = 0; i < 3; i++) {
          assert.strictEqual((yield* Effect.promise(() => handler(new Request("http://localhost/q")))).status, 200)
        }
        // One request at a time uses all of a limit of 1, then at least half of 2, 3: +1 each.
        assert.strictEqual((yield* shedder.stats).limit, 3)
      }),
    { timeout: 10_000 }
  )

  it.effect("bad options are InvalidOptionsError naming the field", () =>
    Effect.gen(function*() {
      const field = (options: LoadShedding.LoadShedding.Options) =>
        Effect.match(LoadShedding.make(options), {
          onFailure: (e) => e instanceof InvalidOptionsError.InvalidOptionsError ? e.field : "?",
          onSuccess: () => "accepted"
        })
      assert.strictEqual(yield* field({ limit: 0 }), "limit")
      assert.strictEqual(yield* field({ limit: 1, maxQueue: -1 }), "maxQueue")
      assert.strictEqual(yield* field({ limit: 1, retryAfter: 0 }), "retryAfter")
      assert.strictEqual(yield* field({ limit: 1, queueTimeout: -5 }), "queueTimeout")
      assert.strictEqual(yield* field({ limit: 1, name: "" }), "name")
      assert.throws(() => LoadShedding.middleware({ limit: 1.5 }), /limit/)
      assert.isTrue(Exit.isSuccess(yield* Effect.exit(LoadShedding.make({ limit: AdaptiveLimit.vegas() }))))
    }))
})
