/**
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as PgPool from "./PgPool.js"

/**
 * @since 0.1.0
 */
export * as ResourcePool from "./ResourcePool.js"
