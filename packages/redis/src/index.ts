/**
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as RedisCircuitBreakerStore from "./RedisCircuitBreakerStore.js"

/**
 * @since 0.1.0
 */
export * as RedisRateLimiter from "./RedisRateLimiter.js"
