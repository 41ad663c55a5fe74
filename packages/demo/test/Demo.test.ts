import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Demo from "../src/Demo.js"

// The whole demo on real loopback servers, with phases of 2 s: about 16 s of wall time.
describe("Demo.run", () => {
  it.live(
    "the resilient run cuts the tail, retries through degradation and stops hammering the outage",
    () =>
      Effect.gen(function*() {
        const { naive, resilient } = yield* Demo.run({ phaseSeconds: 2, rate: 40, seed: 7 })
        expect(naive.summary.requests).toBe(320)
        expect(resilient.summary.requests).toBe(320)
        // Naive: no timeout, so stuck gateway calls hold the caller for the gateway's 5 s hang.
        expect(naive.summary.p99Millis).toBeGreaterThan(4_000)
        expect(resilient.summary.p99Millis).toBeLessThan(2_100)
        // During the outage the breaker sheds load: far fewer than one gateway call per request.
        // (Per phase, calls are attributed by when they reach the gateway: only the whole run is exact.)
        expect(naive.summary.gatewayCallsPerRequest).toBe(1)
        expect(resilient.summary.phases.outage!.gatewayCallsPerRequest).toBeLessThan(0.6)
        expect(resilient.summary.breakerTransitions.some((t) => t.to === "Open")).toBe(true)
        expect(resilient.summary.errors.circuit_breaker_open ?? 0).toBeGreaterThan(0)
        // Retries lift the degraded phase above the naive run.
        expect(resilient.summary.phases.degraded!.successRate).toBeGreaterThan(
          naive.summary.phases.degraded!.successRate
        )
      }).pipe(Effect.provide(FetchHttpClient.layer)),
    30_000
  )
})
