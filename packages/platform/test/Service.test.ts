/**
 * The service-level load and shutdown test: `test/fixtures/service.ts` (NodeHttpServer, Health.router, /metrics,
 * GracefulShutdown.layer, a PgPool query behind a ResilientClient) runs as a child process on a random loopback
 * port while autocannon drives load at bounded concurrency and duration; PostgreSQL faults are sessions killed with
 * `pg_terminate_backend` (by the pool's `application_name`) and a TCP proxy on loopback taken down and brought back. The figures of each run are printed as one
 * `[service-figures]` JSON line (docs/reliability.md quotes them).
 */
import { PgPool } from "@effect-resilience/pool"
import { Services } from "@effect-resilience/testing"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import autocannon from "autocannon"
import { Effect } from "effect"
import * as Http from "node:http"
import * as Net from "node:net"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { type Child, startFixture } from "./utils/fixtureProcess.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const fixture = path.resolve(here, "fixtures/service.ts")
const postgres = await Services.postgres()

/** Starts the fixture with tsx and waits for it to listen (at most 30 s). */
const startChild = (env: Record<string, string>) => startFixture(fixture, { PG_URL: postgres.url, ...env })

/** The fixture's last line: what reached the handler and how the responses ended. */
const exitCounts = (child: Child): Counts => {
  const line = child.output().split("\n").find((l) => l.startsWith("{\"event\":\"exit\""))
  assert.isDefined(line, child.output())
  return JSON.parse(line!) as Counts
}

/** One GET without keep-alive; the status and the JSON body. */
const getJson = (port: number, urlPath: string) =>
  new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
    const request = Http.get({ host: "127.0.0.1", port, path: urlPath, agent: false, timeout: 10_000 }, (response) => {
      let body = ""
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => (body += chunk))
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(body) }))
    })
    request.on("timeout", () => request.destroy(new Error(`GET ${urlPath} timed out`)))
    request.on("error", reject)
  })

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

interface Load {
  /** Every response: when (performance.now()) and its status. */
  readonly responses: Array<{ readonly at: number; readonly status: number }>
  /** Connection errors by code (ECONNREFUSED once the listener is closed). */
  readonly connErrors: Map<string, number>
  readonly stop: () => void
  readonly done: Promise<autocannon.Result>
}

/** What autocannon's client does at run time beyond its published types (an EventEmitter with `destroy`). */
interface RawClient {
  on(event: "connError", listener: (error: NodeJS.ErrnoException) => void): unknown
  destroy(): void
}

/**
 * autocannon on loopback at bounded concurrency and duration. A connection refused ends that connection's client
 * (autocannon would reconnect in a tight loop otherwise).
 */
const load = (port: number, options: {
  readonly connections: number
  readonly seconds: number
  readonly paths: ReadonlyArray<string>
}): Load => {
  const responses: Array<{ at: number; status: number }> = []
  const connErrors = new Map<string, number>()
  let resolveDone: (result: autocannon.Result) => void = () => {}
  const done = new Promise<autocannon.Result>((resolve) => (resolveDone = resolve))
  const instance = autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: options.connections,
    duration: options.seconds,
    timeout: 10,
    requests: options.paths.map((p) => ({ method: "GET" as const, path: p })),
    setupClient: (typed) => {
      const client = typed as unknown as RawClient
      client.on("connError", (error) => {
        const code = error.code ?? error.message
        connErrors.set(code, (connErrors.get(code) ?? 0) + 1)
        if (code === "ECONNREFUSED") client.destroy()
      })
    }
  }, (error, result) => {
    if (error) throw error
    resolveDone(result)
  })
  instance.on("response", (_client, status) => responses.push({ at: performance.now(), status }))
  return { responses, connErrors, stop: () => instance.stop(), done }
}

interface Proxy {
  readonly port: number
  /** Stops listening (connections refused) and cuts every open connection. */
  readonly down: () => Promise<void>
  /** Listens again on the same port. */
  readonly up: () => Promise<void>
}

/** A TCP proxy on loopback in front of PostgreSQL, to take it away and bring it back without touching the server. */
const startProxy = async (targetPort: number): Promise<Proxy> => {
  const sockets = new Set<Net.Socket>()
  const server = Net.createServer((client) => {
    const upstream = Net.connect(targetPort, "127.0.0.1")
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on("error", () => {})
      socket.once("close", () => (sockets.delete(socket), client.destroy(), upstream.destroy()))
    }
    client.pipe(upstream)
    upstream.pipe(client)
  })
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once("error", reject)
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject)
        resolve((server.address() as Net.AddressInfo).port)
      })
    })
  const port = await listen(0)
  return {
    port,
    down: () =>
      new Promise<void>((resolve) => {
        if (!server.listening) return resolve()
        server.close(() => resolve())
        for (const socket of sockets) socket.destroy()
      }),
    up: () => listen(port).then(() => undefined)
  }
}

