/**
 * Our side of scenario 7: `Retry.retry` (default schedule, 4 attempts in all), with or without a shared
 * `RetryBudget` with default options (ratio 0.2, 10 per second, 10 s window).
 *
 * @since 0.1.0
 */
import { Retry, RetryBudget } from "@effect-resilience/core"
import { Effect } from "effect"
import type { StormAdapter } from "../scenarios/storm.js"

/**
 * @since 0.1.0
 * @category adapters
 */
export const adapter: StormAdapter = {
  label: "ours `Retry.retry(op, { maxAttempts: 4 })`",
  make: (withBudget) =>
    withBudget
      ? Effect.map(RetryBudget.make({ name: "bench-storm" }), (budget) => (op) =>
        Retry.retry(op, { maxAttempts: 4, budget }))
      : Effect.succeed((op) =>
        Retry.retry(op, { maxAttempts: 4 })
      )
}
