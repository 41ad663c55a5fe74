/**
 * Overload on loopback (issue 19): a real NodeHttpServer whose handler slows as concurrency grows (a backend of
 * `capacity` workers: each request takes `base` ms while at most `capacity` run, proportionally longer past it),
 * driven by an open-loop generator at twice its capacity (evenly spaced arrivals, bounded in time and count). With `LoadShedding` the
 * requests it accepts keep their unloaded latency (p99 within 2x) and the rest get 503 + Retry-After; without it,
 * every request waits and p99 grows with the backlog. The figures are printed as one `[overload-figures]` line.
 */
import { LoadShedding } from "@effect-resilience/platform"
import { type HttpApp, HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Http from "node:http"

const base = 200
const capacity = 8
/** Requests per second the handler serves at its best. */
const capacityRate = (capacity * 1000) / base

interface Run {
  readonly ok: number
  readonly shed: number
  readonly retryAfter: number
  readonly other: number
  readonly p50: number
  readonly p99: number
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!

/**
 * An open-loop load generator: `rate` requests per second, evenly spaced (autocannon's `overallRate` sends each
 * second's requests in a burst), for `seconds`; or, without `rate`, `connections` closed loops. Latencies of the
 * 200s, and the 503s (with or without `Retry-After`).
 */
const load = (
  url: string,
  options: { readonly connections: number; readonly rate?: number; readonly seconds: number }
) =>
  Effect.promise(async (): Promise<Run> => {
    const agent = new Http.Agent({ keepAlive: true, maxSockets: 1_000 })
    const ok: Array<number> = []
    let shed = 0
    let other = 0
    let retryAfter = 0
    const one = () =>
      new Promise<void>((done) => {
        const start = performance.now()
        const request = Http.get(url, { agent }, (response) => {
          response.resume()
          response.on("end", () => {
            if (response.statusCode === 200) ok.push(performance.now() - start)
            else if (response.statusCode === 503) {
              shed++
              if (response.headers["retry-after"] !== undefined) retryAfter++
            } else other++
            done()
          })
        })
        request.on("error", () => (other++, done()))
      })
    const until = performance.now() + options.seconds * 1_000
    const pending: Array<Promise<void>> = []
    if (options.rate === undefined) {
      const loop = async () => {
        while (performance.now() < until) await one()
      }
      for (let i = 0; i < options.connections; i++) pending.push(loop())
    } else {
      const interval = 1_000 / options.rate
      const total = Math.floor(options.rate * options.seconds)
      const t0 = performance.now()
      for (let i = 0; i < total; i++) {
        const wait = t0 + i * interval - performance.now()
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
        pending.push(one())
      }
    }
    await Promise.all(pending)
    agent.destroy()
    ok.sort((a, b) => a - b)
    return { ok: ok.length, shed, retryAfter, other, p50: percentile(ok, 50), p99: percentile(ok, 99) }
  })

/** Serves the slow handler (through `shedding` when given) on a random loopback port. */
const serve = (shedding: LoadShedding.LoadShedding.Options | undefined) =>
  Effect.gen(function*() {
    let running = 0
    let missingRetryAfter = 0
    const work = Effect.suspend(() => {
      running++
      return Effect.sleep(Math.round(base * Math.max(1, running / capacity))).pipe(
        Effect.ensuring(Effect.sync(() => running--)),
        Effect.as(HttpServerResponse.text("done"))
      )
    })
    const app = HttpRouter.empty.pipe(HttpRouter.get("/work", work))
    // Outside the shedder: every 503 must carry Retry-After.
    const check = <E, R>(inner: HttpApp.Default<E, R>): HttpApp.Default<E, R> =>
      Effect.tap(inner, (response) => {
        if (response.status === 503 && response.headers["retry-after"] === undefined) missingRetryAfter++
      })
    const shedder = shedding === undefined ? undefined : yield* LoadShedding.make(shedding)
    const middleware = shedder === undefined
      ? check
      : <E, R>(inner: HttpApp.Default<E, R>) => check(shedder.middleware(inner))
    const scope = yield* Effect.scope
    const context = yield* Layer.buildWithScope(
      HttpServer.serve(app, middleware).pipe(
        Layer.provideMerge(NodeHttpServer.layer(Http.createServer, { port: 0, host: "127.0.0.1" }))
      ),
      scope
    )
    const server = yield* HttpServer.HttpServer.pipe(Effect.provide(context))
    const port = server.address._tag === "TcpAddress" ? server.address.port : 0
    return { url: `http://127.0.0.1:${port}/work`, missingRetryAfter: () => missingRetryAfter }
  })

describe("LoadShedding under overload (loopback, 2x capacity)", () => {
  it.live(
    "shedding keeps the accepted p99 within 2x unloaded and answers the rest 503; without it p99 grows",
    () =>
      Effect.gen(function*() {
        const overload = { connections: 100, rate: 2 * capacityRate, seconds: 4 }
        const shedding = yield* Effect.scoped(Effect.gen(function*() {
          const server = yield* serve({ limit: capacity })
          const unloaded = yield* load(server.url, { connections: capacity / 2, seconds: 3 })
          const loaded = yield* load(server.url, overload)
          return { unloaded, loaded, missingRetryAfter: server.missingRetryAfter() }
        }))
        const plain = yield* Effect.scoped(Effect.gen(function*() {
          const server = yield* serve(undefined)
          return yield* load(server.url, overload)
        }))
        const figures = {
          capacityRate,
          offeredRate: overload.rate,
          unloadedP99: shedding.unloaded.p99,
          shedding: shedding.loaded,
          withoutShedding: plain,
          acceptedP99Ratio: shedding.loaded.p99 / shedding.unloaded.p99,
          withoutSheddingP99Ratio: plain.p99 / shedding.unloaded.p99
        }
        console.log(`[overload-figures] ${JSON.stringify(figures)}`)
        assert.isAbove(shedding.loaded.ok, 0)
        assert.isAbove(shedding.loaded.shed, 0, "at 2x capacity some requests are shed")
        assert.strictEqual(shedding.loaded.other, 0)
        assert.strictEqual(shedding.missingRetryAfter, 0, "every 503 carries Retry-After")
        assert.strictEqual(shedding.loaded.retryAfter, shedding.loaded.shed)
        assert.isAtMost(figures.acceptedP99Ratio, 2, "accepted p99 within 2x unloaded")
        // Without shedding nothing is refused, and every request waits behind the backlog.
        assert.strictEqual(plain.shed, 0)
        assert.isAbove(figures.withoutSheddingP99Ratio, 2)
      }),
    { timeout: 30_000 }
  )
})
