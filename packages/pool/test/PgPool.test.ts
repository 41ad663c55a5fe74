import { ResilienceMetrics, ResilienceRegistry } from "@effect-resilience/core"
import { PgPool } from "@effect-resilience/pool"
import { Services } from "@effect-resilience/testing"
import { describe, expect, it } from "@effect/vitest"
import {
  Cause,
  Config,
  ConfigProvider,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Logger,
  LogLevel,
  Metric,
  Redacted,
  Scope,
  Tracer
} from "effect"
import pg from "pg"
import * as pgError from "../src/internal/pgError.js"
import * as Proxy from "./utils/proxy.js"

const postgres = await Services.postgres()

/** A plain node-postgres client outside any pool, to look at the server's side. */
const withAdmin = <A>(f: (client: pg.Client) => Promise<A>): Effect.Effect<A> =>
  Effect.acquireUseRelease(
    Effect.promise(async () => {
      const client = new pg.Client({ connectionString: postgres.url, application_name: "er-test-pgpool-admin" })
      await client.connect()
      return client
    }),
    (client) => Effect.promise(() => f(client)),
    (client) => Effect.promise(() => client.end())
  )

const sessions = (applicationName: string) =>
  withAdmin(async (c) =>
    (await c.query<{ pid: number; state: string | null; query: string }>(
      "SELECT pid, state, query FROM pg_stat_activity WHERE application_name = $1",
      [applicationName]
    )).rows
  )

/** Yields to the event loop (no timer) until `condition` holds, at most `turns` times. */
const eventually = (condition: Effect.Effect<boolean>, turns = 20_000): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    for (let i = 0; i < turns; i++) {
      if (yield* condition) return true
      yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
    }
    return false
  })

describe("PgPool classification", () => {
  it("classifies SQLSTATEs", () => {
    for (const code of ["08006", "08001", "57P01", "57P02", "57P03", "40001", "40P01", "53300"]) {
      expect(PgPool.isTransientCode(code)).toBe(true)
    }
    for (const code of ["23505", "42601", "22012", "57014", "28P01", "42P01"]) {
      expect(PgPool.isTransientCode(code)).toBe(false)
    }
  })

  it("scrubs the password and URL credentials from error text", () => {
    const raw = Object.assign(new Error("cannot reach postgres://app:Hunter2Secret@db:5432/x (Hunter2Secret)"), {
      code: "ECONNREFUSED",
      detail: "see Hunter2Secret"
    })
    const error = pgError.fromUnknown(raw, ["Hunter2Secret"], true)
    expect(error).toMatchObject({ _tag: "PgError", code: "08001", transient: true, systemCode: "ECONNREFUSED" })
    expect(error.message).toBe("cannot reach postgres://app:***@db:5432/x (***)")
    const sql = pgError.fromUnknown(
      Object.assign(new Error("password Hunter2Secret rejected"), { code: "28P01", detail: "Hunter2Secret" }),
      ["Hunter2Secret"],
      true
    )
    expect(sql).toMatchObject({ code: "28P01", transient: false, message: "password *** rejected", detail: "***" })
  })

  it.scoped("a malformed url is a typed error with the password masked", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(PgPool.make({ name: "bad-url", url: "mysql://u:Hunter2Secret@host/db" }))
      expect(error._tag).toBe("InvalidOptionsError")
      if (error._tag === "InvalidOptionsError") expect(error.field).toBe("url")
      expect(JSON.stringify(error) + error.message).not.toContain("Hunter2Secret")
      const notUrl = yield* Effect.flip(PgPool.make({ name: "bad-url", url: Redacted.make("not a url") }))
      expect(notUrl._tag).toBe("InvalidOptionsError")
      const badMax = yield* Effect.flip(PgPool.make({ name: "bad-max", url: postgres.url, max: 0 }))
      if (badMax._tag === "InvalidOptionsError") expect(badMax.field).toBe("max")
      else expect.fail("expected InvalidOptionsError")
    }))

  it.effect("its registry name is free again once the pool's scope has closed (no connection needed)", () =>
    Effect.gen(function*() {
      // min 0: nothing connects, so no server is needed.
      const make = PgPool.make({ name: "pg-reused", url: "postgres://u@127.0.0.1:1/db", min: 0 })
      const names = Effect.map(ResilienceRegistry.entries, (all) => all.map((e) => `${e.kind}:${e.name}`))
      yield* Effect.scoped(Effect.gen(function*() {
        yield* make
        expect(yield* names).toEqual(["pool:pg-reused"])
        expect((yield* Effect.flip(make))._tag).toBe("DuplicateNameError")
      }))
      yield* Effect.scoped(Effect.gen(function*() {
        yield* make
        expect(yield* names).toEqual(["pool:pg-reused"])
      }))
      expect(yield* names).toEqual([])
    }).pipe(Effect.provide(ResilienceRegistry.layer)))
})

