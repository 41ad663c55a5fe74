/**
 * Our side of scenario 2: `Retry.retry` with its default schedule (exponential from 100 ms, full jitter) and
 * 4 attempts in all, as the peers are configured.
 *
 * @since 0.1.0
 */
import { Retry } from "@effect-resilience/core"
import { Effect } from "effect"
import type { WrapAdapter } from "../common.js"

/**
 * @since 0.1.0
 * @category adapters
 */
export const adapter: WrapAdapter = {
  label: "ours `Retry.retry(op, { maxAttempts: 4 })`",
  make: Effect.succeed((op) => Retry.retry(op, { maxAttempts: 4 }))
}
