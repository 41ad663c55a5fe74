/**
 * The results of a run: the JSON written to `results/`, the ratios and targets, and the tables printed to the
 * terminal and written into `docs/benchmarks.md`.
 *
 * @since 0.1.0
 */
import type { Config, Row } from "./harness.js"
import { overheadOf } from "./harness.js"
import type { Machine } from "./machine.js"
import { arenaFigures, type ArenaResult } from "./scenarios/arena.js"
import type { FailFastResult } from "./scenarios/failfast.js"
import type { HttpResult } from "./scenarios/http.js"
import type { MemoryResult } from "./scenarios/memory.js"
import type { OverloadResult } from "./scenarios/overload.js"
import type { PgResult } from "./scenarios/postgres.js"
import type { QueueResult } from "./scenarios/queue.js"
import type { RedisResult } from "./scenarios/redis.js"
import type { StormResult } from "./scenarios/storm.js"
import { check, ratio, type Spread, type Target, type TargetResult } from "./stats.js"

/**
 * A scenario's outcome: its figures, or the error it crashed with.
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome<A> =
  | { readonly ok: true; readonly value: A }
  | { readonly ok: false; readonly error: string }
  | undefined

/**
 * Everything a run measured.
 *
 * @since 0.1.0
 * @category models
 */
export interface Results {
  readonly generatedAt: string
  readonly mode: "full" | "quick"
  readonly durationSeconds: number
  readonly machine: Machine
  readonly method: Config & { readonly library: string; readonly summary: string }
  readonly scenarios: {
    readonly breaker?: Outcome<Array<Row>>
    readonly retry?: Outcome<Array<Row>>
    readonly client?: Outcome<Array<Row>>
    readonly pool?: Outcome<Array<Row>>
    readonly postgres?: Outcome<PgResult>
    readonly redis?: Outcome<RedisResult>
    readonly memory?: Outcome<MemoryResult>
    readonly storm?: Outcome<StormResult>
    readonly http?: Outcome<HttpResult>
    readonly arena?: Outcome<ArenaResult>
    readonly overload?: Outcome<OverloadResult>
    readonly failfast?: Outcome<FailFastResult>
    readonly queue?: Outcome<QueueResult>
  }
  /** The ratios the targets are about. */
  readonly ratios: Record<RatioKey, number | null>
  /** More ratios, reported without a target. */
  readonly otherRatios: Record<string, number | null>
  readonly targets: ReadonlyArray<TargetResult>
  readonly errors: ReadonlyArray<string>
}

/**
 * @since 0.1.0
 * @category models
 */
export type RatioKey =
  | "overload_goodput_ratio_4x"
  | "overload_goodput_ratio_8x"
  | "shed_cost_ratio"
  | "breaker_vs_effect_floor"
  | "breaker_vs_cockatiel"
  | "client_vs_cockatiel"
  | "client_vs_effect_native"
  | "pool_vs_effect_pool"
  | "pgpool_cpu_per_query_vs_pg"
  | "pgpool_throughput_vs_pg"
  | "pgpool_p99_vs_pg"
  | "keyed_breakers_heap_mb"
  | "redis_store_vs_memory"
  | "redis_propagation_p99_ms"
  | "redis_commands_per_second"
  | "storm_amplification_with_budget"
  | "http_client_vs_plain"
  | "arena_goodput_phases_behind_best_peer"
  | "arena_outage_amplification_above_lowest_peer"
  | "arena_brownout_amplification_above_lowest_peer"
  | "arena_retry_after_early_calls"
  | "client_outage_p99_vs_no_retry"

/**
 * The goals of the policy issues.
 *
 * @since 0.1.0
 * @category constants
 */
