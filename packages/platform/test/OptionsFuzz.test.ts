/**
 * The option fuzzer over the platform package's constructors and `ResilientHttpClient.layerConfig` (issue 12): see
 * `@effect-resilience/testing` `Fuzz`.
 */
import {
  GracefulShutdown,
  Health,
  LoadShedding,
  Prometheus,
  ResilientHttpClient,
  Tracing
} from "@effect-resilience/platform"
import { Fuzz } from "@effect-resilience/testing"
import { HttpClient, HttpClientResponse, HttpServer } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as Http from "node:http"

const { boolean, duration, fn, int, name, object, optional, required } = Fuzz
const accept = (why: string): Fuzz.Expectation => ({ accept: why })

/** An `HttpClient` that answers 200 at once: the fuzzer needs no server. */
const stubClient = HttpClient.make((request) =>
  Effect.succeed(HttpClientResponse.fromWeb(request, new Response("ok", { status: 200 })))
)
const StubClient = Layer.succeed(HttpClient.HttpClient, stubClient)

const arrayOf = (what: string, perElement = true): Fuzz.Kind => [
  { label: "5", value: 5, expect: "reject" },
  { label: "\"x\"", value: "x", expect: "reject" },
  { label: "{}", value: {}, expect: "reject" },
  perElement
    ? { label: "[5]", value: [5], expect: "reject", field: `${what}[0]`, errorValue: 5 }
    : { label: "[5]", value: [5], expect: "reject" },
  { label: "[]", value: [], expect: accept(`no ${what}`) }
]

