/**
 * Our side of scenario 4: a `ResourcePool` of 10 ready resources, default options otherwise.
 *
 * @since 0.1.0
 */
import { ResourcePool } from "@effect-resilience/pool"
import { Effect } from "effect"
import type { WrapAdapter } from "../common.js"
import { poolSize } from "../scenarios/pool.js"

/**
 * @since 0.1.0
 * @category adapters
 */
export const adapter: WrapAdapter = {
  label: "ours `pool.use(() => op)`",
  make: Effect.map(
    ResourcePool.make({ name: "bench-pool", acquire: Effect.sync(() => ({ id: 0 })), min: poolSize, max: poolSize }),
    (pool) => (op) => pool.use(() => op)
  )
}
