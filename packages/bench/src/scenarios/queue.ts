/**
 * Scenario 12, a standing queue (the bulkhead's `codel`): a dependency that takes 100 ms per call behind a
 * bulkhead of 10 slots and a queue of 100 (the `ResilientClient` defaults' sizes), so it serves 100 calls/s and a
 * full queue holds a second of work. Callers arrive open-loop and give up after `deadlineMillis` (ours through
 * `Deadline.within`, cockatiel through an `AbortSignal`); a call answered within it is goodput.
 *
 * Two loads, each for `seconds`: `overload`, 200 calls/s (twice what the dependency serves: the queue fills and
 * stands), and `bursts`, 30 calls at once every second (a third of the capacity on average: each burst queues 20
 * and drains in 0.3 s). The contenders: ours FIFO (`Bulkhead.make` with `queueTimeout: 5 s`), ours with
 * `codel: {}` (5 ms / 100 ms), and cockatiel's `bulkhead(10, 100)`. Rounds rotate the order.
 *
 * @since 0.1.0
 */
import { Bulkhead, Deadline } from "@effect-resilience/core"
import { bulkhead as cockatielBulkhead, BulkheadRejectedError } from "cockatiel"
import { Cause, Duration, Effect, Exit, Scope } from "effect"
import { performance } from "node:perf_hooks"
import { setTimeout as sleep } from "node:timers/promises"
import { loadAverage, openLoop, rotatedRounds } from "../openLoop.js"
import { type Spread, spread } from "../stats.js"

/**
 * @since 0.1.0
 * @category constants
 */
export const queueConfig = {
  callMillis: 100,
  slots: 10,
  queue: 100,
  queueTimeoutMillis: 5_000,
  deadlineMillis: 500,
  overloadPerSecond: 200,
  burstSize: 30,
  burstEveryMillis: 1_000
}

/**
 * @since 0.1.0
 * @category models
 */
export type QueueLoad = "overload" | "bursts"

/**
 * @since 0.1.0
 * @category models
 */
