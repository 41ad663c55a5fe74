/**
 * PgPool against real PostgreSQL faults: sessions killed idle and mid-query (`pg_terminate_backend` from a separate
 * admin connection, only this pool's sessions, found by a unique `application_name`), a refused connection, a
 * stalled TCP proxy, statements timed out and interrupted at random under concurrency, with late cancels. Asserts:
 * every call ends in bounded time with a result or a typed error; no statement of ours left running on the server;
 * no innocent statement cancelled (57014 only where a timeout or an interruption was asked); the pool's stats back
 * at rest; the scope closed within `drainTimeout`.
 */
import { PgPool } from "@effect-resilience/pool"
import { Services } from "@effect-resilience/testing"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Logger, LogLevel, Option, Random, Scope } from "effect"
import * as net from "node:net"
import pg from "pg"
import * as Proxy from "./utils/proxy.js"

const postgres = await Services.postgres()

/** A plain node-postgres client outside any pool, to look at and act on the server's side. */
const withAdmin = <A>(f: (client: pg.Client) => Promise<A>): Effect.Effect<A> =>
  Effect.acquireUseRelease(
    Effect.promise(async () => {
      const client = new pg.Client({ connectionString: postgres.url, application_name: "er-test-pgfaults-admin" })
      await client.connect()
      return client
    }),
    (client) => Effect.promise(() => f(client)),
    (client) => Effect.promise(() => client.end())
  )

interface Session {
  readonly pid: number
  readonly state: string | null
  readonly query: string
}

const sessions = (applicationName: string): Effect.Effect<ReadonlyArray<Session>> =>
  withAdmin(async (c) =>
    (await c.query<Session>(
      "SELECT pid, state, query FROM pg_stat_activity WHERE application_name = $1",
      [applicationName]
    )).rows
  )

/** Terminates every session of the pool (by its application_name); how many there were. */
const killAll = (applicationName: string): Effect.Effect<number> =>
  withAdmin(async (c) =>
    (await c.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
      [applicationName]
    )).rowCount ?? 0
  )

/** Waits (real time, bounded) until `condition` holds. */
const eventually = (condition: Effect.Effect<boolean>, millis = 5_000): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const until = Date.now() + millis
    while (Date.now() < until) {
      if (yield* condition) return true
      yield* Effect.sleep("25 millis")
    }
    return yield* condition
  })

type Outcome =
  | { readonly _tag: "ok" }
  | { readonly _tag: "error"; readonly error: string; readonly code: string | undefined }
  | { readonly _tag: "interrupted" }
  | { readonly _tag: "defect"; readonly cause: string }
  | { readonly _tag: "hung" }

/** Runs one call with a hard bound: a call that does not end within `millis` is a violation ("hung"). */
const bounded = <A, E>(effect: Effect.Effect<A, E>, millis: number): Effect.Effect<Outcome> =>
  Effect.exit(effect).pipe(
    Effect.map((exit): Outcome => {
      if (Exit.isSuccess(exit)) return { _tag: "ok" }
      const failure = Cause.failureOption(exit.cause)
      if (Option.isSome(failure)) {
        const error = failure.value as { readonly _tag?: string; readonly code?: string }
        return { _tag: "error", error: error._tag ?? String(error), code: error.code }
      }
      if (Cause.isInterruptedOnly(exit.cause)) return { _tag: "interrupted" }
      return { _tag: "defect", cause: Cause.pretty(exit.cause) }
    }),
    Effect.timeoutTo({ duration: millis, onSuccess: (o) => o, onTimeout: (): Outcome => ({ _tag: "hung" }) })
  )

/** What a call may end with: a result, one of the pool's typed errors, or the caller's own Effect.timeout. */
const typedErrors = new Set(["PgError", "TimeoutError", "PoolTimeoutError", "TimeoutException"])
const isTyped = (o: Outcome) => o._tag === "ok" || (o._tag === "error" && typedErrors.has(o.error))

/** The pool at rest: nothing borrowed or waiting, and no phantom: every idle connection has its session. */
const atRest = (db: PgPool.PgPool.Service) =>
  eventually(
    Effect.gen(function*() {
      const stats = yield* db.stats
      const server = yield* sessions(db.applicationName)
      return stats.borrowed === 0 && stats.waiting === 0 && stats.size === server.length &&
        server.every((s) => s.state === "idle")
    })
  )

