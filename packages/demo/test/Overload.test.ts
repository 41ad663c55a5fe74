// The overload phase's summary and rendering on scripted samples (the phase itself runs in Main.test.ts's
// `--overload` run, on a real clock).
import { describe, expect, it } from "@effect/vitest"
import type * as Load from "../src/Load.js"
import * as Overload from "../src/Overload.js"

const sample = (latencyMillis: number, kind = "ok"): Load.Sample => ({
  at: 0,
  latencyMillis,
  ok: kind === "ok",
  kind
})
const times = (n: number, f: (i: number) => Load.Sample) => Array.from({ length: n }, (_, i) => f(i))

describe("Overload", () => {
  it("the gateway's capacity and the overload's rate", () => {
    expect(Overload.capacityPerSecond).toBe(40)
    expect(Overload.overloadRate).toBe(80)
    expect(Overload.overloadSeconds(2)).toBe(2)
    expect(Overload.overloadSeconds(30)).toBe(5)
  })

  it("summarize: percentiles of the answered, shed and failed apart, the ratio to the unloaded p99", () => {
    const baseline = times(100, (i) => sample(100 + (i === 99 ? 20 : 0)))
    // 100 answered at 101..200 ms, 50 shed at 1 ms, 2 failed.
    const samples = [
      ...times(100, (i) => sample(101 + i)),
      ...times(50, () => sample(1, "shed")),
      sample(10_000, "client_timeout"),
      sample(5, "gateway_503")
    ]
    const s = Overload.summarize("resilient", "resilient (ours)", baseline, samples, 4)
    expect(s).toMatchObject({
      unloadedP99Millis: 100,
      requests: 152,
      accepted: 100,
      inTime: 100,
      shed: 50,
      failed: 2,
      acceptedP50Millis: 150,
      acceptedP99Millis: 199,
      shedP99Millis: 1,
      peakGatewayInFlight: 4
    })
    expect(s.p99Ratio).toBeCloseTo(1.99)
    expect(Overload.summarize("naive", "naive", baseline, [], 0)).toMatchObject({ shedP99Millis: null, p99Ratio: 0 })
  })

  it("the sentence and the rows say what the summaries say", () => {
    const baseline = times(20, () => sample(100))
    const result: Overload.Result = {
      seconds: 5,
      rate: 80,
      capacity: 40,
      naive: Overload.summarize("naive", "naive", baseline, times(400, (i) => sample(100 + 10 * i)), 200),
      resilient: Overload.summarize(
        "resilient",
        "resilient (ours)",
        baseline,
        [...times(200, () => sample(110)), ...times(200, () => sample(2, "shed"))],
        4
      ),
      samples: { naive: [], resilient: [] },
      arrivals: { naive: [], resilient: [] }
    }
    const text = Overload.sentence(result)
    expect(text).toContain("80 requests/s for 5 s, twice the 40/s")
    expect(text).toContain("shed 50% of the requests at once (503 with Retry-After, p99 2 ms)")
    expect(text).toContain("answered the 200 it accepted at p99 110 ms (1.1x its unloaded p99)")
    expect(text).toContain(
      "accepted all 400 and queued them at the gateway (up to 200 calls at once): p99 4,050 ms (40.5x)"
    )
    expect(text).toContain("and 91 answered within 1 s against 200.")
    const table = Overload.table(result)
    expect(table).toMatch(/overload: answered 200 +400 of 400 +200 of 400/)
    expect(table).toMatch(/overload: answered within 1 s +91 +200/)
    expect(table).toMatch(/overload: shed \(503 \+ Retry-After\) +0 +200/)
    expect(table).toMatch(/overload: gateway calls at once, peak +200 +4/)
  })
})
