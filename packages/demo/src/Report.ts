/**
 * What a run came to: summaries, the three sentences the report leads with, the side-by-side table, the breaker's
 * transitions summarised and the recovery explained. The chart is in `Chart`.
 *
 * @since 0.1.0
 */
import type { Phase } from "./Gateway.js"
import type { Sample } from "./Load.js"

/**
 * A breaker transition seen during a run.
 *
 * @since 0.1.0
 * @category models
 */
export interface Transition {
  /** Seconds since the run began. */
  readonly at: number
  readonly from: string
  readonly to: string
}

/**
 * One look at `GET /health/ready`, as a load balancer takes it.
 *
 * @since 0.1.0
 * @category models
 */
export interface HealthProbe {
  /** Millis since the run began. */
  readonly at: number
  /** The HTTP status (0 when unreachable). */
  readonly code: number
  /** The report's status: `healthy`, `degraded`, `unhealthy`. */
  readonly status: string
  /** The gateway check's result (null when the service has none). */
  readonly gatewayOk: boolean | null
}

/**
 * One phase of a run.
 *
 * @since 0.1.0
 * @category models
 */
export interface PhaseSummary {
  readonly requests: number
  readonly successRate: number
  /** Share of requests accepted as pending (the fallback), apart from successes. */
  readonly pendingRate: number
  readonly p99Millis: number
  readonly gatewayCallsPerRequest: number
}

/**
 * The breaker's transitions, summarised.
 *
 * @since 0.1.0
 * @category models
 */
export interface BreakerSummary {
  /** Closed → Open. */
  readonly openings: number
  /** Open → HalfOpen: a probe let through. */
  readonly probes: number
  /** HalfOpen → Open: a probe failed. */
  readonly reopenings: number
  /** HalfOpen → Closed. */
  readonly closings: number
  /** Seconds not closed (open or half-open). */
  readonly secondsOpen: number
  /** Seconds after the gateway came back until the breaker closed (0 when it was closed already; null: never). */
  readonly closedAfterRecoverySeconds: number | null
  /**
   * When it last opened before it closed in the recovery phase (seconds since the run began; null when it was closed
   * as the gateway came back). It may be after the gateway came back: a probe let through in the outage's last
   * moments fails when its attempt times out.
   */
  readonly lastOpenedBeforeClosing: number | null
  /** When the probe whose failure caused that opening was let through (null when the opening was no probe's). */
  readonly failedProbeAt: number | null
}

/**
 * What one run came to (the `--json` shape).
 *
 * @since 0.1.0
 * @category models
 */
export interface RunSummary {
  readonly requests: number
  readonly successRate: number
  /** Payments accepted as pending (the fallback), not counted as successes. */
  readonly pending: number
  readonly p50Millis: number
  readonly p95Millis: number
  readonly p99Millis: number
  readonly gatewayCallsPerRequest: number
  /** `GET /health` calls the breaker made while open (`healthCheck`), apart from `gatewayCallsPerRequest`. */
  readonly gatewayHealthChecks: number
  readonly errors: Record<string, number>
  /** What sent the pending payments to the queue, by error kind. */
  readonly pendingCauses: Record<string, number>
  /** Seconds from the start of the recovery phase until a one-second bucket is 95% successful again. */
  readonly recoverySeconds: number | null
  readonly breakerTransitions: ReadonlyArray<Transition>
  readonly breaker: BreakerSummary
  readonly phases: Record<string, PhaseSummary>
  /** The fallback's queue: accepted, replayed (and when the last was), refused when full, still pending. */
  readonly fallback: {
    readonly queued: number
    readonly replayed: number
    readonly firstReplayAt: number | null
    readonly lastReplayAt: number | null
    readonly refused: number
    readonly stillPending: number
  }
  /** The ledger's rows at the end. */
  readonly ledger: { readonly paid: number; readonly pending: number }
  /** `/health/ready` during the outage phase: probes, answered 200, reporting the gateway degraded. */
  readonly readiness: {
    readonly probes: number
    readonly outageProbes: number
    readonly outageReady: number
    readonly outageDegraded: number
    readonly notReady: number
  }
}

/**
 * The `p`-th percentile (0..100) of sorted values, nearest rank.
 *
 * @since 0.1.0
 * @category utils
 */
export const percentile = (sorted: ReadonlyArray<number>, p: number): number => {
  if (sorted.length === 0) return 0
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]!
}

const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits

/**
 * Where each phase starts and ends, in millis since the run began.
 *
 * @since 0.1.0
 * @category utils
 */