export interface QueueSide {
  readonly id: string
  readonly label: string
  /** Calls per second answered within the deadline (median, min … max over rounds). */
  readonly goodput: Record<QueueLoad, Spread>
  /** Share of the calls refused by the bulkhead (queue full or timed out in it). */
  readonly rejected: Record<QueueLoad, Spread>
  /** Share of the calls whose caller gave up first (the deadline). */
  readonly late: Record<QueueLoad, Spread>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface QueueResult {
  readonly config: typeof queueConfig
  readonly seconds: number
  readonly rounds: number
  readonly loadAverage: { readonly before: ReadonlyArray<number>; readonly after: ReadonlyArray<number> }
  readonly sides: ReadonlyArray<QueueSide>
  /** Ours with codel ÷ ours FIFO, goodput under overload (median over rounds of the paired ratio). */
  readonly codelVsFifo: Spread
  /** Ours with codel ÷ cockatiel, goodput under overload. */
  readonly codelVsCockatiel: Spread
}

type Outcome = "ok" | "rejected" | "late"

interface Spec {
  readonly id: string
  readonly label: string
  /** Makes the contender; `call` runs one call to its end. */
  readonly make: () => Promise<{ call: () => Promise<Outcome>; close: () => Promise<void> }>
}

const work = () => sleep(queueConfig.callMillis)

const ours = (id: string, label: string, codel: boolean): Spec => ({
  id,
  label,
  make: async () => {
    const scope = Effect.runSync(Scope.make())
    const bulkhead = await Effect.runPromise(Scope.extend(
      Bulkhead.make({
        name: `queue-${id}`,
        maxConcurrent: queueConfig.slots,
        maxQueue: queueConfig.queue,
        queueTimeout: Duration.millis(queueConfig.queueTimeoutMillis),
        metrics: false,
        ...(codel ? { codel: {} } : {})
      }),
      scope
    ))
    const call = bulkhead.execute(Effect.promise(work)).pipe(
      Deadline.within(Duration.millis(queueConfig.deadlineMillis))
    )
    return {
      call: () =>
        Effect.runPromiseExit(call).then((exit): Outcome => {
          if (Exit.isSuccess(exit)) return "ok"
          const failure = Cause.failureOption(exit.cause)
          return failure._tag === "Some" && failure.value instanceof Bulkhead.BulkheadRejectedError
            ? "rejected"
            : "late"
        }),
      close: () => Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }
})

const specs: ReadonlyArray<Spec> = [
  ours("ours-fifo", "ours: Bulkhead (FIFO, queueTimeout 5 s)", false),
  ours("ours-codel", "ours: Bulkhead + codel (5 ms / 100 ms)", true),
  {
    id: "cockatiel",
    label: "cockatiel 3.2.1 bulkhead(10, 100)",
    make: async () => {
      const policy = cockatielBulkhead(queueConfig.slots, queueConfig.queue)
      return {
        call: () => {
          const signal = AbortSignal.timeout(queueConfig.deadlineMillis)
          // the caller gives up at its deadline, whatever the bulkhead does with the call
          const gaveUp = sleep(queueConfig.deadlineMillis + 1).then((): Outcome => "late")
          const answered = policy.execute(({ signal }) => sleep(queueConfig.callMillis, undefined, { signal }), signal)
            .then(
              (): Outcome => "ok",
              (e: unknown): Outcome => (e instanceof BulkheadRejectedError ? "rejected" : "late")
            )
          return Promise.race([answered, gaveUp])
        },
        close: async () => {}
      }
    }
  }
]

interface Run {
  readonly goodput: number
  readonly rejected: number
  readonly late: number
}

const runLoad = async (spec: Spec, load: QueueLoad, seconds: number): Promise<Run> => {
  const contender = await spec.make()
  // warm-up
  for (let i = 0; i < 20; i++) await contender.call()
  const total = seconds * 1_000
  // overload: one call every 5 ms; bursts: `burstSize` calls at the start of every `burstEveryMillis`
  const perBurst = load === "overload" ? 1 : queueConfig.burstSize
  const interval = load === "overload" ? 1_000 / queueConfig.overloadPerSecond : queueConfig.burstEveryMillis
  const count = Math.floor(total / interval) * perBurst
  const outcomes: Array<Outcome> = []
  const t0 = performance.now()
  const { pending } = await openLoop(count / perBurst, interval, t0, async () => {
    const all = await Promise.all(Array.from({ length: perBurst }, () =>
      contender.call().then((o) => {
        outcomes.push(o)
        return o
      })))
    return all.every((o) => o === "ok")
  })
  await Promise.all(pending)
  await contender.close()
  const ok = outcomes.filter((o) => o === "ok").length
  return {
    goodput: ok / seconds,
    rejected: outcomes.filter((o) => o === "rejected").length / outcomes.length,
    late: outcomes.filter((o) => o === "late").length / outcomes.length
  }
}

/**
 * @since 0.1.0
 * @category scenarios
 */
export const run = async (quick: boolean, progress: (line: string) => void): Promise<QueueResult> => {
  const seconds = quick ? 2 : 5
  const rounds = quick ? 1 : 3
  const before = loadAverage()
  const runs = await rotatedRounds(
    specs,
    rounds,
    (round, spec) => progress(`queue: round ${round + 1}/${rounds}, ${spec.id}`),
    async (spec) => ({
      overload: await runLoad(spec, "overload", seconds),
      bursts: await runLoad(spec, "bursts", seconds)
    })
  )
  const loads: ReadonlyArray<QueueLoad> = ["overload", "bursts"]
  const sides = specs.map((spec): QueueSide => {
    const mine = runs.get(spec.id)!
    const per = (f: (r: Run) => number) =>
      Object.fromEntries(loads.map((l) => [l, spread(mine.map((r) => f(r[l])))])) as Record<QueueLoad, Spread>
    return {
      id: spec.id,
      label: spec.label,
      goodput: per((r) => r.goodput),
      rejected: per((r) => r.rejected),
      late: per((r) => r.late)
    }
  })
  const paired = (a: string, b: string) => {
    const x = runs.get(a)!
    const y = runs.get(b)!
    return spread(x.map((r, i) => r.overload.goodput / Math.max(1e-9, y[i]!.overload.goodput)))
  }
  return {
    config: queueConfig,
    seconds,
    rounds,
    loadAverage: { before, after: loadAverage() },
    sides,
    codelVsFifo: paired("ours-codel", "ours-fifo"),
    codelVsCockatiel: paired("ours-codel", "cockatiel")
  }
}