const quiet = Logger.withMinimumLogLevel(process.env.PGFAULTS_LOG ? LogLevel.All : LogLevel.None)

describe.skipIf(!postgres.available)("PgPool under PostgreSQL faults", () => {
  it.live(
    "sessions killed idle and mid-query under load: calls end typed, service resumes within seconds",
    () =>
      Effect.gen(function*() {
        const applicationName = Services.uniquePrefix("pgfaults-kill")
        const scope = yield* Scope.make()
        const db = yield* Scope.extend(
          PgPool.make({ name: applicationName, url: postgres.url, max: 4, acquireTimeout: "3 seconds" }),
          scope
        )
        const outcomes: Array<Outcome> = []
        let stop = false
        let lastSuccess = 0
        const worker = (seed: number) =>
          Effect.gen(function*() {
            let i = seed
            while (!stop) {
              i++
              // Mostly short statements, some long enough to be killed mid-query.
              const sleep = i % 7 === 0 ? 0.4 : 0.005
              const outcome = yield* bounded(db.query("SELECT pg_sleep($1)", [sleep]), 10_000)
              outcomes.push(outcome)
              if (outcome._tag === "ok") lastSuccess = Date.now()
            }
          })
        const workers = yield* Effect.forEach([0, 1, 2, 3, 4, 5], (seed) => Effect.fork(worker(seed)))
        yield* Effect.sleep("300 millis")
        // Every session killed, busy or idle, twice.
        for (let round = 0; round < 2; round++) {
          expect(yield* killAll(applicationName)).toBeGreaterThan(0)
          const killedAt = Date.now()
          yield* Effect.sleep("600 millis")
          // Within a few seconds queries succeed again.
          expect(yield* eventually(Effect.sync(() => lastSuccess > killedAt), 3_000)).toBe(true)
        }
        stop = true
        yield* Effect.forEach(workers, Fiber.join)
        expect(outcomes.filter((o) => !isTyped(o))).toEqual([])
        // Only the kills fail calls: connection errors (57P01 and class 08), never a cancel.
        const codes = new Set(outcomes.flatMap((o) => o._tag === "error" && o.code !== undefined ? [o.code] : []))
        expect([...codes].filter((c) => c !== "57P01" && !c.startsWith("08"))).toEqual([])
        expect(outcomes.filter((o) => o._tag === "ok").length).toBeGreaterThan(20)
        expect(yield* atRest(db)).toBe(true)
        // No phantom: a query on every idle connection succeeds.
        const size = (yield* db.stats).size
        const again = yield* Effect.all(
          Array.from({ length: size }, () => bounded(db.query("SELECT pg_sleep(0.05)"), 5_000)),
          { concurrency: "unbounded" }
        )
        expect(again.filter((o) => o._tag !== "ok")).toEqual([])
        const started = Date.now()
        yield* Effect.uninterruptible(Scope.close(scope, Exit.void))
        expect(Date.now() - started).toBeLessThan(2_000)
        expect(yield* eventually(Effect.map(sessions(applicationName), (s) => s.length === 0))).toBe(true)
      }).pipe(quiet),
    30_000
  )

  it.live(
    "connection refused: a PoolTimeoutError in bounded time, stats at rest, a prompt close",
    () =>
      Effect.gen(function*() {
        // A loopback port nobody listens on: bound, then closed.
        const port = yield* Effect.promise(() =>
          new Promise<number>((resolve) => {
            const server = net.createServer()
            server.listen(0, "127.0.0.1", () => {
              const { port } = server.address() as net.AddressInfo
              server.close(() => resolve(port))
            })
          })
        )
        const scope = yield* Scope.make()
        const db = yield* Scope.extend(
          PgPool.make({
            name: Services.uniquePrefix("pgfaults-refused"),
            url: `postgres://postgres@127.0.0.1:${port}/test`,
            acquireTimeout: "400 millis",
            drainTimeout: "200 millis"
          }),
          scope
        )
        const outcomes = yield* Effect.all(
          Array.from({ length: 8 }, () => bounded(db.query("SELECT 1"), 3_000)),
          { concurrency: "unbounded" }
        )
        expect(outcomes.map((o) => o._tag === "error" ? o.error : o._tag)).toEqual(Array(8).fill("PoolTimeoutError"))
        expect(yield* db.stats).toEqual({ size: 0, idle: 0, borrowed: 0, waiting: 0 })
        expect((yield* db.status).state).toBe("failing")
        const started = Date.now()
        yield* Effect.uninterruptible(Scope.close(scope, Exit.void))
        expect(Date.now() - started).toBeLessThan(2_000)
      }).pipe(quiet),
    30_000
  )

  it.scopedLive(
    "a stalled network: timed-out and interrupted calls end in bounded time; the scope closes at drainTimeout",
    () =>
      Effect.gen(function*() {
        const applicationName = Services.uniquePrefix("pgfaults-stall")
        const proxy = yield* Effect.acquireRelease(
          Effect.promise(() => Proxy.start({ host: postgres.host, port: postgres.port })),
          (p) => Effect.promise(() => p.close())
        )
        const scope = yield* Scope.make()
        const db = yield* Scope.extend(
          PgPool.make({
            name: applicationName,
            url: proxy.url,
            max: 3,
            acquireTimeout: "1 second",
            drainTimeout: "300 millis"
          }),
          scope
        )
        yield* Effect.all(Array.from({ length: 3 }, () => db.query("SELECT pg_sleep(0.05)")), {
          concurrency: "unbounded"
        })
        proxy.stall()
        const outcomes = yield* Effect.all(
          [
            bounded(db.query("SELECT 1", [], { timeout: "200 millis" }), 6_000),
            bounded(db.query("SELECT 2", [], { timeout: "300 millis" }), 6_000),
            bounded(db.query("SELECT 3").pipe(Effect.timeout("250 millis")), 6_000),
            bounded(db.query("SELECT 4", [], { timeout: "200 millis" }), 6_000),
            bounded(
              db.withClient((c) => Effect.promise(() => c.query("SELECT 5"))).pipe(Effect.timeout("250 millis")),
              6_000
            )
          ],
          { concurrency: "unbounded" }
        )
        // TimeoutError (the statement's own timeout or Effect.timeout's), or PoolTimeoutError for a call that
        // waited for a connection; nothing hangs, nothing dies.
        expect(outcomes.filter((o) => !isTyped(o))).toEqual([])
        // The stuck connections are given up on, not kept: the pool comes back to rest.
        expect(yield* eventually(Effect.map(db.stats, (s) => s.borrowed === 0 && s.waiting === 0), 6_000)).toBe(true)
        // A statement stuck on the stalled network while the scope closes: closed within drainTimeout (+ margin).
        const stuck = yield* Effect.fork(db.query("SELECT 6"))
        yield* Effect.sleep("50 millis")
        const started = Date.now()
        yield* Effect.uninterruptible(Scope.close(scope, Exit.void))
        expect(Date.now() - started).toBeLessThan(300 + 1_500)
        expect(Exit.isInterrupted(yield* Fiber.await(stuck))).toBe(true)
        proxy.resume()
        expect(
          yield* eventually(Effect.map(sessions(applicationName), (s) => s.every((r) => r.state !== "active")))
        ).toBe(true)
      }).pipe(quiet),
    30_000
  )

  it.scopedLive("idle connections on a stalled network: the scope still closes promptly", () =>
    Effect.gen(function*() {
      const proxy = yield* Effect.acquireRelease(
        Effect.promise(() => Proxy.start({ host: postgres.host, port: postgres.port })),
        (p) => Effect.promise(() => p.close())
      )
      const scope = yield* Scope.make()
      const db = yield* Scope.extend(
        PgPool.make({ name: Services.uniquePrefix("pgfaults-stall-idle"), url: proxy.url, max: 4 }),
        scope
      )
      yield* Effect.all(Array.from({ length: 4 }, () => db.query("SELECT pg_sleep(0.05)")), {
        concurrency: "unbounded"
      })
      expect(yield* db.stats).toMatchObject({ size: 4, idle: 4 })
      proxy.stall()
      // Four graceful closes that never complete: none of them may hold the close for its own grace period.
      const started = Date.now()
      yield* Effect.uninterruptible(Scope.close(scope, Exit.void))
      expect(Date.now() - started).toBeLessThan(2_000)
    }).pipe(quiet), 30_000)

  it.scopedLive(
    "timeouts and interruptions at random under concurrency, with late cancels: no innocent cancelled",
    () =>
      Effect.gen(function*() {
        const applicationName = Services.uniquePrefix("pgfaults-random")
        const proxy = yield* Effect.acquireRelease(
          Effect.promise(() => Proxy.start({ host: postgres.host, port: postgres.port })),
          (p) => Effect.promise(() => p.close())
        )
        // Cancels reach the server late, so a cancel for one statement could land on the next.
        proxy.delayCancels(60)
        const scope = yield* Scope.make()
        const db = yield* Scope.extend(
          PgPool.make({ name: applicationName, url: proxy.url, max: 3, acquireTimeout: "10 seconds" }),
          scope
        )
        interface Call {
          readonly sleep: number
          readonly timeout: number | undefined
          readonly interruptAfter: number | undefined
          readonly viaClient: boolean
        }
        const calls: Array<Call> = []
        for (let i = 0; i < 60; i++) {
          const sleep = (yield* Random.nextIntBetween(0, 120)) / 1000
          const pick = yield* Random.nextIntBetween(0, 10)
          const at = yield* Random.nextIntBetween(5, 150)
          calls.push({
            sleep,
            timeout: pick < 3 ? at : undefined,
            interruptAfter: pick >= 3 && pick < 5 ? at : undefined,
            viaClient: pick === 9
          })
        }
        const outcomes = yield* Effect.forEach(calls, (call) => {
          const statement: Effect.Effect<unknown, unknown> = call.viaClient
            ? db.withClient((c) => Effect.promise(() => c.query("SELECT pg_sleep($1)", [call.sleep])))
            : db.query("SELECT pg_sleep($1)", [call.sleep], call.timeout === undefined ? {} : { timeout: call.timeout })
          const asked = call.interruptAfter === undefined
            ? statement
            : Effect.timeout(statement, call.interruptAfter)
          return Effect.map(bounded(asked, 15_000), (outcome) => ({ call, outcome }))
        }, { concurrency: 8 })
        expect(outcomes.filter((o) => !isTyped(o.outcome)).map((o) => o.outcome)).toEqual([])
        // Innocent statements (no timeout, no interruption) all succeed: no stray cancel reached them.
        const innocent = outcomes.filter((o) => o.call.timeout === undefined && o.call.interruptAfter === undefined)
        expect(innocent.filter((o) => o.outcome._tag !== "ok").map((o) => o.outcome)).toEqual([])
        // 57014 never surfaces as a PgError: a statement we cancelled ends as TimeoutError (or interruption).
        expect(outcomes.filter((o) => o.outcome._tag === "error" && o.outcome.code === "57014")).toEqual([])
        expect(yield* atRest(db)).toBe(true)
        expect((yield* sessions(applicationName)).filter((s) => s.state === "active")).toEqual([])
        const started = Date.now()
        yield* Effect.uninterruptible(Scope.close(scope, Exit.void))
        expect(Date.now() - started).toBeLessThan(2_000)
      }).pipe(quiet),
    30_000
  )

  it.live(
    "a statement still running when the scope closes: closed within drainTimeout, stopped on the server",
    () =>
      Effect.gen(function*() {
        const applicationName = Services.uniquePrefix("pgfaults-drain")
        const scope = yield* Scope.make()
        const db = yield* Scope.extend(
          PgPool.make({ name: applicationName, url: postgres.url, max: 2, drainTimeout: "300 millis" }),
          scope
        )
        const running = yield* Effect.fork(db.query("SELECT pg_sleep(30)"))
        const viaClient = yield* Effect.fork(
          db.withClient((c) => Effect.uninterruptible(Effect.promise(() => c.query("SELECT pg_sleep(30)"))))
        )
        expect(
          yield* eventually(
            Effect.map(sessions(applicationName), (s) => s.filter((r) => r.state === "active").length === 2)
          )
        ).toBe(true)
        const started = Date.now()
        yield* Effect.uninterruptible(Scope.close(scope, Exit.void))
        expect(Date.now() - started).toBeLessThan(300 + 1_500)
        expect(Exit.isInterrupted(yield* Fiber.await(running))).toBe(true)
        expect(yield* eventually(Effect.map(sessions(applicationName), (s) => s.length === 0))).toBe(true)
        yield* Fiber.interruptFork(viaClient)
      }).pipe(quiet),
    30_000
  )
})
