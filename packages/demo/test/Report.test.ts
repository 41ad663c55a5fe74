import { describe, expect, it } from "@effect/vitest"
import * as Chart from "../src/Chart.js"
import * as Gateway from "../src/Gateway.js"
import type { Sample } from "../src/Load.js"
import * as PaymentService from "../src/PaymentService.js"
import * as Report from "../src/Report.js"
import { wellFormed } from "./xml.js"

const phases = Gateway.script(1)
const sample = (at: number, ok: boolean, latencyMillis = 10, kind = ok ? "ok" : "gateway_503"): Sample => ({
  at,
  ok,
  latencyMillis,
  kind
})

describe("Gateway", () => {
  it("phaseAt follows the script and keeps the last phase after it ends", () => {
    expect(Gateway.phaseAt(phases, 0).name).toBe("healthy")
    expect(Gateway.phaseAt(phases, 999).name).toBe("healthy")
    expect(Gateway.phaseAt(phases, 1000).name).toBe("degraded")
    expect(Gateway.phaseAt(phases, 2500).name).toBe("outage")
    expect(Gateway.phaseAt(phases, 60_000).name).toBe("recovery")
  })

  it("the dice are fixed by seed, order, attempt and draw, and spread over [0, 1)", () => {
    expect(Gateway.roll(7, 12, 1, 0)).toBe(Gateway.roll(7, 12, 1, 0))
    expect(Gateway.roll(7, 12, 1, 0)).not.toBe(Gateway.roll(8, 12, 1, 0))
    expect(Gateway.roll(7, 12, 1, 0)).not.toBe(Gateway.roll(7, 12, 2, 0))
    const rolls = Array.from({ length: 10_000 }, (_, i) => Gateway.roll(7, i, 1, 0))
    expect(Math.min(...rolls)).toBeGreaterThanOrEqual(0)
    expect(Math.max(...rolls)).toBeLessThan(1)
    const below = rolls.filter((r) => r < 0.2).length / rolls.length
    expect(below).toBeGreaterThan(0.18)
    expect(below).toBeLessThan(0.22)
  })
})

describe("Report", () => {
  it("percentile is nearest-rank", () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1)
    expect(Report.percentile(sorted, 50)).toBe(50)
    expect(Report.percentile(sorted, 99)).toBe(99)
    expect(Report.percentile([], 99)).toBe(0)
  })

  it("summarizes success apart from pending, latency, calls per request, errors and phases", () => {
    const samples = [
      sample(100, true),
      sample(1100, false),
      sample(1200, true, 30),
      sample(2100, false, 5000, "timeout_attempt"),
      sample(2200, false, 5, "pending"),
      sample(3000, false),
      sample(3500, true),
      sample(3600, true)
    ]
    const summary = Report.summarize({
      samples,
      phases,
      gatewayCallsByPhase: { healthy: 1, degraded: 4, outage: 1, recovery: 3 },
      transitions: [{ at: 2.2, from: "Closed", to: "Open" }],
      fallback: { queued: 1, refused: 0, replayedAt: [3.4], stillPending: 0 }
    })
    expect(summary.requests).toBe(8)
    expect(summary.successRate).toBe(0.5)
    expect(summary.pending).toBe(1)
    expect(summary.p99Millis).toBe(5000)
    expect(summary.errors).toEqual({ gateway_503: 2, timeout_attempt: 1 })
    expect(summary.phases.degraded).toMatchObject({ successRate: 0.5, pendingRate: 0, gatewayCallsPerRequest: 2 })
    expect(summary.phases.outage).toMatchObject({ successRate: 0, pendingRate: 0.5, gatewayCallsPerRequest: 0.5 })
    expect(summary.fallback).toMatchObject({ queued: 1, replayed: 1, lastReplayAt: 3.4 })
    expect(summary.recoverySeconds).toBeNull()
  })

  it("summarises the breaker: openings, probes, closings, time open, closing after the gateway came back", () => {
    const b = Report.summarizeBreaker(
      [
        { at: 2.2, from: "Closed", to: "Open" },
        { at: 2.7, from: "Open", to: "HalfOpen" },
        { at: 2.8, from: "HalfOpen", to: "Open" },
        { at: 3.3, from: "Open", to: "HalfOpen" },
        { at: 3.35, from: "HalfOpen", to: "Closed" }
      ],
      phases,
      4
    )
    expect(b).toEqual({
      openings: 1,
      probes: 2,
      reopenings: 1,
      closings: 1,
      secondsOpen: 1.15,
      closedAfterRecoverySeconds: 0.35,
      lastOpenedBeforeClosing: 2.8,
      failedProbeAt: 2.7
    })
    // A probe let through in the outage's last moments fails after the gateway came back (at 3 s).
    const late = Report.summarizeBreaker(
      [
        { at: 2.2, from: "Closed", to: "Open" },
        { at: 2.9, from: "Open", to: "HalfOpen" },
        { at: 3.2, from: "HalfOpen", to: "Open" },
        { at: 3.7, from: "Open", to: "HalfOpen" },
        { at: 3.72, from: "HalfOpen", to: "Closed" }
      ],
      phases,
      4
    )
    expect(late).toMatchObject({ closedAfterRecoverySeconds: 0.72, lastOpenedBeforeClosing: 3.2, failedProbeAt: 2.9 })
  })

  it("the three sentences are computed from the runs, and the table has a column per run", () => {
    const run = (ok: boolean) =>
      Report.summarize({
        samples: [0, 1100, 2100, 3100].map((at) => sample(at, ok)),
        phases,
        gatewayCallsByPhase: { outage: ok ? 1 : 3 },
        transitions: []
      })
    const a = Report.headline(run(false), run(true), phases)
    const b = Report.headline(run(true), run(false), phases)
    expect(a).toHaveLength(3)
    expect(a[0]).toContain("paid 100.0% of payments against 0.0%")
    expect(b[0]).toContain("paid 0.0% of payments against 100.0%")
    expect(a[1]).toContain("1.00 gateway calls per request against 3.00")
    const text = Report.table([{ label: "naive", summary: run(false) }, { label: "resilient", summary: run(true) }])
    expect(text.split("\n")[0]).toMatch(/naive\s+resilient$/)
    expect(text).toContain("failed: gateway_503")
  })
})

