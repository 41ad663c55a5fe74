/**
 * Our side of scenario 6: `CircuitBreaker.keyed` with default options, room for every key, and an idle TTL
 * longer than the measurement (so no key is evicted while it is measured).
 *
 * @since 0.1.0
 */
import { CircuitBreaker } from "@effect-resilience/core"
import { Effect } from "effect"
import type { KeyedBreakerAdapter } from "../scenarios/memory.js"

/**
 * @since 0.1.0
 * @category adapters
 */
export const adapter: KeyedBreakerAdapter = {
  label: "ours `CircuitBreaker.keyed` (defaults, idleTtl 1 hour)",
  make: (maxKeys) =>
    Effect.map(
      CircuitBreaker.keyed({ name: "bench-keyed", maxKeys, idleTtl: "1 hour" }),
      (keyed) => (key, op) => keyed.execute(key, op)
    )
}
