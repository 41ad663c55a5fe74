/**
 * Resilience policies for Effect.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as AdaptiveLimit from "./AdaptiveLimit.js"

/**
 * @since 0.1.0
 */
export * as AdaptiveThrottle from "./AdaptiveThrottle.js"

/**
 * @since 0.1.0
 */
export * as Backoff from "./Backoff.js"

/**
 * @since 0.1.0
 */
export * as Bulkhead from "./Bulkhead.js"

/**
 * @since 0.1.0
 */
export * as Chaos from "./Chaos.js"

/**
 * @since 0.1.0
 */
export * as CircuitBreaker from "./CircuitBreaker.js"

/**
 * @since 0.1.0
 */
export * as CircuitBreakerStore from "./CircuitBreakerStore.js"

/**
 * @since 0.1.0
 */
export * as Deadline from "./Deadline.js"

/**
 * @since 0.1.0
 */
export * as Hedge from "./Hedge.js"

/**
 * @since 0.1.0
 */
export * as InvalidOptionsError from "./InvalidOptionsError.js"

/**
 * @since 0.1.0
 */
export * as OptionsValidator from "./OptionsValidator.js"

/**
 * @since 0.1.0
 */
export * as RateLimiter from "./RateLimiter.js"

/**
 * @since 0.1.0
 */
export * as ResilienceMetrics from "./ResilienceMetrics.js"

/**
 * @since 0.1.0
 */
export * as ResilienceRegistry from "./ResilienceRegistry.js"

/**
 * @since 0.1.0
 */
export * as ResilientClient from "./ResilientClient.js"

/**
 * @since 0.1.0
 */
export * as RetryAfter from "./RetryAfter.js"

/**
 * @since 0.1.0
 */
export * as Retry from "./Retry.js"

/**
 * @since 0.1.0
 */
export * as RetryBudget from "./RetryBudget.js"

/**
 * @since 0.1.0
 */
export * as Timeout from "./Timeout.js"
