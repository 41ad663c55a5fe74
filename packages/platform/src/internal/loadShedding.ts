import * as AdaptiveLimit from "@effect-resilience/core/AdaptiveLimit"
import type { InvalidOptionsError } from "@effect-resilience/core/InvalidOptionsError"
import { type OptionsValidator, validated, validatedSync } from "@effect-resilience/core/OptionsValidator"
import * as ResilienceMetrics from "@effect-resilience/core/ResilienceMetrics"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Metric from "effect/Metric"
import * as Http from "node:http"
import * as Https from "node:https"
import type * as Api from "../LoadShedding.js"

/** A request waiting for a slot. */
interface Waiter {
  readonly priority: number
  readonly seq: number
  readonly deferred: Deferred.Deferred<boolean>
  /** `"waiting"` in the queue, `"granted"` a slot was handed over, `"shed"` turned away (displaced, timed out). */
  state: "waiting" | "granted" | "shed"
}

interface Resolved {
  readonly name: string
  readonly fixed: number
  readonly adaptive: AdaptiveLimit.AdaptiveLimit | undefined
  readonly maxQueue: number
  readonly queueTimeout: Duration.Duration | undefined
  readonly retryAfterSeconds: number
  readonly priority: ((request: HttpServerRequest.HttpServerRequest) => number) | undefined
  readonly exempt: (request: HttpServerRequest.HttpServerRequest) => boolean
}

/** Health and metrics paths: never shed (a probe that times out under load restarts a busy pod). */
const exemptUrl = (url: string): boolean => {
  const q = url.indexOf("?")
  const path = q === -1 ? url : url.slice(0, q)
  return path === "/metrics" || path === "/health" || path.startsWith("/health/")
}

const defaultExempt = (request: HttpServerRequest.HttpServerRequest): boolean => exemptUrl(request.url)

/** The same paths on a Node request (the front's default). */
const defaultFrontExempt = (request: Http.IncomingMessage): boolean => exemptUrl(request.url ?? "/")

/** A front `exempt` that throws lets the request through: the middleware decides (and its own throw is a defect). */
const isExempt = (exempt: (request: Http.IncomingMessage) => boolean, request: Http.IncomingMessage): boolean => {
  try {
    return exempt(request)
  } catch {
    return true
  }
}

/** The body of every 503: a string, so that Node writes the head and the body in one write. */
const shedBody = "overloaded"

const optionalFunction = <F>(v: OptionsValidator, field: string, value: F | undefined): F | undefined => {
  if (value !== undefined && typeof value !== "function") v.fail(field, value, "a function")
  return value
}

const resolve = (v: OptionsValidator, options: Api.LoadShedding.Options): Resolved => {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    v.fail("options", options, "an options object")
  }
  const limit = options.limit
  const adaptive = AdaptiveLimit.isAdaptiveLimit(limit) ? limit : undefined
  const retryAfter = v.duration("retryAfter", options.retryAfter ?? "1 second", { positive: true, finite: true })
  const queueTimeout = options.queueTimeout === undefined
    ? undefined
    : v.duration("queueTimeout", options.queueTimeout)
  return {
    name: options.name === undefined ? "http_server" : v.nonEmpty("name", options.name),
    fixed: AdaptiveLimit.isAdaptiveLimit(limit) ? limit.initialLimit : v.int("limit", limit, 1),
    adaptive,
    maxQueue: v.int("maxQueue", options.maxQueue ?? 0, 0),
    queueTimeout: queueTimeout === undefined || !Duration.isFinite(queueTimeout) ? undefined : queueTimeout,
    retryAfterSeconds: Math.max(1, Math.ceil(Duration.toSeconds(retryAfter))),
    priority: optionalFunction(v, "priority", options.priority),
    exempt: optionalFunction(v, "exempt", options.exempt) ?? defaultExempt
  }
}

class Shedder implements Api.LoadShedder, ResilienceMetrics.Collector {
  active = 0
  limit: number
  readonly shed = { limit: 0, queue_full: 0, queue_timeout: 0 }
  private readonly reported = { limit: 0, queue_full: 0, queue_timeout: 0 }
  /** Waiters, highest priority first, FIFO within a priority. */
  private readonly queue: Array<Waiter> = []
  private seq = 0
  private readonly limitGauge: Metric.Metric.Gauge<number>
  private readonly activeGauge: Metric.Metric.Gauge<number>
  private readonly queuedGauge: Metric.Metric.Gauge<number>
  private readonly shedCounters: Record<Api.ShedReason, Metric.Metric.Counter<number>>
  readonly middleware: Api.Middleware