const targets: ReadonlyArray<Fuzz.Target> = [
  {
    constructorName: "Health.check",
    base: () => ({ name: "db", check: Effect.void }),
    fields: {
      "": object(),
      name: required(name),
      check: required(object([{ label: "a function", value: () => true, expect: "reject" }])),
      critical: optional(boolean),
      timeout: optional(duration({ zero: "reject", infinity: "reject" }))
    },
    build: (options: Health.Health.CheckOptions<never>) => Effect.sync(() => Health.check(options)),
    throwsAtBuild: true
  },
  {
    constructorName: "Health.layer",
    base: () => ({ checks: [], interval: "10 seconds" }),
    fields: {
      "": optional(object()),
      checks: optional(arrayOf("checks")),
      interval: optional(duration({ zero: "reject", infinity: "reject" })),
      critical: optional(arrayOf("critical")),
      registryTimeout: optional(duration({ zero: "reject", infinity: "reject" })),
      eventLoop: optional([
        { label: "false", value: false, expect: accept("off") },
        { label: "5", value: 5, expect: "reject" },
        { label: "\"x\"", value: "x", expect: "reject" }
      ]),
      "eventLoop.maxDelay": duration({ zero: "reject", infinity: "reject" }),
      "eventLoop.resolutionMillis": optional(int(1, undefined, "reject"))
    },
    build: (options: Health.Health.Options<never>) =>
      Effect.flatMap(Layer.build(Health.layer(options)), (context) => Context.get(context, Health.Health).status)
  },
  {
    constructorName: "GracefulShutdown.layer",
    base: () => ({ preStopDelay: "1 second", drainTimeout: "10 seconds" }),
    fields: {
      "": optional(object()),
      preStopDelay: optional(duration({ zero: accept("zero: stop at once"), infinity: "reject" })),
      drainTimeout: optional(duration({ zero: accept("zero: interrupt at once"), infinity: "reject" })),
      interruptGrace: optional(duration({ zero: accept("zero: no grace"), infinity: "reject" }))
    },
    build: (options: GracefulShutdown.GracefulShutdown.Options) =>
      Layer.build(
        GracefulShutdown.layer(options).pipe(Layer.provide(Layer.succeed(HttpServer.HttpServer, {
          serve: () => Effect.void,
          address: { _tag: "TcpAddress", hostname: "127.0.0.1", port: 0 }
        } as unknown as HttpServer.HttpServer)))
      )
  },
  {
    constructorName: "Prometheus.make",
    base: () => ({ serviceName: "fuzz" }),
    fields: {
      "": optional(object()),
      serviceName: optional(name),
      serviceVersion: optional(name),
      prefix: optional([
        { label: "\"bad prefix!\"", value: "bad prefix!", expect: "reject" },
        { label: "5", value: 5, expect: "reject" },
        { label: "\"app_\"", value: "app_", expect: accept("a metric name prefix") }
      ]),
      withoutTargetInfo: optional(boolean),
      withoutScopeInfo: optional(boolean)
    },
    build: (options: Prometheus.Prometheus.Options) => Effect.flatMap(Prometheus.make(options), (p) => p.scrape)
  },
  {
    constructorName: "Tracing.layer",
    base: () => ({ otlp: { baseUrl: "http://127.0.0.1:1", exportInterval: "1 hour" }, jsonLogs: false }),
    // Closing with an exporter flushes towards a collector that is down: about 3 s, bounded.
    timeoutMillis: 10_000,
    baseFor: { jsonLogs: () => ({}), "": () => ({}) },
    fields: {
      "": optional(object()),
      otlp: optional(object()),
      "otlp.baseUrl": required([
        ...name.filter((v) => typeof v.value !== "string" || v.value === ""),
        { label: "\"not a url\"", value: "not a url", expect: "reject" },
        { label: "\"http://127.0.0.1:4318\"", value: "http://127.0.0.1:4318", expect: accept("healthy") }
      ]),
      "otlp.headers": optional(
        object([{ label: "{ a: 5 }", value: { a: 5 }, expect: "reject", errorValue: 5, field: "otlp.headers.a" }])
      ),
      "otlp.exportInterval": optional(
        duration({ zero: "reject", infinity: "reject" }).filter((v) =>
          v.expect === "reject" || v.label === "\"2 seconds\""
        )
      ),
      jsonLogs: optional(boolean)
    },
    build: (options: Tracing.Tracing.Options) => Layer.build(Tracing.layer(options))
  },
  {
    constructorName: "LoadShedding.make",
    base: () => ({ limit: 8 }),
    fields: {
      "": object(),
      limit: required(int(1)),
      maxQueue: optional(int(0)),
      queueTimeout: optional(
        duration({ zero: accept("zero: no wait in the queue"), infinity: accept("until a slot frees") })
      ),
      priority: optional(fn()),
      exempt: optional(fn()),
      retryAfter: optional(duration({ zero: "reject", infinity: "reject" })),
      name: optional(name)
    },
    build: (options: LoadShedding.LoadShedding.Options) => Effect.flatMap(LoadShedding.make(options), (s) => s.stats)
  },
  {
    constructorName: "LoadShedding.middleware",
    base: () => ({ limit: 8 }),
    fields: {
      "": object(),
      limit: required(int(1)),
      maxQueue: optional(int(0)),
      retryAfter: optional(duration({ zero: "reject", infinity: "reject" })),
      priority: optional(fn())
    },
    build: (options: LoadShedding.LoadShedding.Options) => Effect.sync(() => LoadShedding.middleware(options)),
    throwsAtBuild: true
  },
  {
    constructorName: "LoadShedder.front",
    base: () => ({}),
    fields: {
      "": optional(object()),
      exempt: optional(fn())
    },
    build: (options: LoadShedding.LoadShedding.FrontOptions) =>
      Effect.flatMap(
        LoadShedding.make({ limit: 8 }),
        (shedder) => Effect.sync(() => shedder.front(Http.createServer(), options))
      ),
    throwsAtBuild: true
  },
  {
    constructorName: "ResilientHttpClient.make",
    base: () => ({ name: "fuzz-http", client: stubClient }),
    baseFor: {
      "hedge.maxHedges": () => ({ name: "fuzz-http", client: stubClient, hedge: { delay: "10 millis" } }),
      "adaptiveThrottle.k": () => ({ name: "fuzz-http", client: stubClient, adaptiveThrottle: {} })
    },
    fields: {
      "": object(),
      name: required(name),
      timeout: optional(duration({ zero: "reject", infinity: accept("infinity: no limit") })),
      deadline: optional(duration({ zero: "reject", infinity: accept("infinity: no deadline") })),
      retry: optional(object()),
      "retry.maxAttempts": optional(int(1)),
      "retry.maxRetryAfter": optional(
        duration({ zero: accept("zero: never wait for a hint"), infinity: accept("no cap") })
      ),
      "retry.statuses": optional(arrayOf("retry.statuses")),
      circuitBreaker: optional(object()),
      bulkhead: optional(object()),
      "bulkhead.maxConcurrent": int(1),
      hedge: optional(object()),
      "hedge.delay": duration({ zero: accept("zero: hedge at once"), infinity: "reject" }),
      "hedge.maxHedges": optional(int(0)),
      adaptiveThrottle: optional(object()),
      "adaptiveThrottle.k": optional(Fuzz.number({ min: 1 })),
      key: optional(fn()),
      maxKeys: optional(int(1)),
      idleTtl: optional(duration({ zero: "reject", infinity: accept("infinity: never idle") })),
      failOn: optional(fn()),
      hosts: optional(arrayOf("hosts", false)),
      metrics: optional(boolean),
      tracing: optional(boolean)
    },
    build: (options: ResilientHttpClient.ResilientHttpClient.Options & { readonly client: HttpClient.HttpClient }) =>
      ResilientHttpClient.make(options),
    probe: (client: ResilientHttpClient.ResilientHttpClient, hostile) =>
      hostile ? Effect.exit(client.get("http://127.0.0.1:1/fuzz")) : client.get("http://127.0.0.1:1/fuzz")
  }
]