export const phaseBounds = (
  phases: ReadonlyArray<Phase>
): Array<{ readonly phase: Phase; readonly start: number; readonly end: number }> => {
  let start = 0
  return phases.map((phase) => {
    const bound = { phase, start, end: start + phase.seconds * 1000 }
    start = bound.end
    return bound
  })
}

/**
 * Summarises the breaker's transitions against the script.
 *
 * @since 0.1.0
 * @category utils
 */
export const summarizeBreaker = (
  transitions: ReadonlyArray<Transition>,
  phases: ReadonlyArray<Phase>,
  endSeconds: number
): BreakerSummary => {
  const recovery = phaseBounds(phases).find((b) => b.phase.name === "recovery")
  const recoveryAt = (recovery?.start ?? 0) / 1000
  let secondsOpen = 0
  let openedAt: number | null = null
  let stateAtRecovery = "Closed"
  for (const t of transitions) {
    if (t.at <= recoveryAt) stateAtRecovery = t.to
    if (t.from === "Closed" && t.to !== "Closed") openedAt = t.at
    if (t.to === "Closed" && openedAt !== null) {
      secondsOpen += t.at - openedAt
      openedAt = null
    }
  }
  if (openedAt !== null) secondsOpen += Math.max(0, endSeconds - openedAt)
  const closing = transitions.find((t) => t.to === "Closed" && t.at > recoveryAt)
  const beforeClosing = closing === undefined ? transitions : transitions.filter((t) => t.at <= closing.at)
  const lastOpening = stateAtRecovery === "Closed"
    ? undefined
    : [...beforeClosing].reverse().find((t) => t.to === "Open")
  const failedProbe = lastOpening?.from === "HalfOpen"
    ? [...beforeClosing].reverse().find((t) => t.to === "HalfOpen" && t.at <= lastOpening.at)
    : undefined
  return {
    openings: transitions.filter((t) => t.from === "Closed" && t.to === "Open").length,
    probes: transitions.filter((t) => t.to === "HalfOpen").length,
    reopenings: transitions.filter((t) => t.from === "HalfOpen" && t.to === "Open").length,
    closings: transitions.filter((t) => t.to === "Closed").length,
    secondsOpen: round(secondsOpen, 2),
    closedAfterRecoverySeconds: stateAtRecovery === "Closed"
      ? 0
      : closing === undefined
      ? null
      : round(closing.at - recoveryAt, 2),
    lastOpenedBeforeClosing: lastOpening?.at ?? null,
    failedProbeAt: failedProbe?.at ?? null
  }
}

/**
 * Summarizes a run.
 *
 * @since 0.1.0
 * @category constructors
 */
