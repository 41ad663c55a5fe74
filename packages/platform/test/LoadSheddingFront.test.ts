/**
 * `shedder.front(server)` on a real Node server on loopback: the requests the middleware would certainly shed are
 * answered in the server's request event (no fiber, none of the app's middleware) with the middleware's 503, and
 * counted in the same stats and metrics; exempt requests are never shed; with a queue and a priority function the
 * front leaves the decision to the middleware; bad arguments are InvalidOptionsError.
 */
import { InvalidOptionsError, ResilienceMetrics } from "@effect-resilience/core"
import { LoadShedding } from "@effect-resilience/platform"
import { type HttpApp, HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, FiberId, Layer, Metric } from "effect"
import * as Http from "node:http"

/** `/work/:id` and `/mw/:id` wait for their gate; the other routes answer at once. */
const gated = () => {
  const gates = new Map<string, Deferred.Deferred<void>>()
  let released = false
  const gate = (id: string) => {
    let g = gates.get(id)
    if (g === undefined) {
      gates.set(id, g = Deferred.unsafeMake<void>(FiberId.none))
      if (released) Effect.runSync(Deferred.succeed(g, undefined))
    }
    return g
  }
  const work = Effect.flatMap(
    HttpRouter.params,
    (params) => Effect.as(Deferred.await(gate(params.id ?? "")), HttpServerResponse.text(`done ${params.id}`))
  )
  const app = HttpRouter.empty.pipe(
    HttpRouter.get("/work/:id", work),
    HttpRouter.get("/mw/:id", work),
    HttpRouter.get("/internal/:id", HttpServerResponse.text("internal")),
    HttpRouter.get("/healthz", HttpServerResponse.text("not exempt")),
    HttpRouter.get("/health", HttpServerResponse.text("live")),
    HttpRouter.get("/health/ready", HttpServerResponse.text("ready")),
    HttpRouter.get("/metrics", HttpServerResponse.text("# metrics"))
  )
  const open = (id: string) => Effect.runSync(Deferred.succeed(gate(id), undefined))
  /** Opens every gate, those to come too (so that the server closes after a failed assertion). */
  const release = () => {
    released = true
    for (const id of gates.keys()) open(id)
  }
  return { app, open, release }
}

/**
 * Serves `app` (its gates opened when the scope closes) through the shedder's middleware on a loopback port, on the server `makeServer` makes (with the
 * front, or not). `seen` lists the requests that reached Effect (a fiber and the app's middleware), in order.
 */
const serve = <E>(
  { app, release }: { readonly app: HttpApp.Default<E>; readonly release: () => void },
  shedder: LoadShedding.LoadShedder,
  makeServer: () => Http.Server
) =>
  Effect.gen(function*() {
    const seen: Array<string> = []
    const track = <E1, R1>(inner: HttpApp.Default<E1, R1>): HttpApp.Default<E1, R1> =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
        seen.push(request.url)
        return inner
      })
    const scope = yield* Effect.scope
    const context = yield* Layer.buildWithScope(
      HttpServer.serve(app, (inner) => track(shedder.middleware(inner))).pipe(
        Layer.provideMerge(NodeHttpServer.layer(makeServer, { port: 0, host: "127.0.0.1" }))
      ),
      scope
    )
    // Runs before the server closes (which waits for the requests in flight).
    yield* Effect.addFinalizer(() => Effect.sync(release))
    const server = yield* HttpServer.HttpServer.pipe(Effect.provide(context))
    const port = server.address._tag === "TcpAddress" ? server.address.port : 0
    return { base: `http://127.0.0.1:${port}`, seen }
  })

interface Answer {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly body: string
}

/** One GET on a connection of its own; the answer once its body has arrived. */
const get = (url: string): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const request = Http.get(url, { agent: false }, (response) => {
      let body = ""
      response.on("data", (chunk: Buffer) => (body += String(chunk)))
      response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }))
    })
    request.on("error", reject)
  })

/** Waits (polling, no assertion on time) until the shedder's read-outs satisfy `check`. */
const until = (shedder: LoadShedding.LoadShedder, check: (stats: LoadShedding.Stats) => boolean) =>
  Effect.gen(function*() {
    while (!check(yield* shedder.stats)) yield* Effect.sleep("2 millis")
  })

const shedMetric = (reason: LoadShedding.ShedReason) =>
  Effect.flatMap(
    ResilienceMetrics.flush,
    () =>
      Effect.map(Metric.value(ResilienceMetrics.loadShedTotal.pipe(Metric.tagged("reason", reason))), (s) => s.count)
  )

const fieldOf = (f: () => unknown): string => {
  try {
    f()
    return "accepted"
  } catch (e) {
    return e instanceof InvalidOptionsError.InvalidOptionsError ? `${e.constructorName} ${e.field}` : String(e)
  }
}

