/**
 * Scenario 5: PostgreSQL `SELECT 1` at concurrency 32 for a fixed count, end to end: the client CPU per query
 * (the primary figure: the one a loaded machine disturbs least), throughput and latency percentiles of our `PgPool`
 * beside node-postgres's `pg.Pool`, both with 10 connections. The two sides alternate in every round (A B, then
 * B A), and the ratios are taken per round (ours ÷ pg in the same round) and then their median over rounds, so the
 * drift of a shared machine falls on both sides of each ratio.
 *
 * The warm-up runs each side through many short loads before a full one: a load's own code (starting and ending
 * 32 workers: fibers on our side, async functions on pg's) runs once per load, so after a single warm-up load V8 is
 * still compiling it during the measured rounds, and that compilation (on V8's background threads, in this
 * process's CPU time) lands in whichever round it falls. No forced GC between loads: in the load after a forced full
 * GC, V8's background threads took about 25 µs per query more on our side and 14 more on pg's (measured at load 6).
 *
 * @since 0.1.0
 */
import { Services } from "@effect-resilience/testing"
import { Effect, type Scope } from "effect"
import * as os from "node:os"
import { performance } from "node:perf_hooks"
import pg from "pg"
import { loadOurs, makeScope } from "../common.js"
import { quantile, type Spread, spread } from "../stats.js"

/**
 * Where and how to connect.
 *
 * @since 0.1.0
 * @category models
 */
export interface PgOptions {
  readonly host: string
  readonly port: number
  readonly user: string
  readonly database: string
  readonly max: number
  readonly applicationName: string
}

/**
 * Our side: a pool with these options and how to run one statement.
 *
 * @since 0.1.0
 * @category models
 */
export interface PgAdapter {
  readonly label: string
  readonly make: (
    options: PgOptions
  ) => Effect.Effect<(sql: string) => Effect.Effect<unknown, unknown>, unknown, Scope.Scope>
}

/**
 * The figures of one side.
 *
 * @since 0.1.0
 * @category models
 */
export interface PgSide {
  readonly id: string
  readonly label: string
  readonly available: boolean
  readonly reason?: string
  readonly throughputPerSecond: Spread | null
  readonly p50Millis: Spread | null
  readonly p99Millis: Spread | null
  /** CPU time of the benchmark process per query (the client side's cost), in microseconds. */
  readonly cpuMicrosPerQuery: Spread | null
}

/**
 * @since 0.1.0
 * @category models
 */
export interface PgResult {
  readonly skipped?: string
  readonly queries: number
  readonly concurrency: number
  readonly poolSize: number
  readonly rounds: number
  /** Warm-up per side: `shortLoads` loads of `shortQueries`, then one load of `queries`. */
  readonly warmUp?: { readonly shortLoads: number; readonly shortQueries: number }
  readonly sides: ReadonlyArray<PgSide>
  /** Ours ÷ pg per round (the same round), median (min … max) over rounds; `null` without our side. */
  readonly pairedRatios?: {
    readonly cpuPerQuery: Spread
    readonly throughput: Spread
    readonly p99: Spread
  } | null
  readonly loadAverage?: ReadonlyArray<number>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Load {
  readonly throughput: number
  readonly p50: number
  readonly p99: number
  /** CPU time of this process (user + system) per query, in microseconds. */
  readonly cpuMicros: number
}

const summarize = (latencies: Float64Array, elapsedMillis: number, cpu: NodeJS.CpuUsage): Load => {
  const values = Array.from(latencies)
  return {
    throughput: latencies.length / (elapsedMillis / 1000),
    p50: quantile(values, 0.5),
    p99: quantile(values, 0.99),
    cpuMicros: (cpu.user + cpu.system) / latencies.length
  }
}

/**
 * Runs `count` queries from `concurrency` Promise workers.
 *
 * @since 0.1.0
 * @category utils
 */
export const loadPromise = async (count: number, concurrency: number, query: () => Promise<unknown>): Promise<Load> => {
  const latencies = new Float64Array(count)
  let next = 0
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const start = performance.now()
      await query()
      latencies[i] = performance.now() - start
    }
  }
  const cpu = process.cpuUsage()
  const start = performance.now()
  await Promise.all(Array.from({ length: concurrency }, worker))
  const elapsed = performance.now() - start
  return summarize(latencies, elapsed, process.cpuUsage(cpu))
}

/**
 * Runs `count` queries from `concurrency` fibers.
 *
 * @since 0.1.0
 * @category utils
 */
