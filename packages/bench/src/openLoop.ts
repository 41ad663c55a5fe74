/**
 * The open-loop arrival driver the scenario scripts share (arena, failfast): requests arrive on a fixed schedule,
 * whatever the earlier ones are doing, as a fleet of independent callers would.
 *
 * @since 0.1.0
 */
import * as os from "node:os"
import { performance } from "node:perf_hooks"

/**
 * What an open-loop run records per request, by index: when it started and ended (ms since `t0`; `endAt` is `NaN`
 * until it ends), whether it succeeded, and each request's promise (settled when it ends).
 *
 * @since 0.1.0
 * @category models
 */
export interface OpenLoopRun {
  readonly startAt: Float64Array
  readonly endAt: Float64Array
  readonly ok: Uint8Array
  readonly pending: ReadonlyArray<Promise<void>>
}

/**
 * Starts `count` requests, request `i` at `i × interval` ms after `t0` (a `performance.now()` instant): a
 * `setTimeout` tick starts every request that is due (so a late tick catches up at once) and sleeps until the next
 * one. Resolves once the last request has started; the requests themselves are in `pending`.
 *
 * @since 0.1.0
 * @category drivers
 */
export const openLoop = (
  count: number,
  interval: number,
  t0: number,
  call: (i: number) => Promise<boolean>
): Promise<OpenLoopRun> => {
  const startAt = new Float64Array(count)
  const endAt = new Float64Array(count).fill(Number.NaN)
  const ok = new Uint8Array(count)
  const pending: Array<Promise<void>> = []
  return new Promise<OpenLoopRun>((resolve) => {
    let next = 0
    const tick = () => {
      const now = performance.now() - t0
      while (next < count && next * interval <= now) {
        const i = next++
        startAt[i] = performance.now() - t0
        pending.push(
          call(i).then((success) => {
            endAt[i] = performance.now() - t0
            ok[i] = success ? 1 : 0
          })
        )
      }
      if (next < count) setTimeout(tick, Math.max(0, next * interval - (performance.now() - t0)))
      else resolve({ startAt, endAt, ok, pending })
    }
    tick()
  })
}

/**
 * The load average over 1, 5 and 15 minutes, to two decimals (recorded before and after a scenario).
 *
 * @since 0.1.0
 * @category utils
 */
export const loadAverage = (): Array<number> => os.loadavg().map((x) => Math.round(x * 100) / 100)

/**
 * Runs each contender once per round, `rounds` rounds, the order rotated by one each round (so none always runs
 * first), and gives each contender's runs in round order.
 *
 * @since 0.1.0
 * @category drivers
 */
export const rotatedRounds = async <C extends { readonly id: string }, R>(
  contenders: ReadonlyArray<C>,
  rounds: number,
  progress: (round: number, contender: C) => void,
  runOnce: (contender: C) => Promise<R>
): Promise<Map<string, Array<R>>> => {
  const runs = new Map<string, Array<R>>(contenders.map((c) => [c.id, []]))
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < contenders.length; k++) {
      const contender = contenders[(k + round) % contenders.length]!
      progress(round, contender)
      runs.get(contender.id)!.push(await runOnce(contender))
    }
  }
  return runs
}
