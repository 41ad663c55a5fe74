/**
 * The chart: three aligned panels over time (success rate, p99 latency, gateway calls per second), the phases as
 * bands, the resilient breaker's state as a strip, a legend; as an SVG and as an HTML page around it.
 *
 * @since 0.1.0
 */
import type { Phase } from "./Gateway.js"
import type { Sample } from "./Load.js"
import { percentile, type Transition } from "./Report.js"

/**
 * One line of the chart.
 *
 * @since 0.1.0
 * @category models
 */
export interface Series {
  readonly label: string
  readonly samples: ReadonlyArray<Sample>
  /** Gateway calls, millis since the run began. */
  readonly arrivals: ReadonlyArray<number>
}

const colors: Record<string, string> = {
  naive: "#d62728",
  "resilient (ours)": "#1f77b4",
  "cockatiel 3.2.1": "#ff7f0e",
  "plain Effect": "#9467bd"
}
const palette = ["#d62728", "#1f77b4", "#ff7f0e", "#9467bd"]
const phaseFill: Record<string, string> = {
  healthy: "#eef7ee",
  degraded: "#fff6dd",
  outage: "#fde4e4",
  recovery: "#e6f0fb",
  overload: "#f1e6f7"
}
const stateFill: Record<string, string> = { Closed: "#74c476", HalfOpen: "#fdae6b", Open: "#d62728" }

const escape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

/**
 * Values per bucket of `widthMillis` over `totalMillis` (null where a bucket has no request).
 *
 * @since 0.1.0
 * @category utils
 */
export const buckets = (
  samples: ReadonlyArray<Sample>,
  totalMillis: number,
  widthMillis: number
): Array<
  { readonly successRate: number | null; readonly acceptedRate: number | null; readonly p99Millis: number | null }
> => {
  const n = Math.ceil(totalMillis / widthMillis)
  const groups: Array<Array<Sample>> = Array.from({ length: n }, () => [])
  for (const s of samples) {
    const i = Math.floor(s.at / widthMillis)
    if (i >= 0 && i < n) groups[i]!.push(s)
  }
  return groups.map((g) =>
    g.length === 0 ? { successRate: null, acceptedRate: null, p99Millis: null } : {
      successRate: g.filter((s) => s.ok).length / g.length,
      acceptedRate: g.filter((s) => s.ok || s.kind === "pending").length / g.length,
      p99Millis: percentile(g.map((s) => s.latencyMillis).sort((a, b) => a - b), 99)
    }
  )
}

/**
 * The SVG chart.
 *
 * @since 0.1.0
 * @category rendering
 */
