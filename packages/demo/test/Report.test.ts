import { describe, expect, it } from "@effect/vitest"
import * as Gateway from "../src/Gateway.js"
import type { Sample } from "../src/Load.js"
import * as PaymentService from "../src/PaymentService.js"
import * as Report from "../src/Report.js"

const phases = Gateway.script(1)
const sample = (at: number, ok: boolean, latencyMillis = 10, kind = ok ? "ok" : "gateway_503"): Sample => ({
  at,
  ok,
  latencyMillis,
  kind
})

describe("Gateway.phaseAt", () => {
  it("follows the script and keeps the last phase after it ends", () => {
    expect(Gateway.phaseAt(phases, 0).name).toBe("healthy")
    expect(Gateway.phaseAt(phases, 999).name).toBe("healthy")
    expect(Gateway.phaseAt(phases, 1000).name).toBe("degraded")
    expect(Gateway.phaseAt(phases, 2500).name).toBe("outage")
    expect(Gateway.phaseAt(phases, 60_000).name).toBe("recovery")
  })
})

describe("Report", () => {
  it("percentile is nearest-rank", () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1)
    expect(Report.percentile(sorted, 50)).toBe(50)
    expect(Report.percentile(sorted, 99)).toBe(99)
    expect(Report.percentile([], 99)).toBe(0)
  })

  it("summarizes success, latency, calls per request, errors, phases and recovery", () => {
    const samples = [
      sample(100, true),
      sample(1100, false),
      sample(1200, true, 30),
      sample(2100, false, 5000, "timeout_attempt"),
      sample(3000, false),
      sample(3500, true),
      sample(3600, true)
    ]
    const summary = Report.summarize({
      samples,
      phases,
      gatewayCallsByPhase: { healthy: 1, degraded: 4, outage: 1, recovery: 3 },
      transitions: [{ at: 2.2, from: "Closed", to: "Open" }]
    })
    expect(summary.requests).toBe(7)
    expect(summary.successRate).toBe(0.571)
    expect(summary.p99Millis).toBe(5000)
    expect(summary.gatewayCallsPerRequest).toBe(1.286)
    expect(summary.errors).toEqual({ gateway_503: 2, timeout_attempt: 1 })
    expect(summary.phases.degraded).toEqual({ successRate: 0.5, gatewayCallsPerRequest: 2 })
    expect(summary.phases.recovery).toEqual({ successRate: 0.667, gatewayCallsPerRequest: 1 })
    // The recovery phase starts at 3 s; its first second is 2/3 ok, so it has not recovered within the run.
    expect(summary.recoverySeconds).toBeNull()
    expect(summary.breakerTransitions).toHaveLength(1)
  })

  it("the table names both runs and every error kind", () => {
    const s = Report.summarize({ samples: [sample(0, false)], phases, gatewayCallsByPhase: {}, transitions: [] })
    const text = Report.table(s, s)
    expect(text).toContain("naive")
    expect(text).toContain("resilient")
    expect(text).toContain("errors: gateway_503")
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
