import * as ResilienceMetrics from "@effect-resilience/core/ResilienceMetrics"
import * as Metrics from "@effect/opentelemetry/Metrics"
import * as Resource from "@effect/opentelemetry/Resource"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Api from "../Prometheus.js"

/** @internal */
export const tag = Context.GenericTag<Api.Prometheus, Api.PrometheusService>("@effect-resilience/platform/Prometheus")

/** @internal */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"

/** @internal */
export const make = (options: Api.Prometheus.Options = {}) =>
  Effect.gen(function*() {
    const withoutScopeInfo = options.withoutScopeInfo ?? true
    const withoutTargetInfo = options.withoutTargetInfo ?? false
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
export const layer = (options?: Api.Prometheus.Options): Layer.Layer<Api.Prometheus> => Layer.scoped(tag, make(options))

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
