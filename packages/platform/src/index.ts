/**
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as Health from "./Health.js"

/**
 * @since 0.1.0
 */
export * as Prometheus from "./Prometheus.js"

/**
 * @since 0.1.0
 */
export * as GracefulShutdown from "./GracefulShutdown.js"

/**
 * @since 0.1.0
 */
export * as Tracing from "./Tracing.js"

/**
 * @since 0.1.0
 */
export * as ResilientHttpClient from "./ResilientHttpClient.js"

/**
 * @since 0.1.0
 */
export * as LoadShedding from "./LoadShedding.js"
