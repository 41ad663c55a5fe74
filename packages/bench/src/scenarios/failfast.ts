/**
 * Scenario 11, fail fast (issue 17): the set-up of the issue, side by side. An in-process upstream whose outcome is
 * a pure function of the seed, the request and the attempt (the demo gateway's dice), 100 requests/s open-loop
 * (request `i` starts at `i / rate` seconds, whatever came of the others), four phases of 3 s: error bursts (30% of
 * calls answered with an error), latency spikes (10% of calls take 2 s), an outage (every call fails fast) and the
 * recovery (healthy). Every contender is configured alike: bulkhead 20 + queue 50, 300 ms per attempt, 3 attempts
 * from 50 ms with jitter, a breaker opening after 5 consecutive failures for 1 s. The contenders: ours
 * (`ResilientClient`), the same stack with one attempt (no retries), cockatiel `wrap(bulkhead, retry, breaker,
 * timeout)`, and no policy. Per phase: success share, p99 and max latency, share over 500 ms.
 *
 * The figures the issue asks for: ours' outage p99 ÷ the no-retry stack's (target ≤ 1.2), and ours' recovery
 * success ÷ the naive caller's (reported), each paired within a round, median over rounds.
 *
 * @since 0.1.0
 */
import { Backoff, CircuitBreaker, ResilientClient } from "@effect-resilience/core"
import { roll } from "@effect-resilience/demo/Gateway"
import {
  BrokenCircuitError,
  bulkhead,
  BulkheadRejectedError,
  circuitBreaker,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleWhen,
  retry,
  timeout,
  TimeoutStrategy,
  wrap
} from "cockatiel"
import { Duration, Effect, Exit, Scope } from "effect"
import { setMaxListeners } from "node:events"
import { performance } from "node:perf_hooks"
import { loadAverage, openLoop, rotatedRounds } from "../openLoop.js"
import { quantile, type Spread, spread } from "../stats.js"

/**
 * @since 0.1.0
 * @category models
 */
export type FailFastPhase = "errors" | "spikes" | "outage" | "recovery"

/**
 * The upstream's and the contenders' figures (milliseconds).
 *
 * @since 0.1.0
 * @category constants
 */
export const failFastConfig = {
  /** Every answer, error or not, takes uniform [5, 15] ms, unless spiked. */
  latency: [5, 15] as const,
  errorRate: 0.3,
  spikeRate: 0.1,
  spikeMillis: 2_000,
  bulkhead: 20,
  queue: 50,
  attemptTimeoutMillis: 300,
  attempts: 3,
  backoffBaseMillis: 50,
  breakerThreshold: 5,
  breakerOpenMillis: 1_000
}

const phaseNames: ReadonlyArray<FailFastPhase> = ["errors", "spikes", "outage", "recovery"]

/**
 * One contender in one phase, over rounds.
 *
 * @since 0.1.0
 * @category models
 */
export interface FailFastCell {
  readonly id: FailFastPhase
  /** Share of the phase's requests that succeeded (0 … 1). */
  readonly success: Spread
  readonly p99Millis: Spread
  readonly maxMillis: Spread
  /** Share of the phase's requests that took over 500 ms. */
  readonly over500: Spread
}

/**
 * @since 0.1.0
 * @category models
 */