const configTarget: Fuzz.ConfigTarget = {
  name: "ResilientHttpClient.layerConfig",
  keys: {
    HTTP_TIMEOUT: Fuzz.config.duration({ zero: "reject" }),
    HTTP_DEADLINE: Fuzz.config.duration({ zero: "reject" }),
    HTTP_RETRY_MAX_ATTEMPTS: Fuzz.config.int(1),
    HTTP_RETRY_BASE_DELAY: Fuzz.config.duration({ zero: accept("zero: retry at once") }),
    HTTP_RETRY_MAX_DELAY: Fuzz.config.duration({ zero: "reject" }).map((v) =>
      // Below the default base delay (100 ms): a ConfigError naming the key.
      v.value === "1.5 seconds" || v.value === "2 seconds" || v.value === "100000000 seconds"
        ? v
        : { ...v, expect: "reject" as const }
    ),
    HTTP_RETRY_MAX_RETRY_AFTER: Fuzz.config.duration({ zero: accept("zero: never wait for a hint") }),
    HTTP_BULKHEAD_MAX_CONCURRENT: Fuzz.config.int(1),
    HTTP_BULKHEAD_MAX_QUEUE: Fuzz.config.int(0),
    HTTP_BULKHEAD_QUEUE_TIMEOUT: Fuzz.config.duration({ zero: accept("zero: no wait in the queue") }),
    HTTP_BULKHEAD_CODEL_TARGET: Fuzz.config.duration({ zero: "reject" }),
    HTTP_BULKHEAD_CODEL_INTERVAL: Fuzz.config.duration({ zero: "reject" }),
    HTTP_CIRCUIT_BREAKER_CONSECUTIVE_FAILURES: Fuzz.config.int(1),
    HTTP_CIRCUIT_BREAKER_OPEN_DURATION: Fuzz.config.duration({ zero: accept("zero: half-open at the next call") }),
    HTTP_MAX_KEYS: Fuzz.config.int(1),
    HTTP_HEDGE_DELAY: Fuzz.config.duration({ zero: accept("zero: hedge at once") })
  },
  build: (provider) =>
    Effect.flatMap(ResilientHttpClient.ResilientHttpClient, (client) => client.get("http://127.0.0.1:1/fuzz")).pipe(
      Effect.provide(ResilientHttpClient.layerConfig("HTTP").pipe(Layer.provide(StubClient))),
      Effect.withConfigProvider(provider)
    )
}

const tracingConfig: Fuzz.ConfigTarget = {
  name: "Tracing.layerConfig",
  keys: {
    OTEL_EXPORTER_OTLP_ENDPOINT: [
      { label: "\"not a url\"", value: "not a url", expect: "reject" },
      { label: "\"\"", value: "", expect: "reject" },
      { label: "\"ftp://x\"", value: "ftp://x", expect: { either: "a URL, though not HTTP: refused, or accepted" } },
      { label: "healthy", value: "http://127.0.0.1:1", expect: accept("healthy (closing flushes, ~3 s)") }
    ],
    OTEL_SERVICE_NAME: [
      // Without an endpoint nothing is exported, and the name is not read.
      { label: "\"\"", value: "", expect: { either: "unused without OTEL_EXPORTER_OTLP_ENDPOINT" } },
      { label: "\"payments\"", value: "payments", expect: accept("healthy") }
    ],
    LOG_FORMAT: [
      { label: "\"xml\"", value: "xml", expect: "reject" },
      { label: "\"\"", value: "", expect: "reject" },
      { label: "\"json\"", value: "json", expect: accept("healthy") },
      { label: "\"pretty\"", value: "pretty", expect: accept("healthy") }
    ]
  },
  fieldOf: {
    OTEL_EXPORTER_OTLP_ENDPOINT: "otlp.baseUrl",
    OTEL_SERVICE_NAME: "otlp.serviceName"
  },
  build: (provider) => Layer.build(Tracing.layerConfig).pipe(Effect.withConfigProvider(provider))
}

describe("option fuzzer (platform)", () => {
  it(
    "Health, GracefulShutdown, Prometheus, ResilientHttpClient: a typed InvalidOptionsError, or accepted",
    async () => {
      const result = await Fuzz.runAll(targets.flatMap(Fuzz.cases))
      console.log(
        `option fuzzer (platform constructors): ${result.cases} cases, ${result.accepted} accepted by design, ${result.rejected} rejected with InvalidOptionsError; ${result.failures.length} failing`
      )
      expect(result.failures).toEqual([])
    },
    300_000
  )

  it("Tracing.layerConfig: a ConfigError naming the key and the value, or accepted", async () => {
    const result = await Fuzz.runAll(Fuzz.configCases(tracingConfig), 10_000)
    console.log(
      `option fuzzer (Tracing.layerConfig): ${result.cases} cases, ${result.accepted} accepted by design, ${result.rejected} rejected; ${result.failures.length} failing`
    )
    expect(result.failures).toEqual([])
  }, 300_000)

  it("ResilientHttpClient.layerConfig: a ConfigError naming the key and the value, or accepted", async () => {
    const result = await Fuzz.runAll(Fuzz.configCases(configTarget))
    console.log(
      `option fuzzer (ResilientHttpClient.layerConfig): ${result.cases} cases, ${result.accepted} accepted by design, ${result.rejected} rejected with ConfigError; ${result.failures.length} failing`
    )
    expect(result.failures).toEqual([])
  }, 300_000)
})
