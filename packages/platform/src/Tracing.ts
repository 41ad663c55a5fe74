/**
 * Traces and structured logs. `Tracing.layer` installs a JSON logger (one line per log, with the trace and span
 * ids of the current span) and, when an endpoint is given, exports spans, logs and metrics over OTLP/HTTP with
 * `@effect/opentelemetry`'s `Otlp.layer` (JSON encoding). OTLP is off by default.
 *
 * @since 0.1.0
 */
import type { InvalidOptionsError } from "@effect-resilience/core/InvalidOptionsError"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import type * as Layer from "effect/Layer"
import type * as Logger from "effect/Logger"
import * as internal from "./internal/tracing.js"

/**
 * @since 0.1.0
 */
export declare namespace Tracing {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface OtlpOptions {
    /** The collector's base URL, e.g. `http://127.0.0.1:4318` (`/v1/traces` and the like are appended). */
    readonly baseUrl: string
    /** `service.name` of the exported resource (default `"effect-resilience"`). */
    readonly serviceName?: string | undefined
    /** `service.version` of the exported resource. */
    readonly serviceVersion?: string | undefined
    /** Extra headers, e.g. an authorization header for a hosted collector. */
    readonly headers?: Readonly<Record<string, string>> | undefined
    /** How often batches are sent (default 5 seconds); whatever is left is sent when the layer closes. */
    readonly exportInterval?: Duration.DurationInput | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface Options {
    /** Where to send spans over OTLP/HTTP; absent, nothing is exported. */
    readonly otlp?: OtlpOptions | undefined
    /** Replace the default logger with the JSON logger (default `true`). */
    readonly jsonLogs?: boolean | undefined
  }
}

/**
 * A logger that renders each entry as one JSON object: `timestamp`, `level`, `fiber`, `message`, `traceId` and
 * `spanId` of the current span (when there is one), log spans as `spans` (name to elapsed milliseconds), the
 * annotations as top-level fields (never overriding those above) and a failure `cause`.
 *
 * @since 0.1.0
 * @category loggers
 */
export const jsonLogger: Logger.Logger<unknown, string> = internal.jsonLogger

/**
 * Replaces the default logger with `jsonLogger`, written to the console (stdout).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerJsonLogger: Layer.Layer<never> = internal.layerJsonLogger

/**
 * JSON logs, and spans over OTLP/HTTP when `otlp` is given. Fails with `InvalidOptionsError` naming the field for a
 * bad option (`otlp.baseUrl` that is not an absolute URL, a non-positive `otlp.exportInterval`, a non-boolean
 * `jsonLogs`, ...).
 *
 * @example
 * ```ts
 * import { Tracing } from "@effect-resilience/platform"
 *
 * const TracingLive = Tracing.layer({ otlp: { baseUrl: "http://127.0.0.1:4318", serviceName: "payments" } })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options?: Tracing.Options) => Layer.Layer<never, InvalidOptionsError> = internal.layer

/**
 * `layer` from configuration: `OTEL_EXPORTER_OTLP_ENDPOINT` (absent: no export), `OTEL_SERVICE_NAME`,
 * `OTEL_SERVICE_VERSION` and `LOG_FORMAT` (`json`, the default, or `pretty` to keep Effect's logger). A bad value
 * (an endpoint that is not a URL) is a `ConfigError` naming the variable.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<never, ConfigError.ConfigError> = internal.layerConfig

/**
 * The configuration `layerConfig` reads.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Tracing.Options> = internal.config
