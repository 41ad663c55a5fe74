import { GracefulShutdown, Health } from "@effect-resilience/platform"
import { HttpApp, HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber, FiberId, Layer, Option, Scope, TestClock } from "effect"
import * as Http from "node:http"
import * as Net from "node:net"
import type { Socket } from "node:net"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { type Child, startFixture } from "./utils/fixtureProcess.js"

const fixture = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "fixtures/server.ts")

interface Reply {
  readonly status: number
  readonly body: string
  readonly connection: string | undefined
  readonly socket: Socket
}

/** One GET on loopback; fails after 20 s so that nothing waits forever. */
const get = (port: number, urlPath: string, agent: Http.Agent | false): Promise<Reply> =>
  new Promise((resolve, reject) => {
    let socket: Socket | undefined
    const request = Http.get({ host: "127.0.0.1", port, path: urlPath, agent, timeout: 20_000 }, (response) => {
      let body = ""
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => (body += chunk))
      response.on(
        "end",
        () =>
          resolve({ status: response.statusCode ?? 0, body, connection: response.headers.connection, socket: socket! })
      )
      response.on("error", reject)
    })
    request.on("socket", (s: Socket) => (socket = s))
    request.on("timeout", () => request.destroy(new Error(`GET ${urlPath} timed out`)))
    request.on("error", reject)
  })

/** Starts the fixture service and waits for it to listen (at most 30 s); kills it when the scope closes. */
const startChild = (env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.promise(() => startFixture(fixture, env)),
    (child) => Effect.sync(() => child.process.exitCode === null && child.process.kill("SIGKILL"))
  )

/** Polls `/stats` until `n` requests are in flight (besides the poll itself), at most 100 times. */
const awaitInFlight = (child: Child, n: number) =>
  Effect.promise(async () => {
    for (let i = 0; i < 100; i++) {
      const { body } = await get(child.port, "/stats", false)
      if ((JSON.parse(body) as { inFlight: number }).inFlight - 1 >= n) return
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error(`never saw ${n} requests in flight`)
  })

/** Polls `/health/ready` until it answers 503 or the connection is refused, at most 100 times. */
const awaitNotReady = (child: Child) =>
  Effect.promise(async () => {
    for (let i = 0; i < 100; i++) {
      const reply = await get(child.port, "/health/ready", false).catch(() => undefined)
      if (reply?.status === 503) return reply
      if (reply === undefined) return undefined
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    throw new Error("readiness never turned 503")
  })

describe("GracefulShutdown (child process)", () => {
  it.scopedLive(
    "SIGTERM with 50 requests in flight: all answered, readiness 503 during the drain, exit 0",
    () =>
      Effect.gen(function*() {
        const child = yield* startChild({ PRE_STOP_MS: "300", DRAIN_TIMEOUT_MS: "5000" })
        const agent = new Http.Agent({ keepAlive: true, maxSockets: 100 })
        const idleAgent = new Http.Agent({ keepAlive: true, maxSockets: 1 })
        yield* Effect.addFinalizer(() => Effect.sync(() => (agent.destroy(), idleAgent.destroy())))
        // an idle keep-alive connection, which the drain must close before the slow requests end
        const idle = yield* Effect.promise(() => get(child.port, "/health/ready", idleAgent))
        assert.strictEqual(idle.status, 200)
        let idleClosedAt = Infinity
        idle.socket.once("close", () => (idleClosedAt = performance.now()))

        const replies = Promise.all(Array.from({ length: 50 }, () => get(child.port, "/slow?ms=1500", agent)))
        yield* awaitInFlight(child, 50)
        const signalledAt = performance.now()
        child.process.kill("SIGTERM")

        const notReady = yield* awaitNotReady(child)
        assert.isDefined(notReady, "readiness answers during the drain")
        assert.deepInclude(JSON.parse(notReady!.body), { draining: true })

        const all = yield* Effect.promise(() => replies)
        assert.isBelow(idleClosedAt, performance.now())
        assert.strictEqual(all.length, 50)
        for (const reply of all) {
          assert.strictEqual(reply.status, 200)
          assert.strictEqual(reply.body, "done")
          assert.strictEqual(reply.connection, "close")
        }
        const code = yield* Effect.promise(() => child.exited)
        const elapsed = performance.now() - signalledAt
        assert.strictEqual(code, 0, child.output())
        // pre-stop delay plus what was left of the slow requests, well within the 5.3 s deadline
        assert.isBelow(elapsed, 5_300)
        // the fixture logs with Tracing's JSON logger: every line of its output is one JSON object
        const logs = child.output().trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)
        assert.deepInclude(logs.at(-1), { level: "INFO", message: "shutdown: drained, every request answered" })
        assert.isTrue(logs.some((l) => l.message === "shutdown: draining, 50 request(s) in flight"))
      }),
    60_000
  )

  it.scopedLive(
    "a drain deadline that passes interrupts the rest (503) and the exit code says so",
    () =>
      Effect.gen(function*() {
        const child = yield* startChild({ PRE_STOP_MS: "0", DRAIN_TIMEOUT_MS: "500" })
        const replies = Promise.all(Array.from({ length: 5 }, () => get(child.port, "/slow?ms=15000", false)))
        yield* awaitInFlight(child, 5)
        child.process.kill("SIGTERM")
        const all = yield* Effect.promise(() => replies)
        for (const reply of all) assert.strictEqual(reply.status, 503)
        const code = yield* Effect.promise(() => child.exited)
        assert.strictEqual(code, GracefulShutdown.drainTimeoutExitCode)
        assert.include(child.output(), "drain deadline of 500ms passed with 5 request(s) in flight")
      }),
    60_000
  )
})

/** Polls a count until it equals `n` (at most 400 times, 5 ms apart on the real clock). */
const awaitCount = (count: Effect.Effect<number>, n: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < 400 && (yield* count) !== n; i++) {
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 5)))
    }
    assert.strictEqual(yield* count, n)
  })