export const targets: ReadonlyArray<Target> = [
  { key: "overload_goodput_ratio_4x", op: ">=", target: 0.8 },
  { key: "overload_goodput_ratio_8x", op: ">=", target: 0.8 },
  { key: "shed_cost_ratio", op: "<=", target: 0.1 },
  { key: "breaker_vs_effect_floor", op: "<=", target: 1.2 },
  { key: "client_vs_cockatiel", op: "<=", target: 0.5 },
  { key: "client_vs_effect_native", op: "<=", target: 0.25 },
  { key: "pool_vs_effect_pool", op: "<=", target: 1.25 },
  { key: "pgpool_cpu_per_query_vs_pg", op: "<=", target: 1.05 },
  { key: "pgpool_throughput_vs_pg", op: ">=", target: 0.95 },
  { key: "pgpool_p99_vs_pg", op: "<=", target: 1.1 },
  { key: "keyed_breakers_heap_mb", op: "<=", target: 64 },
  { key: "redis_store_vs_memory", op: "<=", target: 1.1 },
  { key: "redis_propagation_p99_ms", op: "<=", target: 100 },
  // 1 / flushInterval (100 ms), whatever the call rate.
  { key: "redis_commands_per_second", op: "<=", target: 10 },
  { key: "storm_amplification_with_budget", op: "<=", target: 1.3 },
  { key: "http_client_vs_plain", op: "<=", target: 1.1 },
  // Phases where ours' goodput is below the best peer's by more than the run-to-run spread.
  { key: "arena_goodput_phases_behind_best_peer", op: "<=", target: 0 },
  // Ours' upstream calls per request minus the lowest peer's, less the run-to-run spread.
  { key: "arena_outage_amplification_above_lowest_peer", op: "<=", target: 0 },
  { key: "arena_brownout_amplification_above_lowest_peer", op: "<=", target: 0 },
  // Upstream calls of a request made before the Retry-After it was given had passed.
  { key: "arena_retry_after_early_calls", op: "<=", target: 0 },
  // Issue 17: in an outage the client fails about as fast as the same stack without retries.
  { key: "client_outage_p99_vs_no_retry", op: "<=", target: 1.2 }
]

const rows = (o: Outcome<Array<Row>>): Array<Row> => (o?.ok ? o.value : [])

const overheadRatio = (o: Outcome<Array<Row>>, ours: string, other: string) =>
  ratio(overheadOf(rows(o), ours), overheadOf(rows(o), other))

const redisRow = (o: Outcome<RedisResult>, id: string) => (o?.ok ? o.value.rows.find((r) => r.id === id) : undefined)

const pgSide = (o: Outcome<PgResult>, id: string) => (o?.ok ? o.value.sides.find((s) => s.id === id) : undefined)

const pgPaired = (o: Outcome<PgResult>) => (o?.ok ? o.value.pairedRatios ?? undefined : undefined)

/**
 * The ratios of a run: overhead over overhead for per-call scenarios, end to end for PostgreSQL.
 *
 * @since 0.1.0
 * @category utils
 */