describe.skipIf(!postgres.available)("PgPool against PostgreSQL", () => {
  it.scopedLive("200 concurrent queries through max 10 never open more than 10 sessions", () =>
    Effect.gen(function*() {
      const applicationName = Services.uniquePrefix("pgpool-200")
      const db = yield* PgPool.make({ name: applicationName, url: postgres.url, max: 10 })
      expect(db.applicationName).toBe(applicationName)
      const counts = yield* Effect.forEach(
        Array.from({ length: 200 }, (_, i) => i),
        (i) =>
          Effect.map(
            db.query<{ n: string; i: number }>(
              "SELECT (SELECT count(*) FROM pg_stat_activity WHERE application_name = $1) AS n, $2::int AS i, pg_sleep(0.002)",
              [applicationName, i]
            ),
            (rows) => {
              expect(rows[0]!.i).toBe(i)
              return Number(rows[0]!.n)
            }
          ),
        { concurrency: "unbounded" }
      )
      expect(Math.max(...counts)).toBeLessThanOrEqual(10)
      expect(Math.max(...counts)).toBeGreaterThan(1)
      expect((yield* sessions(applicationName)).length).toBeLessThanOrEqual(10)
      const stats = yield* db.stats
      expect(stats.borrowed).toBe(0)
      expect(stats.size).toBeLessThanOrEqual(10)
    }))

  it.scopedLive("one query effect run many times at once: each run has its own timeout", () =>
    Effect.gen(function*() {
      const db = yield* PgPool.make({
        name: Services.uniquePrefix("pgpool-shared"),
        url: postgres.url,
        max: 4,
        queryTimeout: "150 millis"
      })
      const nap = db.query<{ ok: boolean }>("SELECT pg_sleep(0.04) IS NULL AS ok")
      const results = yield* Effect.all(Array.from({ length: 24 }, () => Effect.either(nap)), {
        concurrency: "unbounded"
      })
      expect(results.filter((r) => r._tag === "Left")).toEqual([])
      const slow = db.query("SELECT pg_sleep(5)")
      const timedOut = yield* Effect.all([Effect.flip(slow), Effect.flip(slow)], { concurrency: "unbounded" })
      expect(timedOut.map((e) => e._tag)).toEqual(["TimeoutError", "TimeoutError"])
    }))

  it.scopedLive("a backend killed with pg_terminate_backend is replaced and the next query succeeds", () =>
    Effect.gen(function*() {
      const applicationName = Services.uniquePrefix("pgpool-kill")
      const db = yield* PgPool.make({ name: applicationName, url: postgres.url, max: 1 })
      const [before] = yield* db.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")
      const terminated = yield* withAdmin(async (c) =>
        (await c.query<{ ok: boolean }>("SELECT pg_terminate_backend($1, 5000) AS ok", [before!.pid])).rows[0]!.ok
      )
      expect(terminated).toBe(true)
      // The pool evicts the dead session as soon as its client reports it.
      expect(yield* eventually(Effect.map(db.stats, (s) => s.size === 0))).toBe(true)
      const [after] = yield* db.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")
      expect(after!.pid).not.toBe(before!.pid)
      const invalidated = Metric.tagged(ResilienceMetrics.poolInvalidatedTotal, "name", applicationName)
      expect((yield* Metric.value(invalidated)).count).toBe(1)
    }))

  it.scopedLive("queries that wait for a connection are counted in the acquire histogram, under the pool's name", () =>
    Effect.gen(function*() {
      const applicationName = Services.uniquePrefix("pgpool-acquire")
      const db = yield* PgPool.make({ name: applicationName, url: postgres.url, max: 1 })
      const acquire = Metric.tagged(ResilienceMetrics.poolAcquireDurationSeconds, "name", applicationName)
      // No connection yet and one at most: all three wait (for its creation, then for each other).
      yield* Effect.all(Array.from({ length: 3 }, () => db.query("SELECT 1")), { concurrency: "unbounded" })
      expect((yield* Metric.value(acquire)).count).toBe(3)
      // Lent at once from the idle stack: not a wait, not counted (the pool's histogram option is off).
      yield* db.query("SELECT 1")
      expect((yield* Metric.value(acquire)).count).toBe(3)
    }))

  it.scopedLive("a long query hits the query timeout and the server really stops it", () =>
    Effect.gen(function*() {
      const applicationName = Services.uniquePrefix("pgpool-timeout")
      const db = yield* PgPool.make({ name: applicationName, url: postgres.url, max: 1, queryTimeout: "200 millis" })
      const [session] = yield* db.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")
      const error = yield* Effect.flip(db.query("SELECT pg_sleep(30)"))
      expect(error._tag).toBe("TimeoutError")
      const running = yield* sessions(applicationName)
      expect(running.filter((s) => s.state === "active")).toEqual([])
      expect(running.map((s) => s.pid)).toEqual([session!.pid])
      // Same session, still usable: the statement was cancelled, not the connection.
      const [again] = yield* db.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")
      expect(again!.pid).toBe(session!.pid)
    }))

  it.scopedLive("an interrupted query is cancelled on the server too", () =>
    Effect.gen(function*() {
      const applicationName = Services.uniquePrefix("pgpool-interrupt")
      const db = yield* PgPool.make({ name: applicationName, url: postgres.url, max: 1 })
      const exit = yield* Effect.exit(db.query("SELECT pg_sleep(30)").pipe(Effect.timeout("200 millis")))
      expect(Exit.isFailure(exit)).toBe(true)
      // The caller returns at once; the cancel follows right behind it.
      expect(
        yield* eventually(Effect.map(sessions(applicationName), (s) => s.every((r) => r.state !== "active")))
      ).toBe(true)
      expect(yield* db.query<{ one: number }>("SELECT 1 AS one")).toEqual([{ one: 1 }])
    }))

  it.scopedLive("a query interrupted while it waits for a connection never runs", () =>
    Effect.gen(function*() {
      const applicationName = Services.uniquePrefix("pgpool-queued")
      const sequence = applicationName.replace(/-/g, "_")
      yield* withAdmin((c) => c.query(`CREATE SEQUENCE ${sequence}`))
      yield* Effect.addFinalizer(() => withAdmin((c) => c.query(`DROP SEQUENCE IF EXISTS ${sequence}`)))
      const db = yield* PgPool.make({ name: applicationName, url: postgres.url, max: 1 })
      const holder = yield* Effect.fork(db.query("SELECT pg_sleep(0.3)"))
      yield* eventually(Effect.map(db.stats, (s) => s.borrowed === 1))
      const queued = yield* Effect.fork(db.query(`SELECT nextval('${sequence}')`))
      yield* eventually(Effect.map(db.stats, (s) => s.waiting === 1))
      yield* Fiber.interrupt(queued)
      yield* Fiber.join(holder)
      expect(yield* db.query<{ one: number }>("SELECT 1 AS one")).toEqual([{ one: 1 }])
      const [state] = yield* withAdmin(async (c) =>
        (await c.query<{ is_called: boolean }>(`SELECT is_called FROM ${sequence}`)).rows
      )
      expect(state!.is_called).toBe(false)
      expect(yield* db.stats).toMatchObject({ borrowed: 0, waiting: 0 })
    }))

  it.live("closing the pool interrupts a statement still running after drainTimeout, and the server stops it", () =>
    Effect.gen(function*() {
      const applicationName = Services.uniquePrefix("pgpool-drain")
      const scope = yield* Scope.make()
      const db = yield* Scope.extend(
        PgPool.make({ name: applicationName, url: postgres.url, max: 2, drainTimeout: "200 millis" }),
        scope
      )
      const running = yield* Effect.fork(db.query("SELECT pg_sleep(30)"))
      expect(yield* eventually(Effect.map(sessions(applicationName), (s) => s.some((r) => r.state === "active")))).toBe(
        true
      )
      const started = Date.now()
      yield* Scope.close(scope, Exit.void)
      expect(Date.now() - started).toBeLessThan(5_000)
      expect(Exit.isInterrupted(yield* Fiber.await(running))).toBe(true)
      expect(yield* eventually(Effect.map(sessions(applicationName), (s) => s.length === 0))).toBe(true)
    }).pipe(Logger.withMinimumLogLevel(LogLevel.Error)))

  it.scopedLive("SQL errors carry their SQLSTATE, and the connection stays in use", () =>
    Effect.gen(function*() {
      const db = yield* PgPool.make({ name: Services.uniquePrefix("pgpool-errors"), url: postgres.url, max: 1 })
      const divide = yield* Effect.flip(db.query("SELECT 1/0"))
      expect(divide).toMatchObject({ _tag: "PgError", code: "22012", transient: false })
      const syntax = yield* Effect.flip(db.query("SELEC 1"))
      expect(syntax).toMatchObject({ _tag: "PgError", code: "42601", transient: false })
      const rows = yield* db.query<{ sum: number }>("SELECT $1::int + $2::int AS sum", [2, 3])
      expect(rows).toEqual([{ sum: 5 }])
      expect((yield* db.stats).size).toBe(1)
    }))

  it.scopedLive("a bad per-query timeout is an InvalidOptionsError naming it; the statement never runs", () =>
    Effect.gen(function*() {
      const db = yield* PgPool.make({ name: Services.uniquePrefix("pgpool-badtimeout"), url: postgres.url, max: 1 })
      for (const timeout of [-5, Number.NaN, 0, "soon"] as const) {
        const error = yield* Effect.flip(db.query("SELECT 1", [], { timeout: timeout as number }))
        expect(error).toMatchObject({
          _tag: "InvalidOptionsError",
          constructorName: "PgPool.query",
          field: "timeout"
        })
      }
      expect((yield* db.stats).borrowed).toBe(0)
      expect(yield* db.query<{ one: number }>("SELECT 1 AS one", [], { timeout: "5 seconds" })).toEqual([{ one: 1 }])
    }))

  it.scopedLive("withClient runs a transaction on one session", () =>
    Effect.gen(function*() {
      const db = yield* PgPool.make({ name: Services.uniquePrefix("pgpool-tx"), url: postgres.url, max: 2 })
      const pids = yield* db.withClient((client) =>
        Effect.promise(async () => {
          await client.query("BEGIN")
          const a = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")
          const b = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")
          await client.query("COMMIT")
          return [a.rows[0]!.pid, b.rows[0]!.pid]
        })
      )
      expect(pids[0]).toBe(pids[1])
      // Left inside a transaction: that session is closed, not lent again.
      const [open] = yield* db.withClient((client) =>
        Effect.promise(async () => {
          await client.query("BEGIN")
          return (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows
        })
      )
      const after = yield* Effect.forEach([1, 2], () => db.query<{ pid: number }>("SELECT pg_backend_pid() AS pid"))
      expect(after.flat().map((r) => r.pid)).not.toContain(open!.pid)
    }))

  it.scopedLive("registers a healthy status, and layerConfig reads effect/Config", () =>
    Effect.gen(function*() {
      const name = Services.uniquePrefix("pgpool-layer")
      const layer = PgPool.layerConfig({
        name: Config.string("DB_NAME"),
        url: Config.redacted("DB_URL"),
        max: Config.integer("DB_MAX")
      }).pipe(
        Layer.provide(Layer.setConfigProvider(
          ConfigProvider.fromMap(new Map([["DB_NAME", name], ["DB_URL", postgres.url], ["DB_MAX", "3"]]))
        ))
      )
      yield* Effect.gen(function*() {
        const db = yield* PgPool.PgPool
        yield* db.ping
        const entry = (yield* ResilienceRegistry.entries).find((e) => e.kind === "pool" && e.name === name)
        const status = yield* entry!.status
        expect(status).toMatchObject({ healthy: true, state: "ok", details: { max: 3, size: 1 } })
      }).pipe(Effect.provide(layer))
    }).pipe(Effect.provide(ResilienceRegistry.layer)))
})

describe("PgPool with the database unreachable", () => {
  it.scopedLive("a closed loopback port gives PoolTimeoutError in time, and no password anywhere", () =>
    Effect.gen(function*() {
      const secret = "Pa55-w0rd-K9vXq"
      const name = Services.uniquePrefix("pgpool-down")
      const lines: Array<string> = []
      const logger = Logger.make(({ annotations, cause, message }) =>
        lines.push(JSON.stringify({ message, cause: Cause.pretty(cause), annotations: [...annotations] }))
      )
      // Every span, with its attributes, events and end status, as an exporter would see them.
      const native = yield* Effect.tracer
      const spans: Array<Tracer.Span> = []
      const tracer = Tracer.make({
        span: (...args) => {
          const span = native.span(...args)
          spans.push(span)
          return span
        },
        context: native.context
      })
      const outcome = yield* Effect.gen(function*() {
        const db = yield* PgPool.make({
          name,
          url: Redacted.make(`postgres://postgres:${secret}@127.0.0.1:1/test`),
          acquireTimeout: "1 second",
          connectTimeout: "500 millis"
        })
        const started = Date.now()
        const exit = yield* Effect.exit(
          db.query("SELECT 1").pipe(Effect.withSpan("checkout", { attributes: { db: name } }))
        )
        const elapsed = Date.now() - started
        const entry = (yield* ResilienceRegistry.entries).find((e) => e.kind === "pool" && e.name === name)
        const status = yield* entry!.status
        return { exit, elapsed, status }
      }).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
        Effect.provide(ResilienceRegistry.layer),
        Effect.scoped,
        Effect.withTracer(tracer)
      )
      expect(Exit.isFailure(outcome.exit)).toBe(true)
      const error = Exit.isFailure(outcome.exit) ? Cause.failureOption(outcome.exit.cause) : undefined
      expect(error?._tag).toBe("Some")
      const failure = error?._tag === "Some" ? error.value : undefined
      expect(failure?._tag).toBe("PoolTimeoutError")
      if (failure?._tag === "PoolTimeoutError") {
        expect(failure.lastError).toMatchObject({ _tag: "PgError", code: "08001", transient: true })
      }
      expect(outcome.elapsed).toBeGreaterThanOrEqual(900)
      expect(outcome.elapsed).toBeLessThan(3_000)
      expect(outcome.status).toMatchObject({ healthy: false, state: "failing" })
      expect(lines.length).toBeGreaterThan(0)
      yield* ResilienceMetrics.flush
      const labels = (yield* Metric.snapshot).flatMap((pair) => pair.metricKey.tags.map((t) => `${t.key}=${t.value}`))
      expect(labels).toContain(`name=${name}`)
      const everything = [
        JSON.stringify(failure),
        String(failure),
        failure instanceof Error ? failure.message + failure.stack : "",
        Exit.isFailure(outcome.exit) ? Cause.pretty(outcome.exit.cause) : "",
        JSON.stringify(outcome.status),
        ...spans.map((span) =>
          JSON.stringify({
            name: span.name,
            attributes: [...span.attributes],
            events: Reflect.get(span, "events"),
            end: span.status._tag === "Ended" && Exit.isFailure(span.status.exit)
              ? Cause.pretty(span.status.exit.cause)
              : ""
          })
        ),
        ...lines,
        ...labels
      ].join("\n")
      expect(spans.map((span) => span.name)).toContain("checkout")
      expect(everything).toContain("ECONNREFUSED")
      expect(everything).not.toContain(secret)
    }))
})

