// The end of the demo's outage, simulated under TestClock (CPU-independent, deterministic for a seed): the gateway's
// outage and recovery phases (`Gateway.script`: half the calls stuck, half 503, then healthy), their dice, 40
// requests/s open-loop, through `ResilientClient` configured as the demo's resilient service (deadline 2 s,
// bulkhead 20 + 50, 300 ms per attempt, 3 attempts with a retry budget, a breaker opening at 60% of 40 calls for
// 500 ms). With and without the breaker's `halfOpen.probeLease` and `healthCheck`: how long after the gateway's
// return the breaker closes, and how many recovery-phase requests it turns away (the naive caller pays them all).
//
// RECOVERY_SEEDS=1,2,3,4,5,6,7,8 pnpm vitest run packages/demo/test/Recovery.test.ts prints the four variants
// for those seeds instead (no assertion: a spike of the healthy gateway can delay a closing by a lease).
import { ResilientClient, RetryBudget } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Data, Effect, Exit, Option, Random, Stream, TestClock } from "effect"
import { type Phase, phaseAt, roll, script } from "../src/Gateway.js"
import { resilientOptions } from "../src/Stacks.js"

class Unavailable extends Data.TaggedError("Unavailable")<{}> {}

interface Variant {
  readonly lease: boolean
  readonly health: boolean
}

const rate = 40
const [calm, , outage] = script(2)
/** 1 s calm, 2 s of outage (the breaker opens and probes), 1.5 s of recovery. */
const phases: ReadonlyArray<Phase> = [
  { ...calm!, seconds: 1 },
  { ...outage!, seconds: 2 },
  { ...calm!, name: "recovery", seconds: 1.5 }
]
const recoveryAt = 3_000

/** One run: when the breaker closed after the gateway came back (ms after), and the recovery requests not paid. */
const simulate = (seed: number, variant: Variant) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const attempts = new Map<number, number>()
    let checks = 0
    // As `Gateway.start` answers: by the phase in force, with dice fixed by the seed, the order and the attempt.
    const answer = (n: number, attempt: number) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const phase = phaseAt(phases, now - start)
        const dice = roll(seed, n, attempt, 0)
        if (dice < phase.hangRate) {
          return Effect.zipRight(Effect.sleep(phase.hangMillis), Effect.fail(new Unavailable()))
        }
        if (dice < phase.hangRate + phase.errorRate) return Effect.fail(new Unavailable())
        const spike = roll(seed, n, attempt, 1) < phase.spikeRate
        const [min, max] = phase.latencyMillis
        return Effect.sleep(spike ? phase.spikeMillis : min + roll(seed, n, attempt, 2) * (max - min))
      })
    const charge = (order: number) =>
      Effect.suspend(() => {
        const attempt = (attempts.get(order) ?? 0) + 1
        attempts.set(order, attempt)
        return answer(order, attempt)
      })
    const health = Effect.suspend(() => answer(-++checks, 1))
    const budget = yield* RetryBudget.make({ name: `recovery-${seed}-budget`, ratio: 0.5, minPerSecond: 10 })
    const client = yield* ResilientClient.make({
      name: `recovery-${seed}`,
      metrics: false,
      deadline: resilientOptions.deadline,
      bulkhead: resilientOptions.bulkhead,
      timeout: resilientOptions.timeout,
      retry: { maxAttempts: resilientOptions.retry.maxAttempts, schedule: resilientOptions.retry.schedule, budget },
      circuitBreaker: {
        strategy: resilientOptions.circuitBreaker.strategy,
        openDuration: resilientOptions.circuitBreaker.openDuration,
        ...(variant.lease ? { halfOpen: resilientOptions.circuitBreaker.halfOpen } : {}),
        ...(variant.health ? { healthCheck: { check: () => health, interval: "100 millis" } } : {})
      }
    })
    const closings: Array<number> = []
    if (Option.isSome(client.circuitBreaker)) {
      yield* Stream.runForEach(
        client.circuitBreaker.value.changes,
        (c) => Effect.sync(() => c.to === "Closed" && closings.push(c.at - start))
      ).pipe(Effect.forkScoped)
    }
    const total = (phases.reduce((a, p) => a + p.seconds, 0) * rate) | 0
    const paid = new Uint8Array(total)
    for (let i = 0; i < total; i++) {
      yield* Effect.forkScoped(
        Effect.zipRight(
          Effect.sleep((i * 1000) / rate),
          Effect.map(Effect.exit(client.execute(charge(i))), (exit) => {
            paid[i] = Exit.isSuccess(exit) ? 1 : 0
          })
        )
      )
    }
    yield* TestClock.adjust("10 seconds")
    let lost = 0
    for (let i = (recoveryAt * rate) / 1000; i < total; i++) lost += 1 - paid[i]!
    const closed = closings.find((at) => at > recoveryAt)
    return { closedAfter: closed === undefined ? Infinity : Math.round(closed - recoveryAt), lost, checks }
  }).pipe(Effect.scoped, Effect.withRandom(Random.make(seed)))

const variants: ReadonlyArray<readonly [string, Variant]> = [
  ["no lease, no checks", { lease: false, health: false }],
  ["probeLease", { lease: true, health: false }],
  ["healthCheck", { lease: false, health: true }],
  ["both (the demo)", { lease: true, health: true }]
]

describe("the end of the demo's outage, simulated under TestClock", () => {
  it.effect(
    "with probeLease and healthCheck the breaker closes within 200 ms of the gateway's return",
    () =>
      Effect.gen(function*() {
        const table = process.env.RECOVERY_SEEDS
        const seeds = table === undefined ? [1, 4] : table.split(",").map(Number)
        for (const seed of seeds) {
          const results = []
          for (const [label, variant] of table === undefined ? [variants[0]!, variants[3]!] : variants) {
            const r = yield* simulate(seed, variant)
            results.push(r)
            if (table !== undefined) {
              console.log(
                `seed ${seed}, ${label.padEnd(19)}: closed ${r.closedAfter} ms after the return, ${r.lost} of ${
                  1.5 * rate
                } recovery requests turned away, ${r.checks} health checks`
              )
            }
          }
          if (table !== undefined) continue
          // Seeds 1 and 4: the breaker reopened just before the return (1), a probe stuck across it (4).
          const [base, both] = results
          expect(base!.closedAfter).toBeGreaterThan(500)
          expect(both!.closedAfter).toBeLessThanOrEqual(200)
          expect(both!.lost).toBeLessThan(base!.lost / 4)
        }
      }),
    300_000
  )
})