  constructor(
    readonly options: Resolved,
    readonly estimator: AdaptiveLimit.Estimator | undefined
  ) {
    this.limit = options.fixed
    this.limitGauge = ResilienceMetrics.adaptiveLimit.pipe(Metric.tagged("name", options.name))
    this.activeGauge = ResilienceMetrics.bulkheadActive.pipe(Metric.tagged("name", options.name))
    this.queuedGauge = ResilienceMetrics.bulkheadQueued.pipe(Metric.tagged("name", options.name))
    this.shedCounters = {
      limit: ResilienceMetrics.loadShedTotal.pipe(Metric.tagged("reason", "limit")),
      queue_full: ResilienceMetrics.loadShedTotal.pipe(Metric.tagged("reason", "queue_full")),
      queue_timeout: ResilienceMetrics.loadShedTotal.pipe(Metric.tagged("reason", "queue_timeout"))
    }
    const response = (reason: Api.ShedReason) =>
      HttpServerResponse.text(shedBody, {
        status: 503,
        headers: { "retry-after": String(options.retryAfterSeconds), "x-load-shed": reason }
      })
    this.responses = {
      limit: response("limit"),
      queue_full: response("queue_full"),
      queue_timeout: response("queue_timeout")
    }
    this.middleware = <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> => this.apply(app)
    // The same 503s for the front, as Node header objects (content-length included: no chunked encoding).
    const frontHeaders = (reason: Api.ShedReason): Http.OutgoingHttpHeaders => ({
      "retry-after": String(options.retryAfterSeconds),
      "x-load-shed": reason,
      "content-type": "text/plain",
      "content-length": String(Buffer.byteLength(shedBody))
    })
    this.frontHeaders = { limit: frontHeaders("limit"), queue_full: frontHeaders("queue_full") }
    this.front = <S extends Http.Server | Https.Server>(server: S, frontOptions?: Api.LoadShedding.FrontOptions): S =>
      this.install(server, frontOptions)
  }

  readonly front: Api.LoadShedder["front"]
  private readonly frontHeaders: Record<"limit" | "queue_full", Http.OutgoingHttpHeaders>

  /**
   * The reason the middleware would shed a request arriving now whatever the request is (past the limit with no
   * queue; the queue full with no priority function, so nothing could displace a queued request), or `undefined`
   * when the request might be admitted, queued or let through by a priority: then the middleware decides.
   */
  private certainShed(): "limit" | "queue_full" | undefined {
    if (this.active < this.limit) return undefined
    if (this.options.maxQueue === 0) return "limit"
    if (this.queue.length >= this.options.maxQueue && this.options.priority === undefined) return "queue_full"
    return undefined
  }

  private install<S extends Http.Server | Https.Server>(server: S, frontOptions?: Api.LoadShedding.FrontOptions): S {
    const exempt = validatedSync("LoadShedder.front", (v) => {
      const given: unknown = server
      if (!(given instanceof Http.Server || given instanceof Https.Server)) {
        v.fail("server", server, "a node:http or node:https Server")
      }
      if (frontOptions !== undefined) v.object("options", frontOptions)
      const exempt = v.optionalFunction("exempt", frontOptions?.exempt)
      if (exempt === undefined && this.options.exempt !== defaultExempt) {
        v.fail(
          "exempt",
          exempt,
          "a function on the Node request (the shedder's exempt is custom, and the front must not shed what it exempts)"
        )
      }
      return exempt ?? defaultFrontExempt
    })
    const emit = server.emit
    // The server emits "request" for each request it has parsed; the listeners (NodeHttpServer's handler, which
    // starts a fiber per request) run only for the requests the front lets through.
    Object.defineProperty(server, "emit", {
      configurable: true,
      writable: true,
      value: (event: string | symbol, ...args: Array<unknown>): boolean => {
        if (event === "request") {
          const reason = this.certainShed()
          if (reason !== undefined) {
            const request = args[0]
            const response = args[1]
            if (
              request instanceof Http.IncomingMessage && response instanceof Http.ServerResponse &&
              !isExempt(exempt, request)
            ) {
              this.shed[reason]++
              response.writeHead(503, this.frontHeaders[reason])
              response.end(shedBody)
              return true
            }
          }
        }
        return Reflect.apply(emit, server, [event, ...args])
      }
    })
    return server
  }

  get stats(): Effect.Effect<Api.Stats> {
    return Effect.sync(() => ({
      limit: this.limit,
      inFlight: this.active,
      queued: this.queue.length,
      shed: { ...this.shed }
    }))
  }

  collect(): void {
    this.limitGauge.unsafeUpdate(this.limit, [])
    this.activeGauge.unsafeUpdate(this.active, [])
    this.queuedGauge.unsafeUpdate(this.queue.length, [])
    for (const reason of ["limit", "queue_full", "queue_timeout"] as const) {
      const delta = this.shed[reason] - this.reported[reason]
      if (delta > 0) {
        this.reported[reason] = this.shed[reason]
        this.shedCounters[reason].unsafeUpdate(delta, [])
      }
    }
  }

  /** The 503s, built once (a response is an immutable value): a shed request costs no allocation of ours. */
  private readonly responses: Record<Api.ShedReason, HttpServerResponse.HttpServerResponse>

  private reject(reason: Api.ShedReason): HttpServerResponse.HttpServerResponse {
    this.shed[reason]++
    return this.responses[reason]
  }

