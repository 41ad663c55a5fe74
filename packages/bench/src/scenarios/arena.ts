/**
 * Scenario 10, the arena: what resilience is for. One scripted upstream (`src/arena/upstream.ts`: healthy, error
 * bursts, latency spikes, brown-out, hard outage, slow recovery, Retry-After, healthy again), the same open-loop
 * arrival rate (request `i` starts at `i / rate` seconds, whatever came of the others) driven through each
 * contender in turn (`src/arena/contenders.ts`), in rounds with the order rotated. Per phase and contender:
 * goodput (successes within the caller's deadline of 2 s), successes however late, p50/p99 latency of all
 * requests, upstream calls per request, the share of time the breaker was open while the upstream was healthy, and
 * the time from the end of the outage to a 250 ms window with 95% of its requests succeeding within the deadline.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import { performance } from "node:perf_hooks"
import { contenders, makeTransport, shared } from "../arena/contenders.js"
import { type ArenaPhase, figures, phaseIndexAt, type PhaseName, phaseStart, script, start } from "../arena/upstream.js"
import { loadAverage, openLoop, rotatedRounds } from "../openLoop.js"
import { quantile, type Spread, spread } from "../stats.js"

/**
 * One contender in one phase, over rounds.
 *
 * @since 0.1.0
 * @category models
 */