export const computeRatios = (s: Results["scenarios"]): Pick<Results, "ratios" | "otherRatios" | "targets"> => {
  const memoryOurs = s.memory?.ok ? s.memory.value.sides.find((x) => x.id === "ours") : undefined
  const arenaOurs = s.arena?.ok ? arenaFigures(s.arena.value) : undefined
  const arenaVariant = s.arena?.ok ? arenaFigures(s.arena.value, "ours-budget-hedge") : undefined
  const arenaBreakers = s.arena?.ok ? arenaFigures(s.arena.value, "ours", true) : undefined
  const stormSide = (id: string) => s.storm?.ok ? s.storm.value.sides.find((x) => x.id === id) : undefined
  const ratios: Record<RatioKey, number | null> = {
    overload_goodput_ratio_4x: s.overload?.ok ? s.overload.value.goodputRatio4x : null,
    overload_goodput_ratio_8x: s.overload?.ok ? s.overload.value.goodputRatio8x : null,
    shed_cost_ratio: s.overload?.ok ? s.overload.value.shedCostRatio : null,
    breaker_vs_effect_floor: overheadRatio(s.breaker, "ours", "effect-floor"),
    breaker_vs_cockatiel: overheadRatio(s.breaker, "ours", "cockatiel"),
    client_vs_cockatiel: overheadRatio(s.client, "ours", "cockatiel"),
    client_vs_effect_native: overheadRatio(s.client, "ours", "effect-native"),
    pool_vs_effect_pool: overheadRatio(s.pool, "ours", "effect-pool"),
    // per-round ratios (both sides in the same round), median over rounds; ratio of medians for older results
    pgpool_cpu_per_query_vs_pg: pgPaired(s.postgres)?.cpuPerQuery.median ?? ratio(
      pgSide(s.postgres, "ours")?.cpuMicrosPerQuery?.median,
      pgSide(s.postgres, "pg")?.cpuMicrosPerQuery?.median
    ),
    pgpool_throughput_vs_pg: pgPaired(s.postgres)?.throughput.median ?? ratio(
      pgSide(s.postgres, "ours")?.throughputPerSecond?.median,
      pgSide(s.postgres, "pg")?.throughputPerSecond?.median
    ),
    pgpool_p99_vs_pg: pgPaired(s.postgres)?.p99.median ??
      ratio(pgSide(s.postgres, "ours")?.p99Millis?.median, pgSide(s.postgres, "pg")?.p99Millis?.median),
    keyed_breakers_heap_mb: memoryOurs?.heapMb ?? null,
    redis_store_vs_memory: ratio(
      redisRow(s.redis, "ours")?.overheadNs?.median,
      redisRow(s.redis, "memory-store")?.overheadNs?.median
    ),
    redis_propagation_p99_ms: s.redis?.ok ? s.redis.value.propagation?.p99Millis ?? null : null,
    redis_commands_per_second: s.redis?.ok ? s.redis.value.commands?.commandsPerSecond ?? null : null,
    storm_amplification_with_budget: stormSide("ours-budget")?.amplification ?? null,
    http_client_vs_plain: s.http?.ok ? s.http.value.pairedRatio?.median ?? null : null,
    arena_goodput_phases_behind_best_peer: arenaOurs?.phasesBehind ?? null,
    arena_outage_amplification_above_lowest_peer: arenaOurs?.outage.excess ?? null,
    arena_brownout_amplification_above_lowest_peer: arenaOurs?.brownout.excess ?? null,
    arena_retry_after_early_calls: arenaOurs?.earlyAfterRetryAfter ?? null,
    client_outage_p99_vs_no_retry: s.failfast?.ok ? s.failfast.value.outageP99VsNoRetry?.median ?? null : null
  }
  const otherRatios: Record<string, number | null> = {
    breaker_vs_opossum: overheadRatio(s.breaker, "ours", "opossum"),
    retry_vs_effect_retry: overheadRatio(s.retry, "ours", "effect-retry"),
    retry_vs_cockatiel: overheadRatio(s.retry, "ours", "cockatiel"),
    retry_vs_p_retry: overheadRatio(s.retry, "ours", "p-retry"),
    client_runpromise_vs_cockatiel: overheadRatio(s.client, "ours-runpromise", "cockatiel"),
    client_runpromise_vs_effect_native_runpromise: overheadRatio(
      s.client,
      "ours-runpromise",
      "effect-native-runpromise"
    ),
    pool_vs_generic_pool: overheadRatio(s.pool, "ours", "generic-pool"),
    pool_vs_tarn: overheadRatio(s.pool, "ours", "tarn"),
    pgpool_p50_vs_pg: ratio(pgSide(s.postgres, "ours")?.p50Millis?.median, pgSide(s.postgres, "pg")?.p50Millis?.median),
    keyed_breakers_timers_after: memoryOurs?.timersAfter ?? null,
    redis_store_vs_no_store: ratio(
      redisRow(s.redis, "ours")?.overheadNs?.median,
      redisRow(s.redis, "no-store")?.overheadNs?.median
    ),
    redis_fleet_failures_shared: s.redis?.ok ? s.redis.value.fleet?.sharedMedian ?? null : null,
    redis_fleet_failures_unshared: s.redis?.ok ? s.redis.value.fleet?.unshared ?? null : null,
    storm_amplification_without_budget: stormSide("ours-no-budget")?.amplification ?? null,
    http_client_cpu_vs_plain: s.http?.ok ? s.http.value.pairedCpuRatio?.median ?? null : null,
    arena_goodput_min_vs_best_peer: arenaOurs?.goodputVsBestPeer ?? null,
    arena_goodput_phases_behind_best_breaker_peer: arenaBreakers?.phasesBehind ?? null,
    arena_goodput_spread_max_per_second: arenaOurs?.spreadMax ?? null,
    arena_budget_hedge_phases_behind_best_peer: arenaVariant?.phasesBehind ?? null,
    arena_budget_hedge_outage_amplification_above_lowest_peer: arenaVariant?.outage.excess ?? null,
    arena_budget_hedge_brownout_amplification_above_lowest_peer: arenaVariant?.brownout.excess ?? null,
    arena_budget_hedge_retry_after_early_calls: arenaVariant?.earlyAfterRetryAfter ?? null,
    bulkhead_codel_overload_goodput_vs_fifo: s.queue?.ok ? s.queue.value.codelVsFifo.median : null,
    bulkhead_codel_overload_goodput_vs_cockatiel: s.queue?.ok ? s.queue.value.codelVsCockatiel.median : null,
    bulkhead_codel_burst_rejected_share: s.queue?.ok
      ? s.queue.value.sides.find((x) => x.id === "ours-codel")?.rejected.bursts.max ?? null
      : null,
    // Reported, no target: a breaker open when the upstream comes back rejects until its next probe (issue 17).
    client_recovery_success_vs_naive: s.failfast?.ok ? s.failfast.value.recoverySuccessVsNaive?.median ?? null : null
  }
  return { ratios, otherRatios, targets: targets.map((t) => check(t, ratios[t.key as RatioKey])) }
}

