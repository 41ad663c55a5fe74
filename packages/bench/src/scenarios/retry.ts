/**
 * Scenario 2: retry, success on the first try.
 *
 * @since 0.1.0
 */
import { ExponentialBackoff, handleAll, retry } from "cockatiel"
import { Effect, Schedule } from "effect"
import pRetry from "p-retry"
import {
  bareEffect,
  barePromise,
  loadOurs,
  makeScope,
  opEffect,
  opPromise,
  oursWrapped,
  type WrapAdapter
} from "../common.js"
import { type Config, effectBatch, type Entry, measureAll, promiseBatch, type Row } from "../harness.js"

/**
 * The plain-Effect schedule of the baseline: 4 attempts in all, exponential from 100 ms, jittered.
 *
 * @since 0.1.0
 * @category constants
 */
export const effectSchedule = Schedule.exponential("100 millis").pipe(
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(3))
)

/**
 * @since 0.1.0
 * @category scenarios
 */
export const run = async (config: Config, progress: (line: string) => void): Promise<Array<Row>> => {
  const n = config.calls
  const scope = makeScope()
  const ours = await loadOurs<WrapAdapter>("retry", "Retry")
  const cockatiel = retry(handleAll, { maxAttempts: 3, backoff: new ExponentialBackoff({ initialDelay: 100 }) })
  try {
    const entries: Array<Entry> = [
      bareEffect(n),
      await oursWrapped(n, ours, scope, "ours: Retry.retry"),
      {
        id: "effect-retry",
        label: "`Effect.retry(op, exponential + jittered, 3 recurs)`",
        side: "baseline",
        runtime: "effect",
        batch: effectBatch(n, () => Effect.retry(opEffect, effectSchedule))
      },
      barePromise(n),
      {
        id: "p-retry",
        label: "p-retry `pRetry(op, { retries: 3 })`",
        side: "peer",
        runtime: "promise",
        batch: promiseBatch(n, () => pRetry(opPromise, { retries: 3 }))
      },
      {
        id: "cockatiel",
        label: "cockatiel `retry(handleAll, { maxAttempts: 3 }).execute`",
        side: "peer",
        runtime: "promise",
        batch: promiseBatch(n, () => cockatiel.execute(opPromise))
      }
    ]
    return await measureAll("retry", entries, config, progress)
  } finally {
    await scope.close()
  }
}