export interface ArenaCell {
  /** The phase's name (an `id`, so docs claims can name the cell: `scenarios.arena.ours.cells.errors…`). */
  readonly id: PhaseName
  readonly phase: PhaseName
  /**
   * Requests per second that succeeded within the caller's deadline (`shared.callerDeadlineMillis`) of their
   * arrival (median, min … max over rounds).
   */
  readonly goodput: Spread
  /** Requests per second that succeeded, however late. */
  readonly successes: Spread
  readonly p50Millis: Spread
  readonly p99Millis: Spread
  /** Upstream calls started in the phase ÷ requests arriving in it. */
  readonly amplification: Spread
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ArenaSide {
  readonly id: string
  readonly label: string
  readonly side: "none" | "ours" | "peer"
  readonly cells: ReadonlyArray<ArenaCell>
  /** Share of breaker samples (every 20 ms) that found it open in the healthy phases; `null`: no breaker. */
  readonly falseOpenShare: Spread | null
  /** From the end of the outage to the first 250 ms window with >= 95% of its requests succeeding in time. */
  readonly recoveryMillis: Spread | null
  /** Upstream calls of a request made more than 10 ms before a `Retry-After` it had received had passed. */
  readonly earlyAfterRetryAfter: number
  /** The most any call came before its `Retry-After` had passed, in ms (0: none early). */
  readonly earliestMillis: number
  /** Answers with a `Retry-After` the contender received. */
  readonly retryAfterSent: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ArenaResult {
  readonly ratePerSecond: number
  readonly rounds: number
  readonly seed: number
  readonly phases: ReadonlyArray<{ readonly name: PhaseName; readonly label: string; readonly millis: number }>
  readonly config: typeof shared & typeof figures
  readonly loadAverage: { readonly before: ReadonlyArray<number>; readonly after: ReadonlyArray<number> }
  readonly sides: ReadonlyArray<ArenaSide>
}

/**
 * The figures of one run, per phase in script order.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunFigures {
  readonly goodput: Array<number>
  readonly successes: Array<number>
  readonly p50: Array<number>
  readonly p99: Array<number>
  readonly amplification: Array<number>
  readonly falseOpen: number | null
  readonly recovery: number | null
  readonly early: number
  readonly earliest: number
  readonly sent: number
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * One contender once through the whole script, against a fresh upstream.
 *
 * @since 0.1.0
 * @category scenarios
 */
export const runOnce = async (
  spec: (typeof contenders)[number],
  phases: ReadonlyArray<ArenaPhase>,
  rate: number,
  seed: number
): Promise<RunFigures> => {
  const upstream = await start(phases, seed)
  const total = phases.reduce((s, p) => s + p.millis, 0)
  const interval = 1_000 / rate
  const count = Math.floor(total / interval)
  const callsByPhase = new Array<number>(phases.length).fill(0)
  let t0 = performance.now()
  const transport = makeTransport(upstream.port, () => {
    callsByPhase[phaseIndexAt(phases, performance.now() - t0)]!++
  })
  const contender = await spec.make(transport.call)
  // warm-up: a few requests before the script (connections, JIT)
  // (one at a time: a cold start must not open a breaker before the script)
  for (let i = 0; i < 10; i++) await contender.call(1_000_000 + i)
  const breakerSamples: Array<[number, boolean]> = []
  t0 = performance.now()
  upstream.restart(t0)
  callsByPhase.fill(0)
  const outage = phases.findIndex((p) => p.name === "outage")
  const outageStart = phaseStart(phases, outage)
  const outageEnd = outageStart + phases[outage]!.millis
  const toggles = [
    sleep(outageStart).then(() => upstream.setDown(true)),
    sleep(outageEnd).then(() => upstream.setDown(false))
  ]
  const sampler = contender.breakerOpen === null ? undefined : setInterval(() => {
    breakerSamples.push([phaseIndexAt(phases, performance.now() - t0), contender.breakerOpen!()])
  }, 20)
  const { endAt, ok, pending, startAt } = await openLoop(count, interval, t0, (i) => contender.call(i))
  await Promise.race([Promise.all(toggles), sleep(5_000)])
  await Promise.race([Promise.all(pending), sleep(10_000)])
  if (sampler !== undefined) clearInterval(sampler)
  const early = transport.early()
  const earliest = transport.earliest()
  const sent = transport.retryAfterReceived()
  await contender.close()
  transport.close()
  await upstream.close()

  // per phase, by the scheduled arrival time of each request
  const goodput: Array<number> = []
  const successes: Array<number> = []
  const p50: Array<number> = []
  const p99: Array<number> = []
  const amplification: Array<number> = []
  for (let p = 0; p < phases.length; p++) {
    const from = phaseStart(phases, p)
    const to = from + phases[p]!.millis
    const latencies: Array<number> = []
    let succeeded = 0
    let onTime = 0
    let requests = 0
    for (let i = 0; i < count; i++) {
      const at = i * interval
      if (at < from || at >= to) continue
      requests++
      succeeded += ok[i]!
      if (ok[i]! === 1 && endAt[i]! - startAt[i]! <= shared.callerDeadlineMillis) onTime++
      // a request still running at the end counts with the time it had run
      latencies.push((Number.isNaN(endAt[i]!) ? performance.now() - t0 : endAt[i]!) - startAt[i]!)
    }
    goodput.push(onTime / (phases[p]!.millis / 1_000))
    successes.push(succeeded / (phases[p]!.millis / 1_000))
    p50.push(latencies.length > 0 ? quantile(latencies, 0.5) : Number.NaN)
    p99.push(latencies.length > 0 ? quantile(latencies, 0.99) : Number.NaN)
    amplification.push(requests > 0 ? callsByPhase[p]! / requests : Number.NaN)
  }
  const healthy = new Set(phases.flatMap((p, i) => (p.name === "healthy" || p.name === "healthy-again" ? [i] : [])))
  const inHealthy = breakerSamples.filter(([p]) => healthy.has(p))
  const falseOpen = contender.breakerOpen === null || inHealthy.length === 0
    ? null
    : inHealthy.filter(([, open]) => open).length / inHealthy.length
  // recovery: from the end of the outage, the first 250 ms window of arrivals with >= 95% successes
  let recovery: number | null = null
  for (let w = outageEnd; w + 250 <= total; w += 50) {
    let n = 0
    let s = 0
    for (let i = Math.ceil(w / interval); i * interval < w + 250 && i < count; i++) {
      n++
      if (ok[i]! === 1 && endAt[i]! - startAt[i]! <= shared.callerDeadlineMillis) s++
    }
    if (n > 0 && s / n >= 0.95) {
      recovery = w - outageEnd
      break
    }
  }
  return { goodput, successes, p50, p99, amplification, falseOpen, recovery, early, earliest, sent }
}

/**
 * Runs the arena: `rounds` rounds, each contender once per round through the whole script, in a rotated order.
 *
 * @since 0.1.0
 * @category scenarios
 */
export const run = async (quick: boolean, progress: (line: string) => void): Promise<ArenaResult> => {
  const phases = script(quick ? 400 : 4_000)
  const rounds = quick ? 1 : 5
  const rate = 100
  const seed = 20
  const before = loadAverage()
  const runs = await rotatedRounds(
    contenders,
    rounds,
    (round, spec) => progress(`arena: round ${round + 1}/${rounds}, ${spec.id}`),
    (spec) => runOnce(spec, phases, rate, seed)
  )
  const sides: Array<ArenaSide> = contenders.map((spec) => {
    const mine = runs.get(spec.id)!
    const sideOf = spec.id === "none" ? "none" : spec.id.startsWith("ours") ? "ours" : "peer"
    const falseOpens = mine.flatMap((r) => (r.falseOpen === null ? [] : [r.falseOpen]))
    const recoveries = mine.flatMap((r) => (r.recovery === null ? [] : [r.recovery]))
    return {
      id: spec.id,
      label: spec.label,
      side: sideOf,
      cells: phases.map((p, i) => ({
        id: p.name,
        phase: p.name,
        goodput: spread(mine.map((r) => r.goodput[i]!)),
        successes: spread(mine.map((r) => r.successes[i]!)),
        p50Millis: spread(mine.map((r) => r.p50[i]!)),
        p99Millis: spread(mine.map((r) => r.p99[i]!)),
        amplification: spread(mine.map((r) => r.amplification[i]!))
      })),
      falseOpenShare: falseOpens.length > 0 ? spread(falseOpens) : null,
      recoveryMillis: recoveries.length > 0 ? spread(recoveries) : null,
      earlyAfterRetryAfter: mine.reduce((s, r) => s + r.early, 0),
      earliestMillis: Math.max(0, ...mine.map((r) => r.earliest)),
      retryAfterSent: mine.reduce((s, r) => s + r.sent, 0)
    }
  })
  return {
    ratePerSecond: rate,
    rounds,
    seed,
    phases: phases.map((p) => ({ name: p.name, label: p.label, millis: p.millis })),
    config: { ...shared, ...figures },
    loadAverage: { before, after: loadAverage() },
    sides
  }
}

// ---------------------------------------------------------------------------------------------------------------
// figures for the targets
// ---------------------------------------------------------------------------------------------------------------

/**
 * The arena's figures against the peers (cockatiel, opossum + p-retry, plain Effect), for `ours`:
 *
 * - `phasesBehind`: phases where ours' median goodput is below the best peer's by more than the run-to-run spread
 *   (the larger of the two sides' max − min over rounds);
 * - `goodputVsBestPeer`: the lowest ratio of ours' median goodput to the best peer's, over the phases;
 * - amplification in the outage and brown-out: ours' median minus the lowest peer's, less the spread.
 *
 * With `withBreakerOnly`, the peers are those with a breaker (cockatiel, opossum): a stack without one trades the
 * dependency's protection for goodput while it fails, and this compares like with like.
 *
 * @since 0.1.0
 * @category utils
 */
export const arenaFigures = (r: ArenaResult, oursId = "ours", withBreakerOnly = false) => {
  const ours = r.sides.find((s) => s.id === oursId)
  // a side has a breaker when it was sampled (`falseOpenShare` is null for the sides without one)
  const peers = r.sides.filter((s) => s.side === "peer" && (!withBreakerOnly || s.falseOpenShare !== null))
  if (ours === undefined || peers.length === 0) return undefined
  const behind: Array<{ phase: PhaseName; ours: number; best: number; bestId: string; spread: number }> = []
  let lowest = Number.POSITIVE_INFINITY
  const perPhase = r.phases.map((p, i) => {
    const mine = ours.cells[i]!.goodput
    const best = peers.reduce((a, b) => (b.cells[i]!.goodput.median > a.cells[i]!.goodput.median ? b : a))
    const theirs = best.cells[i]!.goodput
    const spreadWidth = Math.max(mine.max - mine.min, theirs.max - theirs.min)
    if (mine.median < theirs.median - spreadWidth) {
      behind.push({ phase: p.name, ours: mine.median, best: theirs.median, bestId: best.id, spread: spreadWidth })
    }
    if (theirs.median > 0) lowest = Math.min(lowest, mine.median / theirs.median)
    return { phase: p.name, ours: mine.median, best: theirs.median, bestId: best.id, spread: spreadWidth }
  })
  // ours' median calls per request above the lowest peer's, less the run-to-run spread (<= 0: lowest, or tied
  // within the spread); a ratio says nothing when a peer's breaker let no call through (0 calls per request)
  const ampExcess = (phase: PhaseName) => {
    const i = r.phases.findIndex((p) => p.name === phase)
    const lowestPeer = peers.reduce((
      a,
      b
    ) => (b.cells[i]!.amplification.median < a.cells[i]!.amplification.median ? b : a))
    const mine = ours.cells[i]!.amplification
    const theirs = lowestPeer.cells[i]!.amplification
    return {
      excess: mine.median - theirs.median - Math.max(mine.max - mine.min, theirs.max - theirs.min),
      ours: mine.median,
      lowest: theirs.median,
      lowestId: lowestPeer.id
    }
  }
  return {
    phasesBehind: behind.length,
    behind,
    perPhase,
    goodputVsBestPeer: Number.isFinite(lowest) ? lowest : null,
    outage: ampExcess("outage"),
    brownout: ampExcess("brownout"),
    earlyAfterRetryAfter: ours.earlyAfterRetryAfter,
    spreadMax: Math.max(...perPhase.map((x) => x.spread))
  }
}

// ---------------------------------------------------------------------------------------------------------------
// charts
// ---------------------------------------------------------------------------------------------------------------

const esc = (s: string) => s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")

const colors: Record<string, string> = {
  none: "#9e9e9e",
  ours: "#1565c0",
  "ours-budget-hedge": "#42a5f5",
  cockatiel: "#ef6c00",
  opossum: "#6a1b9a",
  effect: "#2e7d32"
}

/**
 * One phase as an SVG chart: goodput per contender (bars, with the min … max over rounds as a whisker), and its
 * p99 latency and amplification as labels.
 *
 * @since 0.1.0
 * @category rendering
 */
export const phaseChart = (r: ArenaResult, index: number): string => {
  const phase = r.phases[index]!
  const width = 860
  const rowH = 30
  const left = 400
  const barMax = 260
  const top = 48
  const height = top + r.sides.length * rowH + 36
  const max = r.ratePerSecond
  const x = (v: number) => left + (Math.min(v, max) / max) * barMax
  const rows = r.sides.map((s, k) => {
    const c = s.cells[index]!
    const y = top + k * rowH
    return [
      `<text x="${left - 8}" y="${y + 15}" text-anchor="end">${esc(s.label)}</text>`,
      `<rect x="${left}" y="${y + 4}" width="${Math.max(0, x(c.goodput.median) - left).toFixed(1)}" height="16" fill="${
        colors[s.id] ?? "#555"
      }"/>`,
      `<line x1="${x(c.goodput.min).toFixed(1)}" x2="${x(c.goodput.max).toFixed(1)}" y1="${y + 12}" y2="${
        y + 12
      }" stroke="#000" stroke-width="1.5"/>`,
      `<text x="${left + barMax + 8}" y="${y + 15}">${c.goodput.median.toFixed(1)}/s · p99 ${
        Math.round(c.p99Millis.median)
      } ms · ×${c.amplification.median.toFixed(2)}</text>`
    ].join("")
  })
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    `font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">Arena, ${esc(phase.label)}</text>`,
    `<text x="10" y="38" fill="#555">goodput (requests/s answered with success within ${
      r.config.callerDeadlineMillis / 1000
    } s, of ${r.ratePerSecond} offered; whisker: min … max over ${r.rounds} rounds) · p99 latency · upstream calls per request</text>`,
    ...rows,
    `<line x1="${left}" x2="${left}" y1="${top}" y2="${top + r.sides.length * rowH}" stroke="#999"/>`,
    `<line x1="${left + barMax}" x2="${left + barMax}" y1="${top}" y2="${
      top + r.sides.length * rowH
    }" stroke="#ccc" stroke-dasharray="3,3"/>`,
    `<text x="${left}" y="${height - 12}" fill="#555">0</text>`,
    `<text x="${left + barMax}" y="${height - 12}" fill="#555" text-anchor="middle">${r.ratePerSecond}/s</text>`,
    `</svg>`
  ].join("\n") + "\n"
}

/**
 * Writes one SVG per phase into `dir` and returns their file names, in phase order.
 *
 * @since 0.1.0
 * @category rendering
 */
export const writeCharts = (r: ArenaResult, dir: URL): Array<string> => {
  fs.mkdirSync(dir, { recursive: true })
  return r.phases.map((p, i) => {
    const name = `arena-${p.name}.svg`
    fs.writeFileSync(new URL(name, dir), phaseChart(r, i))
    return name
  })
}