// ---------------------------------------------------------------------------------------------------------------
// tables
// ---------------------------------------------------------------------------------------------------------------

/**
 * A table, rendered as text for the terminal or as Markdown for the docs.
 *
 * @since 0.1.0
 * @category models
 */
export interface Table {
  readonly title: string
  readonly notes: ReadonlyArray<string>
  readonly header: ReadonlyArray<string>
  /** Which columns are right-aligned. */
  readonly numeric: ReadonlyArray<boolean>
  readonly rows: ReadonlyArray<ReadonlyArray<string>>
}

const num = (x: number | null | undefined, digits?: number): string => {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–"
  const d = digits ?? (Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2)
  return x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d })
}

const withSpread = (s: Spread | null, digits?: number): string =>
  s === null ? "–" : `${num(s.median, digits)} (${num(s.min, digits)} … ${num(s.max, digits)})`

const failed = (title: string, error: string): Table => ({
  title,
  notes: [`CRASHED: ${error}`],
  header: [],
  numeric: [],
  rows: []
})

const perCallTable = (title: string, o: Outcome<Array<Row>>, notes: ReadonlyArray<string>): Table | undefined => {
  if (o === undefined) return undefined
  if (!o.ok) return failed(title, o.error)
  return {
    title,
    notes,
    header: ["variant", "runtime", "ns per call (median, min … max)", "overhead ns (median, min … max)"],
    numeric: [false, false, true, true],
    rows: o.value.map((r) =>
      r.available
        ? [
          r.label,
          r.runtime,
          withSpread(r.perCallNs),
          r.side === "bare" ? "(the bare call)" : withSpread(r.overheadNs)
        ]
        : [r.label, r.runtime, r.reason ?? "not available", "–"]
    )
  }
}

const status = (t: TargetResult): string => t.met === null ? "not measured" : t.met ? "met" : "MISSED ✗"

/**
 * The tables of a run, in order.
 *
 * @since 0.1.0
 * @category rendering
 */
