import type { InvalidOptionsError } from "@effect-resilience/core/InvalidOptionsError"
import { validated } from "@effect-resilience/core/OptionsValidator"
import * as ResilienceMetrics from "@effect-resilience/core/ResilienceMetrics"
import * as Otlp from "@effect/opentelemetry/Otlp"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as List from "effect/List"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Tracer from "effect/Tracer"
import type * as Api from "../Tracing.js"
import { optionalBoolean, optionalObject, optionalString, optionsObject } from "./options.js"

const reserved = new Set(["timestamp", "level", "fiber", "message", "traceId", "spanId", "spans", "cause"])

const plain = (value: unknown): unknown => value instanceof Error ? `${value.name}: ${value.message}` : value

const messageOf = (message: unknown): unknown =>
  Array.isArray(message) ? (message.length === 1 ? plain(message[0]) : message.map(plain)) : plain(message)

const safeJson = (entry: Record<string, unknown>): string => {
  try {
    return JSON.stringify(entry, (_key, value) => typeof value === "bigint" ? value.toString() : value)
  } catch {
    return JSON.stringify({ ...entry, message: String(entry.message), annotations: "unserializable" })
  }
}

/** @internal */
export const jsonLogger: Logger.Logger<unknown, string> = Logger.make(
  ({ annotations, cause, context, date, fiberId, logLevel, message, spans }) => {
    const entry: Record<string, unknown> = {
      timestamp: date.toISOString(),
      level: logLevel.label,
      fiber: FiberId.threadName(fiberId),
      message: messageOf(message)
    }
    const span = Context.getOption(FiberRefs.getOrDefault(context, FiberRef.currentContext), Tracer.ParentSpan)
    if (Option.isSome(span)) {
      entry.traceId = span.value.traceId
      entry.spanId = span.value.spanId
    }
    if (List.isCons(spans)) {
      const now = date.getTime()
      const out: Record<string, number> = {}
      for (const logSpan of spans) out[logSpan.label] = now - logSpan.startTime
      entry.spans = out
    }
    for (const [key, value] of HashMap.toEntries(annotations)) {
      if (!reserved.has(key)) entry[key] = value
    }
    if (!Cause.isEmpty(cause)) entry.cause = Cause.pretty(cause, { renderErrorCause: true })
    return safeJson(entry)
  }
)

/** @internal */
export const layerJsonLogger: Layer.Layer<never> = Logger.replace(
  Logger.defaultLogger,
  Logger.withConsoleLog(jsonLogger)
)

const otlpLayer = (options: Api.Tracing.OtlpOptions, exportInterval: Duration.Duration): Layer.Layer<never> =>
  Layer.merge(
    Otlp.layerJson({
      baseUrl: options.baseUrl,
      resource: {
        serviceName: options.serviceName ?? "effect-resilience",
        serviceVersion: options.serviceVersion
      },
      headers: options.headers,
      tracerExportInterval: exportInterval,
      loggerExportInterval: exportInterval,
      metricsExportInterval: exportInterval
    }),
    // OTLP metrics read Effect's metrics on their own: push the policies' local success counts first
    Layer.scopedDiscard(Effect.forkScoped(Effect.repeat(ResilienceMetrics.flush, Schedule.spaced(exportInterval))))
  ).pipe(Layer.provide(FetchHttpClient.layer))

const validate = (options: Api.Tracing.Options) =>
  validated("Tracing.layer", (v) => {
    optionsObject(v, options)
    const jsonLogs = optionalBoolean(v, "jsonLogs", options.jsonLogs, true)
    const otlp = optionalObject(v, "otlp", options.otlp)
    if (otlp === undefined) return { jsonLogs, otlp: undefined }
    if (typeof otlp.baseUrl !== "string" || !URL.canParse(otlp.baseUrl)) {
      v.fail("otlp.baseUrl", otlp.baseUrl, "an absolute URL (e.g. \"http://127.0.0.1:4318\")")
    }
    optionalString(v, "otlp.serviceName", otlp.serviceName)
    optionalString(v, "otlp.serviceVersion", otlp.serviceVersion)
    for (const [key, value] of Object.entries(optionalObject(v, "otlp.headers", otlp.headers) ?? {})) {
      if (typeof value !== "string") v.fail(`otlp.headers.${key}`, value, "a string")
    }
    const exportInterval = otlp.exportInterval === undefined
      ? Duration.seconds(5)
      : v.duration("otlp.exportInterval", otlp.exportInterval, { positive: true, finite: true })
    return { jsonLogs, otlp: { options: otlp, exportInterval } }
  })

const build = ({ jsonLogs, otlp }: Effect.Effect.Success<ReturnType<typeof validate>>): Layer.Layer<never> => {
  const logs = jsonLogs ? layerJsonLogger : Layer.empty
  return otlp === undefined ? logs : Layer.merge(logs, otlpLayer(otlp.options, otlp.exportInterval))
}

/** @internal */
export const layer = (options: Api.Tracing.Options = {}): Layer.Layer<never, InvalidOptionsError> =>
  Layer.unwrapEffect(Effect.map(validate(options), build))

/** The environment variable behind each option `config` reads. */
const configKeys: Readonly<Record<string, string>> = {
  "otlp.baseUrl": "OTEL_EXPORTER_OTLP_ENDPOINT",
  "otlp.serviceName": "OTEL_SERVICE_NAME",
  "otlp.serviceVersion": "OTEL_SERVICE_VERSION"
}

/** @internal */
export const config: Config.Config<Api.Tracing.Options> = Config.all({
  endpoint: Config.option(Config.string("OTEL_EXPORTER_OTLP_ENDPOINT")),
  serviceName: Config.withDefault(Config.string("OTEL_SERVICE_NAME"), "effect-resilience"),
  serviceVersion: Config.option(Config.string("OTEL_SERVICE_VERSION")),
  format: Config.withDefault(Config.literal("json", "pretty")("LOG_FORMAT"), "json")
}).pipe(Config.map(({ endpoint, format, serviceName, serviceVersion }) => ({
  jsonLogs: format === "json",
  otlp: Option.match(endpoint, {
    onNone: () => undefined,
    onSome: (baseUrl) => ({ baseUrl, serviceName, serviceVersion: Option.getOrUndefined(serviceVersion) })
  })
})))

/** @internal */
export const layerConfig: Layer.Layer<never, ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.flatMap(config, (options) =>
    validate(options).pipe(
      Effect.mapError((error) => ConfigError.InvalidData([configKeys[error.field] ?? error.field], error.message)),
      Effect.map(build)
    ))
)
