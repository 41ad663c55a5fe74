/**
 * Our side of scenario 1: a `CircuitBreaker` with default options (consecutive failures), closed.
 *
 * @since 0.1.0
 */
import { CircuitBreaker } from "@effect-resilience/core"
import { Effect } from "effect"
import type { WrapAdapter } from "../common.js"

/**
 * @since 0.1.0
 * @category adapters
 */
export const adapter: WrapAdapter = {
  label: "ours `breaker.execute(op)`",
  make: Effect.map(CircuitBreaker.make({ name: "bench-breaker" }), (breaker) => (op) => breaker.execute(op))
}