export const tables = (r: Results): Array<Table> => {
  const s = r.scenarios
  const out: Array<Table | undefined> = [
    perCallTable("1. Circuit breaker, closed, success path", s.breaker, []),
    perCallTable("2. Retry, success on the first try", s.retry, []),
    perCallTable("3. Full client (bulkhead + retry + breaker + timeout), success path", s.client, [
      "The runPromise rows are Promise callers: one Effect.runPromise per call, overhead over the bare `await op()`."
    ]),
    perCallTable("4. Pool borrow + release (10 ready resources)", s.pool, [])
  ]
  if (s.postgres !== undefined) {
    const title = "5. PostgreSQL `SELECT 1`, end to end"
    if (!s.postgres.ok) out.push(failed(title, s.postgres.error))
    else {
      const p = s.postgres.value
      out.push({
        title,
        notes: p.skipped !== undefined
          ? [p.skipped]
          : [
            `${p.queries} queries at concurrency ${p.concurrency}, pools of ${p.poolSize} connections, ${p.rounds} round(s) each, alternating (A B, B A).`,
            ...(p.pairedRatios === undefined || p.pairedRatios === null ? [] : [
              `Ours ÷ pg per round, median (min … max) over rounds: client CPU per query ${
                withSpread(p.pairedRatios.cpuPerQuery, 3)
              }, throughput ${withSpread(p.pairedRatios.throughput, 3)}, p99 ${withSpread(p.pairedRatios.p99, 3)}${
                p.loadAverage === undefined ? "" : `; load average after ${p.loadAverage.join(" / ")}`
              }.`
            ])
          ],
        header: ["side", "client CPU µs per query", "queries/s", "p50 ms", "p99 ms"],
        numeric: [false, true, true, true, true],
        rows: p.sides.map((x) =>
          x.available
            ? [
              x.label,
              withSpread(x.cpuMicrosPerQuery, 1),
              withSpread(x.throughputPerSecond, 0),
              withSpread(x.p50Millis, 2),
              withSpread(x.p99Millis, 2)
            ]
            : [x.label, x.reason ?? "not available", "–", "–", "–"]
        )
      })
    }
  }
  if (s.memory !== undefined) {
    const title = "6. Memory: idle keyed breakers"
    if (!s.memory.ok) out.push(failed(title, s.memory.error))
    else {
      const m = s.memory.value
      out.push({
        title,
        notes: [
          "Each key called once; heap after a full GC minus heap before; timers still pending afterwards (unref'd included).",
          ...(m.sides.some((x) => x.keys !== m.keys)
            ? ["Quick runs measure the peers with fewer keys: compare bytes per key."]
            : [])
        ],
        header: ["side", "keys", "heap MB", "bytes per key", "timers after"],
        numeric: [false, true, true, true, true],
        rows: m.sides.map((x) =>
          x.available
            ? [x.label, num(x.keys, 0), num(x.heapMb, 1), num(x.bytesPerKey, 0), num(x.timersAfter, 0)]
            : [x.label, num(x.keys, 0), x.reason ?? "not available", "–", "–"]
        )
      })
    }
  }
  if (s.storm !== undefined) {
    const title = "7. Retry storm: downstream failing 100%"
    if (!s.storm.ok) out.push(failed(title, s.storm.error))
    else {
      const st = s.storm.value
      out.push({
        title,
        notes: [
          `${st.callers} callers in a closed loop for ${
            st.durationMillis / 1000
          } s; every downstream call fails after ${st.downstreamLatencyMillis} ms.`
        ],
        header: ["side", "caller requests", "downstream calls", "calls per request"],
        numeric: [false, true, true, true],
        rows: st.sides.map((x) =>
          x.available
            ? [x.label, num(x.requests, 0), num(x.downstreamCalls, 0), num(x.amplification, 2)]
            : [x.label, x.reason ?? "not available", "–", "–"]
        )
      })
    }
  }
  if (s.http !== undefined) {
    const title = "8. HTTP GET through ResilientHttpClient vs the plain HttpClient"
    if (!s.http.ok) out.push(failed(title, s.http.error))
    else {
      const h = s.http.value
      out.push({
        title,
        notes: [
          `${
            h.requests.toLocaleString("en-US")
          } GETs per round at concurrency ${h.concurrency}, ${h.rounds} round(s), ` +
          "against a keep-alive server in a child process; µs per request = wall time ÷ requests; CPU = this process.",
          `Ours ÷ plain, paired within each round: time per request ${withSpread(h.pairedRatio, 2)}, CPU per ` +
          `request ${withSpread(h.pairedCpuRatio, 2)}.`
        ],
        header: ["side", "µs per request", "p50 ms", "p99 ms", "CPU µs per request"],
        numeric: [false, true, true, true, true],
        rows: h.sides.map((x) =>
          x.available
            ? [
              x.label,
              withSpread(x.microsPerRequest, 1),
              withSpread(x.p50Millis, 2),
              withSpread(x.p99Millis, 2),
              withSpread(x.cpuMicrosPerRequest, 1)
            ]
            : [x.label, x.reason ?? "not available", "–", "–", "–"]
        )
      })
    }
  }
  if (s.redis !== undefined) {
    const title = "9. Breaker state shared through Redis"
    if (!s.redis.ok) out.push(failed(title, s.redis.error))
    else {
      const x = s.redis.value
      const perCall = perCallTable(
        title,
        { ok: true, value: [...x.rows] },
        [
          ...(x.skipped === undefined ? [] : [x.skipped]),
          `Closed success path, per call; the Redis store flushes every ${x.flushIntervalMillis} ms in the background.`,
          x.propagation === null ?
            "" :
            `Propagation, one replica's opening to another applying it: p50 ${
              num(x.propagation.p50Millis, 1)
            } ms, p99 ${num(x.propagation.p99Millis, 1)} ms, max ${
              num(x.propagation.maxMillis, 1)
            } ms over ${x.propagation.openings} openings.`,
          x.commands === null ?
            "" :
            `Redis commands of one replica at ${num(x.commands.callsPerSecond, 0)} calls/s: ${
              num(x.commands.commandsPerSecond, 1)
            } per second.`,
          x.fleet === null ?
            "" :
            `Failures let through before all of ${x.fleet.replicas} replicas (${x.fleet.callsPerSecondPerReplica} failing calls/s each, time window, 20 calls minimum) were open: shared ${
              num(x.fleet.sharedMedian, 1)
            } (${x.fleet.sharedMin} … ${x.fleet.sharedMax}, ${x.fleet.runs} runs), unshared ${x.fleet.unshared}, one process ${x.fleet.single}.`
        ].filter((n) => n.length > 0)
      )
      if (perCall !== undefined) out.push(perCall)
    }
  }
  if (s.arena !== undefined) {
    if (!s.arena.ok) out.push(failed("Arena", s.arena.error))
    else out.push(...arenaTables(s.arena.value))
  }
  if (s.failfast !== undefined) {
    const title = "11. Fail fast: errors, spikes, outage, recovery (issue 17)"
    if (!s.failfast.ok) out.push(failed(title, s.failfast.error))
    else out.push(failFastTable(title, s.failfast.value))
  }
  if (s.queue !== undefined) {
    const title = "12. A standing queue: the bulkhead's codel"
    if (!s.queue.ok) out.push(failed(title, s.queue.error))
    else out.push(queueTable(title, s.queue.value))
  }
  out.push({
    title: "Ratios and targets",
    notes: [
      "Per-call ratios are overhead ÷ overhead (ours ÷ theirs); PostgreSQL ratios are end to end; lower is better except throughput."
    ],
    header: ["figure", "value", "target", "status"],
    numeric: [false, true, true, false],
    rows: [
      ...Object.entries(r.ratios).map(([key, value]) => {
        const t = r.targets.find((x) => x.key === key)
        return [key, num(value, 2), t ? `${t.op === "<=" ? "≤" : "≥"} ${t.target}` : "(reported)", t ? status(t) : ""]
      }),
      ...Object.entries(r.otherRatios).map(([key, value]) => [key, num(value, 2), "(reported)", ""])
    ]
  })
  return out.filter((t): t is Table => t !== undefined)
}

