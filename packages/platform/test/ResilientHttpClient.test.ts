import {
  Backoff,
  Bulkhead,
  CircuitBreaker,
  Deadline,
  ResilienceMetrics,
  RetryAfter,
  Timeout
} from "@effect-resilience/core"
import { InvalidOptionsError } from "@effect-resilience/core/InvalidOptionsError"
import { ResilientHttpClient } from "@effect-resilience/platform"
import { HttpClient, HttpClientError, HttpClientRequest } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import {
  Cause,
  Chunk,
  ConfigProvider,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Metric,
  MetricState,
  Option,
  TestClock,
  Tracer
} from "effect"
import { answer, httpServer } from "./utils/httpServer.js"

/** The real node:http client, keeping connections alive (so a drained body shows as a reused socket). */
const NodeClient = NodeHttpClient.layerWithoutAgent.pipe(
  Layer.provide(NodeHttpClient.makeAgentLayer({ keepAlive: true }))
)

let unique = 0
const uniqueName = (base: string) => `${base}_${process.pid}_${++unique}`

/** Retries without waiting long, so live-clock tests stay quick. */
const quickRetry = { schedule: Backoff.constant("5 millis"), maxAttempts: 4 } as const

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure, got a success")
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) throw new Error(`expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  return failure.value
}

interface RecordedSpan extends Tracer.Span {
  readonly attributes: Map<string, unknown>
}

/** A tracer that keeps every span it starts, to read their names and attributes. */
const recordingTracer = (spans: Array<RecordedSpan>): Tracer.Tracer =>
  Tracer.make({
    span: (name, parent, context, links, startTime, kind) => {
      const attributes = new Map<string, unknown>()
      let status: Tracer.SpanStatus = { _tag: "Started", startTime }
      const span: RecordedSpan = {
        _tag: "Span",
        name,
        spanId: `span${spans.length}`,
        traceId: "trace",
        parent,
        context,
        get status() {
          return status
        },
        attributes,
        links: [...links],
        sampled: true,
        kind,
        end: (endTime, exit) => {
          status = { _tag: "Ended", startTime, endTime, exit }
        },
        attribute: (key, value) => {
          attributes.set(key, value)
        },
        event: () => {},
        addLinks: () => {}
      }
      spans.push(span)
      return span
    },
    context: (f) => f()
  })

describe("ResilientHttpClient", () => {
  describe("retries only where safe", () => {
    it.scopedLive("GET: 503 then 200 retries once, on the same connection (the 503's body was drained)", () =>
      Effect.gen(function*() {
        const server = yield* httpServer((_req, res, n) => answer(res, n === 1 ? 503 : 200))
        const client = yield* ResilientHttpClient.make({ name: uniqueName("get"), retry: quickRetry })
        const response = yield* client.get(`${server.origin}/items`)
        assert.strictEqual(response.status, 200)
        assert.deepStrictEqual(yield* response.json, { ok: true })
        assert.strictEqual(server.requests.length, 2)
        assert.strictEqual(server.sockets(), 1)
        assert.strictEqual((yield* client.stats).retries, 1)
      }).pipe(Effect.provide(NodeClient)))

    it.scopedLive("POST without an Idempotency-Key is never retried", () =>
      Effect.gen(function*() {
        const server = yield* httpServer((_req, res, n) => answer(res, n === 1 ? 503 : 200))
        const client = yield* ResilientHttpClient.make({ name: uniqueName("post"), retry: quickRetry })
        const error = failureOf(yield* Effect.exit(client.post(`${server.origin}/charges`)))
        assert.instanceOf(error, ResilientHttpClient.HttpStatusError)
        assert.deepInclude(error, { status: 503, retryable: true, method: "POST" })
        assert.strictEqual(server.requests.length, 1)
      }).pipe(Effect.provide(NodeClient)))

    it.scopedLive("POST with an Idempotency-Key is retried", () =>
      Effect.gen(function*() {
        const server = yield* httpServer((_req, res, n) => answer(res, n === 1 ? 503 : 200))
        const client = yield* ResilientHttpClient.make({ name: uniqueName("post-key"), retry: quickRetry })
        const response = yield* client.post(`${server.origin}/charges`, {
          headers: { "Idempotency-Key": "charge-42" }
        })
        assert.strictEqual(response.status, 200)
        assert.strictEqual(server.requests.length, 2)
        assert.deepStrictEqual(server.requests.map((r) => r.headers["idempotency-key"]), ["charge-42", "charge-42"])
      }).pipe(Effect.provide(NodeClient)))

    it.scopedLive("a status outside the retry list (500) fails at once; a 404 is an answer, not an error", () =>
      Effect.gen(function*() {
        const server = yield* httpServer((req, res) => answer(res, req.url === "/missing" ? 404 : 500))
        const client = yield* ResilientHttpClient.make({ name: uniqueName("statuses"), retry: quickRetry })
        const error = failureOf(yield* Effect.exit(client.get(`${server.origin}/broken`)))
        assert.deepInclude(error, { _tag: "HttpStatusError", status: 500, retryable: false })
        assert.strictEqual(server.requests.length, 1)
        const missing = yield* client.get(`${server.origin}/missing`)
        assert.strictEqual(missing.status, 404)
      }).pipe(Effect.provide(NodeClient)))

    it.scopedLive("a refused connection is retried for a GET", () =>
      Effect.gen(function*() {
        const closed = yield* Effect.scoped(Effect.map(httpServer((_req, res) => answer(res, 200)), (s) => s.origin))
        let attempts = 0
        // Counts attempts (the transform runs once per attempt; a preprocess would run once per request).
        const counting = yield* HttpClient.HttpClient.pipe(
          Effect.map(HttpClient.transform((effect) => Effect.zipRight(Effect.sync(() => attempts++), effect)))
        )
        const client = yield* ResilientHttpClient.make({
          name: uniqueName("refused"),
          client: counting,
          retry: quickRetry
        })
        const error = failureOf(yield* Effect.exit(client.get(`${closed}/x`)))
        assert.deepInclude(error, { _tag: "RequestError", reason: "Transport" })
        assert.strictEqual(attempts, 4)
      }).pipe(Effect.provide(NodeClient)))
  })

  describe("Retry-After", () => {
    const scripted = (retryAfter: string) =>
      httpServer((_req, res, n) => n === 1 ? answer(res, 503, { "retry-after": retryAfter }) : answer(res, 200))

    /** Runs a GET on a fiber under the TestClock; returns the fiber once the server has seen the first attempt. */
    const firstAttempt = (
      client: ResilientHttpClient.ResilientHttpClient,
      server: { origin: string; waitForRequests: (n: number) => Effect.Effect<void> }
    ) =>
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(client.get(`${server.origin}/slow-down`))
        yield* server.waitForRequests(1)
        // Wait (in real time) until the 503 has reached the client and the retry sleeps on the TestClock: the
        // clients here have no attempt timeout, so the retry's wait is the only sleep.
        for (let i = 0; Chunk.isEmpty(yield* TestClock.sleeps()); i++) {
          if (i > 2000) throw new Error("the retry never went to sleep")
          yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 5)))
        }
        return fiber
      })

    /** A client whose first GET meets a 503 with `Retry-After: value`: the server and the GET's fiber, its retry asleep. */
    const retryingAfter = (
      value: string,
      name: string,
      retry: ResilientHttpClient.ResilientHttpClient.RetryOptions = quickRetry
    ) =>
      Effect.gen(function*() {
        const server = yield* scripted(value)
        const client = yield* ResilientHttpClient.make({ name: uniqueName(name), timeout: false, retry })
        return { server, fiber: yield* firstAttempt(client, server) }
      })

    /** The retry does not go before `millis` of TestClock time and goes at `millis`: the retried GET's response. */
    const retriedAt = <A, E>(
      server: { readonly requests: ReadonlyArray<unknown> },
      fiber: Fiber.RuntimeFiber<A, E>,
      millis: number
    ) =>
      Effect.gen(function*() {
        yield* TestClock.adjust(Duration.millis(millis - 1))
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
        assert.strictEqual(server.requests.length, 1)
        assert.isNull(fiber.unsafePoll())
        yield* TestClock.adjust("1 millis")
        return yield* Fiber.join(fiber)
      })

    it.scoped("`Retry-After: 2` waits two seconds", () =>
      Effect.gen(function*() {
        const { fiber, server } = yield* retryingAfter("2", "ra-seconds")
        const response = yield* retriedAt(server, fiber, 2000)
        assert.strictEqual(response.status, 200)
        assert.strictEqual(server.requests.length, 2)
      }).pipe(Effect.provide(NodeClient)))

    it.scoped("an HTTP date waits until that date", () =>
      Effect.gen(function*() {
        const now = Date.parse("Tue, 01 Dec 2026 15:00:00 GMT")
        yield* TestClock.setTime(now)
        const { fiber, server } = yield* retryingAfter("Tue, 01 Dec 2026 15:00:03 GMT", "ra-date")
        assert.strictEqual((yield* retriedAt(server, fiber, 3000)).status, 200)
      }).pipe(Effect.provide(NodeClient)))

    it.scoped("a huge value is capped by maxRetryAfter", () =>
      Effect.gen(function*() {
        const { fiber, server } = yield* retryingAfter("999999999999", "ra-huge", {
          ...quickRetry,
          maxRetryAfter: "3 seconds"
        })
        assert.strictEqual((yield* retriedAt(server, fiber, 3000)).status, 200)
      }).pipe(Effect.provide(NodeClient)))

    it.scoped("garbage and negative values are ignored: the backoff alone sets the wait", () =>
      Effect.gen(function*() {
        for (const value of ["soon", "-5", "1.5", ""]) {
          const { fiber } = yield* retryingAfter(value, "ra-garbage")
          yield* TestClock.adjust("5 millis")
          assert.strictEqual((yield* Fiber.join(fiber)).status, 200, `Retry-After: ${JSON.stringify(value)}`)
        }
      }).pipe(Effect.provide(NodeClient)))

    it("parseRetryAfter reads seconds and HTTP dates, and nothing else", () => {
      const now = Date.parse("Tue, 01 Dec 2026 15:00:00 GMT")
      const read = (v: string | undefined) =>
        Option.map(ResilientHttpClient.parseRetryAfter(v, now), Duration.toMillis).pipe(Option.getOrUndefined)
      assert.strictEqual(read("120"), 120_000)
      assert.strictEqual(read(" 0 "), 0)
      assert.strictEqual(read("Tue, 01 Dec 2026 15:00:10 GMT"), 10_000)
      assert.strictEqual(read("Tue, 01 Dec 2026 14:00:00 GMT"), 0)
      for (const bad of [undefined, "", "-1", "1.5", "soon", "1e3", "+5", "9".repeat(400), "Tue, 99 Foo"]) {
        assert.strictEqual(read(bad), undefined, JSON.stringify(bad))
      }
    })

    it.scopedLive("the error carries the server's value and a hint capped by maxRetryAfter", () =>
      Effect.gen(function*() {
        const server = yield* httpServer((_req, res) => answer(res, 429, { "retry-after": "120" }))
        const client = yield* ResilientHttpClient.make({
          name: uniqueName("ra-hint"),
          retry: { ...quickRetry, maxAttempts: 1, maxRetryAfter: "5 seconds" }
        })
        const error = failureOf(yield* Effect.exit(client.get(`${server.origin}/`)))
        assert.instanceOf(error, ResilientHttpClient.HttpStatusError)
        if (!(error instanceof ResilientHttpClient.HttpStatusError)) return
        assert.deepStrictEqual(Option.map(error.retryAfter, Duration.toSeconds), Option.some(120))
        assert.deepStrictEqual(Option.map(RetryAfter.get(error), Duration.toSeconds), Option.some(5))
      }).pipe(Effect.provide(NodeClient)))
  })

  describe("timeouts and deadlines", () => {
    it.scopedLive("a server that never answers is cut by the attempt timeout, and sees its socket closed", () =>
      Effect.gen(function*() {
        const server = yield* httpServer(() => {})
        const client = yield* ResilientHttpClient.make({
          name: uniqueName("hang"),
          timeout: "200 millis",
          retry: false
        })
        const error = failureOf(yield* Effect.exit(client.get(`${server.origin}/hang`)))
        assert.instanceOf(error, Timeout.TimeoutError)
        assert.deepInclude(error, { scope: "attempt" })
        yield* server.waitForAbandoned
        assert.strictEqual(server.abandoned(), 1)
      }).pipe(Effect.provide(NodeClient)))

    it.scopedLive("an attempt timeout is retried for a GET", () =>
      Effect.gen(function*() {
        const server = yield* httpServer((_req, res, n) => n === 1 ? undefined : answer(res, 200))
        const client = yield* ResilientHttpClient.make({
          name: uniqueName("hang-retry"),
          // Long enough that a loaded machine still answers the second attempt in time.
          timeout: "1 second",
          retry: quickRetry
        })
        assert.strictEqual((yield* client.get(`${server.origin}/`)).status, 200)
        assert.strictEqual(server.requests.length, 2)
      }).pipe(Effect.provide(NodeClient)))

    it.scopedLive("the caller's Deadline bounds the whole call, retries included", () =>
      Effect.gen(function*() {
        const server = yield* httpServer((_req, res) => answer(res, 503))
        const client = yield* ResilientHttpClient.make({
          name: uniqueName("deadline"),
          retry: { schedule: Backoff.constant("100 millis"), maxAttempts: 100, budget: false }
        })
        const error = failureOf(yield* Effect.exit(client.get(`${server.origin}/`).pipe(Deadline.within("350 millis"))))
        // Either the deadline cut a wait, or the retry saw that no wait would fit and gave up with the last error.
        assert.include(["TimeoutError", "HttpStatusError"], error._tag)
        assert.isAtMost(server.requests.length, 4)
        // The `deadline` option does the same for every request.
        const bounded = yield* ResilientHttpClient.make({
          name: uniqueName("deadline-option"),
          deadline: "350 millis",
          retry: { schedule: Backoff.constant("100 millis"), maxAttempts: 100, budget: false }
        })
        const before = server.requests.length
        const again = failureOf(yield* Effect.exit(bounded.get(`${server.origin}/`)))
        assert.include(["TimeoutError", "HttpStatusError"], again._tag)
        assert.isAtMost(server.requests.length - before, 4)
      }).pipe(Effect.provide(NodeClient)))
  })

  describe("per host", () => {
    it.scopedLive("the breaker opens for a failing host while a healthy host is unaffected", () =>
      Effect.gen(function*() {
        const failing = yield* httpServer((_req, res) => answer(res, 500))
        const healthy = yield* httpServer((_req, res) => answer(res, 200))
        const client = yield* ResilientHttpClient.make({
          name: uniqueName("breaker"),
          retry: false,
          circuitBreaker: { strategy: CircuitBreaker.consecutive(3), openDuration: "30 seconds" }
        })
        for (let i = 0; i < 3; i++) yield* Effect.exit(client.get(`${failing.origin}/`))
        const rejected = failureOf(yield* Effect.exit(client.get(`${failing.origin}/`)))
        assert.instanceOf(rejected, CircuitBreaker.CircuitBreakerOpenError)
        assert.isTrue(Option.isSome(RetryAfter.get(rejected)))
        assert.strictEqual(failing.requests.length, 3)
        for (let i = 0; i < 5; i++) assert.strictEqual((yield* client.get(`${healthy.origin}/`)).status, 200)
        const breaker = Option.getOrThrow(client.circuitBreaker)
        assert.strictEqual(yield* breaker.state(failing.host), "Open")
        assert.strictEqual(yield* breaker.state(healthy.host), "Closed")
      }).pipe(Effect.provide(NodeClient)))

    it.scopedLive("a 4xx answer does not count against the host's breaker", () =>
      Effect.gen(function*() {
        const server = yield* httpServer((_req, res) => answer(res, 404))
        const client = yield* ResilientHttpClient.make({
          name: uniqueName("breaker-4xx"),
          failOn: (status) => status >= 400,
          circuitBreaker: { strategy: CircuitBreaker.consecutive(2) }
        })
        for (let i = 0; i < 5; i++) {
          assert.deepInclude(failureOf(yield* Effect.exit(client.get(`${server.origin}/`))), { status: 404 })
        }
        assert.strictEqual(yield* Option.getOrThrow(client.circuitBreaker).state(server.host), "Closed")
      }).pipe(Effect.provide(NodeClient)))

    it.scopedLive("a retry storm against a failing host is stopped by the host's retry budget", () =>
      Effect.gen(function*() {
        const server = yield* httpServer((_req, res) => answer(res, 503))
        const client = yield* ResilientHttpClient.make({
          name: uniqueName("storm"),
          circuitBreaker: false,
          retry: { ...quickRetry, schedule: Backoff.constant(0), budget: { ratio: 0.1, minPerSecond: 0 } }
        })
        yield* Effect.forEach(Array.from({ length: 100 }), () => Effect.exit(client.get(`${server.origin}/`)), {
          concurrency: 8
        })
        // Without the budget: 100 calls x 4 attempts. With it, retries add about 10% of the calls.
        assert.isAtLeast(server.requests.length, 100)
        assert.isAtMost(server.requests.length, 115)
      }).pipe(Effect.provide(NodeClient)))

    it.scopedLive("the bulkhead of a host rejects the excess with BulkheadRejectedError", () =>
      Effect.gen(function*() {
        const server = yield* httpServer((_req, res) => setTimeout(() => answer(res, 200), 200))
        const other = yield* httpServer((_req, res) => answer(res, 200))
        const client = yield* ResilientHttpClient.make({ name: uniqueName("bulkhead"), bulkhead: { maxConcurrent: 2 } })
        const exits = yield* Effect.all(Array.from({ length: 3 }, () => Effect.exit(client.get(`${server.origin}/`))), {
          concurrency: "unbounded"
        })
        const rejected = exits.filter((e) => Exit.isFailure(e)).map(failureOf)
        assert.strictEqual(rejected.length, 1)
        assert.instanceOf(rejected[0], Bulkhead.BulkheadRejectedError)
        assert.strictEqual((yield* client.get(`${other.origin}/`)).status, 200)
      }).pipe(Effect.provide(NodeClient)))

    it.scopedLive("key: a function of the request keys the parts per route instead of per host", () =>
      Effect.gen(function*() {
        const server = yield* httpServer((req, res) => answer(res, req.url === "/broken" ? 500 : 200))
        const client = yield* ResilientHttpClient.make({
          name: uniqueName("per-route"),
          retry: false,
          key: (request) => ResilientHttpClient.redactUrl(request.url),
          circuitBreaker: { strategy: CircuitBreaker.consecutive(2) }
        })
        for (let i = 0; i < 3; i++) yield* Effect.exit(client.get(`${server.origin}/broken`))
        assert.instanceOf(
          failureOf(yield* Effect.exit(client.get(`${server.origin}/broken`))),
          CircuitBreaker.CircuitBreakerOpenError
        )
        assert.strictEqual((yield* client.get(`${server.origin}/fine`)).status, 200)
        assert.strictEqual(server.requests.filter((r) => r.url === "/broken").length, 2)
      }).pipe(Effect.provide(NodeClient)))

    it.scopedLive("http_client_requests_total counts requests by outcome, not attempts", () =>
      Effect.gen(function*() {
        const server = yield* httpServer((req, res, n) =>
          req.url === "/hang" ? undefined : answer(res, req.url === "/down" ? 500 : n === 1 ? 503 : 200)
        )
        const name = uniqueName("metrics")
        const client = yield* ResilientHttpClient.make({
          name,
          timeout: "100 millis",
          retry: { ...quickRetry, maxAttempts: 2 },
          circuitBreaker: { strategy: CircuitBreaker.consecutive(2) },
          key: (request) => ResilientHttpClient.redactUrl(request.url)
        })
        yield* client.get(`${server.origin}/ok`) // 503 then 200: one request, two attempts
        yield* Effect.exit(client.post(`${server.origin}/down`))
        yield* Effect.exit(client.post(`${server.origin}/down`)) // opens the breaker of /down
        yield* Effect.exit(client.post(`${server.origin}/down`)) // rejected
        yield* Effect.exit(client.post(`${server.origin}/hang`))
        yield* ResilienceMetrics.flush
        const counts = Object.fromEntries(
          (yield* Metric.snapshot).filter((pair) =>
            pair.metricKey.name === "http_client_requests_total" &&
            pair.metricKey.tags.some((t) => t.key === "client" && t.value === name)
          ).map((pair) => [
            pair.metricKey.tags.filter((t) => t.key !== "client").map((t) => `${t.key}=${t.value}`).sort().join(","),
            MetricState.isCounterState(pair.metricState) ? Number(pair.metricState.count) : NaN
          ])
        )
        assert.deepStrictEqual(counts, {
          "method=get,outcome=success": 1,
          "method=post,outcome=failure": 2,
          "method=post,outcome=rejected": 1,
          "method=post,outcome=timeout": 1
        })
        assert.deepInclude(yield* client.stats, {
          requests: 5,
          succeeded: 1,
          failed: 2,
          rejected: 1,
          timedOut: 1,
          retries: 1
        })
      }).pipe(Effect.provide(NodeClient)))

    it.scopedLive(
      "1,000 distinct hosts leave the keyed parts and the metric series bounded",
      () =>
        Effect.gen(function*() {
          const servers = yield* Effect.forEach(
            Array.from({ length: 1000 }),
            () => httpServer((_req, res) => answer(res, 200)),
            { concurrency: 50 }
          )
          const name = uniqueName("many")
          const client = yield* ResilientHttpClient.make({ name, maxKeys: 100, hosts: [servers[0]!.host] })
          yield* Effect.forEach(servers, (s) => client.get(`${s.origin}/`), { concurrency: 20, discard: true })
          assert.isAtMost(yield* Option.getOrThrow(client.circuitBreaker).size, 100)
          assert.isAtMost((yield* Option.getOrThrow(client.bulkhead).stats).keys, 100)
          assert.isAtMost(yield* client.retryBudgetKeys, 100)
          yield* ResilienceMetrics.flush // successes are counted locally and pushed on scrape
          const series = (yield* Metric.snapshot).filter((pair) =>
            pair.metricKey.name === "http_client_requests_total" &&
            pair.metricKey.tags.some((t) => t.key === "client" && t.value === name)
          )
          const hosts = series.map((pair) => pair.metricKey.tags.find((t) => t.key === "host")?.value).sort()
          assert.deepStrictEqual(hosts, [servers[0]!.host, "other"])
        }).pipe(Effect.provide(NodeClient)),
      60_000
    )
  })

  describe("the HttpClient in context", () => {
    it.scopedLive("layer replaces HttpClient: existing code gets the policies, errors stay HttpClientErrors", () =>
      Effect.gen(function*() {
        const server = yield* httpServer((req, res, n) =>
          answer(res, req.url?.startsWith("/down") ? 503 : n === 1 ? 503 : 200)
        )
        // Code written against the plain HttpClient, unchanged.
        const fetchItems = (path: string) =>
          Effect.flatMap(HttpClient.HttpClient, (http) => http.get(server.origin + path))
        const layer = ResilientHttpClient.layer({ name: uniqueName("layer"), retry: quickRetry }).pipe(
          Layer.provide(NodeClient)
        )
        const ok = yield* fetchItems("/items").pipe(Effect.provide(layer))
        assert.strictEqual(ok.status, 200)
        assert.strictEqual(server.requests.length, 2)
        const error = yield* Effect.flip(fetchItems("/down?token=secret").pipe(Effect.provide(layer)))
        assert.isTrue(HttpClientError.isHttpClientError(error))
        assert.strictEqual(error._tag, "ResponseError")
        if (error._tag !== "ResponseError") return
        assert.strictEqual(error.reason, "StatusCode")
        assert.strictEqual(error.response.status, 503)
        assert.instanceOf(error.cause, ResilientHttpClient.HttpStatusError)
        assert.notInclude(error.message, "secret")
        assert.notInclude(error.request.url, "secret")
        // The typed client is there too.
        const typed = yield* ResilientHttpClient.ResilientHttpClient.pipe(Effect.provide(layer))
        assert.isTrue(ResilientHttpClient.isResilientHttpClient(typed))
      }))

    it.scopedLive("layerConfig reads its options from Config", () =>
      Effect.gen(function*() {
        const server = yield* httpServer((_req, res, n) => answer(res, n <= 2 ? 502 : 200))
        const provider = ConfigProvider.fromMap(
          new Map([["UPSTREAM_RETRY_MAX_ATTEMPTS", "2"], ["UPSTREAM_RETRY_BASE_DELAY", "1 millis"]])
        )
        const layer = ResilientHttpClient.layerConfig("UPSTREAM").pipe(
          Layer.provide(NodeClient),
          Layer.provide(Layer.setConfigProvider(provider))
        )
        const client = yield* ResilientHttpClient.ResilientHttpClient.pipe(Effect.provide(layer))
        assert.strictEqual(client.clientName, "upstream")
        const error = failureOf(yield* Effect.exit(client.get(`${server.origin}/`)))
        assert.deepInclude(error, { status: 502 })
        assert.strictEqual(server.requests.length, 2)
        // either CoDel key turns the bulkhead's codel on, over the bulkhead's defaults
        const options = yield* ResilientHttpClient.config("UPSTREAM").pipe(
          Effect.withConfigProvider(
            ConfigProvider.fromMap(new Map([["UPSTREAM_BULKHEAD_CODEL_INTERVAL", "50 millis"]]))
          )
        )
        assert.deepStrictEqual(options.bulkhead, { maxConcurrent: 100, codel: { interval: Duration.millis(50) } })
      }))
  })

  describe("hedging and tracing", () => {
    it.scopedLive("hedging (opt-in) sends a second copy of a slow GET, never of a POST", () =>
      Effect.gen(function*() {
        const server = yield* httpServer((req, res, n) =>
          n === 1 || req.method === "POST" ? setTimeout(() => answer(res, 200), 300) : answer(res, 200)
        )
        const client = yield* ResilientHttpClient.make({
          name: uniqueName("hedge"),
          hedge: { delay: "30 millis" },
          retry: false
        })
        assert.strictEqual((yield* client.get(`${server.origin}/`)).status, 200)
        assert.strictEqual(server.requests.length, 2)
        // The slow first copy lost: it was interrupted and its request aborted.
        yield* server.waitForAbandoned
        assert.strictEqual((yield* client.post(`${server.origin}/`)).status, 200)
        assert.strictEqual(server.requests.length, 3)
      }).pipe(Effect.provide(NodeClient)))

    it.scopedLive("tracing: one span per request with the attempt count, and no query string in it", () =>
      Effect.gen(function*() {
        const server = yield* httpServer((_req, res, n) => answer(res, n === 1 ? 503 : 200))
        const spans: Array<RecordedSpan> = []
        const client = yield* ResilientHttpClient.make({ name: uniqueName("traced"), retry: quickRetry, tracing: true })
        yield* client.get(`http://bob:pw@${server.host}/items?secret=1`).pipe(Effect.withTracer(recordingTracer(spans)))
        assert.deepStrictEqual(spans.map((s) => s.name), ["http.client GET"])
        const attributes = Object.fromEntries(spans[0]!.attributes)
        assert.deepInclude(attributes, {
          "resilience.attempts": 2,
          "http.response.status_code": 200,
          "url.full": `http://${server.host}/items`
        })
        assert.notInclude(JSON.stringify(attributes), "secret")
        assert.notInclude(JSON.stringify(attributes), "pw")
      }).pipe(Effect.provide(NodeClient)))
  })

  describe("docs/http-client.md", () => {
    it.scopedLive("the payment-service client: POST charges with an Idempotency-Key, retried through a 503", () =>
      Effect.gen(function*() {
        const gateway = yield* httpServer((_req, res, n) => answer(res, n === 1 ? 503 : 200))
        // As in the guide, with the gateway on a loopback port.
        const PaymentsHttp = ResilientHttpClient.layer({
          name: uniqueName("payments"),
          bulkhead: { maxConcurrent: 10, maxQueue: 100, queueTimeout: "5 seconds" },
          timeout: "2 seconds",
          retry: {
            maxAttempts: 4,
            schedule: Backoff.fullJitter(Backoff.exponential({ base: "100 millis", factor: 2 }))
          },
          circuitBreaker: { strategy: CircuitBreaker.consecutive(5), openDuration: "30 seconds" }
        }).pipe(Layer.provide(NodeHttpClient.layer))
        const charge = (orderId: string, amountCents: number) =>
          Effect.gen(function*() {
            const http = yield* HttpClient.HttpClient
            const request = HttpClientRequest.post(`${gateway.origin}/charges`).pipe(
              HttpClientRequest.setHeader("Idempotency-Key", `charge-${orderId}`),
              HttpClientRequest.bodyUnsafeJson({ orderId, amountCents })
            )
            const response = yield* http.execute(request)
            return yield* response.json
          }).pipe(Effect.scoped)
        const paid = yield* charge("order-1", 4200).pipe(Effect.provide(PaymentsHttp))
        assert.deepStrictEqual(paid, { ok: true })
        assert.deepStrictEqual(gateway.requests.map((r) => [r.method, r.headers["idempotency-key"]]), [
          ["POST", "charge-order-1"],
          ["POST", "charge-order-1"]
        ])
      }))

    it.scopedLive("the typed client's errors, matched by tag", () =>
      Effect.gen(function*() {
        const gateway = yield* httpServer((_req, res) => answer(res, 503, { "retry-after": "0" }))
        const status = Effect.gen(function*() {
          const client = yield* ResilientHttpClient.make({ name: uniqueName("gateway-status"), timeout: "2 seconds" })
          const response = yield* client.get(`${gateway.origin}/status`)
          return yield* response.json
        }).pipe(
          Effect.scoped,
          Effect.catchTags({
            HttpStatusError: (e) => Effect.succeed({ down: true, status: e.status, retryAfter: e.retryAfter }),
            CircuitBreakerOpenError: (e) => Effect.succeed({ down: true, retryAfter: e.retryAfter }),
            TimeoutError: () => Effect.succeed({ down: true })
          }),
          Effect.provide(NodeHttpClient.layer)
        )
        assert.deepInclude(yield* status, { down: true, status: 503, retryAfter: Option.some(Duration.zero) })
        assert.strictEqual(gateway.requests.length, 3)
      }))
  })

  describe("redaction", () => {
    it.scopedLive("credentials and query strings never reach an error", () =>
      Effect.gen(function*() {
        const server = yield* httpServer((_req, res) => answer(res, 503))
        const client = yield* ResilientHttpClient.make({ name: uniqueName("redact"), retry: false })
        const url = `http://alice:hunter2@${server.host}/pay?card=4242`
        const status = failureOf(yield* Effect.exit(client.get(url)))
        assert.deepInclude(status, { url: `http://${server.host}/pay` })
        const closed = yield* Effect.scoped(Effect.map(httpServer((_req, res) => answer(res, 200)), (s) => s.host))
        const transport = failureOf(
          yield* Effect.exit(
            client.execute(HttpClientRequest.get(`http://alice:hunter2@${closed}/pay`, { urlParams: { card: "4242" } }))
          )
        )
        for (const error of [status, transport]) {
          const text = `${error.message} ${JSON.stringify(error)}`
          assert.notInclude(text, "hunter2")
          assert.notInclude(text, "4242")
        }
      }).pipe(Effect.provide(NodeClient)))

    it("redactUrl drops credentials, query and fragment", () => {
      assert.strictEqual(
        ResilientHttpClient.redactUrl("https://u:p@api.example.com:8443/v1/x?k=s#frag"),
        "https://api.example.com:8443/v1/x"
      )
      assert.strictEqual(ResilientHttpClient.redactUrl("/relative?q=1"), "/relative")
      assert.strictEqual(ResilientHttpClient.redactUrl("http://host?q=a@b"), "http://host")
    })
  })

  describe("options", () => {
    it.scoped("bad options fail with InvalidOptionsError naming the field", () =>
      Effect.gen(function*() {
        const cases = [
          [{ name: "" }, "name"],
          [{ name: "x", retry: { maxAttempts: 0 } }, "retry.maxAttempts"],
          [{ name: "x", retry: { statuses: [99] } }, "retry.statuses[0]"],
          [{ name: "x", timeout: -1 }, "timeout"],
          [{ name: "x", maxKeys: 0 }, "maxKeys"]
        ] as const
        for (const [options, field] of cases) {
          const error = yield* Effect.flip(ResilientHttpClient.make(options))
          assert.instanceOf(error, InvalidOptionsError)
          assert.deepInclude(error, { field })
        }
      }).pipe(Effect.provide(NodeClient)))

    it("isRetrySafe: idempotent methods, or an Idempotency-Key", () => {
      assert.isTrue(ResilientHttpClient.isRetrySafe(HttpClientRequest.get("http://h/")))
      assert.isTrue(ResilientHttpClient.isRetrySafe(HttpClientRequest.put("http://h/")))
      assert.isFalse(ResilientHttpClient.isRetrySafe(HttpClientRequest.post("http://h/")))
      assert.isFalse(ResilientHttpClient.isRetrySafe(HttpClientRequest.patch("http://h/")))
      assert.isTrue(
        ResilientHttpClient.isRetrySafe(HttpClientRequest.post("http://h/", { headers: { "Idempotency-Key": "k" } }))
      )
    })
  })
})

describe("ResilientHttpClient breaker classification", () => {
  it.scoped("circuitBreaker options may bring their own isFailureCause (or the deprecated isFailure)", () =>
    Effect.gen(function*() {
      for (const own of [{ isFailureCause: () => true }, { isFailure: () => true }]) {
        const client = yield* ResilientHttpClient.make({
          name: uniqueName("own-classifier"),
          circuitBreaker: { strategy: CircuitBreaker.consecutive(3), ...own }
        })
        assert.isTrue(Option.isSome(client.circuitBreaker))
      }
    }).pipe(Effect.provide(NodeClient)))
})
