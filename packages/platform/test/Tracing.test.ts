import { Tracing } from "@effect-resilience/platform"
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Logger } from "effect"
import { createServer } from "node:http"

const capture = (lines: Array<string>) =>
  Logger.replace(Logger.defaultLogger, Logger.map(Tracing.jsonLogger, (line) => void lines.push(line)))

const parseLines = (lines: ReadonlyArray<string>) => lines.map((line) => JSON.parse(line) as Record<string, unknown>)

describe("Tracing.jsonLogger", () => {
  it.effect("one JSON object per line, with the trace and span ids of the current span", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      yield* Effect.logInfo("outside")
      const ids = yield* Effect.gen(function*() {
        yield* Effect.logWarning("inside", 42)
        yield* Effect.gen(function*() {
          yield* Effect.logInfo("nested").pipe(Effect.annotateLogs({ orderId: "o-1", level: "spoofed" }))
          return yield* Effect.currentSpan
        }).pipe(Effect.withSpan("charge"))
        const span = yield* Effect.currentSpan
        return span
      }).pipe(Effect.withSpan("checkout"))
      yield* Effect.logError("failed", new Error("boom")).pipe(Effect.withLogSpan("db"))
      yield* Effect.fail("card declined").pipe(Effect.catchAllCause((cause) => Effect.logError("charge failed", cause)))

      assert.isTrue(lines.every((line) => !line.includes("\n")))
      const [outside, inside, nested, failed, withCause] = parseLines(lines)
      assert.strictEqual(lines.length, 5)
      assert.deepInclude(outside, { level: "INFO", message: "outside" })
      assert.isUndefined(outside!.traceId)
      assert.deepInclude(inside, { level: "WARN", message: ["inside", 42], traceId: ids.traceId, spanId: ids.spanId })
      assert.strictEqual(nested!.traceId, ids.traceId)
      assert.notStrictEqual(nested!.spanId, ids.spanId)
      assert.deepInclude(nested, { orderId: "o-1", level: "INFO" })
      assert.deepInclude(failed, { level: "ERROR", message: ["failed", "Error: boom"] })
      assert.isNumber((failed!.spans as Record<string, number>).db)
      assert.match(String(failed!.timestamp), /^\d{4}-\d\d-\d\dT/)
      assert.match(String(failed!.fiber), /^#\d+$/)
      assert.deepInclude(withCause, { message: "charge failed" })
      assert.include(String(withCause!.cause), "card declined")
    }).pipe(Effect.provide(capture(lines)))
  })

  it.effect("renders a lone Error message as name and message", () => {
    const lines: Array<string> = []
    return Effect.logError(new TypeError("bad input")).pipe(
      Effect.provide(capture(lines)),
      Effect.map(() => assert.deepInclude(parseLines(lines)[0], { message: "TypeError: bad input" }))
    )
  })
})

describe("Tracing.layer", () => {
  it.scopedLive("exports spans over OTLP/HTTP to a loopback collector, with the ids the logs carry", () =>
    Effect.gen(function*() {
      const received: Array<{ readonly path: string; readonly body: string }> = []
      const collector = HttpRouter.empty.pipe(
        HttpRouter.post(
          "/v1/:signal",
          Effect.gen(function*() {
            const request = yield* HttpServerRequest.HttpServerRequest
            received.push({ path: request.url, body: yield* request.text })
            return HttpServerResponse.empty({ status: 200 })
          })
        )
      )
      yield* HttpServer.serveEffect(collector)
      const address = yield* HttpServer.addressWith((a) => Effect.succeed(a))
      const port = address._tag === "TcpAddress" ? address.port : 0

      const lines: Array<string> = []
      const span = yield* Effect.gen(function*() {
        yield* Effect.logInfo("charging")
        return yield* Effect.currentSpan
      }).pipe(
        Effect.withSpan("charge-card"),
        Effect.provide(Layer.merge(
          Tracing.layer({
            otlp: { baseUrl: `http://127.0.0.1:${port}`, serviceName: "tracing-test", exportInterval: "1 hour" },
            jsonLogs: false
          }),
          capture(lines)
        ))
      )
      // the layer has closed: what was buffered has been sent
      const traces = received.filter((r) => r.path === "/v1/traces")
      assert.strictEqual(traces.length, 1)
      const body = JSON.parse(traces[0]!.body)
      const exported = body.resourceSpans[0].scopeSpans[0].spans[0]
      assert.strictEqual(exported.name, "charge-card")
      assert.strictEqual(exported.traceId, span.traceId)
      assert.strictEqual(exported.spanId, span.spanId)
      assert.include(JSON.stringify(body.resourceSpans[0].resource), "tracing-test")
      assert.deepInclude(parseLines(lines)[0], { message: "charging", traceId: span.traceId, spanId: span.spanId })
    }).pipe(Effect.provide(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))))

  it.effect("layerConfig: no endpoint, no export; LOG_FORMAT=pretty keeps the default logger", () =>
    Effect.gen(function*() {
      const read = (map: Record<string, string>) =>
        Effect.withConfigProvider(Tracing.config, ConfigProvider.fromMap(new Map(Object.entries(map))))
      assert.deepStrictEqual(yield* read({}), { jsonLogs: true, otlp: undefined })
      assert.deepStrictEqual(
        yield* read({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318", OTEL_SERVICE_NAME: "payments" }),
        {
          jsonLogs: true,
          otlp: { baseUrl: "http://127.0.0.1:4318", serviceName: "payments", serviceVersion: undefined }
        }
      )
      assert.isFalse((yield* read({ LOG_FORMAT: "pretty" })).jsonLogs)
      const bad = yield* read({ LOG_FORMAT: "xml" }).pipe(Effect.flip)
      assert.include(String(bad), "LOG_FORMAT")
    }))

  it.effect("bad options fail with InvalidOptionsError naming the field; bad config with a ConfigError naming the key", () =>
    Effect.gen(function*() {
      const bad: ReadonlyArray<readonly [unknown, string]> = [
        [{ otlp: { baseUrl: "not a url" } }, "otlp.baseUrl"],
        [{ otlp: { baseUrl: "http://127.0.0.1:4318", exportInterval: -1 } }, "otlp.exportInterval"],
        [{ otlp: { baseUrl: "http://127.0.0.1:4318", headers: { a: 1 } } }, "otlp.headers.a"],
        [{ otlp: 5 }, "otlp"],
        [{ jsonLogs: "yes" }, "jsonLogs"],
        [7, "options"]
      ]
      for (const [options, field] of bad) {
        const error = yield* Layer.build(Tracing.layer(options as Tracing.Tracing.Options)).pipe(
          Effect.scoped,
          Effect.flip
        )
        assert.deepInclude(error, { _tag: "InvalidOptionsError", constructorName: "Tracing.layer", field })
      }
      const configError = yield* Layer.build(Tracing.layerConfig).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["OTEL_EXPORTER_OTLP_ENDPOINT", "nope"]]))),
        Effect.scoped,
        Effect.flip
      )
      assert.include(String(configError), "OTEL_EXPORTER_OTLP_ENDPOINT")
    }))
})
