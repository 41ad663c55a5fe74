/**
 * @since 0.1.0
 */
export * as Fuzz from "./Fuzz.js"
/**
 * @since 0.1.0
 */
export * as Services from "./Services.js"
/**
 * @since 0.1.0
 */
export * as Stress from "./Stress.js"