/** The error code of a connection attempt on loopback ("connected" when it is accepted). */
const connectError = (port: number): Promise<string> =>
  new Promise((resolve) => {
    const socket = Net.connect(port, "127.0.0.1")
    socket.once("connect", () => (socket.destroy(), resolve("connected")))
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? String(error)))
  })

describe("GracefulShutdown (in process)", () => {
  const ServerLive = NodeHttpServer.layer(Http.createServer, { port: 0, host: "127.0.0.1" })

  /** Builds `layer` (an app served with GracefulShutdown) in a scope of its own, which the test closes. */
  const serving = <E>(layer: Layer.Layer<HttpServer.HttpServer | GracefulShutdown.GracefulShutdown, E>) =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(layer, scope)
      const server = yield* HttpServer.HttpServer.pipe(Effect.provide(context))
      const shutdown = yield* GracefulShutdown.GracefulShutdown.pipe(Effect.provide(context))
      const port = server.address._tag === "TcpAddress" ? server.address.port : 0
      return { scope, shutdown, port }
    })

  it.scoped("the drain waits preStopDelay, then the in-flight requests, by the Clock", () =>
    Effect.gen(function*() {
      const release = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const app = HttpRouter.empty.pipe(
        HttpRouter.get(
          "/work",
          Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(release)).pipe(
            Effect.as(HttpServerResponse.text("done"))
          )
        ),
        HttpRouter.concat(Health.router)
      )
      const { port, scope, shutdown } = yield* serving(
        HttpServer.serve(app).pipe(
          Layer.provideMerge(GracefulShutdown.layer({ preStopDelay: "5 seconds", drainTimeout: "10 seconds" })),
          Layer.provideMerge(ServerLive),
          Layer.provideMerge(Health.layer({ eventLoop: false }))
        )
      )
      const reply = Effect.runPromise(Effect.promise(() => get(port, "/work", false)))
      yield* Deferred.await(started)
      assert.strictEqual(yield* shutdown.inFlight, 1)

      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* TestClock.adjust("0 millis")
      assert.isTrue(yield* shutdown.draining)
      const ready = yield* Effect.promise(() => get(port, "/health/ready", false))
      assert.strictEqual(ready.status, 503)
      assert.strictEqual(ready.connection, "close")
      yield* TestClock.adjust("5 seconds")
      yield* TestClock.adjust("9 seconds")
      assert.isNull(closing.unsafePoll())
      yield* Deferred.succeed(release, undefined)
      const answered = yield* Effect.promise(() => reply)
      assert.strictEqual(answered.status, 200)
      assert.strictEqual(answered.body, "done")
      const exit = yield* Fiber.await(closing)
      assert.isTrue(Exit.isSuccess(exit))
    }))

  it.scoped("a request that arrives during preStopDelay is tracked and bounded by the drain deadline", () =>
    Effect.gen(function*() {
      const app = HttpRouter.empty.pipe(HttpRouter.get("/hang", Effect.never))
      const { port, scope, shutdown } = yield* serving(
        HttpServer.serve(app).pipe(
          Layer.provideMerge(GracefulShutdown.layer({ preStopDelay: "5 seconds", drainTimeout: "10 seconds" })),
          Layer.provideMerge(ServerLive)
        )
      )

      // nothing in flight when the drain begins; a request arrives during the pre-stop delay
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* TestClock.adjust("1 second")
      assert.isTrue(yield* shutdown.draining)
      const reply = Effect.runPromise(Effect.promise(() => get(port, "/hang", false)))
      for (let i = 0; i < 400 && (yield* shutdown.inFlight) < 1; i++) {
        yield* Effect.promise(() => new Promise((r) => setTimeout(r, 5)))
      }
      assert.strictEqual(yield* shutdown.inFlight, 1)
      yield* TestClock.adjust("4 seconds")
      yield* TestClock.adjust("9999 millis")
      assert.isNull(closing.unsafePoll(), "the drain waits for the late request")
      yield* TestClock.adjust("1 millis")
      assert.deepInclude(yield* Effect.promise(() => reply), { status: 503, connection: "close" })
      const exit = yield* Fiber.await(closing)
      const defect = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.dieOption(exit.cause)) : undefined
      assert.instanceOf(defect, GracefulShutdown.DrainTimeoutError)
    }))

  it.scoped("once preStopDelay has passed the listener is closed: accepted requests are answered, new ones refused", () =>
    Effect.gen(function*() {
      const release = yield* Deferred.make<void>()
      const app = HttpRouter.empty.pipe(
        HttpRouter.get("/work", Effect.as(Deferred.await(release), HttpServerResponse.text("done")))
      )
      const { port, scope, shutdown } = yield* serving(
        HttpServer.serve(app).pipe(
          Layer.provideMerge(GracefulShutdown.layer({ preStopDelay: "5 seconds", drainTimeout: "10 seconds" })),
          Layer.provideMerge(ServerLive)
        )
      )
      const first = Effect.runPromise(Effect.promise(() => get(port, "/work", false)))
      yield* awaitCount(shutdown.inFlight, 1)

      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* TestClock.adjust("1 second")
      // during preStopDelay the listener still accepts: a request arriving now is served
      const during = Effect.runPromise(Effect.promise(() => get(port, "/work", false)))
      yield* awaitCount(shutdown.inFlight, 2)
      yield* TestClock.adjust("4 seconds")
      // past preStopDelay nothing new is accepted, so steady traffic cannot hold the drain open
      assert.strictEqual(yield* Effect.promise(() => connectError(port)), "ECONNREFUSED")
      assert.isNull(closing.unsafePoll(), "the drain waits for the accepted requests")
      yield* Deferred.succeed(release, undefined)
      for (const reply of yield* Effect.promise(() => Promise.all([first, during]))) {
        assert.deepInclude(reply, { status: 200, body: "done", connection: "close" })
      }
      const exit = yield* Fiber.await(closing)
      assert.isTrue(Exit.isSuccess(exit), String(exit))
    }))

  it.scopedLive(
    "a client that resets the connection as its response is written leaves nothing in flight",
    () =>
      Effect.gen(function*() {
        const release = yield* Deferred.make<void>()
        // the response is written once the client has gone, past the point where the server can interrupt the
        // request: Node never calls back `response.end`, so the request's fiber never ends
        const app = HttpRouter.empty.pipe(
          HttpRouter.get(
            "/work",
            Effect.as(
              HttpApp.appendPreResponseHandler((_, response) => Effect.as(Deferred.await(release), response)),
              HttpServerResponse.text("done")
            )
          )
        )
        const { port, scope, shutdown } = yield* serving(
          HttpServer.serve(app).pipe(
            Layer.provideMerge(GracefulShutdown.layer({ drainTimeout: "20 seconds" })),
            Layer.provideMerge(ServerLive)
          )
        )
        const socket = Net.connect(port, "127.0.0.1")
        socket.on("error", () => {})
        const closed = new Promise((resolve) => socket.once("close", resolve))
        socket.write("GET /work HTTP/1.1\r\nHost: localhost\r\n\r\n")
        yield* awaitCount(shutdown.inFlight, 1)
        socket.resetAndDestroy()
        yield* Effect.promise(() => closed)
        yield* Effect.sleep("20 millis")
        yield* Deferred.succeed(release, undefined)
        yield* awaitCount(shutdown.inFlight, 0)
        // and the drain has nothing to wait for
        const exit = yield* Scope.close(scope, Exit.void).pipe(Effect.timeout("5 seconds"), Effect.exit)
        assert.isTrue(Exit.isSuccess(exit), String(exit))
      }),
    30_000
  )

  it.scoped("past the deadline the finalizer dies with DrainTimeoutError and teardown exits with 75", () =>
    Effect.gen(function*() {
      const app = HttpRouter.empty.pipe(HttpRouter.get("/hang", Effect.never))
      const { port, scope, shutdown } = yield* serving(
        HttpServer.serve(app).pipe(
          Layer.provideMerge(GracefulShutdown.layer({ drainTimeout: "2 seconds", interruptGrace: "1 second" })),
          Layer.provideMerge(ServerLive)
        )
      )
      const reply = Effect.runPromise(Effect.promise(() => get(port, "/hang", false)))
      for (let i = 0; i < 400 && (yield* shutdown.inFlight) < 1; i++) {
        yield* Effect.promise(() => new Promise((r) => setTimeout(r, 5)))
      }
      assert.strictEqual(yield* shutdown.inFlight, 1)

      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* TestClock.adjust("1999 millis")
      assert.isNull(closing.unsafePoll())
      yield* TestClock.adjust("1 millis")
      assert.strictEqual((yield* Effect.promise(() => reply)).status, 503)
      const exit = yield* Fiber.await(closing)
      assert.isTrue(Exit.isFailure(exit))
      const defect = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.dieOption(exit.cause)) : undefined
      assert.instanceOf(defect, GracefulShutdown.DrainTimeoutError)
      assert.strictEqual((defect as GracefulShutdown.DrainTimeoutError).interrupted, 1)

      const codes: Array<number> = []
      GracefulShutdown.teardown(exit, (code) => codes.push(code))
      GracefulShutdown.teardown(Exit.interrupt(FiberId.none), (code) => codes.push(code))
      GracefulShutdown.teardown(Exit.die("boom"), (code) => codes.push(code))
      GracefulShutdown.teardown(Exit.void, (code) => codes.push(code))
      assert.deepStrictEqual(codes, [75, 0, 1, 0])
    }))

  it.effect("bad options fail with InvalidOptionsError naming the field", () =>
    Effect.gen(function*() {
      const error = yield* Layer.build(GracefulShutdown.layer({ drainTimeout: "-1 seconds" })).pipe(
        Effect.provide(NodeHttpServer.layer(Http.createServer, { port: 0, host: "127.0.0.1" })),
        Effect.scoped,
        Effect.flip
      )
      assert.strictEqual(error._tag, "InvalidOptionsError")
      if (error._tag === "InvalidOptionsError") assert.strictEqual(error.field, "drainTimeout")
      for (const [options, field] of [[null, "options"], [{ preStopDelay: "soon" }, "preStopDelay"]] as const) {
        const bad = yield* Layer.build(
          GracefulShutdown.layer(options as unknown as GracefulShutdown.GracefulShutdown.Options)
        )
          .pipe(
            Effect.provide(NodeHttpServer.layer(Http.createServer, { port: 0, host: "127.0.0.1" })),
            Effect.scoped,
            Effect.flip
          )
        assert.deepInclude(bad, { _tag: "InvalidOptionsError", field })
      }
    }))
})