const report = (figures: Record<string, unknown>) => console.log(`[service-figures] ${JSON.stringify(figures)}`)

interface Counts {
  readonly received: number
  readonly accepted: number
  readonly answered: number
  readonly abandoned: number
}

const stats = (port: number) =>
  Effect.promise(() => getJson(port, "/stats")).pipe(
    Effect.map(({ body }) => body as { inFlight: number; pool: Record<string, number>; counts: Counts })
  )

/**
 * One service for the whole file (starting one costs seconds of CPU): the tests run in order, as a service lives —
 * clients that reset, PostgreSQL faults, then SIGTERM under steady load, which ends it.
 */
describe.skipIf(!postgres.available)("Service under load (child process, autocannon, PostgreSQL)", () => {
  const preStopMillis = 500
  const longestMillis = 300
  const appName = Services.uniquePrefix("svc")
  let proxy: Proxy
  let child: Child

  beforeAll(async () => {
    proxy = await startProxy(postgres.port)
    child = await startChild({
      PRE_STOP_MS: String(preStopMillis),
      DRAIN_TIMEOUT_MS: "10000",
      APP_NAME: appName,
      PG_URL: `postgres://postgres@127.0.0.1:${proxy.port}/test`
    })
  }, 40_000)

  afterAll(async () => {
    if (child !== undefined && child.process.exitCode === null) child.process.kill("SIGKILL")
    await proxy?.down()
  })

  it.scopedLive("clients that reset mid-response leave nothing in flight", () =>
    Effect.gen(function*() {
      // autocannon ends its run by destroying its connections, some in the middle of a 16 MiB response
      const run = load(child.port, { connections: 8, seconds: 1.5, paths: ["/q", "/big"] })
      // and clients that reset on the first bytes of the body, or right after sending the request
      const resets = yield* Effect.promise(() =>
        Promise.all(Array.from({ length: 40 }, (_, i) =>
          new Promise<"mid-response" | "early">((resolve) => {
            const socket = Net.connect(child.port, "127.0.0.1")
            let midResponse = false
            socket.on("error", () => {})
            socket.once("close", () => resolve(midResponse ? "mid-response" : "early"))
            socket.write("GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n")
            if (i % 4 === 0) setTimeout(() => socket.resetAndDestroy(), i % 8)
            else socket.once("data", () => (midResponse = true, socket.resetAndDestroy()))
          })))
      )
      const midResponse = resets.filter((r) => r === "mid-response").length
      assert.strictEqual(midResponse, 30, "30 clients reset after the first bytes of a 16 MiB body")
      yield* Effect.promise(() => run.done)
      // nothing runs now: the only request in flight is the poll itself
      let leftovers = -1
      for (let i = 0; i < 50 && leftovers !== 0; i++) {
        leftovers = (yield* stats(child.port)).inFlight - 1
        if (leftovers !== 0) yield* Effect.promise(() => sleep(100))
      }
      report({ test: "resets", midResponse, leftovers, counts: (yield* stats(child.port)).counts })
      assert.strictEqual(leftovers, 0, "requests of clients that reset are no longer in flight")
    }), 60_000)

  it.scopedLive(
    "PostgreSQL faults under load: after every session is killed, and after 2 s unreachable, 200s resume within 5 s",
    () =>
      Effect.gen(function*() {
        const admin = yield* PgPool.make({ name: Services.uniquePrefix("svc-admin"), url: postgres.url, max: 1 })
        const run = load(child.port, { connections: 8, seconds: 20, paths: ["/q"] })
        /** Waits until 200s have flowed for a second with no failure since, at most 6 s after `from`. */
        const awaitSteady = (from: number) =>
          Effect.promise(async () => {
            while (performance.now() - from < 6_000) {
              await sleep(200)
              let lastFailure = from
              for (const r of run.responses) if (r.status !== 200 && r.at > lastFailure) lastFailure = r.at
              if (performance.now() - lastFailure > 1_000 && run.responses.some((r) => r.at > lastFailure)) return
            }
          })
        yield* Effect.promise(() => sleep(1_000))
        assert.isTrue(run.responses.some((r) => r.status === 200), "200s before the faults")

        // 1. every session of the service killed on the server
        const killedAt = performance.now()
        const killed = yield* admin.query<{ pid: number; killed: boolean }>(
          "SELECT pid, pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = $1",
          [appName]
        )
        assert.isAbove(killed.length, 0, "the service had sessions to kill")
        yield* awaitSteady(killedAt)

        // 2. PostgreSQL unreachable for 2 s (connections cut, new ones refused), as in a restart
        const downAt = performance.now()
        yield* Effect.promise(() => proxy.down())
        yield* Effect.promise(() => sleep(2_000))
        const upAt = performance.now()
        yield* Effect.promise(() => proxy.up())
        // the load stops once 200s have flowed for a second without a failure, or 6 s after PostgreSQL is back
        yield* awaitSteady(upAt)
        run.stop()
        const result = yield* Effect.promise(() => run.done)

        const between = (from: number, to: number) => run.responses.filter((r) => r.at >= from && r.at < to)
        const recovery = (from: number, to: number) => {
          const window = between(from, to)
          const lastFailure = window.filter((r) => r.status !== 200).at(-1)?.at ?? from
          return {
            seconds: Math.round(lastFailure - from) / 1000,
            non200: window.filter((r) => r.status !== 200).length,
            okAfter: window.filter((r) => r.at > lastFailure && r.status === 200).length
          }
        }
        const afterKill = recovery(killedAt, downAt)
        const afterOutage = recovery(upAt, Infinity)
        // readiness follows: the health checks run every 500 ms
        let ready = 0
        for (let i = 0; i < 30 && ready !== 200; i++) {
          ready = (yield* Effect.promise(() => getJson(child.port, "/health/ready"))).status
          if (ready !== 200) yield* Effect.promise(() => sleep(100))
        }
        // and the pool comes back to rest: nothing borrowed, nobody waiting, once the load has ended
        let pool: Record<string, number> = {}
        for (let i = 0; i < 30; i++) {
          pool = (yield* stats(child.port)).pool
          if (pool.borrowed === 0 && pool.waiting === 0) break
          yield* Effect.promise(() => sleep(100))
        }
        report({
          test: "pg-faults",
          sessionsKilled: killed.length,
          afterKill,
          non200DuringOutage: between(downAt, upAt).filter((r) => r.status !== 200).length,
          afterOutage,
          timeouts: result.timeouts,
          ready,
          pool
        })
        assert.isAtMost(afterKill.seconds, 5, `200s resumed ${afterKill.seconds} s after the kill`)
        assert.isAbove(afterKill.okAfter, 50, "steady 200s after the kill")
        assert.isAtMost(afterOutage.seconds, 5, `200s resumed ${afterOutage.seconds} s after PostgreSQL was back`)
        assert.isAbove(afterOutage.okAfter, 50, "steady 200s after the outage")
        assert.strictEqual(ready, 200)
        assert.deepInclude(pool, { borrowed: 0, waiting: 0 })
      }),
    60_000
  )

  it.scopedLive(
    "SIGTERM under steady load: exit 0 within preStopDelay + the longest request + a margin, every request received answered",
    () =>
      Effect.gen(function*() {
        const run = load(child.port, { connections: 16, seconds: 15, paths: ["/q", `/slow?ms=${longestMillis}`] })
        yield* Effect.promise(() => sleep(1_000))
        const before = (yield* stats(child.port)).counts
        const responsesBefore = run.responses.length
        assert.isAbove(responsesBefore, 0, "steady load before the signal")
        const signalledAt = performance.now()
        child.process.kill("SIGTERM")
        const code = yield* Effect.promise(() => child.exited)
        const drainMillis = performance.now() - signalledAt
        run.stop()
        const result = yield* Effect.promise(() => run.done)
        const counts = exitCounts(child)
        report({
          test: "shutdown",
          exitCode: code,
          drainMillis: Math.round(drainMillis),
          answeredDuringDrain: run.responses.length - responsesBefore,
          before,
          atExit: counts,
          timeouts: result.timeouts,
          connErrors: Object.fromEntries(run.connErrors)
        })
        assert.strictEqual(code, 0, child.output().slice(-2_000))
        // generous: what is asserted is that the drain does not run to its 10 s deadline under steady traffic
        assert.isBelow(drainMillis, preStopMillis + longestMillis + 4_000)
        assert.strictEqual(counts.accepted, counts.received, "every request the server received reached the handler")
        assert.strictEqual(counts.answered + counts.abandoned, counts.received, "and ended")
        assert.strictEqual(counts.abandoned, before.abandoned, "with its answer: no client was left without one")
        assert.strictEqual(result.timeouts, 0, "no request was left hanging")
        assert.isAbove(run.responses.length, responsesBefore, "requests were served during preStopDelay")
        assert.include(child.output(), "shutdown: drained, every request answered")
      }),
    60_000
  )
})