export const summarize = (options: {
  readonly samples: ReadonlyArray<Sample>
  readonly phases: ReadonlyArray<Phase>
  readonly gatewayCallsByPhase: Record<string, number>
  readonly gatewayHealthChecks?: number
  readonly transitions: ReadonlyArray<Transition>
  readonly fallback?: {
    readonly queued: number
    readonly refused: number
    readonly replayedAt: ReadonlyArray<number>
    readonly stillPending: number
  }
  readonly ledger?: { readonly paid: number; readonly pending: number }
  readonly health?: ReadonlyArray<HealthProbe>
}): RunSummary => {
  const { samples } = options
  const latencies = samples.map((s) => s.latencyMillis).sort((a, b) => a - b)
  const errors: Record<string, number> = {}
  const pendingCauses: Record<string, number> = {}
  for (const s of samples) {
    if (s.kind === "pending") pendingCauses[s.cause ?? "unknown"] = (pendingCauses[s.cause ?? "unknown"] ?? 0) + 1
    else if (!s.ok) errors[s.kind] = (errors[s.kind] ?? 0) + 1
  }
  const phases: Record<string, PhaseSummary> = {}
  const bounds = phaseBounds(options.phases)
  for (const { end, phase, start } of bounds) {
    const inPhase = samples.filter((s) => s.at >= start && s.at < end)
    const calls = options.gatewayCallsByPhase[phase.name] ?? 0
    const n = Math.max(1, inPhase.length)
    phases[phase.name] = {
      requests: inPhase.length,
      successRate: round(inPhase.filter((s) => s.ok).length / n),
      pendingRate: round(inPhase.filter((s) => s.kind === "pending").length / n),
      p99Millis: round(percentile(inPhase.map((s) => s.latencyMillis).sort((a, b) => a - b), 99), 1),
      gatewayCallsPerRequest: round(calls / n)
    }
  }
  const recoveryStart = bounds.find((b) => b.phase.name === "recovery")?.start ?? 0
  const totalCalls = Object.values(options.gatewayCallsByPhase).reduce((a, b) => a + b, 0)
  const end = samples.reduce((a, s) => Math.max(a, s.at + s.latencyMillis), 0) / 1000
  const replayedAt = options.fallback?.replayedAt ?? []
  const health = options.health ?? []
  const outage = bounds.find((b) => b.phase.name === "outage")
  const inOutage = health.filter((h) => outage !== undefined && h.at >= outage.start && h.at < outage.end)
  return {
    requests: samples.length,
    successRate: round(samples.filter((s) => s.ok).length / Math.max(1, samples.length)),
    pending: samples.filter((s) => s.kind === "pending").length,
    p50Millis: round(percentile(latencies, 50), 1),
    p95Millis: round(percentile(latencies, 95), 1),
    p99Millis: round(percentile(latencies, 99), 1),
    gatewayCallsPerRequest: round(totalCalls / Math.max(1, samples.length)),
    gatewayHealthChecks: options.gatewayHealthChecks ?? 0,
    errors,
    pendingCauses,
    recoverySeconds: recoveryTime(samples, recoveryStart),
    breakerTransitions: options.transitions,
    breaker: summarizeBreaker(options.transitions, options.phases, end),
    phases,
    fallback: {
      queued: options.fallback?.queued ?? 0,
      replayed: replayedAt.length,
      firstReplayAt: replayedAt.length === 0 ? null : Math.min(...replayedAt),
      lastReplayAt: replayedAt.length === 0 ? null : Math.max(...replayedAt),
      refused: options.fallback?.refused ?? 0,
      stillPending: options.fallback?.stillPending ?? 0
    },
    ledger: options.ledger ?? { paid: 0, pending: 0 },
    readiness: {
      probes: health.length,
      outageProbes: inOutage.length,
      outageReady: inOutage.filter((h) => h.code === 200).length,
      outageDegraded: inOutage.filter((h) => h.status === "degraded").length,
      notReady: health.filter((h) => h.code !== 200).length
    }
  }
}

/** Seconds from `fromMillis` until the first one-second bucket (by request start) with >= 95% success. */
const recoveryTime = (samples: ReadonlyArray<Sample>, fromMillis: number): number | null => {
  const buckets = successBuckets(samples, 1000)
  for (let i = Math.floor(fromMillis / 1000); i < buckets.length; i++) {
    const b = buckets[i]
    if (b !== undefined && b.total > 0 && b.ok / b.total >= 0.95) return round(Math.max(0, i - fromMillis / 1000), 1)
  }
  return null
}

/**
 * Success counts per time bucket of `width` millis, by request start.
 *
 * @since 0.1.0
 * @category utils
 */
export const successBuckets = (
  samples: ReadonlyArray<Sample>,
  width: number
): Array<{ ok: number; total: number }> => {
  const buckets: Array<{ ok: number; total: number }> = []
  for (const s of samples) {
    const i = Math.floor(s.at / width)
    for (let j = buckets.length; j <= i; j++) buckets.push({ ok: 0, total: 0 })
    const b = buckets[i]!
    b.total++
    if (s.ok) b.ok++
  }
  return buckets
}

const pct = (n: number) => `${(n * 100).toFixed(1)}%`
const ms = (n: number) => `${Math.round(n).toLocaleString("en-US")} ms`
const s1 = (n: number) => `${n.toFixed(1)} s`

/**
 * The three sentences the report leads with, computed from the runs.
 *
 * @since 0.1.0
 * @category rendering
 */