export interface FailFastSide {
  readonly id: string
  readonly label: string
  readonly cells: ReadonlyArray<FailFastCell>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface FailFastResult {
  readonly ratePerSecond: number
  readonly phaseMillis: number
  readonly rounds: number
  readonly seed: number
  readonly config: typeof failFastConfig
  readonly loadAverage: { readonly before: ReadonlyArray<number>; readonly after: ReadonlyArray<number> }
  readonly sides: ReadonlyArray<FailFastSide>
  /** Ours' outage p99 ÷ the no-retry stack's, per round (target ≤ 1.2). */
  readonly outageP99VsNoRetry: Spread | null
  /** Ours' recovery success ÷ the naive caller's, per round (reported). */
  readonly recoverySuccessVsNaive: Spread | null
}

/**
 * What the upstream fails with.
 *
 * @since 0.1.0
 * @category errors
 */
export class UpstreamFailure extends Error {
  constructor() {
    super("upstream failed")
    this.name = "UpstreamFailure"
  }
}

/**
 * One call to the upstream: resolves or rejects after its latency; aborting it ends it at once.
 *
 * @since 0.1.0
 * @category models
 */
export type Call = (order: number, signal?: AbortSignal) => Promise<void>

/**
 * An in-process upstream following the four phases from `restart`: what it does with a call is fixed by the seed,
 * the request and the attempt (the n-th call for that request), whatever the timing.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeUpstream = (phaseMillis: number, seed: number): {
  readonly call: Call
  readonly restart: (t0: number) => void
  readonly calls: () => number
} => {
  let t0 = performance.now()
  let attempts = new Map<number, number>()
  let calls = 0
  const call: Call = (order, signal) =>
    new Promise<void>((resolve, reject) => {
      calls++
      const attempt = (attempts.get(order) ?? 0) + 1
      attempts.set(order, attempt)
      const elapsed = performance.now() - t0
      // before the script (warm-up): healthy
      const phase = elapsed < 0
        ? "recovery"
        : phaseNames[Math.min(phaseNames.length - 1, Math.floor(elapsed / phaseMillis))]!
      const dice = roll(seed, order, attempt, 0)
      const [min, max] = failFastConfig.latency
      const latency = min + roll(seed, order, attempt, 2) * (max - min)
      const fails = phase === "outage" || (phase === "errors" && dice < failFastConfig.errorRate)
      const ms = phase === "spikes" && dice < failFastConfig.spikeRate ? failFastConfig.spikeMillis : latency
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort)
        if (fails) reject(new UpstreamFailure())
        else resolve()
      }, ms)
      const onAbort = () => {
        clearTimeout(timer)
        reject(new UpstreamFailure())
      }
      signal?.addEventListener("abort", onAbort, { once: true })
    })
  return {
    call,
    restart: (at) => {
      t0 = at
      attempts = new Map()
      calls = 0
    },
    calls: () => calls
  }
}

interface Contender {
  /** Runs one request to its end: true when it succeeded (never rejects). */
  readonly call: (order: number) => Promise<boolean>
  readonly close: () => Promise<void>
}

interface ContenderSpec {
  readonly id: string
  readonly label: string
  readonly make: (upstream: Call) => Promise<Contender>
}

