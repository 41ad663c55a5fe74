/**
 * Circuit breaker state shared across the replicas of a service through Redis: a `CircuitBreakerStore` layer.
 *
 * Every breaker keeps deciding locally and synchronously: a healthy successful call touches only local counters
 * and never Redis. One fiber per store flushes every breaker's (and every key's) batched outcomes in one EVALSHA
 * per `flushInterval`; the script applies `CircuitBreakerStore.decide` atomically to the merged shared window and
 * publishes each decision on one channel per prefix, which every replica applies in version order. Half-open
 * probes are granted fleet-wide through leases that expire (`leaseTtl`). Times cross Redis on Redis's clock (each
 * replica measures its offset with Redis `TIME` on every flush), so replicas whose clocks disagree still open and
 * probe at the same instants. When Redis is down or slow, breakers go on with local state, errors are counted in
 * `resilience_store_errors_total{store="redis"}`, and they re-sync when Redis is back.
 *
 * @since 0.1.0
 */
import type * as CircuitBreakerStore from "@effect-resilience/core/CircuitBreakerStore"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import type * as Layer from "effect/Layer"
import type { Redis } from "ioredis"
import * as internal from "./internal/layer.js"
import { RedisStoreError } from "./internal/layer.js"

export {
  /**
   * The layer could not reach Redis: a URL it cannot parse, no answer, or a refused password. The URL in it has its
   * password replaced by `***`, and no field holds the password.
   *
   * @since 0.1.0
   * @category errors
   */
  RedisStoreError
}

/**
 * @since 0.1.0
 */
export declare namespace RedisCircuitBreakerStore {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Options {
    /** An ioredis client to use (not closed by the layer); or give `url`. */
    readonly client?: Redis | undefined
    /** `redis://[user:password@]host[:port][/db]`: the layer opens (and closes) its own connections. */
    readonly url?: string | undefined
    /** The prefix of every key and of the pub/sub channel: one per service (or per test). */
    readonly keyPrefix: string
    /** How long outcomes are batched before one flush sends them all; default 100 millis. */
    readonly flushInterval?: Duration.DurationInput | undefined
    /** A shared record nobody reports to for this long expires; default 1 hour. */
    readonly idleTtl?: Duration.DurationInput | undefined
    /** How long a half-open probe lease lasts; a probe that outlives it is disregarded; default 10 seconds. */
    readonly leaseTtl?: Duration.DurationInput | undefined
  }
}

/**
 * The Redis store as the `CircuitBreakerStore` service: breakers (and keyed breakers) made under it share their
 * state with every replica using the same `keyPrefix`. Fails with `RedisStoreError` when Redis cannot be reached
 * or refuses the password (from `url`), and with `InvalidOptionsError` for bad options.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/core"
 * import { RedisCircuitBreakerStore } from "@effect-resilience/redis"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const breaker = yield* CircuitBreaker.make({ name: "payments", strategy: CircuitBreaker.consecutive(5) })
 *   return yield* breaker.execute(Effect.succeed("paid"))
 * }).pipe(
 *   Effect.scoped,
 *   Effect.provide(RedisCircuitBreakerStore.layer({ url: "redis://127.0.0.1:6379", keyPrefix: "payments-svc" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (
  options: RedisCircuitBreakerStore.Options
) => Layer.Layer<CircuitBreakerStore.CircuitBreakerStore, internal.LayerError> = internal.layer

/**
 * `layer` with options read from `Config` (for example `Config.redacted` for a URL with a password: unwrap it
 * into `url`).
 *
 * @example
 * ```ts
 * import { OptionsValidator } from "@effect-resilience/core"
 * import { RedisCircuitBreakerStore } from "@effect-resilience/redis"
 * import { Config, Duration } from "effect"
 *
 * const StoreLive = RedisCircuitBreakerStore.layerConfig({
 *   url: Config.string("REDIS_URL"),
 *   keyPrefix: Config.string("REDIS_PREFIX").pipe(Config.withDefault("payments-svc")),
 *   // Refuses "-5 seconds" naming the variable (Config.duration reads it as 0 ms).
 *   flushInterval: OptionsValidator.configDuration("BREAKER_FLUSH_INTERVAL", { positive: true }).pipe(
 *     Config.withDefault(Duration.millis(100))
 *   )
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: (
  options: Config.Config.Wrap<internal.ConfigOptions>
) => Layer.Layer<CircuitBreakerStore.CircuitBreakerStore, internal.LayerError | ConfigError.ConfigError> =
  internal.layerConfig
