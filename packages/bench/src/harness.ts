/**
 * The measurement method, the same for every per-call scenario:
 *
 * - A variant runs a batch of `calls` calls in a row: `await op()` in one async function for Promise code, `yield*`
 *   in one `Effect.gen` program for Effect code (one `runPromise` per batch, so the runtime's start-up cost is
 *   spread over the batch, as it is in a real program).
 * - mitata times batches in CPU time (with its own warm-up, a GC before each measurement, and as many samples as
 *   fit in the time budget); a round takes the median batch time of each variant divided by `calls`.
 * - Variants run in rounds, in a rotated order each round, so slow drift of a shared machine falls on all of them.
 *   One discarded warm-up pass comes first.
 * - Overhead = time per call minus the bare call of the same runtime in the same round. Figures are the median
 *   over rounds, with the min and max over rounds as the spread.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { measure } from "mitata"
import { overheads, type Spread, spread } from "./stats.js"

/**
 * The runtime a variant runs on; its overhead is taken against that runtime's bare call.
 *
 * @since 0.1.0
 * @category models
 */
export type RuntimeKind = "effect" | "promise"

/**
 * What a variant is: the bare call, ours, a peer library, or a plain-Effect baseline.
 *
 * @since 0.1.0
 * @category models
 */
export type Side = "bare" | "ours" | "peer" | "baseline"

/**
 * Something to measure.
 *
 * @since 0.1.0
 * @category models
 */
export interface Variant {
  readonly id: string
  readonly label: string
  readonly side: Side
  readonly runtime: RuntimeKind
  /** Runs one batch of `calls` calls. */
  readonly batch: () => Promise<unknown>
}

/**
 * A variant that cannot run in this tree (its implementation has not landed), with the reason.
 *
 * @since 0.1.0
 * @category models
 */
export interface Missing {
  readonly id: string
  readonly label: string
  readonly side: Side
  readonly runtime: RuntimeKind
  readonly reason: string
}

/**
 * @since 0.1.0
 * @category models
 */
export type Entry = Variant | Missing

/**
 * @since 0.1.0
 * @category guards
 */
export const isMissing = (entry: Entry): entry is Missing => "reason" in entry

/**
 * One line of a per-call table.
 *
 * @since 0.1.0
 * @category models
 */
export interface Row {
  readonly id: string
  readonly label: string
  readonly side: Side
  readonly runtime: RuntimeKind
  readonly available: boolean
  readonly reason?: string
  /** Nanoseconds per call: median over rounds, min, max. */
  readonly perCallNs: Spread | null
  /** Nanoseconds per call above the bare call of the same runtime. */
  readonly overheadNs: Spread | null
  /** Nanoseconds per call in each round, in order. */
  readonly roundsNs?: ReadonlyArray<number>
}

/**
 * How long and how often to measure.
 *
 * @since 0.1.0
 * @category models
 */
export interface Config {
  readonly quick: boolean
  /** Measured rounds (after one discarded warm-up pass). */
  readonly rounds: number
  /** Calls per batch. */
  readonly calls: number
  /** mitata's time budget per variant per round, in milliseconds. */
  readonly budgetMillis: number
  /** mitata's minimum number of batches per variant per round. */
  readonly minSamples: number
}

/**
 * @since 0.1.0
 * @category constants
 */
export const fullConfig: Config = { quick: false, rounds: 9, calls: 1_000, budgetMillis: 150, minSamples: 6 }

/**
 * @since 0.1.0
 * @category constants
 */
export const quickConfig: Config = { quick: true, rounds: 2, calls: 1_000, budgetMillis: 15, minSamples: 4 }

/**
 * A batch of Effect calls: one program that runs `call()` `calls` times with `yield*`. `call` builds the effect
 * of one call, as user code does at each call site.
 *
 * @since 0.1.0
 * @category constructors
 */
export const effectBatch = (calls: number, call: () => Effect.Effect<unknown, unknown>): () => Promise<void> => {
  const program = Effect.gen(function*() {
    for (let i = 0; i < calls; i++) yield* call()
  })
  return () => Effect.runPromise(program)
}

/**
 * A batch of Promise calls: one async function that awaits `call()` `calls` times.
 *
 * @since 0.1.0
 * @category constructors
 */
export const promiseBatch = (calls: number, call: () => Promise<unknown>): () => Promise<void> => async () => {
  for (let i = 0; i < calls; i++) await call()
}

/**
 * The clock batches are timed with: CPU time of the process in nanoseconds (user + system, every thread, so GC
 * work counts), at microsecond resolution, i.e. 1 ns per call in a batch of 1,000. Every per-call scenario is
 * CPU-bound (nothing waits on I/O or timers), so CPU time is its cost, and unlike wall time it does not grow when
 * other processes take the cores of a shared machine.
 *
 * @since 0.1.0
 * @category measurement
 */
export const cpuNow = (): number => {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) * 1_000
}

const measureOnce = async (batch: () => Promise<unknown>, budgetMillis: number, minSamples: number) => {
  const stats = await measure(batch, {
    now: cpuNow,
    min_cpu_time: budgetMillis * 1e6,
    min_samples: minSamples,
    // A batch already runs many calls: mitata must not batch them again (it would run 4,096 of them per sample).
    batch_threshold: 0,
    batch_unroll: 1
  })
  return stats.p50
}

/**
 * Measures the variants of one scenario in rounds and returns their rows (missing variants included, marked).
 *
 * @since 0.1.0
 * @category measurement
 */
export const measureAll = async (
  scenario: string,
  entries: ReadonlyArray<Entry>,
  config: Config,
  progress: (line: string) => void
): Promise<Array<Row>> => {
  const variants = entries.filter((e): e is Variant => !isMissing(e))
  const bareOf = new Map<RuntimeKind, Variant>()
  for (const v of variants) if (v.side === "bare") bareOf.set(v.runtime, v)
  for (const v of variants) {
    if (!bareOf.has(v.runtime)) throw new Error(`${scenario}: no bare ${v.runtime} call to take ${v.label}'s overhead`)
  }
  progress(`${scenario}: warm-up`)
  for (const v of variants) await measureOnce(v.batch, Math.max(5, config.budgetMillis / 3), 2)
  const perCall = new Map<string, Array<number>>(variants.map((v) => [v.id, []]))
  for (let round = 0; round < config.rounds; round++) {
    progress(`${scenario}: round ${round + 1}/${config.rounds}`)
    const order = variants.map((_, i) => variants[(i + round) % variants.length]!)
    for (const v of order) {
      const batchNs = await measureOnce(v.batch, config.budgetMillis, config.minSamples)
      perCall.get(v.id)!.push(batchNs / config.calls)
    }
  }
  return entries.map((e): Row => {
    if (isMissing(e)) {
      return { ...base(e), available: false, reason: e.reason, perCallNs: null, overheadNs: null }
    }
    const mine = perCall.get(e.id)!
    const bare = perCall.get(bareOf.get(e.runtime)!.id)!
    return {
      ...base(e),
      available: true,
      perCallNs: spread(mine),
      overheadNs: e.side === "bare" ? null : spread(overheads(mine, bare)),
      roundsNs: mine.map((x) => Math.round(x * 10) / 10)
    }
  })
}

const base = (e: Entry) => ({ id: e.id, label: e.label, side: e.side, runtime: e.runtime })

/**
 * The median overhead of a row, or `null` when it was not measured.
 *
 * @since 0.1.0
 * @category utils
 */
export const overheadOf = (rows: ReadonlyArray<Row>, id: string): number | null =>
  rows.find((r) => r.id === id)?.overheadNs?.median ?? null
