/**
 * `GET /metrics` in the Prometheus text exposition format, from Effect's metrics: `@effect/opentelemetry`'s
 * metric producer reads `Metric.snapshot`, the OpenTelemetry `PrometheusExporter` (its own server never started)
 * collects it and its `PrometheusSerializer` writes the text. Counters created with `incremental: true` (every
 * `*_total` of `ResilienceMetrics`) export as Prometheus counters; other counters would export as gauges.
 *
 * Every scrape first runs `ResilienceMetrics.flush`, which pushes the success counts policies keep locally.
 *
 * @since 0.1.0
 */
import type { InvalidOptionsError } from "@effect-resilience/core/InvalidOptionsError"
import type * as HttpRouter from "@effect/platform/HttpRouter"
import type * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/prometheus.js"

/**
 * The Prometheus service: renders every Effect metric.
 *
 * @since 0.1.0
 * @category models
 */
export interface PrometheusService {
  /** Flushes the policies' local counts, then renders every metric in the text format (version 0.0.4). */
  readonly scrape: Effect.Effect<string>
}

/**
 * The identifier of the Prometheus service in a context.
 *
 * @since 0.1.0
 * @category tags
 */
export interface Prometheus {
  readonly _: unique symbol
}

/**
 * The Prometheus service's tag.
 *
 * @since 0.1.0
 * @category tags
 */
export const Prometheus: Context.Tag<Prometheus, PrometheusService> = internal.tag

/**
 * @since 0.1.0
 */
export declare namespace Prometheus {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Options {
    /** `service.name` of the OpenTelemetry resource, shown in `target_info` (default `"effect-resilience"`). */
    readonly serviceName?: string | undefined
    /** `service.version` of the resource. */
    readonly serviceVersion?: string | undefined
    /** A prefix for every metric name, e.g. `"payments"` gives `payments_resilience_calls_total`. */
    readonly prefix?: string | undefined
    /** Leave out the `target_info` series (default `false`). */
    readonly withoutTargetInfo?: boolean | undefined
    /** Leave out the `otel_scope_name` label on every series (default `true`: it is always the same). */
    readonly withoutScopeInfo?: boolean | undefined
  }
}

/**
 * The `Content-Type` of the text exposition format.
 *
 * @since 0.1.0
 * @category constants
 */
export const contentType: string = internal.contentType

/**
 * Makes the service; the exporter is shut down when the scope closes. Fails with `InvalidOptionsError` naming the
 * field for a bad option (an empty `serviceName`, a `prefix` that is not a metric name, a non-boolean flag).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options?: Prometheus.Options
) => Effect.Effect<PrometheusService, InvalidOptionsError, Scope.Scope> = internal.make

/**
 * Provides the Prometheus service.
 *
 * @example
 * ```ts
 * import { HttpRouter } from "@effect/platform"
 * import { Prometheus } from "@effect-resilience/platform"
 *
 * const app = HttpRouter.empty.pipe(HttpRouter.concat(Prometheus.router))
 * const MetricsLive = Prometheus.layer({ serviceName: "payments" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options?: Prometheus.Options) => Layer.Layer<Prometheus, InvalidOptionsError> = internal.layer

/**
 * Renders every metric with the provided service.
 *
 * @since 0.1.0
 * @category accessors
 */
export const scrape: Effect.Effect<string, never, Prometheus> = internal.scrape

/**
 * `GET /metrics`: the scrape, as `text/plain; version=0.0.4`.
 *
 * @since 0.1.0
 * @category routers
 */
export const router: HttpRouter.HttpRouter<never, Prometheus> = internal.router