describe("PgPool credentials in bad options", () => {
  it.scoped("an invalid url whose password holds '/' or a bad escape never shows the password", () =>
    Effect.gen(function*() {
      const urls = [
        "mysql://app:Hun/ter2Secret@db/x",
        "mysql://app:Hun/ter@2Secret@db/x",
        "postgres://app:Hun/ter2Secret@/x",
        "app:Hun/ter2Secret@db/x",
        "postgres://app:ter2Secret%ZZ@127.0.0.1:5432/test",
        "postgres://app:ter2Secret%@127.0.0.1:5432/test",
        "postgres://app%ZZ:ter2Secret@127.0.0.1:5432/test"
      ]
      for (const url of urls) {
        for (const given of [url, Redacted.make(url)]) {
          const exit = yield* Effect.exit(PgPool.make({ name: "bad-url-secret", url: given }))
          expect(Exit.isFailure(exit)).toBe(true)
          if (Exit.isSuccess(exit)) continue
          const failure = Cause.failureOption(exit.cause)
          expect(failure._tag, `${url}: ${Cause.pretty(exit.cause)}`).toBe("Some")
          if (failure._tag === "None") continue
          expect(failure.value).toMatchObject({ _tag: "InvalidOptionsError", field: "url" })
          const text = JSON.stringify(failure.value) + String(failure.value) + (failure.value as Error).stack +
            Cause.pretty(exit.cause)
          expect(text, url).not.toContain("ter2Secret")
          expect(text, url).not.toContain("Secret")
        }
      }
    }))
})