export const headline = (naive: RunSummary, resilient: RunSummary, phases: ReadonlyArray<Phase>): Array<string> => {
  const n = (phase: string) => naive.phases[phase]!
  const r = (phase: string) => resilient.phases[phase]!
  const recoveryAt = (phaseBounds(phases).find((b) => b.phase.name === "recovery")?.start ?? 0) / 1000
  const degradedBetter = r("degraded").successRate >= n("degraded").successRate
  const first = `While the gateway was degraded (errors and stalls), the resilient service paid ${
    pct(r("degraded").successRate)
  } of payments against ${pct(n("degraded").successRate)} for the naive one${
    degradedBetter ? " (retries with backoff)" : ""
  }, and its p99 latency over the whole run was ${ms(resilient.p99Millis)} against ${
    ms(naive.p99Millis)
  } (a 300 ms ${""}timeout per attempt instead of waiting on stuck calls).`
  const second = `During the outage it sent ${
    r("outage").gatewayCallsPerRequest.toFixed(2)
  } gateway calls per request ${""}against ${
    n("outage").gatewayCallsPerRequest.toFixed(2)
  }: the breaker opened ${resilient.breaker.openings} time(s) ${""}and failed fast, and ${resilient.fallback.queued} payment(s) were accepted as pending instead of failed, while ${""}/health/ready answered 200 at ${resilient.readiness.outageReady} of ${resilient.readiness.outageProbes} probes, ${""}reporting the gateway degraded at ${resilient.readiness.outageDegraded}.`
  const closed = resilient.breaker.closedAfterRecoverySeconds
  const third = `The gateway came back at ${s1(recoveryAt)}; the breaker ${
    closed === null ?
      "had not closed by the end of the run" :
      closed === 0 ?
      "was closed already" :
      `closed ${s1(closed)} later`
  }, and ${resilient.fallback.replayed} of ${resilient.fallback.queued} queued payment(s) were replayed${
    resilient.fallback.lastReplayAt === null ? "" : ` by ${s1(resilient.fallback.lastReplayAt)}`
  }${resilient.fallback.stillPending > 0 ? ` (${resilient.fallback.stillPending} still pending)` : ""}.`
  return [first, second, third]
}

/**
 * The breaker's transitions in one line: openings, probes, closings, time open.
 *
 * @since 0.1.0
 * @category rendering
 */
export const breakerLine = (summary: RunSummary): string => {
  const b = summary.breaker
  const first = summary.breakerTransitions.find((t) => t.to === "Open")
  const last = [...summary.breakerTransitions].reverse().find((t) => t.to === "Closed")
  return `breaker: opened ${b.openings} time(s)${
    first ? ` (first at ${s1(first.at)})` : ""
  }, ${b.probes} probe(s) ${""}(${b.reopenings} failed and reopened it), closed ${b.closings} time(s)${
    last ? ` (last at ${s1(last.at)})` : ""
  }; ${""}not closed for ${s1(b.secondsOpen)} in all${
    summary.gatewayHealthChecks > 0 ? `; ${summary.gatewayHealthChecks} health check(s) of the gateway while open` : ""
  }`
}

/**
 * Why the resilient run's recovery phase looks the way it does.
 *
 * @since 0.1.0
 * @category rendering
 */
export const recoveryExplanation = (
  naive: RunSummary,
  resilient: RunSummary,
  phases: ReadonlyArray<Phase>
): string => {
  const b = resilient.breaker
  const n = naive.phases.recovery!
  const r = resilient.phases.recovery!
  const recoveryAt = (phaseBounds(phases).find((x) => x.phase.name === "recovery")?.start ?? 0) / 1000
  const head = `recovery: success ${pct(r.successRate)} (${pct(r.pendingRate)} pending) against ${
    pct(n.successRate)
  } naive; `
  if (b.closedAfterRecoverySeconds === 0) {
    return head + "the breaker was closed when the gateway came back, so calls went through at once." +
      replays(resilient)
  }
  if (b.closedAfterRecoverySeconds === null) {
    return head + "the breaker never closed after the gateway came back (no probe succeeded before the run ended)."
  }
  return head +
    `the breaker ${
      b.lastOpenedBeforeClosing === null
        ? "was open"
        : b.failedProbeAt !== null && b.lastOpenedBeforeClosing > recoveryAt
        ? `last opened at ${s1(b.lastOpenedBeforeClosing)}, when a probe let through at ${
          s1(b.failedProbeAt)
        }, still in the outage, failed (a stuck call, cut by its 300 ms timeout),`
        : `had last opened at ${s1(b.lastOpenedBeforeClosing)}`
    } and closed ${s1(b.closedAfterRecoverySeconds)} after the gateway came back at ${
      s1(recoveryAt)
    }: an open breaker ${""}learns the gateway is back from its health check (GET /health every 100 ms while open) or from a probe let through once its open duration (500 ms) has passed, and a probe stuck for 100 ms lets the next call probe; until then ${""}it fails fast, and those payments were queued as pending and replayed, not lost.${
      replays(resilient)
    }`
}

const replays = (s: RunSummary) =>
  s.fallback.replayed === 0
    ? ""
    : ` The recovery phase's ${
      (s.phases.recovery?.gatewayCallsPerRequest ?? 0).toFixed(2)
    } gateway calls per request include the ${s.fallback.replayed} replays.`

/**
 * The side-by-side table, as text: one column per run.
 *
 * @since 0.1.0
 * @category rendering
 */
