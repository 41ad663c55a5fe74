/**
 * Health checks for a service: a background fiber runs every check on an interval, each under its own timeout,
 * and caches the result, so liveness and readiness probes answer at once and never wait on a dependency.
 *
 * Status: `healthy` when every critical check passes, `degraded` when only optional checks fail, `unhealthy`
 * otherwise. Circuit breakers and pools in the `ResilienceRegistry` appear as optional checks (critical when named
 * in `critical`), and an event-loop delay check catches blocking work on the executor.
 *
 * @since 0.1.0
 */
import type { InvalidOptionsError } from "@effect-resilience/core/InvalidOptionsError"
import type * as HttpRouter from "@effect/platform/HttpRouter"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/health.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const CheckTypeId: unique symbol = internal.CheckTypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type CheckTypeId = typeof CheckTypeId

/**
 * One health check: an effect of `boolean | void` that passes when it succeeds with `void` or `true`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Check<R = never> {
  readonly [CheckTypeId]: CheckTypeId
  readonly name: string
  readonly check: Effect.Effect<boolean | void, unknown, R>
  readonly critical: boolean
  readonly timeout: Duration.Duration
}

/**
 * The overall status: `healthy` when every critical check passes, `degraded` when only optional checks fail,
 * `unhealthy` when a critical check fails.
 *
 * @since 0.1.0
 * @category models
 */
export type Status = "healthy" | "degraded" | "unhealthy"

/**
 * The last result of one check.
 *
 * @since 0.1.0
 * @category models
 */
export interface CheckResult {
  /** Whether the check passed on its last run (`false` until it has run once). */
  readonly ok: boolean
  /** Whether a failure makes the service `unhealthy` (otherwise `degraded`). */
  readonly critical: boolean
  /** How long the last run took, by the `Clock`. */
  readonly latencyMillis: number
  /** When the last run started, in `Clock` milliseconds. */
  readonly checkedAt: number
  /** Why the last run failed: short, one line, with credentials redacted. */
  readonly error?: string
}

/**
 * The cached health of the service.
 *
 * @since 0.1.0
 * @category models
 */
export interface HealthReport {
  readonly status: Status
  /** `true` once shutdown has begun: readiness answers 503 whatever the checks say. */
  readonly draining: boolean
  readonly checks: Readonly<Record<string, CheckResult>>
}

/**
 * The health service.
 *
 * @since 0.1.0
 * @category models
 */
export interface HealthService {
  /** The cached report; never waits on a check. */
  readonly status: Effect.Effect<HealthReport>
  /** Turns readiness off for good: called by `GracefulShutdown` when the drain begins. */
  readonly markDraining: Effect.Effect<void>
  /** Runs every check now, updates the cache and returns the new report. */
  readonly refresh: Effect.Effect<HealthReport>
}

/**
 * The health service's tag.
 *
 * @since 0.1.0
 * @category tags
 */
export const Health: Context.Tag<Health, HealthService> = internal.tag

/**
 * The identifier of the health service in a context.
 *
 * @since 0.1.0
 * @category tags
 */
export interface Health {
  readonly _: unique symbol
}

/**
 * @since 0.1.0
 */
export declare namespace Health {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface CheckOptions<R> {
    /** The name in the report and in `health_check_status{name}`. */
    readonly name: string
    /** Passes when it succeeds with `void` or `true`; fails when it fails, dies, returns `false` or times out. */
    readonly check: Effect.Effect<boolean | void, unknown, R>
    /** Whether a failure makes the service `unhealthy` (default `true`); otherwise it is `degraded`. */
    readonly critical?: boolean | undefined
    /** How long one run may take before it counts as a failure (default 2 seconds). */
    readonly timeout?: Duration.DurationInput | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface Options<R> {
    /** The checks to run. */
    readonly checks?: ReadonlyArray<Check<R>> | undefined
    /** Time between two rounds of checks (default 10 seconds). */
    readonly interval?: Duration.DurationInput | undefined
    /** Names of registry entries (breakers, pools) whose failure makes the service `unhealthy`. */
    readonly critical?: ReadonlyArray<string> | undefined
    /** Timeout for reading a registry entry's status (default 2 seconds). */
    readonly registryTimeout?: Duration.DurationInput | undefined
    /**
     * The event-loop delay check (`event_loop`, optional by default): fails when the p99 delay since the last
     * round exceeds `maxDelay` (default 500 ms), and feeds `nodejs_eventloop_delay_seconds`. `false` turns it off.
     */
    readonly eventLoop?:
      | false
      | {
        readonly maxDelay?: Duration.DurationInput | undefined
        readonly critical?: boolean | undefined
        /** Sampling resolution of `perf_hooks.monitorEventLoopDelay` in milliseconds (default 20). */
        readonly resolutionMillis?: number | undefined
      }
      | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface RouterOptions {
    /** Whether `/health/ready` lists every check with its result (default `true`); turn off for public exposure. */
    readonly details?: boolean | undefined
  }
}

/**
 * Defines a check. Throws `InvalidOptionsError` naming the field for an empty name, a `check` that is not an
 * `Effect`, a non-boolean `critical` or a non-positive timeout.
 *
 * @example
 * ```ts
 * import { Health } from "@effect-resilience/platform"
 * import { Effect } from "effect"
 *
 * const database = Health.check({ name: "database", check: Effect.succeed(true), timeout: "1 second" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const check: <R = never>(options: Health.CheckOptions<R>) => Check<R> = internal.check

/**
 * Whether a value is a `Check`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isCheck: (u: unknown) => u is Check<unknown> = internal.isCheck

/**
 * Makes the health service and starts its background fiber in the current scope. The first round starts at
 * once; until a check has run it reads as failed with the error `"pending"`. A check still running when its
 * timeout passes is reported failed and is not started again until that run ends. Fails with
 * `InvalidOptionsError` naming the field and value for bad options (`checks` that is not an array of
 * `Health.check(...)`, duplicate names, a non-positive `interval`, ...).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: <R = never>(
  options?: Health.Options<R>
) => Effect.Effect<HealthService, InvalidOptionsError, Scope.Scope | R> = internal.make

/**
 * Provides the health service.
 *
 * @example
 * ```ts
 * import { Health } from "@effect-resilience/platform"
 * import { Effect } from "effect"
 *
 * const HealthLive = Health.layer({
 *   checks: [Health.check({ name: "database", check: Effect.void })],
 *   interval: "10 seconds",
 *   critical: ["payments-db"]
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: <R = never>(options?: Health.Options<R>) => Layer.Layer<Health, InvalidOptionsError, R> =
  internal.layer

/**
 * The cached report of the provided health service.
 *
 * @since 0.1.0
 * @category accessors
 */
export const status: Effect.Effect<HealthReport, never, Health> = internal.status

/**
 * `GET /health/live` (200 while the process can serve) and `GET /health/ready` (200 when healthy or degraded,
 * 503 when unhealthy or draining), JSON bodies from the cache. Throws `InvalidOptionsError` for a non-boolean
 * `details`.
 *
 * @since 0.1.0
 * @category routers
 */
export const makeRouter: (options?: Health.RouterOptions) => HttpRouter.HttpRouter<never, Health> = internal.makeRouter

/**
 * The health routes with per-check details: `makeRouter({ details: true })`.
 *
 * @example
 * ```ts
 * import { HttpRouter } from "@effect/platform"
 * import { Health } from "@effect-resilience/platform"
 *
 * const app = HttpRouter.empty.pipe(HttpRouter.concat(Health.router))
 * ```
 *
 * @since 0.1.0
 * @category routers
 */
export const router: HttpRouter.HttpRouter<never, Health> = internal.router
