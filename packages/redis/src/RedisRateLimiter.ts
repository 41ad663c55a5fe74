/**
 * Rate limits shared across replicas: `@effect/experimental`'s Redis rate limiter store behind the core
 * `RateLimiter` (which uses the `@effect/experimental` `RateLimiter` service when one is provided). A limit of
 * 100 per second is then 100 per second for the whole fleet, not per replica.
 *
 * The connection fails fast instead of queueing while Redis is away (no offline queue, a short command
 * timeout); the core limiter then lets calls through and counts `resilience_store_errors_total{store="rate_limiter"}`,
 * so no call fails or waits because Redis did.
 *
 * @since 0.1.0
 */
import type { InvalidOptionsError } from "@effect-resilience/core/InvalidOptionsError"
import type * as Experimental from "@effect/experimental/RateLimiter"
import type * as Duration from "effect/Duration"
import type * as Layer from "effect/Layer"
import type { RedisStoreError } from "./internal/connection.js"
import * as internal from "./internal/rateLimiter.js"

/**
 * @since 0.1.0
 */
export declare namespace RedisRateLimiter {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Options {
    /** `redis://[user:password@]host[:port][/db]`. */
    readonly url: string
    /** The prefix of every limiter key; default `"ratelimiter:"`. */
    readonly keyPrefix?: string | undefined
    /** How long one Redis command may take before the limiter lets the call through; default 100 millis. */
    readonly commandTimeout?: Duration.DurationInput | undefined
  }
}

/**
 * Provides `@effect/experimental`'s `RateLimiter` over Redis: every core `RateLimiter` made under it counts in
 * Redis, shared by the replicas using the same prefix. Fails with `InvalidOptionsError` for a bad `keyPrefix` or
 * `commandTimeout` (positive, finite), and with `RedisStoreError` when Redis cannot be reached
 * or refuses the password.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@effect-resilience/core"
 * import { RedisRateLimiter } from "@effect-resilience/redis"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const limiter = yield* RateLimiter.make({ name: "gateway", limit: 100, interval: "1 second" })
 *   return yield* limiter.execute(Effect.succeed("sent"))
 * }).pipe(Effect.provide(RedisRateLimiter.layer({ url: "redis://127.0.0.1:6379", keyPrefix: "payments:rl:" })))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (
  options: RedisRateLimiter.Options
) => Layer.Layer<Experimental.RateLimiter, RedisStoreError | InvalidOptionsError> = internal.layer