describe.skipIf(!postgres.available)("PgPool under session faults", () => {
  const terminate = (pid: number) =>
    withAdmin(async (c) => (await c.query("SELECT pg_terminate_backend($1, 5000) AS ok", [pid])).rows[0]?.ok === true)

  it.scopedLive("a session killed mid-query is evicted: the next query gets a live one", () =>
    Effect.gen(function*() {
      const applicationName = Services.uniquePrefix("pgpool-kill-busy")
      const db = yield* PgPool.make({ name: applicationName, url: postgres.url, max: 1 })
      const [before] = yield* db.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")
      const running = yield* Effect.fork(Effect.either(db.query("SELECT pg_sleep(30)")))
      expect(yield* eventually(Effect.map(sessions(applicationName), (s) => s.some((r) => r.state === "active")))).toBe(
        true
      )
      expect(yield* terminate(before!.pid)).toBe(true)
      const outcome = yield* Fiber.join(running)
      expect(outcome._tag).toBe("Left")
      if (outcome._tag === "Left") expect(outcome.left).toMatchObject({ _tag: "PgError", transient: true })
      // Every later query succeeds on a new session; no phantom idle connection is left.
      for (let i = 0; i < 5; i++) {
        const [after] = yield* db.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")
        expect(after!.pid).not.toBe(before!.pid)
      }
      expect(yield* db.stats).toEqual({ size: 1, idle: 1, borrowed: 0, waiting: 0 })
    }))

  it.scopedLive("a stray cancel never hits the next query on the connection", () =>
    Effect.gen(function*() {
      const applicationName = Services.uniquePrefix("pgpool-stray-cancel")
      const proxy = yield* Effect.acquireRelease(
        Effect.promise(() => Proxy.start({ host: postgres.host, port: postgres.port })),
        (p) => Effect.promise(() => p.close())
      )
      // The cancel for the timed-out statement arrives 400 ms late, after the statement ended by itself.
      proxy.delayCancels(400)
      const db = yield* PgPool.make({ name: applicationName, url: proxy.url, max: 1 })
      yield* db.query("SELECT 1")
      const first = yield* Effect.either(db.query("SELECT pg_sleep(0.15)", [], { timeout: "50 millis" }))
      expect(first._tag === "Right" || first.left._tag === "TimeoutError").toBe(true)
      // An innocent statement, longer than the cancel's delay.
      const second = yield* Effect.either(db.query<{ one: number }>("SELECT 1 AS one, pg_sleep(0.6)"))
      expect(second._tag === "Left" ? second.left : undefined).toBeUndefined()
      expect(proxy.cancels()).toBe(1)
      expect(yield* db.stats).toMatchObject({ borrowed: 0, waiting: 0 })
    }))

  it.scopedLive("interrupting withClient cancels its statement and never gives back a busy connection", () =>
    Effect.gen(function*() {
      const applicationName = Services.uniquePrefix("pgpool-withclient-interrupt")
      const db = yield* PgPool.make({ name: applicationName, url: postgres.url, max: 1 })
      const exit = yield* Effect.exit(
        db.withClient((client) => Effect.promise(() => client.query("SELECT pg_sleep(30)"))).pipe(
          Effect.timeout("300 millis")
        )
      )
      expect(Exit.isFailure(exit)).toBe(true)
      // The next query does not wait behind the abandoned statement.
      const started = Date.now()
      const next = yield* db.query<{ one: number }>("SELECT 1 AS one", [], { timeout: "2 seconds" })
      expect(next).toEqual([{ one: 1 }])
      expect(Date.now() - started).toBeLessThan(2_000)
      expect(
        yield* eventually(
          Effect.map(
            sessions(applicationName),
            (s) => s.every((r) => r.state !== "active" || r.query === "SELECT 1 AS one")
          )
        )
      ).toBe(true)
      expect((yield* sessions(applicationName)).filter((s) => s.query.includes("pg_sleep(30)") && s.state === "active"))
        .toEqual([])
    }))
})

