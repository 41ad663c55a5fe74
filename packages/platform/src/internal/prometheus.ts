import type { InvalidOptionsError } from "@effect-resilience/core/InvalidOptionsError"
import { validated } from "@effect-resilience/core/OptionsValidator"
import * as ResilienceMetrics from "@effect-resilience/core/ResilienceMetrics"
import * as Metrics from "@effect/opentelemetry/Metrics"
import * as Resource from "@effect/opentelemetry/Resource"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Api from "../Prometheus.js"
import { optionalBoolean, optionalString, optionsObject } from "./options.js"

/** @internal */
export const tag = Context.GenericTag<Api.Prometheus, Api.PrometheusService>("@effect-resilience/platform/Prometheus")

/** @internal */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"

/** @internal */
export const make = (
  options: Api.Prometheus.Options = {}
): Effect.Effect<Api.PrometheusService, InvalidOptionsError, Scope.Scope> =>
  Effect.gen(function*() {
    const { withoutScopeInfo, withoutTargetInfo } = yield* validated("Prometheus.make", (v) => {
      optionsObject(v, options)
      optionalString(v, "serviceName", options.serviceName)
      optionalString(v, "serviceVersion", options.serviceVersion)
      if (options.prefix !== undefined && !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(String(options.prefix))) {
        v.fail("prefix", options.prefix, "a Prometheus metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)")
      }
      return {
        withoutScopeInfo: optionalBoolean(v, "withoutScopeInfo", options.withoutScopeInfo, true),
        withoutTargetInfo: optionalBoolean(v, "withoutTargetInfo", options.withoutTargetInfo, false)
      }
    })
    const exporter = new PrometheusExporter({
      preventServerStart: true,
      withoutScopeInfo,
      withoutTargetInfo,
      ...(options.prefix === undefined ? {} : { prefix: options.prefix })
    })
    const serializer = new PrometheusSerializer(options.prefix, false, undefined, withoutTargetInfo, withoutScopeInfo)
    const producer = yield* Metrics.makeProducer.pipe(
      Effect.provide(Resource.layer({
        serviceName: options.serviceName ?? "effect-resilience",
        ...(options.serviceVersion === undefined ? {} : { serviceVersion: options.serviceVersion })
      }))
    )
    // binds the exporter to Effect's metric registry (what `Metrics.registerProducer` does; done here because
    // the exporter is built on its own copy of sdk-metrics, a nominally different `MetricReader` type), and
    // shuts it down with the scope
    yield* Effect.acquireRelease(
      Effect.sync(() => exporter.setMetricProducer(producer)),
      () => Effect.ignore(Effect.tryPromise(() => exporter.shutdown()))
    )
    const scrape: Effect.Effect<string> = Effect.zipRight(
      ResilienceMetrics.flush,
      Effect.map(
        Effect.promise(() => exporter.collect()),
        ({ resourceMetrics }) => {
          const text = serializer.serialize(resourceMetrics)
          return text.endsWith("\n") ? text : `${text}\n`
        }
      )
    )
    return { scrape } satisfies Api.PrometheusService
  })

/** @internal */
export const layer = (options?: Api.Prometheus.Options): Layer.Layer<Api.Prometheus, InvalidOptionsError> =>
  Layer.scoped(tag, make(options))

/** @internal */
export const scrape: Effect.Effect<string, never, Api.Prometheus> = Effect.flatMap(tag, (p) => p.scrape)

/** @internal */
export const router: HttpRouter.HttpRouter<never, Api.Prometheus> = HttpRouter.empty.pipe(
  HttpRouter.get(
    "/metrics",
    Effect.map(
      scrape,
      (text) => HttpServerResponse.text(text, { contentType, headers: { "cache-control": "no-store" } })
    )
  )
)
