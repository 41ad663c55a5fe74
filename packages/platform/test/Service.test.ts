/**
 * The service-level load and shutdown test: `test/fixtures/service.ts` (NodeHttpServer, Health.router, /metrics,
 * GracefulShutdown.layer, a PgPool query behind a ResilientClient) runs as a child process on a random loopback
 * port while autocannon drives load at bounded concurrency and duration. The figures of each run are printed as one
 * `[service-figures]` JSON line (docs/reliability.md quotes them).
 */
import { PgPool } from "@effect-resilience/pool"
import { Services } from "@effect-resilience/testing"
import { assert, describe, it } from "@effect/vitest"
import autocannon from "autocannon"
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as Http from "node:http"
import * as Net from "node:net"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, "../../..")
const fixture = path.resolve(here, "fixtures/service.ts")
const postgres = await Services.postgres()

interface Child {
  readonly process: ChildProcess
  readonly port: number
  readonly exited: Promise<number | null>
  readonly output: () => string
}

interface ExitCounts {
  readonly received: number
  readonly accepted: number
  readonly answered: number
  readonly abandoned: number
}

/** Starts the fixture with tsx and waits for it to listen (at most 30 s); kills it when the scope closes. */
const startChild = (env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<Child>((resolve, reject) => {
        const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", fixture], {
          cwd: root,
          env: { ...process.env, PG_URL: postgres.url, ...env },
          stdio: ["ignore", "pipe", "pipe"]
        })
        let output = ""
        const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)))
        const timer = setTimeout(() => reject(new Error(`the fixture did not start: ${output}`)), 30_000)
        child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()))
        child.stdout!.on("data", (chunk: Buffer) => {
          output += chunk.toString()
          const line = output.split("\n").find((l) => l.startsWith("{\"event\":\"listening\""))
          if (line !== undefined) {
            clearTimeout(timer)
            resolve({ process: child, port: JSON.parse(line).port, exited, output: () => output })
          }
        })
        child.once("exit", (code) => {
          clearTimeout(timer)
          reject(new Error(`the fixture exited with ${code}: ${output}`))
        })
      })
    ),
    (child) => Effect.sync(() => child.process.exitCode === null && child.process.kill("SIGKILL"))
  )