const ours = (id: string, label: string, attempts: number): ContenderSpec => ({
  id,
  label,
  make: async (upstream) => {
    const c = failFastConfig
    const scope = Effect.runSync(Scope.make())
    const client = await Effect.runPromise(Scope.extend(
      ResilientClient.make({
        name: `failfast-${id}`,
        bulkhead: { maxConcurrent: c.bulkhead, maxQueue: c.queue },
        timeout: Duration.millis(c.attemptTimeoutMillis),
        retry: {
          maxAttempts: attempts,
          schedule: Backoff.fullJitter(Backoff.exponential({ base: Duration.millis(c.backoffBaseMillis) }))
        },
        circuitBreaker: {
          strategy: CircuitBreaker.consecutive(c.breakerThreshold),
          openDuration: Duration.millis(c.breakerOpenMillis)
        }
      }),
      scope
    ))
    return {
      call: (order) =>
        Effect.runPromiseExit(
          client.execute(Effect.tryPromise({ try: (signal) => upstream(order, signal), catch: (e) => e }))
        ).then(Exit.isSuccess),
      close: () => Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }
})

/**
 * The contenders, in the order of the table.
 *
 * @since 0.1.0
 * @category constants
 */
export const contenders: ReadonlyArray<ContenderSpec> = [
  {
    id: "naive",
    label: "naive (no policy)",
    make: async (upstream) => ({
      call: (order) => upstream(order).then(() => true, () => false),
      close: async () => {}
    })
  },
  ours("ours", "ours: ResilientClient", failFastConfig.attempts),
  ours("ours-no-retry", "ours, same stack without retries (1 attempt)", 1),
  {
    id: "cockatiel",
    label: "cockatiel 3.2.1 wrap(bulkhead, retry, breaker, timeout)",
    make: async (upstream) => {
      const c = failFastConfig
      const breaker = circuitBreaker(handleWhen((e) => !(e instanceof BrokenCircuitError)), {
        halfOpenAfter: c.breakerOpenMillis,
        breaker: new ConsecutiveBreaker(c.breakerThreshold)
      })
      const policy = wrap(
        bulkhead(c.bulkhead, c.queue),
        retry(
          handleWhen((e) => !(e instanceof BrokenCircuitError) && !(e instanceof BulkheadRejectedError)),
          { maxAttempts: c.attempts - 1, backoff: new ExponentialBackoff({ initialDelay: c.backoffBaseMillis }) }
        ),
        breaker,
        timeout(c.attemptTimeoutMillis, TimeoutStrategy.Aggressive)
      )
      return {
        call: (order) => {
          // cockatiel's layers each listen on the call's signal: more than Node's default 10 listeners.
          const controller = new AbortController()
          setMaxListeners(64, controller.signal)
          return policy.execute(({ signal }) => upstream(order, signal), controller.signal).then(
            () => true,
            () => false
          )
        },
        close: async () => {}
      }
    }
  }
]

interface RunFigures {
  readonly success: Array<number>
  readonly p99: Array<number>
  readonly max: Array<number>
  readonly over500: Array<number>
}

/**
 * One contender once through the four phases, against a fresh upstream.
 *
 * @since 0.1.0
 * @category scenarios
 */
export const runOnce = async (
  spec: ContenderSpec,
  phaseMillis: number,
  rate: number,
  seed: number
): Promise<RunFigures> => {
  const upstream = makeUpstream(phaseMillis, seed)
  const contender = await spec.make(upstream.call)
  // warm-up before the script, one at a time: a cold start must not open a breaker
  upstream.restart(performance.now() + 1e9)
  for (let i = 0; i < 20; i++) await contender.call(1_000_000 + i)
  const total = phaseMillis * phaseNames.length
  const interval = 1_000 / rate
  const count = Math.floor(total / interval)
  const t0 = performance.now()
  upstream.restart(t0)
  const { endAt, ok, pending, startAt } = await openLoop(count, interval, t0, (i) => contender.call(i))
  await Promise.race([Promise.all(pending), new Promise((resolve) => setTimeout(resolve, 15_000))])
  await contender.close()
  const figures: RunFigures = { success: [], p99: [], max: [], over500: [] }
  for (let p = 0; p < phaseNames.length; p++) {
    const latencies: Array<number> = []
    let succeeded = 0
    for (let i = 0; i < count; i++) {
      // by scheduled arrival
      if (Math.floor((i * interval) / phaseMillis) !== p) continue
      succeeded += ok[i]!
      latencies.push((Number.isNaN(endAt[i]!) ? performance.now() - t0 : endAt[i]!) - startAt[i]!)
    }
    figures.success.push(succeeded / latencies.length)
    figures.p99.push(quantile(latencies, 0.99))
    figures.max.push(Math.max(...latencies))
    figures.over500.push(latencies.filter((l) => l > 500).length / latencies.length)
  }
  return figures
}

const paired = (
  runs: Map<string, Array<RunFigures>>,
  a: string,
  b: string,
  pick: (r: RunFigures) => number
): Spread | null => {
  const xs = runs.get(a) ?? []
  const ys = runs.get(b) ?? []
  const ratios = xs.flatMap((x, i) => {
    const y = ys[i]
    if (y === undefined) return []
    const d = pick(y)
    return Number.isFinite(d) && d > 0 ? [pick(x) / d] : []
  })
  return ratios.length > 0 ? spread(ratios) : null
}

/**
 * Runs the scenario: `rounds` rounds, each contender once per round, in a rotated order.
 *
 * @since 0.1.0
 * @category scenarios
 */
export const run = async (quick: boolean, progress: (line: string) => void): Promise<FailFastResult> => {
  const phaseMillis = quick ? 1_000 : 3_000
  const rounds = quick ? 1 : 3
  const rate = 100
  const seed = 17
  const before = loadAverage()
  const runs = await rotatedRounds(
    contenders,
    rounds,
    (round, spec) => progress(`failfast: round ${round + 1}/${rounds}, ${spec.id}`),
    (spec) => runOnce(spec, phaseMillis, rate, seed)
  )
  const outage = phaseNames.indexOf("outage")
  const recovery = phaseNames.indexOf("recovery")
  return {
    ratePerSecond: rate,
    phaseMillis,
    rounds,
    seed,
    config: failFastConfig,
    loadAverage: { before, after: loadAverage() },
    sides: contenders.map((spec) => {
      const mine = runs.get(spec.id)!
      return {
        id: spec.id,
        label: spec.label,
        cells: phaseNames.map((id, i) => ({
          id,
          success: spread(mine.map((r) => r.success[i]!)),
          p99Millis: spread(mine.map((r) => r.p99[i]!)),
          maxMillis: spread(mine.map((r) => r.max[i]!)),
          over500: spread(mine.map((r) => r.over500[i]!))
        }))
      }
    }),
    outageP99VsNoRetry: paired(runs, "ours", "ours-no-retry", (r) => r.p99[outage]!),
    recoverySuccessVsNaive: paired(runs, "ours", "naive", (r) => r.success[recovery]!)
  }
}