export const table = (
  runs: ReadonlyArray<{ readonly label: string; readonly summary: RunSummary }>
): string => {
  const col = (f: (s: RunSummary) => string) => runs.map((r) => f(r.summary))
  const rows: Array<[string, ...Array<string>]> = [
    ["requests", ...col((s) => String(s.requests))],
    ["paid (success rate)", ...col((s) => pct(s.successRate))],
    ["accepted as pending", ...col((s) => (s.pending === 0 ? "-" : String(s.pending)))],
    ["  replayed after recovery", ...col((s) => (s.fallback.queued === 0 ? "-" : String(s.fallback.replayed)))],
    ["p50 latency", ...col((s) => ms(s.p50Millis))],
    ["p95 latency", ...col((s) => ms(s.p95Millis))],
    ["p99 latency", ...col((s) => ms(s.p99Millis))],
    ["gateway calls / request", ...col((s) => s.gatewayCallsPerRequest.toFixed(2))],
    ["time to recover (95% paid)", ...col((s) => (s.recoverySeconds === null ? "never" : s1(s.recoverySeconds)))]
  ]
  for (const phase of Object.keys(runs[0]!.summary.phases)) {
    rows.push([`${phase}: paid`, ...col((s) => pct(s.phases[phase]?.successRate ?? 0))])
    if (runs.some((r) => (r.summary.phases[phase]?.pendingRate ?? 0) > 0)) {
      rows.push([`${phase}: pending`, ...col((s) => pct(s.phases[phase]?.pendingRate ?? 0))])
    }
    rows.push([`${phase}: p99`, ...col((s) => ms(s.phases[phase]?.p99Millis ?? 0))])
    rows.push([`${phase}: calls/request`, ...col((s) => (s.phases[phase]?.gatewayCallsPerRequest ?? 0).toFixed(2))])
  }
  const kinds = new Set(runs.flatMap((r) => Object.keys(r.summary.errors)))
  for (const kind of [...kinds].sort()) {
    rows.push([`failed: ${kind}`, ...col((s) => String(s.errors[kind] ?? 0))])
  }
  const causes = new Set(runs.flatMap((r) => Object.keys(r.summary.pendingCauses)))
  for (const kind of [...causes].sort()) {
    rows.push([`pending after: ${kind}`, ...col((s) => String(s.pendingCauses[kind] ?? 0))])
  }
  const header: [string, ...Array<string>] = ["", ...runs.map((r) => r.label)]
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((r) => r[i]!.length), i === 0 ? 6 : 10))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n")
}

/**
 * What varies from run to run with the same seed, measured over runs of `pnpm demo` (defaults, seed 7) on the
 * development machine (2 cores shared with other work): the gateway's script is the same, real time is not.
 *
 * @since 0.1.0
 * @category constants
 */
export const variation =
  "Reproducible: the same seed gives the same gateway script (each order's answer per attempt is fixed). What " +
  "still varies is real time: which requests fall either side of a phase boundary, latencies, and so when the " +
  "breaker opens and probes. Over runs with the defaults on a shared 2-core machine (docs/demo.md): while the " +
  "machine kept up, degraded paid 94.5% in every resilient run (naive 74.0-75.5%), p99 " +
  "420-1,938 ms (naive 5,015-5,158 ms), outage gateway calls per request 0.16-0.20 (naive 0.92-1.01), and, " +
  "since the breaker's probe lease and health checks, the breaker closed 0.07-0.14 s after the gateway came " +
  "back and the recovery paid 97.5-98.5% (before them 0.12-0.57 s and 88.9-98.0%); with the CPU starved " +
  "(healthy p99 0.6-10.7 s) the 300 ms " +
  "timeouts fire on healthy calls, the breaker opens in the degraded phase and the resilient run paid 0-73% there."

/**
 * A warning when the machine could not keep up: the healthy gateway answers within 300 ms, so a healthy-phase p99
 * above 1 s in the naive run means the process was short of CPU and every timing-based figure is distorted.
 *
 * @since 0.1.0
 * @category rendering
 */
export const starvation = (naive: RunSummary): string | undefined => {
  const p99 = naive.phases.healthy?.p99Millis ?? 0
  return p99 <= 1_000 ?
    undefined :
    `Warning: the healthy gateway (which answers within 300 ms) showed a p99 of ${
      ms(p99)
    } in this run: the process was short of CPU, so timeouts fired on healthy calls and the timing figures below ${""}are distorted. Rerun on a less loaded machine.`
}