describe("LoadShedding front", () => {
  it.scopedLive("past the limit the front answers 503 in the request event, counted in the same stats and metrics", () =>
    Effect.gen(function*() {
      const gates = gated()
      const { open } = gates
      const shedder = yield* LoadShedding.make({ limit: 1, retryAfter: "2 seconds", name: "front-limit" })
      const { base, seen } = yield* serve(gates, shedder, () => shedder.front(Http.createServer()))
      const metricBefore = yield* shedMetric("limit")
      const held = get(`${base}/work/a`)
      yield* until(shedder, (s) => s.inFlight === 1)
      const shed = yield* Effect.promise(() => get(`${base}/work/b`))
      assert.strictEqual(shed.status, 503)
      assert.strictEqual(shed.headers["retry-after"], "2")
      assert.strictEqual(shed.headers["x-load-shed"], "limit")
      assert.strictEqual(shed.headers["content-type"], "text/plain")
      assert.strictEqual(shed.body, "overloaded")
      // Health and metrics pass the front and the middleware while the slot is taken.
      for (const path of ["/health", "/health/ready", "/metrics", "/metrics?name=x"]) {
        assert.strictEqual((yield* Effect.promise(() => get(`${base}${path}`))).status, 200, path)
      }
      // Not a health path: shed like any other.
      assert.strictEqual((yield* Effect.promise(() => get(`${base}/healthz`))).status, 503)
      // The shed requests never reached Effect.
      assert.deepStrictEqual(seen, ["/work/a", "/health", "/health/ready", "/metrics", "/metrics?name=x"])
      assert.deepStrictEqual(yield* shedder.stats, {
        limit: 1,
        inFlight: 1,
        queued: 0,
        shed: { limit: 2, queue_full: 0, queue_timeout: 0 }
      })
      assert.strictEqual((yield* shedMetric("limit")) - metricBefore, 2)
      open("a")
      assert.strictEqual((yield* Effect.promise(() => held)).status, 200)
      yield* until(shedder, (s) => s.inFlight === 0)
      open("c")
      assert.strictEqual((yield* Effect.promise(() => get(`${base}/work/c`))).status, 200)
    }))

  it.scopedLive("the front's 503 is the middleware's: status, headers and body", () =>
    Effect.gen(function*() {
      const gates = gated()
      const { open } = gates
      const shedder = yield* LoadShedding.make({ limit: 1, name: "front-same" })
      // The front lets /mw/* through: those are shed by the middleware.
      const { base, seen } = yield* serve(
        gates,
        shedder,
        () => shedder.front(Http.createServer(), { exempt: (request) => request.url?.startsWith("/mw/") === true })
      )
      const held = get(`${base}/work/a`)
      yield* until(shedder, (s) => s.inFlight === 1)
      const atFront = yield* Effect.promise(() => get(`${base}/work/b`))
      const inMiddleware = yield* Effect.promise(() => get(`${base}/mw/b`))
      assert.deepStrictEqual(seen, ["/work/a", "/mw/b"])
      const pick = (a: Answer) => ({
        status: a.status,
        body: a.body,
        "retry-after": a.headers["retry-after"],
        "x-load-shed": a.headers["x-load-shed"],
        "content-type": a.headers["content-type"],
        "content-length": a.headers["content-length"]
      })
      assert.deepStrictEqual(pick(atFront), pick(inMiddleware))
      assert.strictEqual(atFront.status, 503)
      assert.deepStrictEqual((yield* shedder.stats).shed, { limit: 2, queue_full: 0, queue_timeout: 0 })
      open("a")
      assert.strictEqual((yield* Effect.promise(() => held)).status, 200)
    }))

  it.scopedLive("a custom exempt: the front needs its own, and never sheds what it exempts", () =>
    Effect.gen(function*() {
      const gates = gated()
      const { open } = gates
      const shedder = yield* LoadShedding.make({
        limit: 1,
        name: "front-exempt",
        exempt: (request) => request.url.startsWith("/internal/")
      })
      assert.strictEqual(fieldOf(() => shedder.front(Http.createServer())), "LoadShedder.front exempt")
      const { base, seen } = yield* serve(
        gates,
        shedder,
        () =>
          shedder.front(Http.createServer(), { exempt: (request) => request.url?.startsWith("/internal/") === true })
      )
      const held = get(`${base}/work/a`)
      yield* until(shedder, (s) => s.inFlight === 1)
      assert.strictEqual((yield* Effect.promise(() => get(`${base}/internal/x`))).status, 200)
      // The default paths are not exempt with a custom exempt: shed at the front.
      assert.strictEqual((yield* Effect.promise(() => get(`${base}/health`))).status, 503)
      assert.strictEqual((yield* Effect.promise(() => get(`${base}/work/b`))).status, 503)
      assert.deepStrictEqual(seen, ["/work/a", "/internal/x"])
      open("a")
      assert.strictEqual((yield* Effect.promise(() => held)).status, 200)
    }))

  it.scopedLive("a front exempt that throws lets the request through: the middleware decides", () =>
    Effect.gen(function*() {
      const gates = gated()
      const shedder = yield* LoadShedding.make({ limit: 1, name: "front-throws" })
      const { base, seen } = yield* serve(gates, shedder, () =>
        shedder.front(Http.createServer(), {
          exempt: () => {
            throw new Error("a broken exempt")
          }
        }))
      const held = get(`${base}/work/a`)
      yield* until(shedder, (s) => s.inFlight === 1)
      assert.strictEqual((yield* Effect.promise(() => get(`${base}/health`))).status, 200)
      assert.strictEqual((yield* Effect.promise(() => get(`${base}/work/b`))).status, 503)
      assert.deepStrictEqual(seen, ["/work/a", "/health", "/work/b"])
      gates.open("a")
      assert.strictEqual((yield* Effect.promise(() => held)).status, 200)
    }))

  it.scopedLive("with a queue: full and no priority, shed at the front (queue_full); with a priority, the middleware decides", () =>
    Effect.gen(function*() {
      // No priority function: a full queue sheds every newcomer, so the front does.
      {
        const gates = gated()
        const { open } = gates
        const shedder = yield* LoadShedding.make({ limit: 1, maxQueue: 1, name: "front-queue" })
        const { base, seen } = yield* serve(gates, shedder, () => shedder.front(Http.createServer()))
        const first = get(`${base}/work/first`)
        yield* until(shedder, (s) => s.inFlight === 1)
        const queued = get(`${base}/work/queued`)
        yield* until(shedder, (s) => s.queued === 1)
        const shed = yield* Effect.promise(() => get(`${base}/work/x`))
        assert.strictEqual(shed.status, 503)
        assert.strictEqual(shed.headers["x-load-shed"], "queue_full")
        assert.deepStrictEqual(seen, ["/work/first", "/work/queued"])
        open("first")
        open("queued")
        assert.strictEqual((yield* Effect.promise(() => first)).status, 200)
        assert.strictEqual((yield* Effect.promise(() => queued)).status, 200)
        assert.deepStrictEqual((yield* shedder.stats).shed, { limit: 0, queue_full: 1, queue_timeout: 0 })
      }
      // A priority function: a critical request may displace a queued one, so the front lets it through.
      {
        const gates = gated()
        const { open } = gates
        const shedder = yield* LoadShedding.make({
          limit: 1,
          maxQueue: 1,
          name: "front-priority",
          priority: (request) => request.url.includes("critical") ? 10 : 0
        })
        const { base, seen } = yield* serve(gates, shedder, () => shedder.front(Http.createServer()))
        const first = get(`${base}/work/first`)
        yield* until(shedder, (s) => s.inFlight === 1)
        const low = get(`${base}/work/low`)
        yield* until(shedder, (s) => s.queued === 1)
        const critical = get(`${base}/work/critical`)
        const displaced = yield* Effect.promise(() => low)
        assert.strictEqual(displaced.status, 503)
        assert.strictEqual(displaced.headers["x-load-shed"], "queue_full")
        // Another low one finds the queue full of a higher priority: shed by the middleware, not the front.
        const lowAgain = yield* Effect.promise(() => get(`${base}/work/low2`))
        assert.strictEqual(lowAgain.status, 503)
        assert.deepStrictEqual(seen, ["/work/first", "/work/low", "/work/critical", "/work/low2"])
        open("first")
        open("critical")
        assert.strictEqual((yield* Effect.promise(() => first)).status, 200)
        assert.strictEqual((yield* Effect.promise(() => critical)).status, 200)
        assert.deepStrictEqual((yield* shedder.stats).shed, { limit: 0, queue_full: 2, queue_timeout: 0 })
      }
    }))

  it.effect("bad arguments are InvalidOptionsError naming the field", () =>
    Effect.gen(function*() {
      const shedder = yield* LoadShedding.make({ limit: 1 })
      const notAServer: unknown = { on: () => undefined, emit: () => true }
      assert.strictEqual(
        fieldOf(() => shedder.front(notAServer as Http.Server)),
        "LoadShedder.front server"
      )
      const badExempt: unknown = { exempt: "/health" }
      assert.strictEqual(
        fieldOf(() => shedder.front(Http.createServer(), badExempt as LoadShedding.LoadShedding.FrontOptions)),
        "LoadShedder.front exempt"
      )
      const notOptions: unknown = 5
      assert.strictEqual(
        fieldOf(() => shedder.front(Http.createServer(), notOptions as LoadShedding.LoadShedding.FrontOptions)),
        "LoadShedder.front options"
      )
      const server = Http.createServer()
      assert.strictEqual(shedder.front(server), server)
    }))
})
