import { RetryAfter } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Option } from "effect"
import { performance } from "node:perf_hooks"
import { makeTransport } from "../src/arena/contenders.js"
import { phaseIndexAt, phaseStart, script, start, UpstreamError } from "../src/arena/upstream.js"
import { arenaFigures, type ArenaResult, phaseChart } from "../src/scenarios/arena.js"
import { spread } from "../src/stats.js"

const phases = script(60_000)
const indexOf = (name: string) => phases.findIndex((p) => p.name === name)

/** Runs one call and tells what came of it: "ok", or the status (0: unreachable) and Retry-After. */
const outcome = (call: (order: number) => Promise<void>, order: number) =>
  call(order).then(
    () => "ok",
    (e: unknown) => (e instanceof UpstreamError ? `${e.status}/${e.retryAfterMillis ?? "-"}` : "other")
  )

describe("arena upstream", () => {
  it("phases: boundaries and starts", () => {
    expect(phaseIndexAt(phases, 0)).toBe(0)
    expect(phaseIndexAt(phases, 59_999)).toBe(0)
    expect(phaseIndexAt(phases, 60_000)).toBe(1)
    expect(phaseStart(phases, indexOf("recovery"))).toBe(5 * 60_000)
    // the slow recovery is twice as long; after the end, the last phase stays
    expect(phaseIndexAt(phases, phaseStart(phases, indexOf("recovery")) + 119_999)).toBe(indexOf("recovery"))
    expect(phaseIndexAt(phases, 10 * 60_000 * 10)).toBe(phases.length - 1)
  })

  it("the same seed gives the same script; Retry-After is sent, carried, enforced, and a call before it passed counted", async () => {
    const run = async (seed: number) => {
      const upstream = await start(phases, seed)
      let calls = 0
      const transport = makeTransport(upstream.port, () => calls++)
      try {
        // into the error bursts, then into the Retry-After phase
        upstream.restart(performance.now() - phaseStart(phases, indexOf("errors")) - 1_000)
        const errors = []
        for (let order = 0; order < 40; order++) errors.push(await outcome(transport.call, order))
        upstream.restart(performance.now() - phaseStart(phases, indexOf("retry-after")) - 1_000)
        const retryAfter = []
        for (let order = 0; order < 40; order++) retryAfter.push(await outcome(transport.call, order))
        // a second attempt of an order just told to come back in 1 s
        const told = retryAfter.findIndex((x) => x !== "ok")
        const sent = upstream.retryAfterSent()
        expect(transport.retryAfterReceived()).toBe(sent)
        // enforced: it is refused again, 429 with the second left, without reaching the script
        const tooEarly = await outcome(transport.call, told)
        return {
          errors,
          retryAfter,
          calls,
          early: transport.early(),
          received: transport.retryAfterReceived(),
          sent,
          tooEarly,
          refused: upstream.refusedEarly()
        }
      } finally {
        transport.close()
        await upstream.close()
      }
    }
    const a = await run(7)
    const b = await run(7)
    expect(b.errors).toEqual(a.errors)
    expect(b.retryAfter).toEqual(a.retryAfter)
    expect(a.errors.filter((x) => x === "503/-").length).toBeGreaterThan(0)
    expect(a.errors.every((x) => x === "ok" || x === "503/-")).toBe(true)
    expect(a.retryAfter.filter((x) => x === "503/1000" || x === "429/1000").length).toBe(a.sent)
    expect(a.sent).toBeGreaterThan(0)
    expect(a.received).toBeGreaterThanOrEqual(a.sent)
    expect(a.early).toBe(1)
    expect(a.tooEarly).toBe("429/1000")
    expect(a.refused).toBe(1)
    expect(a.calls).toBe(81)
  })

  it("an outage refuses connections, and the upstream listens again after it", async () => {
    const upstream = await start(phases, 1)
    const transport = makeTransport(upstream.port, () => {})
    try {
      expect(await outcome(transport.call, 1)).toBe("ok")
      await upstream.setDown(true)
      expect(await outcome(transport.call, 2)).toBe("0/-")
      await upstream.setDown(false)
      expect(await outcome(transport.call, 3)).toBe("ok")
    } finally {
      transport.close()
      await upstream.close()
    }
  })

  it("an UpstreamError carries its Retry-After as the hint our retry reads", () => {
    expect(Option.map(RetryAfter.get(new UpstreamError(429, 1_000)), Duration.toMillis)).toEqual(Option.some(1_000))
    expect(Option.isNone(RetryAfter.get(new UpstreamError(503, undefined)))).toBe(true)
  })
})

const cell = (phase: string, goodput: ReadonlyArray<number>, amplification: ReadonlyArray<number>) => ({
  id: phase as never,
  phase: phase as never,
  goodput: spread(goodput),
  successes: spread(goodput),
  p50Millis: spread([1]),
  p99Millis: spread([2]),
  amplification: spread(amplification)
})

const result = (
  sides: ReadonlyArray<{ id: string; side: "none" | "ours" | "peer"; cells: Array<ReturnType<typeof cell>> }>
): ArenaResult => ({
  ratePerSecond: 100,
  rounds: 3,
  seed: 1,
  phases: [
    { name: "outage", label: "outage", millis: 1 },
    { name: "brownout", label: "brown-out", millis: 1 }
  ],
  config: {} as ArenaResult["config"],
  loadAverage: { before: [], after: [] },
  sides: sides.map((s) => ({
    ...s,
    label: s.id,
    falseOpenShare: null,
    recoveryMillis: null,
    earlyAfterRetryAfter: 0,
    earliestMillis: 0,
    retryAfterSent: 0
  }))
})

describe("arena figures", () => {
  it("a phase counts as behind only beyond the run-to-run spread; amplification against the lowest peer", () => {
    const r = result([
      {
        id: "ours",
        side: "ours",
        cells: [cell("outage", [10, 11, 12], [0.1, 0.1, 0.1]), cell("brownout", [50, 50, 50], [1, 1, 1])]
      },
      // within the spread in the outage (ours 11 vs 12, spread 4); beyond it in the brown-out (50 vs 60, spread 2)
      {
        id: "p1",
        side: "peer",
        cells: [cell("outage", [10, 12, 14], [0.2, 0.2, 0.2]), cell("brownout", [59, 60, 61], [0.5, 0.5, 0.5])]
      },
      // no policy does not count as a peer
      {
        id: "none",
        side: "none",
        cells: [cell("outage", [90, 90, 90], [0, 0, 0]), cell("brownout", [99, 99, 99], [0, 0, 0])]
      }
    ])
    const f = arenaFigures(r)!
    expect(f.phasesBehind).toBe(1)
    expect(f.behind[0]!.phase).toBe("brownout")
    expect(f.outage.excess).toBeCloseTo(-0.1)
    expect(f.brownout.excess).toBeCloseTo(0.5)
    expect(f.goodputVsBestPeer).toBeCloseTo(50 / 60)
    expect(phaseChart(r, 0)).toContain("<svg")
  })
})
