import { describe, expect, it } from "@effect/vitest"
import { performance } from "node:perf_hooks"
import { makeUpstream, UpstreamFailure } from "../src/scenarios/failfast.js"

const outcome = (p: Promise<void>) =>
  p.then(() => "ok", (e: unknown) => (e instanceof UpstreamFailure ? "failed" : "?"))

describe("failfast upstream", () => {
  it("an outcome is fixed by the request and the attempt; the outage fails every call; aborting ends a call", async () => {
    // Phases of 60 s: the whole test runs inside one phase, which `restart` picks.
    const phaseMillis = 60_000
    const a = makeUpstream(phaseMillis, 17)
    const b = makeUpstream(phaseMillis, 17)
    // errors (the first phase): the same requests, attempt by attempt, fail alike on two upstreams
    a.restart(performance.now())
    b.restart(performance.now())
    const orders = Array.from({ length: 40 }, (_, i) => i)
    const first = await Promise.all(orders.map((o) => outcome(a.call(o))))
    const again = await Promise.all(orders.map((o) => outcome(b.call(o))))
    expect(again).toEqual(first)
    const failed = first.filter((x) => x === "failed").length
    expect(failed).toBeGreaterThan(0)
    expect(failed).toBeLessThan(40)
    // the second attempts are the other dice
    const second = await Promise.all(orders.map((o) => outcome(a.call(o))))
    expect(second).toEqual(await Promise.all(orders.map((o) => outcome(b.call(o)))))
    expect(a.calls()).toBe(80)
    // the outage (the third phase): every call fails
    a.restart(performance.now() - 2 * phaseMillis)
    expect(await Promise.all(orders.map((o) => outcome(a.call(o))))).toEqual(orders.map(() => "failed"))
    // recovery: every call succeeds; an aborted call fails at once
    a.restart(performance.now() - 3 * phaseMillis)
    expect(await Promise.all(orders.map((o) => outcome(a.call(o))))).toEqual(orders.map(() => "ok"))
    const controller = new AbortController()
    const pending = outcome(a.call(1_000, controller.signal))
    controller.abort()
    expect(await pending).toBe("failed")
  })
})