/** The fixture's last line: what reached the handler and how the responses ended. */
const exitCounts = (child: Child): ExitCounts => {
  const line = child.output().split("\n").find((l) => l.startsWith("{\"event\":\"exit\""))
  assert.isDefined(line, child.output())
  return JSON.parse(line!) as ExitCounts
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

const report = (figures: Record<string, unknown>) => console.log(`[service-figures] ${JSON.stringify(figures)}`)

describe.skipIf(!postgres.available)("Service under load (child process, autocannon, PostgreSQL)", () => {
  it.scopedLive(
    "SIGTERM under steady load: exit 0 within preStopDelay + the longest request + a margin, every accepted request answered",
    () =>
      Effect.gen(function*() {
        const preStopMillis = 500
        const longestMillis = 300
        const child = yield* startChild({
          PRE_STOP_MS: String(preStopMillis),
          DRAIN_TIMEOUT_MS: "10000",
          APP_NAME: Services.uniquePrefix("svc-shutdown")
        })
        const run = load(child.port, { connections: 16, seconds: 15, paths: ["/q", `/slow?ms=${longestMillis}`] })
        yield* Effect.promise(() => sleep(1_500))
        const before = run.responses.length
        assert.isAbove(before, 0, "steady load before the signal")
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
          requestsPerSecond: Math.round(result.requests.average),
          answeredDuringDrain: run.responses.length - before,
          ...counts,
          timeouts: result.timeouts,
          connErrors: Object.fromEntries(run.connErrors)
        })
        assert.strictEqual(code, 0, child.output().slice(-2_000))
        // generous: what is asserted is that the drain does not run to its 10 s deadline under steady traffic
        assert.isBelow(drainMillis, preStopMillis + longestMillis + 4_000)
        assert.strictEqual(counts.accepted, counts.received, "every request the server received reached the handler")
        assert.strictEqual(counts.answered, counts.received, "and was answered")
        assert.strictEqual(counts.abandoned, 0)
        assert.strictEqual(result.timeouts, 0, "no request was left without an answer")
        assert.isAbove(run.responses.length, before, "requests were served during preStopDelay")
        assert.include(child.output(), "shutdown: drained, every request answered")
      }),
    60_000
  )

  it.scopedLive(
    "clients that reset mid-response leave nothing in flight, and a later SIGTERM exits 0 at once",
    () =>
      Effect.gen(function*() {
        const child = yield* startChild({
          PRE_STOP_MS: "0",
          DRAIN_TIMEOUT_MS: "10000",
          APP_NAME: Services.uniquePrefix("svc-reset")
        })
        // autocannon ends its run by destroying its connections, some in the middle of a 16 MiB response
        const run = load(child.port, { connections: 8, seconds: 2, paths: ["/q", "/big"] })
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
          leftovers = ((yield* Effect.promise(() => getJson(child.port, "/stats"))).body.inFlight as number) - 1
          if (leftovers !== 0) yield* Effect.promise(() => sleep(100))
        }
        const signalledAt = performance.now()
        child.process.kill("SIGTERM")
        const code = yield* Effect.promise(() => child.exited)
        const drainMillis = performance.now() - signalledAt
        const counts = exitCounts(child)
        report({
          test: "resets",
          midResponse,
          leftovers,
          exitCode: code,
          drainMillis: Math.round(drainMillis),
          ...counts
        })
        assert.strictEqual(leftovers, 0, "requests of clients that reset are no longer in flight")
        assert.strictEqual(code, 0, child.output().slice(-2_000))
        assert.include(child.output(), "shutdown: drained, every request answered")
      }),
    60_000
  )

  it.scopedLive(
    "after every PostgreSQL session of the service is killed under load, 200s resume within 5 s",
    () =>
      Effect.gen(function*() {
        const appName = Services.uniquePrefix("svc-pgkill")
        const admin = yield* PgPool.make({ name: Services.uniquePrefix("svc-admin"), url: postgres.url, max: 1 })
        const child = yield* startChild({ PRE_STOP_MS: "0", DRAIN_TIMEOUT_MS: "5000", APP_NAME: appName })
        const run = load(child.port, { connections: 8, seconds: 7, paths: ["/q"] })
        yield* Effect.promise(() => sleep(1_500))
        assert.isTrue(run.responses.length > 0 && run.responses.every((r) => r.status === 200), "healthy before")
        const killedAt = performance.now()
        const killed = yield* admin.query<{ pid: number; killed: boolean }>(
          "SELECT pid, pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = $1",
          [appName]
        )
        assert.isAbove(killed.length, 0, "the service had sessions to kill")
        const result = yield* Effect.promise(() => run.done)
        const after = run.responses.filter((r) => r.at >= killedAt)
        const failures = after.filter((r) => r.status !== 200)
        const lastFailure = failures.at(-1)?.at ?? killedAt
        const recoverySeconds = (lastFailure - killedAt) / 1000
        const okAfterRecovery = after.filter((r) => r.at > lastFailure && r.status === 200).length
        // readiness follows: the health checks run every 500 ms
        let ready = 0
        for (let i = 0; i < 30 && ready !== 200; i++) {
          ready = (yield* Effect.promise(() => getJson(child.port, "/health/ready"))).status
          if (ready !== 200) yield* Effect.promise(() => sleep(100))
        }
        const stats = yield* Effect.promise(() => getJson(child.port, "/stats"))
        report({
          test: "pg-kill",
          sessionsKilled: killed.length,
          requestsAfterKill: after.length,
          non200AfterKill: failures.length,
          recoverySeconds,
          okAfterRecovery,
          timeouts: result.timeouts,
          ready,
          pool: stats.body.pool
        })
        assert.isAtMost(recoverySeconds, 5, `200s resumed ${recoverySeconds} s after the kill`)
        assert.isAbove(okAfterRecovery, 100, "steady 200s after recovery")
        assert.strictEqual(ready, 200)
        child.process.kill("SIGTERM")
        assert.strictEqual(yield* Effect.promise(() => child.exited), 0, child.output().slice(-2_000))
      }),
    60_000
  )
})
