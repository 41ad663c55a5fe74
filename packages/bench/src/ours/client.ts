/**
 * Our side of scenario 3: a `ResilientClient` with `ResilientClient.defaults` (bulkhead 10 with a queue of 100,
 * 2 s timeout per attempt, 4 attempts from 100 ms with full jitter, breaker `consecutive(5)` open 30 s).
 *
 * @since 0.1.0
 */
import { ResilientClient } from "@effect-resilience/core"
import { Effect } from "effect"
import type { WrapAdapter } from "../common.js"

/**
 * @since 0.1.0
 * @category adapters
 */
export const adapter: WrapAdapter = {
  label: "ours `client.execute(op)` (ResilientClient.defaults)",
  make: Effect.map(
    ResilientClient.make({ name: "bench-client", ...ResilientClient.defaults }),
    (client) => (op) => client.execute(op)
  )
}
