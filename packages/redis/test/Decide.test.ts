/**
 * The Lua script and `CircuitBreakerStore.decide` must agree: the same random report sequences (count and time
 * windows, consecutive, slow calls, stale and duplicate proposals, times going back) go to both, and every
 * snapshot is compared.
 */
import { CircuitBreakerStore } from "@effect-resilience/core"
import { Services, Stress } from "@effect-resilience/testing"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { Redis } from "ioredis"
import { evalDecide, readResults, scriptConfig, scriptReport } from "../src/internal/store.js"
import { redis } from "./utils.js"

/** Rates: simple fractions (so a window's rate often equals its threshold exactly) and arbitrary doubles. */
const rate = fc.oneof(
  fc.constantFrom(0.2, 0.25, 1 / 3, 0.5, 2 / 3, 0.75, 1),
  fc.double({ min: 0.01, max: 1, noNaN: true })
)

const strategy: fc.Arbitrary<CircuitBreakerStore.StrategyConfig> = fc.oneof(
  fc.record({ _tag: fc.constant("Consecutive" as const), threshold: fc.integer({ min: 1, max: 6 }) }),
  fc.integer({ min: 1, max: 12 }).chain((size) =>
    fc.record({
      _tag: fc.constant("CountWindow" as const),
      size: fc.constant(size),
      failureRate: rate,
      minimumCalls: fc.integer({ min: 1, max: size })
    })
  ),
  fc.record({
    _tag: fc.constant("TimeWindow" as const),
    durationMillis: fc.integer({ min: 10, max: 5_000 }),
    buckets: fc.integer({ min: 1, max: 10 }),
    failureRate: rate,
    minimumCalls: fc.integer({ min: 1, max: 25 })
  })
)

const config: fc.Arbitrary<CircuitBreakerStore.SharedConfig> = fc.record({
  name: fc.constant("prop"),
  strategy,
  slowCallRate: fc.oneof(fc.constant(Infinity), rate)
})

const states = ["Closed", "Open", "Isolated"] as const

/** A step: outcomes (slow calls among them) and maybe a proposal on the current, a stale or a repeated version. */
const step = fc.record({
  dt: fc.integer({ min: -300, max: 2_000 }),
  successes: fc.integer({ min: 0, max: 12 }),
  failures: fc.integer({ min: 0, max: 12 }),
  slowShare: fc.double({ min: 0, max: 1, noNaN: true }),
  proposal: fc.option(
    fc.record({
      base: fc.constantFrom("current", "stale", "repeat"),
      state: fc.constantFrom(...states),
      openings: fc.integer({ min: 0, max: 4 })
    }),
    { freq: 2 }
  )
})

const client = redis.available ? new Redis(redis.url) : undefined
const prefix = Services.uniquePrefix("decide")
let counter = 0

afterAll(async () => {
  if (client === undefined) return
  const keys = await client.keys(`${prefix}*`)
  if (keys.length > 0) await client.del(...keys)
  client.disconnect()
})

describe.skipIf(!redis.available)("the Lua decision", () => {
  it("agrees with CircuitBreakerStore.decide on every snapshot", async () => {
    await fc.assert(
      fc.asyncProperty(config, fc.array(step, { minLength: 1, maxLength: 40 }), async (config, steps) => {
        const key = `${prefix}:${++counter}`
        const window = CircuitBreakerStore.makeSharedWindow(config)
        let current = CircuitBreakerStore.initialSnapshot
        let now = 1_700_000_000_000
        let last: CircuitBreakerStore.Proposal | undefined
        const expected: Array<CircuitBreakerStore.Snapshot> = []
        const entries: Array<unknown> = []
        for (const s of steps) {
          now += s.dt
          const calls = s.successes + s.failures
          let proposal: CircuitBreakerStore.Proposal | undefined
          if (s.proposal !== null) {
            const p = s.proposal
            proposal = p.base === "repeat" && last !== undefined
              ? last
              : {
                baseVersion: p.base === "current" ? current.version : Math.max(0, current.version - 1),
                state: p.state,
                at: now,
                openings: p.state === "Closed" ? 0 : Math.max(1, p.openings)
              }
            last = proposal
          }
          const report: CircuitBreakerStore.Report = {
            at: now,
            successes: s.successes,
            failures: s.failures,
            slowCalls: Math.floor(calls * s.slowShare),
            proposal
          }
          current = CircuitBreakerStore.decide(current, window, report)
          expected.push(current)
          entries.push({ k: 1, id: "prop", c: 1, hint: 0, r: scriptReport(report, 0), probe: 0, tok: "t" })
        }
        const arg = JSON.stringify({
          ttl: 60_000,
          leaseTtl: 1_000,
          channel: `${prefix}:channel`,
          configs: [scriptConfig(config)],
          entries
        })
        const reply = await evalDecide(client!, [key], arg)
        const { results } = readResults(reply, entries.length)
        expect(results.map((r) => r.snapshot)).toEqual(expected)
      }),
      Stress.fastCheck(150)
    )
  })
})