describe.skipIf(!postgres.available)("PgPool timers", () => {
  it.scopedLive("a per-query timeout of Infinity, or beyond a timer's reach, sets no timer (not one that fires at once)", () =>
    Effect.gen(function*() {
      const db = yield* PgPool.make({
        name: Services.uniquePrefix("pgpool-huge-timeout"),
        url: postgres.url,
        max: 1,
        queryTimeout: 1e12,
        connectTimeout: 1e12
      })
      expect(yield* db.query<{ one: number }>("SELECT 1 AS one, pg_sleep(0.05)")).toEqual([{ one: 1, pg_sleep: "" }])
      for (const timeout of [Number.POSITIVE_INFINITY, 1e12, Duration.infinity]) {
        expect(yield* db.query<{ one: number }>("SELECT 1 AS one, pg_sleep(0.05)", [], { timeout })).toHaveLength(1)
      }
    }))
})

describe.skipIf(!postgres.available)("PgPool queue", () => {
  it.scopedLive("callers that give up while queued leave the queue at once", () =>
    Effect.gen(function*() {
      const db = yield* PgPool.make({ name: Services.uniquePrefix("pgpool-abandon"), url: postgres.url, max: 1 })
      const holder = yield* Effect.fork(db.query("SELECT pg_sleep(0.5)"))
      expect(yield* eventually(Effect.map(db.stats, (s) => s.borrowed === 1))).toBe(true)
      const gaveUp = yield* Effect.all(
        Array.from({ length: 100 }, () => Effect.either(db.query("SELECT 1").pipe(Effect.timeout("50 millis")))),
        { concurrency: "unbounded" }
      )
      expect(gaveUp.every((r) => r._tag === "Left")).toBe(true)
      expect(yield* db.stats).toMatchObject({ waiting: 0, borrowed: 1 })
      yield* Fiber.join(holder)
      expect(yield* db.stats).toMatchObject({ waiting: 0, borrowed: 0 })
    }))
})
