/**
 * The overload scenario's service, run as a child process: a NodeHttpServer whose `/work` handler spends `WORK_MS`
 * of CPU and then waits `WAIT_MS` (a query), behind `LoadShedding` with a limit of `LIMIT` when `LIMIT` is set.
 * `/hold` takes a slot for `HOLD_MS` (to measure what a shed request costs alone); `/health/cpu` (never shed)
 * answers the process's CPU time in microseconds and the responses by status. Prints `{"port":…}` when listening.
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

const statuses: Record<number, number> = {}
const busy = (millis: number) => {
  const until = performance.now() + millis
  while (performance.now() < until) {
    // CPU work: what a real handler spends decoding, querying and encoding.
  }
}

const app = HttpRouter.empty.pipe(
  HttpRouter.get(
    "/work",
    Effect.suspend(() => {
      busy(workMs)
      return Effect.as(Effect.sleep(waitMs), HttpServerResponse.text("done"))
    })
  ),
  HttpRouter.get("/hold", Effect.as(Effect.sleep(holdMs), HttpServerResponse.text("held"))),
  HttpRouter.get(
    "/health/cpu",
    Effect.sync(() => {
      const cpu = process.cpuUsage()
      return HttpServerResponse.unsafeJson({ cpuMicros: cpu.user + cpu.system, statuses })
    })
  )
)

/** Counts responses by status, outside the shedder. */
const count = <E, R>(inner: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  Effect.tap(inner, (response) => {
    statuses[response.status] = (statuses[response.status] ?? 0) + 1
  })

const shedder = limit === undefined ? undefined : LoadShedding.middleware({ limit })

const Live = Layer.mergeAll(
  HttpServer.serve(app, (inner) => count(shedder === undefined ? inner : shedder(inner))),
  Layer.effectDiscard(Effect.flatMap(HttpServer.HttpServer, (server) =>
    Effect.sync(() => {
      const port = server.address._tag === "TcpAddress" ? server.address.port : 0
      console.log(JSON.stringify({ port }))
    })))
).pipe(Layer.provide(NodeHttpServer.layer(Http.createServer, { port: 0, host: "127.0.0.1" })))

NodeRuntime.runMain(Layer.launch(Live))