const failFastTable = (title: string, f: FailFastResult): Table => ({
  title,
  notes: [
    `In-process upstream, ${f.ratePerSecond} requests/s open-loop, phases of ${f.phaseMillis / 1000} s, ${f.rounds} ` +
    `round(s), seed ${f.seed}; load average ${f.loadAverage.before.join(" / ")} before, ${
      f.loadAverage.after.join(" / ")
    } after. Figures: median (min … max) over rounds.`,
    `Ours' outage p99 ÷ the no-retry stack's: ${withSpread(f.outageP99VsNoRetry, 2)}; ours' recovery success ÷ ` +
    `naive: ${withSpread(f.recoverySuccessVsNaive, 3)} (paired per round).`,
    "In the outage only a handful of requests reach the upstream (those before the breaker opens, and the probes): " +
    "the p99 falls on the first ones, which the client retried once after a backoff before its breaker opened.",
    "A breaker still open when the upstream comes back rejects until its next probe (open 1 s here): no breaker " +
    "matches the naive caller at the start of the recovery."
  ],
  header: ["contender", "phase", "success", "p99 ms", "max ms", "> 500 ms"],
  numeric: [false, false, true, true, true, true],
  rows: f.sides.flatMap((s) =>
    s.cells.map((c) => [
      s.label,
      c.id,
      pct(c.success.median),
      withSpread(c.p99Millis, 0),
      withSpread(c.maxMillis, 0),
      pct(c.over500.median)
    ])
  )
})