  /** Frees a slot: hands it to the first waiter while under the limit. */
  private release(): void {
    this.active--
    while (this.active < this.limit && this.queue.length > 0) {
      const waiter = this.queue.shift()!
      waiter.state = "granted"
      this.active++
      Deferred.unsafeDone(waiter.deferred, Exit.succeed(true))
    }
  }

  private enqueue(priority: number): Waiter | HttpServerResponse.HttpServerResponse {
    const waiter: Waiter = {
      priority,
      seq: this.seq++,
      deferred: Deferred.unsafeMake<boolean>(FiberId.none),
      state: "waiting"
    }
    if (this.queue.length >= this.options.maxQueue) {
      // Full: a request of higher priority displaces the last of the lowest; otherwise it is shed.
      const last = this.queue[this.queue.length - 1]
      if (last === undefined || last.priority >= priority) return this.reject("queue_full")
      this.queue.pop()
      last.state = "shed"
      Deferred.unsafeDone(last.deferred, Exit.succeed(false))
    }
    let i = this.queue.length
    while (i > 0 && this.queue[i - 1]!.priority < priority) i--
    this.queue.splice(i, 0, waiter)
    return waiter
  }

  private leave(waiter: Waiter): void {
    const i = this.queue.indexOf(waiter)
    if (i !== -1) this.queue.splice(i, 1)
  }

  private apply<E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> {
    const runIn = (restore: <A, E1, R1>(e: Effect.Effect<A, E1, R1>) => Effect.Effect<A, E1, R1>) =>
      this.estimator === undefined
        ? Effect.ensuring(restore(app), Effect.sync(() => this.release()))
        : this.sampled(restore(app))
    return Effect.withFiberRuntime<
      HttpServerResponse.HttpServerResponse,
      E,
      R | HttpServerRequest.HttpServerRequest
    >((fiber) => {
      const request = Context.unsafeGet(fiber.currentContext, HttpServerRequest.HttpServerRequest)
      if (this.options.exempt(request)) return app
      return Effect.uninterruptibleMask((restore) => {
        if (this.active < this.limit) {
          this.active++
          return runIn(restore)
        }
        if (this.options.maxQueue === 0) return Effect.succeed(this.reject("limit"))
        const priority = this.options.priority === undefined ? 0 : this.options.priority(request)
        const queued = this.enqueue(priority)
        if (!("deferred" in queued)) return Effect.succeed(queued)
        const wait = this.options.queueTimeout === undefined
          ? Effect.interruptible(Deferred.await(queued.deferred))
          : Effect.map(
            // The server may run the app uninterruptibly: the wait itself is interruptible, so the timeout ends it.
            Effect.timeoutOption(Effect.interruptible(Deferred.await(queued.deferred)), this.options.queueTimeout),
            (o) => o._tag === "Some" ? o.value : undefined
          )
        return Effect.matchCauseEffect(restore(wait), {
          onFailure: (cause) => {
            // Interrupted while queued (the client went away): leave, or pass on a slot handed over meanwhile.
            if (queued.state === "granted") this.release()
            else this.leave(queued)
            queued.state = "shed"
            return Effect.failCause(cause)
          },
          onSuccess: (granted) => {
            if (granted === true) return runIn(restore)
            if (granted === false || queued.state === "shed") return Effect.succeed(this.reject("queue_full"))
            // Timed out: unless a slot arrived in the same instant, leave the queue.
            if (queued.state === "granted") return runIn(restore)
            this.leave(queued)
            queued.state = "shed"
            return Effect.succeed(this.reject("queue_timeout"))
          }
        })
      })
    })
  }

  /** Runs the request and gives the adaptive limit one sample: its latency and the requests in flight at start. */
  private sampled<E, R>(
    self: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
  ): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R> {
    const estimator = this.estimator!
    const inflight = this.active
    return Effect.flatMap(
      Clock.currentTimeNanos,
      (start) =>
        Effect.onExit(self, (exit) =>
          Effect.flatMap(Clock.currentTimeNanos, (end) => {
            const sample = Exit.isSuccess(exit)
              ? estimator.sample({
                rttMillis: Number(end - start) / 1_000_000,
                inflight,
                dropped: exit.value.status === 503 || exit.value.status === 504
              })
              : Effect.succeed(this.limit)
            return Effect.map(sample, (limit) => {
              this.limit = limit
              this.release()
            })
          }))
    )
  }
}

const makeShedder = (resolved: Resolved): Shedder => {
  const estimator = resolved.adaptive === undefined
    ? undefined
    : Effect.runSync(AdaptiveLimit.estimator(resolved.adaptive))
  const shedder = new Shedder(resolved, estimator)
  ResilienceMetrics.registerCollector(shedder)
  return shedder
}

/** @internal */
export const make = (options: Api.LoadShedding.Options): Effect.Effect<Api.LoadShedder, InvalidOptionsError> =>
  Effect.map(validated("LoadShedding.make", (v) => resolve(v, options)), makeShedder)

/** @internal */
export const middleware = (options: Api.LoadShedding.Options): Api.Middleware =>
  makeShedder(validatedSync("LoadShedding.middleware", (v) => resolve(v, options))).middleware
