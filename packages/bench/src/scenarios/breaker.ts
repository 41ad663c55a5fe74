/**
 * Scenario 1: a circuit breaker, closed, on the success path.
 *
 * @since 0.1.0
 */
import { circuitBreaker, ConsecutiveBreaker, handleAll } from "cockatiel"
import { Effect } from "effect"
import OpossumBreaker from "opossum"
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
 * @since 0.1.0
 * @category scenarios
 */
export const run = async (config: Config, progress: (line: string) => void): Promise<Array<Row>> => {
  const n = config.calls
  const scope = makeScope()
  const ours = await loadOurs<WrapAdapter>("breaker", "CircuitBreaker")
  const cockatiel = circuitBreaker(handleAll, { halfOpenAfter: 30_000, breaker: new ConsecutiveBreaker(5) })
  const opossum = new OpossumBreaker(opPromise)
  const f = (a: number) => a + 1
  const g = () => Effect.succeed(0)
  try {
    const entries: Array<Entry> = [
      bareEffect(n),
      {
        id: "effect-floor",
        label: "Effect floor `catchAllCause(map(op, f), g)`",
        side: "baseline",
        runtime: "effect",
        batch: effectBatch(n, () => Effect.catchAllCause(Effect.map(opEffect, f), g))
      },
      await oursWrapped(n, ours, scope, "ours: CircuitBreaker execute"),
      barePromise(n),
      {
        id: "cockatiel",
        label: "cockatiel `circuitBreaker().execute`",
        side: "peer",
        runtime: "promise",
        batch: promiseBatch(n, () => cockatiel.execute(opPromise))
      },
      {
        id: "opossum",
        label: "opossum `fire` (defaults: 10 s timeout timer per call)",
        side: "peer",
        runtime: "promise",
        batch: promiseBatch(n, () => opossum.fire())
      }
    ]
    return await measureAll("breaker", entries, config, progress)
  } finally {
    opossum.shutdown()
    await scope.close()
  }
}