const queueTable = (title: string, q: QueueResult): Table => ({
  title,
  notes: [
    `A dependency of ${q.config.callMillis} ms per call behind ${q.config.slots} slots and a queue of ${q.config.queue} ` +
    `(it serves ${(q.config.slots * 1_000) / q.config.callMillis} calls/s); callers give up after ` +
    `${q.config.deadlineMillis} ms. Overload: ${q.config.overloadPerSecond} calls/s; bursts: ${q.config.burstSize} ` +
    `calls at once every ${q.config.burstEveryMillis / 1_000} s. ${q.seconds} s per load, ${q.rounds} round(s); load ` +
    `average ${q.loadAverage.before.join(" / ")} before, ${q.loadAverage.after.join(" / ")} after. Figures: median ` +
    `(min … max) over rounds.`,
    `Goodput under overload, codel ÷ FIFO: ${withSpread(q.codelVsFifo, 2)}; codel ÷ cockatiel: ${
      withSpread(q.codelVsCockatiel, 2)
    } (paired per round).`
  ],
  header: ["contender", "load", "goodput /s", "rejected", "caller gave up"],
  numeric: [false, false, true, true, true],
  rows: q.sides.flatMap((s) =>
    (["overload", "bursts"] as const).map((l) => [
      s.label,
      l,
      withSpread(s.goodput[l], 1),
      pct(s.rejected[l].median),
      pct(s.late[l].median)
    ])
  )
})

const width = (s: string) => [...s].length

/**
 * A table as aligned text.
 *
 * @since 0.1.0
 * @category rendering
 */
export const renderText = (t: Table): string => {
  const lines = [t.title, ...t.notes.map((n) => `  ${n}`)]
  if (t.header.length > 0) {
    const all = [t.header, ...t.rows]
    const widths = t.header.map((_, i) => Math.max(...all.map((row) => width(row[i] ?? ""))))
    const line = (row: ReadonlyArray<string>) =>
      "  " + row.map((cell, i) => {
        const pad = " ".repeat(widths[i]! - width(cell))
        return t.numeric[i] ? pad + cell : cell + pad
      }).join("  ")
    lines.push(line(t.header), "  " + widths.map((w) => "-".repeat(w)).join("  "), ...t.rows.map(line))
  }
  return lines.join("\n")
}

const escapeMd = (s: string) => s.replaceAll("|", "\\|")

/**
 * A table as Markdown.
 *
 * @since 0.1.0
 * @category rendering
 */
export const renderMarkdown = (t: Table): string => {
  const lines = [`### ${t.title}`, "", ...t.notes.map((n) => `${n}`)]
  if (t.notes.length > 0) lines.push("")
  if (t.header.length > 0) {
    lines.push(
      `| ${t.header.map(escapeMd).join(" | ")} |`,
      `|${t.numeric.map((n) => (n ? " ---: " : " --- ")).join("|")}|`,
      ...t.rows.map((row) => `| ${row.map(escapeMd).join(" | ")} |`)
    )
  }
  return lines.join("\n")
}

