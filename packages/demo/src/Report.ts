/**
 * Summaries of a run, the side-by-side table, and the chart (an SVG file and a terminal sparkline).
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
 * What one run came to (the `--json` shape).
 *
 * @since 0.1.0
 * @category models
 */
export interface RunSummary {
  readonly requests: number
  readonly successRate: number
  readonly p50Millis: number
  readonly p95Millis: number
  readonly p99Millis: number
  readonly gatewayCallsPerRequest: number
  readonly errors: Record<string, number>
  /** Seconds from the start of the recovery phase until a one-second bucket is 95% successful again. */
  readonly recoverySeconds: number | null
  readonly breakerTransitions: ReadonlyArray<Transition>
  readonly phases: Record<string, { readonly successRate: number; readonly gatewayCallsPerRequest: number }>
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
 * Summarizes a run's samples.
 *
 * @since 0.1.0
 * @category constructors
 */
export const summarize = (options: {
  readonly samples: ReadonlyArray<Sample>
  readonly phases: ReadonlyArray<Phase>
  readonly gatewayCallsByPhase: Record<string, number>
  readonly transitions: ReadonlyArray<Transition>
}): RunSummary => {
  const { samples } = options
  const latencies = samples.map((s) => s.latencyMillis).sort((a, b) => a - b)
  const errors: Record<string, number> = {}
  for (const s of samples) if (!s.ok) errors[s.kind] = (errors[s.kind] ?? 0) + 1
  const phases: Record<string, { successRate: number; gatewayCallsPerRequest: number }> = {}
  let start = 0
  let recoveryStart = 0
  for (const phase of options.phases) {
    const end = start + phase.seconds * 1000
    const inPhase = samples.filter((s) => s.at >= start && s.at < end)
    const calls = options.gatewayCallsByPhase[phase.name] ?? 0
    phases[phase.name] = {
      successRate: round(inPhase.filter((s) => s.ok).length / Math.max(1, inPhase.length)),
      gatewayCallsPerRequest: round(calls / Math.max(1, inPhase.length))
    }
    if (phase.name === "recovery") recoveryStart = start
    start = end
  }
  const totalCalls = Object.values(options.gatewayCallsByPhase).reduce((a, b) => a + b, 0)
  return {
    requests: samples.length,
    successRate: round(samples.filter((s) => s.ok).length / Math.max(1, samples.length)),
    p50Millis: round(percentile(latencies, 50), 1),
    p95Millis: round(percentile(latencies, 95), 1),
    p99Millis: round(percentile(latencies, 99), 1),
    gatewayCallsPerRequest: round(totalCalls / Math.max(1, samples.length)),
    errors,
    recoverySeconds: recoveryTime(samples, recoveryStart),
    breakerTransitions: options.transitions,
    phases
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

/**
 * The side-by-side table, as text.
 *
 * @since 0.1.0
 * @category rendering
 */
export const table = (naive: RunSummary, resilient: RunSummary): string => {
  const rows: Array<[string, string, string]> = [
    ["requests", String(naive.requests), String(resilient.requests)],
    ["success rate", pct(naive.successRate), pct(resilient.successRate)],
    ["p50 latency", `${naive.p50Millis} ms`, `${resilient.p50Millis} ms`],
    ["p95 latency", `${naive.p95Millis} ms`, `${resilient.p95Millis} ms`],
    ["p99 latency", `${naive.p99Millis} ms`, `${resilient.p99Millis} ms`],
    ["gateway calls / request", String(naive.gatewayCallsPerRequest), String(resilient.gatewayCallsPerRequest)],
    [
      "time to recover",
      naive.recoverySeconds === null ? "never" : `${naive.recoverySeconds} s`,
      resilient.recoverySeconds === null ? "never" : `${resilient.recoverySeconds} s`
    ],
    ["breaker transitions", String(naive.breakerTransitions.length), String(resilient.breakerTransitions.length)]
  ]
  for (const phase of Object.keys(naive.phases)) {
    rows.push([
      `  ${phase}: success`,
      pct(naive.phases[phase]!.successRate),
      pct(resilient.phases[phase]?.successRate ?? 0)
    ])
    rows.push([
      `  ${phase}: calls/request`,
      String(naive.phases[phase]!.gatewayCallsPerRequest),
      String(resilient.phases[phase]?.gatewayCallsPerRequest ?? 0)
    ])
  }
  const kinds = new Set([...Object.keys(naive.errors), ...Object.keys(resilient.errors)])
  for (const kind of [...kinds].sort()) {
    rows.push([`  errors: ${kind}`, String(naive.errors[kind] ?? 0), String(resilient.errors[kind] ?? 0)])
  }
  const w0 = Math.max(...rows.map((r) => r[0].length), 6)
  const w1 = Math.max(...rows.map((r) => r[1].length), 10)
  const w2 = Math.max(...rows.map((r) => r[2].length), 10)
  const line = (a: string, b: string, c: string) => `${a.padEnd(w0)}  ${b.padStart(w1)}  ${c.padStart(w2)}`
  return [
    line("", "naive", "resilient"),
    line("-".repeat(w0), "-".repeat(w1), "-".repeat(w2)),
    ...rows.map((r) => line(...r))
  ]
    .join("\n")
}

const blocks = " ▁▂▃▄▅▆▇█"

/**
 * Success rate per second as a terminal sparkline.
 *
 * @since 0.1.0
 * @category rendering
 */
export const sparkline = (samples: ReadonlyArray<Sample>): string =>
  successBuckets(samples, 1000)
    .map((b) => (b.total === 0 ? " " : blocks[Math.round((b.ok / b.total) * (blocks.length - 1))]!))
    .join("")

/**
 * An SVG chart: success rate per half second for both runs, with the phases shaded.
 *
 * @since 0.1.0
 * @category rendering
 */
export const svg = (
  runs: { readonly naive: ReadonlyArray<Sample>; readonly resilient: ReadonlyArray<Sample> },
  phases: ReadonlyArray<Phase>,
  transitions: ReadonlyArray<Transition>
): string => {
  const width = 800
  const height = 300
  const pad = 40
  const totalSeconds = phases.reduce((a, p) => a + p.seconds, 0)
  const x = (seconds: number) => pad + (seconds / totalSeconds) * (width - 2 * pad)
  const y = (rate: number) => height - pad - rate * (height - 2 * pad)
  const path = (samples: ReadonlyArray<Sample>) =>
    successBuckets(samples, 500)
      .map((b, i) => (b.total === 0 ? null : `${x(i * 0.5 + 0.25).toFixed(1)},${y(b.ok / b.total).toFixed(1)}`))
      .filter((p) => p !== null)
      .join(" ")
  const shades = ["#e8f5e9", "#fff8e1", "#ffebee", "#e3f2fd"]
  let start = 0
  const bands = phases.map((phase, i) => {
    const band = `<rect x="${x(start)}" y="${pad}" width="${x(start + phase.seconds) - x(start)}" height="${
      height - 2 * pad
    }" fill="${shades[i % shades.length]}"/><text x="${x(start) + 4}" y="${
      pad + 14
    }" font-size="12">${phase.name}</text>`
    start += phase.seconds
    return band
  })
  // Every transition is a dashed line; only openings from Closed and closings are labelled (probes crowd).
  const marks = transitions.map((t) =>
    `<line x1="${x(t.at)}" x2="${x(t.at)}" y1="${pad}" y2="${height - pad}" stroke="#999" stroke-dasharray="3,3"/>` +
    ((t.from === "Closed" || t.to === "Closed")
      ? `<text x="${x(t.at) + 2}" y="${height - pad - 4}" font-size="9" fill="#666">${t.to}</text>`
      : "")
  )
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    ...bands,
    ...marks,
    `<line x1="${pad}" y1="${y(0)}" x2="${width - pad}" y2="${y(0)}" stroke="black"/>`,
    `<line x1="${pad}" y1="${y(0)}" x2="${pad}" y2="${y(1)}" stroke="black"/>`,
    `<text x="4" y="${y(1) + 4}" font-size="10">100%</text><text x="10" y="${y(0)}" font-size="10">0%</text>`,
    `<polyline fill="none" stroke="#c62828" stroke-width="2" points="${path(runs.naive)}"/>`,
    `<polyline fill="none" stroke="#2e7d32" stroke-width="2" points="${path(runs.resilient)}"/>`,
    `<text x="${width - 200}" y="20" font-size="12" fill="#c62828">naive</text>`,
    `<text x="${width - 140}" y="20" font-size="12" fill="#2e7d32">resilient</text>`,
    `<text x="${width / 2 - 90}" y="${height - 8}" font-size="12">success rate per 0.5 s over time</text>`,
    `</svg>`
  ].join("\n")
}