export const loadEffect = (count: number, concurrency: number, query: Effect.Effect<unknown, unknown>) =>
  Effect.suspend(() => {
    const latencies = new Float64Array(count)
    let next = 0
    const worker = Effect.gen(function*() {
      for (let i = next++; i < count; i = next++) {
        const start = performance.now()
        yield* query
        latencies[i] = performance.now() - start
      }
    })
    const cpu = process.cpuUsage()
    const start = performance.now()
    return Effect.all(Array.from({ length: concurrency }, () => worker), { concurrency: "unbounded", discard: true })
      .pipe(Effect.map(() => {
        const elapsed = performance.now() - start
        return summarize(latencies, elapsed, process.cpuUsage(cpu))
      }))
  })

/**
 * The loopback server and the pools' size (10, node-postgres's default).
 *
 * @since 0.1.0
 * @category constants
 */
export const pgOptions: PgOptions = {
  host: "127.0.0.1",
  port: 5432,
  user: "postgres",
  database: "test",
  max: 10,
  applicationName: `effect-resilience-bench-${process.pid}`
}

/**
 * @since 0.1.0
 * @category scenarios
 */
export const run = async (quick: boolean, progress: (line: string) => void): Promise<PgResult> => {
  const queries = quick ? 1_000 : 10_000
  const rounds = quick ? 1 : 40
  const warmUp = { shortLoads: quick ? 20 : 300, shortQueries: 100 }
  const concurrency = 32
  const poolSize = pgOptions.max
  const options = pgOptions
  const base = { queries, concurrency, poolSize, rounds, warmUp }
  const unreachable = await Services.probe(options.host, options.port, 1_000)
  if (unreachable !== undefined) {
    return { ...base, skipped: `PostgreSQL is not reachable (${unreachable}): scenario skipped`, sides: [] }
  }
  const scope = makeScope()
  const ours = await loadOurs<PgAdapter>("pgpool", "PgPool")
  const pgPool = new pg.Pool({
    host: options.host,
    port: options.port,
    user: options.user,
    database: options.database,
    max: poolSize,
    application_name: options.applicationName
  })
  try {
    const runners: Array<{ id: string; label: string; load: (count: number) => Promise<Load> }> = [{
      id: "pg",
      label: "node-postgres `pg.Pool.query`",
      load: (count) => loadPromise(count, concurrency, () => pgPool.query("SELECT 1"))
    }]
    if (ours._tag === "Loaded") {
      const query = await scope.build(ours.adapter.make(options))
      runners.push({
        id: "ours",
        label: ours.adapter.label,
        load: (count) => Effect.runPromise(loadEffect(count, concurrency, query("SELECT 1")))
      })
    }
    const loads = new Map<string, Array<Load>>(runners.map((r) => [r.id, []]))
    progress("postgres: warm-up")
    for (let i = 0; i < warmUp.shortLoads; i++) for (const r of runners) await r.load(warmUp.shortQueries)
    for (const r of runners) await r.load(queries)
    for (let round = 0; round < rounds; round++) {
      progress(`postgres: round ${round + 1}/${rounds}`)
      const order = round % 2 === 0 ? runners : [...runners].reverse()
      for (const r of order) loads.get(r.id)!.push(await r.load(queries))
    }
    const sides: Array<PgSide> = runners.map((r) => {
      const ls = loads.get(r.id)!
      return {
        id: r.id,
        label: r.label,
        available: true,
        throughputPerSecond: spread(ls.map((l) => l.throughput)),
        p50Millis: spread(ls.map((l) => l.p50)),
        p99Millis: spread(ls.map((l) => l.p99)),
        cpuMicrosPerQuery: spread(ls.map((l) => l.cpuMicros))
      }
    })
    if (ours._tag === "Missing") {
      sides.push({
        id: "ours",
        label: "ours: PgPool query",
        available: false,
        reason: ours.reason,
        throughputPerSecond: null,
        p50Millis: null,
        p99Millis: null,
        cpuMicrosPerQuery: null
      })
    }
    const mine = loads.get("ours")
    const theirs = loads.get("pg")!
    const paired = (f: (l: Load) => number) => spread(mine!.map((l, i) => f(l) / f(theirs[i]!)))
    return {
      ...base,
      sides,
      pairedRatios: mine === undefined ? null : {
        cpuPerQuery: paired((l) => l.cpuMicros),
        throughput: paired((l) => l.throughput),
        p99: paired((l) => l.p99)
      },
      loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100)
    }
  } finally {
    await pgPool.end()
    await scope.close()
  }
}