describe("Report.starvation", () => {
  it("warns when the healthy gateway's p99 passes 1 s, not otherwise", () => {
    const run = (latencyMillis: number) =>
      Report.summarize({
        samples: Array.from({ length: 100 }, (_, i) => sample(i * 10, true, latencyMillis)),
        phases,
        gatewayCallsByPhase: {},
        transitions: []
      })
    expect(Report.starvation(run(250))).toBeUndefined()
    expect(Report.starvation(run(1_500))).toContain("p99 of 1,500 ms")
  })
})

describe("Chart", () => {
  it("three panels, a time axis, phases, the breaker strip and a legend, as well-formed SVG and HTML", () => {
    const samples = Array.from(
      { length: 160 },
      (_, i) => sample(i * 25, i % 3 !== 0, 20 + i, i % 5 === 0 ? "pending" : "ok")
    )
    const svg = Chart.svg({
      series: [
        { label: "naive", samples, arrivals: samples.map((s) => s.at) },
        { label: "resilient (ours)", samples, arrivals: [] }
      ],
      phases,
      transitions: [{ at: 2.2, from: "Closed", to: "Open" }, { at: 2.7, from: "Open", to: "HalfOpen" }],
      title: "test"
    })
    expect(wellFormed(svg)).toBe(true)
    for (const text of ["paid (%)", "p99 latency", "gateway calls/s", "time since the load began (s)", "breaker"]) {
      expect(svg).toContain(text)
    }
    for (const phase of ["healthy", "degraded", "outage", "recovery", "half-open", "naive", "resilient (ours)"]) {
      expect(svg).toContain(`>${phase}<`)
    }
    const html = Chart.html({ svg, headline: ["One.", "Two.", "Three."], report: "a < b" })
    expect(wellFormed(html.replace("<!doctype html>", "").replace(/<meta[^>]*>/, ""))).toBe(true)
    expect(html).toContain("a &lt; b")
  })
})

describe("PaymentService.errorKind", () => {
  it("names errors in lower snake case", () => {
    expect(PaymentService.errorKind(new PaymentService.GatewayError({ status: 503 }))).toBe("gateway_503")
    expect(PaymentService.errorKind(new PaymentService.GatewayError({ status: 0 }))).toBe("gateway_unreachable")
    expect(PaymentService.errorKind({ _tag: "BulkheadRejectedError", reason: "QueueFull" })).toBe("bulkhead_queue_full")
    expect(PaymentService.errorKind({ _tag: "TimeoutError", scope: "deadline" })).toBe("timeout_deadline")
    expect(PaymentService.errorKind({ _tag: "CircuitBreakerOpenError" })).toBe("circuit_breaker_open")
    expect(PaymentService.errorKind("boom")).toBe("unknown")
  })
})
