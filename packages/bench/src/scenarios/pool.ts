/**
 * Scenario 4: pool borrow + release around one call, pools of 10 ready resources.
 *
 * @since 0.1.0
 */
import { Effect, Pool } from "effect"
import genericPool from "generic-pool"
import { Pool as TarnPool } from "tarn"
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
 * The pools' size: min = max.
 *
 * @since 0.1.0
 * @category constants
 */
export const poolSize = 10

/**
 * @since 0.1.0
 * @category scenarios
 */
export const run = async (config: Config, progress: (line: string) => void): Promise<Array<Row>> => {
  const n = config.calls
  const scope = makeScope()
  const ours = await loadOurs<WrapAdapter>("pool", "ResourcePool")
  const effectPool = await scope.build(Pool.make({ acquire: Effect.sync(() => ({ id: 0 })), size: poolSize }))
  const generic = genericPool.createPool(
    { create: async () => ({ id: 0 }), destroy: async () => {} },
    { min: poolSize, max: poolSize }
  )
  const tarn = new TarnPool({
    create: () => Promise.resolve({ id: 0 }),
    destroy: () => {},
    min: poolSize,
    max: poolSize
  })
  try {
    const entries: Array<Entry> = [
      bareEffect(n),
      await oursWrapped(n, ours, scope, "ours: ResourcePool use"),
      {
        id: "effect-pool",
        label: "Effect `Effect.scoped(Pool.get(pool))` then op",
        side: "baseline",
        runtime: "effect",
        batch: effectBatch(n, () => Effect.scoped(Effect.flatMap(Pool.get(effectPool), () => opEffect)))
      },
      barePromise(n),
      {
        id: "generic-pool",
        label: "generic-pool `acquire`, op, `release`",
        side: "peer",
        runtime: "promise",
        batch: promiseBatch(n, async () => {
          const resource = await generic.acquire()
          try {
            return await opPromise()
          } finally {
            await generic.release(resource)
          }
        })
      },
      {
        id: "tarn",
        label: "tarn `acquire().promise`, op, `release`",
        side: "peer",
        runtime: "promise",
        batch: promiseBatch(n, async () => {
          const resource = await tarn.acquire().promise
          try {
            return await opPromise()
          } finally {
            tarn.release(resource)
          }
        })
      }
    ]
    return await measureAll("pool", entries, config, progress)
  } finally {
    await generic.drain()
    await generic.clear()
    await tarn.destroy()
    await scope.close()
  }
}
