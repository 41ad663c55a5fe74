/**
 * The overload scenario's service, run as a child process: a NodeHttpServer whose `/work` handler spends `WORK_MS`
 * of CPU and then waits `WAIT_MS` (a query), behind `LoadShedding` with a limit of `LIMIT` when `LIMIT` is set.
 * The shedder's front (`shedder.front`) sheds in the Node server's `request` event unless `FRONT=0`; it lets
 * `/mw/work` (the same handler) through, so that those requests are shed by the middleware alone.
 * `/hold` takes a slot for `HOLD_MS` (to measure what a shed request costs alone); `/health/cpu` (never shed)
 * answers the process's CPU time in microseconds, the app's responses by status (those shed at the front are not
 * among them) and the requests shed, wherever. Prints `{"port":…}` when listening.
 *
 * @since 0.1.0
 */
import { LoadShedding } from "@effect-resilience/platform"
import { HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import * as Http from "node:http"

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback)
const workMs = env("WORK_MS", 1)
const waitMs = env("WAIT_MS", 10)
const holdMs = env("HOLD_MS", 10_000)
const limit = process.env.LIMIT === undefined ? undefined : env("LIMIT", 16)
// FRONT=0: shed in the middleware only (by default the shedder's front sheds in the Node server's request event).
const front = process.env.FRONT !== "0"

const statuses: Record<number, number> = {}
const busy = (millis: number) => {
  const until = performance.now() + millis
  while (performance.now() < until) {
    // CPU work: what a real handler spends decoding, querying and encoding.
  }
}

const work = Effect.suspend(() => {
  busy(workMs)
  return Effect.as(Effect.sleep(waitMs), HttpServerResponse.text("done"))
})

const app = HttpRouter.empty.pipe(
  HttpRouter.get("/work", work),
  // The same, let through by the front: shed by the middleware alone (the cost of a shed without the front).
  HttpRouter.get("/mw/work", work),
  HttpRouter.get("/hold", Effect.as(Effect.sleep(holdMs), HttpServerResponse.text("held"))),
  HttpRouter.get(
    "/health/cpu",
    Effect.sync(() => {
      const cpu = process.cpuUsage()
      const shed = shedder === undefined ? 0 : Object.values(Effect.runSync(shedder.stats).shed).reduce((a, b) => a + b)
      return HttpServerResponse.unsafeJson({ cpuMicros: cpu.user + cpu.system, statuses, shed })
    })
  )
)

/** Counts responses by status, outside the shedder. */
const count = <E, R>(inner: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  Effect.tap(inner, (response) => {
    statuses[response.status] = (statuses[response.status] ?? 0) + 1
  })

const shedder = limit === undefined ? undefined : Effect.runSync(LoadShedding.make({ limit }))

const Live = Layer.mergeAll(
  HttpServer.serve(app, (inner) => count(shedder === undefined ? inner : shedder.middleware(inner))),
  Layer.effectDiscard(Effect.flatMap(HttpServer.HttpServer, (server) =>
    Effect.sync(() => {
      const port = server.address._tag === "TcpAddress" ? server.address.port : 0
      console.log(JSON.stringify({ port }))
    })))
).pipe(Layer.provide(NodeHttpServer.layer(
  () =>
    shedder !== undefined && front
      ? shedder.front(Http.createServer(), {
        exempt: (request) => /^\/(health|metrics|mw\/)/.test(request.url ?? "/")
      })
      : Http.createServer(),
  { port: 0, host: "127.0.0.1" }
)))

NodeRuntime.runMain(Layer.launch(Live))