export const svg = (options: {
  readonly series: ReadonlyArray<Series>
  /** The gateway's phases, and the overload phase after them when it ran. */
  readonly phases: ReadonlyArray<Pick<Phase, "seconds"> & { readonly name: string }>
  /** The resilient run's breaker, for the strip. */
  readonly transitions: ReadonlyArray<Transition>
  readonly title: string
}): string => {
  const width = 960
  const left = 78
  const right = 24
  const top = 72
  const panelHeight = 150
  const gap = 34
  const stripHeight = 16
  let end = 0
  const bounds = options.phases.map((phase) => ({ phase, start: end, end: (end += phase.seconds * 1000) }))
  const totalMillis = bounds[bounds.length - 1]?.end ?? 1000
  const totalSeconds = totalMillis / 1000
  const bucket = totalSeconds <= 12 ? 250 : 500
  const x = (millis: number) => left + (millis / totalMillis) * (width - left - right)
  const panels = [0, 1, 2].map((i) => top + i * (panelHeight + gap))
  const stripTop = panels[2]! + panelHeight + 14
  const axisY = stripTop + stripHeight + 6
  const height = axisY + 44
  const out: Array<string> = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      `font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${left}" y="22" font-size="16" font-weight="bold">${escape(options.title)}</text>`
  )
  // Legend: one entry per series, then the breaker's states.
  let lx = left
  options.series.forEach((s, i) => {
    const color = colors[s.label] ?? palette[i % palette.length]!
    out.push(
      `<line x1="${lx}" y1="42" x2="${lx + 22}" y2="42" stroke="${color}" stroke-width="3"/>`,
      `<text x="${lx + 28}" y="46">${escape(s.label)}</text>`
    )
    lx += 40 + s.label.length * 7
  })
  if (options.series.some((s) => s.samples.some((x) => x.kind === "pending"))) {
    out.push(
      `<line x1="${lx}" y1="42" x2="${lx + 22}" y2="42" stroke="#1f77b4" stroke-width="2" stroke-dasharray="5,3"/>`,
      `<text x="${lx + 28}" y="46">paid + accepted as pending</text>`
    )
    lx += 200
  }
  lx += 8
  out.push(`<text x="${lx}" y="46" fill="#444">breaker (ours):</text>`)
  lx += 96
  for (const state of ["Closed", "HalfOpen", "Open"]) {
    out.push(
      `<rect x="${lx}" y="36" width="14" height="12" fill="${stateFill[state]}"/>`,
      `<text x="${lx + 18}" y="46">${state === "HalfOpen" ? "half-open" : state.toLowerCase()}</text>`
    )
    lx += 30 + state.length * 7
  }
  // Phase bands across all panels and the strip, with their names on top.
  for (const b of bounds) {
    out.push(
      `<rect x="${x(b.start).toFixed(1)}" y="${top}" width="${(x(b.end) - x(b.start)).toFixed(1)}" height="${
        stripTop + stripHeight - top
      }" fill="${phaseFill[b.phase.name] ?? "#f4f4f4"}"/>`,
      `<text x="${((x(b.start) + x(b.end)) / 2).toFixed(1)}" y="${
        top - 4
      }" text-anchor="middle" fill="#555">${b.phase.name}</text>`
    )
  }
  const perSeries = options.series.map((s) => ({ s, b: buckets(s.samples, totalMillis, bucket) }))
  const callRates = options.series.map((s) => {
    const counts = Array.from({ length: Math.ceil(totalMillis / bucket) }, () => 0)
    for (const a of s.arrivals) {
      const i = Math.floor(a / bucket)
      if (i >= 0 && i < counts.length) counts[i]!++
    }
    return counts.map((c) => (c * 1000) / bucket)
  })
  const maxRate = Math.max(10, ...callRates.flat())
  const rateTop = Math.ceil(maxRate / 20) * 20
  const panel = (
    index: number,
    title: string,
    ticks: ReadonlyArray<{ readonly value: number; readonly label: string }>,
    y: (value: number) => number,
    values: ReadonlyArray<ReadonlyArray<number | null>>,
    dashed: ReadonlyArray<ReadonlyArray<number | null> | null> = []
  ) => {
    const y0 = panels[index]!
    out.push(
      `<text x="14" y="${y0 + panelHeight / 2}" transform="rotate(-90 14 ${
        y0 + panelHeight / 2
      })" text-anchor="middle" font-weight="bold">${escape(title)}</text>`
    )
    for (const t of ticks) {
      const ty = y(t.value).toFixed(1)
      out.push(
        `<line x1="${left}" x2="${width - right}" y1="${ty}" y2="${ty}" stroke="#ccc" stroke-width="0.6"/>`,
        `<text x="${left - 6}" y="${Number(ty) + 4}" text-anchor="end" fill="#333">${t.label}</text>`
      )
    }
    out.push(
      `<line x1="${left}" x2="${left}" y1="${y0}" y2="${y0 + panelHeight}" stroke="#333"/>`,
      `<line x1="${left}" x2="${width - right}" y1="${y0 + panelHeight}" y2="${y0 + panelHeight}" stroke="#333"/>`
    )
    const lines = [
      ...values.map((vs, i) => ({ vs, i, dash: "" })),
      ...dashed.flatMap((vs, i) => (vs === null ? [] : [{ vs, i, dash: ` stroke-dasharray="5,3"` }]))
    ]
    lines.forEach(({ dash, i, vs }) => {
      const color = colors[options.series[i]!.label] ?? palette[i % palette.length]!
      const segments: Array<Array<string>> = [[]]
      vs.forEach((v, j) => {
        if (v === null) {
          if (segments[segments.length - 1]!.length > 0) segments.push([])
          return
        }
        segments[segments.length - 1]!.push(`${x((j + 0.5) * bucket).toFixed(1)},${y(v).toFixed(1)}`)
      })
      for (const seg of segments) {
        if (seg.length > 0) {
          out.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${dash} points="${seg.join(" ")}"/>`)
        }
      }
    })
  }
  const linear = (index: number, max: number) => (v: number) =>
    panels[index]! + panelHeight - (Math.min(v, max) / max) * panelHeight
  panel(
    0,
    "paid (%)",
    [0, 0.25, 0.5, 0.75, 1].map((v) => ({ value: v, label: `${v * 100}%` })),
    linear(0, 1),
    perSeries.map(({ b }) => b.map((v) => v.successRate)),
    perSeries.map(({ b, s }) => s.samples.some((x) => x.kind === "pending") ? b.map((v) => v.acceptedRate) : null)
  )
  // Latency on a log scale: 10 ms to 10 s.
  const logY = (v: number) =>
    panels[1]! + panelHeight - ((Math.log10(Math.max(10, Math.min(v, 10_000))) - 1) / 3) * panelHeight
  panel(
    1,
    "p99 latency",
    [10, 100, 1_000, 10_000].map((v) => ({ value: v, label: v >= 1000 ? `${v / 1000} s` : `${v} ms` })),
    logY,
    perSeries.map(({ b }) => b.map((v) => v.p99Millis))
  )
  panel(
    2,
    "gateway calls/s",
    [0, 0.5, 1].map((f) => ({ value: rateTop * f, label: String(Math.round(rateTop * f)) })),
    linear(2, rateTop),
    callRates
  )
  // The breaker strip: the resilient run's state over time.
  out.push(`<text x="${left - 6}" y="${stripTop + 12}" text-anchor="end" fill="#333">breaker</text>`)
  let state = "Closed"
  let since = 0
  const segments: Array<{ state: string; from: number; to: number }> = []
  for (const t of options.transitions) {
    const at = Math.min(totalMillis, Math.max(0, t.at * 1000))
    if (at > since) segments.push({ state, from: since, to: at })
    state = t.to
    since = at
  }
  if (since < totalMillis) segments.push({ state, from: since, to: totalMillis })
  for (const seg of segments) {
    out.push(
      `<rect x="${x(seg.from).toFixed(1)}" y="${stripTop}" width="${
        Math.max(0.8, x(seg.to) - x(seg.from)).toFixed(1)
      }" height="${stripHeight}" fill="${stateFill[seg.state] ?? "#999"}"/>`
    )
  }
  // The time axis.
  const step = totalSeconds <= 10 ? 1 : totalSeconds <= 30 ? 2 : totalSeconds <= 80 ? 5 : 10
  out.push(`<line x1="${left}" x2="${width - right}" y1="${axisY}" y2="${axisY}" stroke="#333"/>`)
  for (let t = 0; t <= totalSeconds + 1e-9; t += step) {
    const tx = x(t * 1000).toFixed(1)
    out.push(
      `<line x1="${tx}" x2="${tx}" y1="${axisY}" y2="${axisY + 5}" stroke="#333"/>`,
      `<text x="${tx}" y="${axisY + 18}" text-anchor="middle">${t}</text>`
    )
  }
  out.push(
    `<text x="${(left + width - right) / 2}" y="${
      axisY + 36
    }" text-anchor="middle">time since the load began (s); ${bucket} ms buckets, by request start</text>`,
    `</svg>`
  )
  return out.join("\n")
}

/**
 * An HTML page with the chart and the report.
 *
 * @since 0.1.0
 * @category rendering
 */
export const html = (
  options: { readonly svg: string; readonly headline: ReadonlyArray<string>; readonly report: string }
) =>
  [
    "<!doctype html>",
    `<html lang="en"><head><meta charset="utf-8"><title>effect-resilience demo</title>`,
    "<style>body{font-family:Helvetica,Arial,sans-serif;max-width:1000px;margin:2em auto;color:#222}",
    "pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:12px}</style></head><body>",
    "<h1>effect-resilience demo: a payment service under a failing gateway</h1>",
    ...options.headline.map((s) => `<p>${escape(s)}</p>`),
    options.svg,
    `<pre>${escape(options.report)}</pre>`,
    "</body></html>"
  ].join("\n")
