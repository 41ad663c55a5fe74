/**
 * Scenario 3: the full client (bulkhead + breaker + retry + timeout), success path; also with one `runPromise`
 * per call, as Promise-based callers use it.
 *
 * @since 0.1.0
 */
import {
  bulkhead,
  circuitBreaker,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleAll,
  retry,
  timeout,
  TimeoutStrategy,
  wrap
} from "cockatiel"
import { Effect } from "effect"
import {
  bareEffect,
  barePromise,
  loadOurs,
  makeScope,
  missing,
  opEffect,
  opPromise,
  type WrapAdapter
} from "../common.js"
import { type Config, effectBatch, type Entry, measureAll, promiseBatch, type Row } from "../harness.js"
import { effectSchedule } from "./retry.js"

/**
 * @since 0.1.0
 * @category scenarios
 */
export const run = async (config: Config, progress: (line: string) => void): Promise<Array<Row>> => {
  const n = config.calls
  const scope = makeScope()
  const ours = await loadOurs<WrapAdapter>("client", "ResilientClient")
  // The same stack as ours, outermost first: bulkhead 10 (queue 100), retry (4 attempts in all), breaker
  // (5 consecutive failures, open 30 s), 2 s timeout per attempt.
  const cockatiel = wrap(
    bulkhead(10, 100),
    retry(handleAll, { maxAttempts: 3, backoff: new ExponentialBackoff({ initialDelay: 100 }) }),
    circuitBreaker(handleAll, { halfOpenAfter: 30_000, breaker: new ConsecutiveBreaker(5) }),
    timeout(2_000, TimeoutStrategy.Aggressive)
  )
  // Plain Effect has no breaker: the same stack without one.
  const semaphore = Effect.runSync(Effect.makeSemaphore(10))
  const native = (op: Effect.Effect<number>) =>
    semaphore.withPermits(1)(Effect.retry(Effect.timeout(op, "2 seconds"), effectSchedule))
  try {
    const oursWrap = ours._tag === "Loaded" ? await scope.build(ours.adapter.make) : undefined
    const entries: Array<Entry> = [
      bareEffect(n),
      ours._tag === "Loaded" && oursWrap
        ? {
          id: "ours",
          label: ours.adapter.label,
          side: "ours",
          runtime: "effect",
          batch: effectBatch(n, () => oursWrap(opEffect))
        }
        : missing("ours", "ours: ResilientClient execute", ours._tag === "Missing" ? ours.reason : ""),
      {
        id: "effect-native",
        label: "plain Effect `withPermits(1)(retry(timeout(op, 2 s), schedule))`",
        side: "baseline",
        runtime: "effect",
        batch: effectBatch(n, () => native(opEffect))
      },
      barePromise(n),
      {
        id: "cockatiel",
        label: "cockatiel `wrap(bulkhead, retry, breaker, timeout).execute`",
        side: "peer",
        runtime: "promise",
        batch: promiseBatch(n, () => cockatiel.execute(opPromise))
      },
      {
        id: "runpromise-bare",
        label: "`await Effect.runPromise(op)` (the runPromise floor)",
        side: "baseline",
        runtime: "promise",
        batch: promiseBatch(n, () => Effect.runPromise(opEffect))
      },
      oursWrap
        ? {
          id: "ours-runpromise",
          label: "ours, `await Effect.runPromise(client.execute(op))` per call",
          side: "ours",
          runtime: "promise",
          batch: promiseBatch(n, () => Effect.runPromise(oursWrap(opEffect)))
        }
        : missing(
          "ours-runpromise",
          "ours, one runPromise per call",
          "not available: ResilientClient has not landed",
          "promise"
        ),
      {
        id: "effect-native-runpromise",
        label: "plain Effect stack, `await Effect.runPromise(...)` per call",
        side: "baseline",
        runtime: "promise",
        batch: promiseBatch(n, () => Effect.runPromise(native(opEffect)))
      }
    ]
    return await measureAll("client", entries, config, progress)
  } finally {
    await scope.close()
  }
}