/**
 * What a run was measured on, in a line or two.
 *
 * @since 0.1.0
 * @category rendering
 */
export const runLine = (r: Results): string =>
  `${r.mode} run of ${r.generatedAt} (${
    Math.round(r.durationSeconds)
  } s): ${r.machine.cpu}, ${r.machine.cores} cores, ` +
  `Node ${r.machine.node}, effect ${r.machine.versions.effect ?? "?"}, load average at start ${
    r.machine.loadAverageAtStart.join(" / ")
  }; ${r.method.rounds} rounds × ${r.method.budgetMillis} ms per variant, ${r.method.calls} calls per batch.`

const pct = (x: number) => `${num(100 * x, 1)}%`

/**
 * The arena's tables: one per phase, then breakers, recovery and Retry-After.
 *
 * @since 0.1.0
 * @category rendering
 */
export const arenaTables = (a: ArenaResult): Array<Table> => {
  const phaseTables = a.phases.map((p, i): Table => ({
    title: `Arena, ${p.label}: ${p.millis / 1000} s at ${a.ratePerSecond} requests/s`,
    notes: [],
    header: [
      "contender",
      `goodput /s (answered ≤ ${a.config.callerDeadlineMillis / 1000} s)`,
      "successes /s (any time)",
      "p50 ms",
      "p99 ms",
      "upstream calls per request"
    ],
    numeric: [false, true, true, true, true, true],
    rows: a.sides.map((s) => {
      const c = s.cells[i]!
      return [
        s.label,
        withSpread(c.goodput, 1),
        withSpread(c.successes, 1),
        withSpread(c.p50Millis, 0),
        withSpread(c.p99Millis, 0),
        withSpread(c.amplification, 2)
      ]
    })
  }))
  return [
    ...phaseTables,
    {
      title: "Arena: breakers, recovery, Retry-After",
      notes: [
        `${a.rounds} round(s), seed ${a.seed}; load average ${a.loadAverage.before.join(" / ")} before, ${
          a.loadAverage.after.join(" / ")
        } after. Figures: median (min … max) over rounds.`
      ],
      header: [
        "contender",
        "breaker open while healthy",
        "end of outage → 95% window, ms",
        "calls > 10 ms before Retry-After passed (of answers with one); most early, ms"
      ],
      numeric: [false, true, true, true],
      rows: a.sides.map((s) => [
        s.label,
        s.falseOpenShare === null
          ? "(no breaker)"
          : `${pct(s.falseOpenShare.median)} (${pct(s.falseOpenShare.min)} … ${pct(s.falseOpenShare.max)})`,
        withSpread(s.recoveryMillis, 0),
        `${s.earlyAfterRetryAfter} (of ${s.retryAfterSent}); ${num(s.earliestMillis ?? 0, 0)}`
      ])
    }
  ]
}

/**
 * The arena's section of docs/benchmarks.md: its charts and tables.
 *
 * @since 0.1.0
 * @category rendering
 */
export const arenaMarkdown = (a: ArenaResult, charts: ReadonlyArray<string>): string => {
  const f = arenaFigures(a)
  const verdict = f === undefined
    ? []
    : [
      `Ours against the best peer, phase by phase (median goodput /s, spread = the larger max − min over rounds): ${
        f.perPhase.map((x) => `${x.phase} ${num(x.ours, 1)} vs ${num(x.best, 1)} (${x.bestId}, ±${num(x.spread, 1)})`)
          .join("; ")
      }.`,
      ""
    ]
  const tablesMd = arenaTables(a).map((t, i) => {
    const chart = charts[i]
    return (chart === undefined ? "" : `![${t.title}](benchmarks/${chart})\n\n`) +
      renderMarkdown(t).replace(/^### /, "#### ")
  })
  return [...verdict, ...tablesMd.map((t) => t + "\n")].join("\n")
}
