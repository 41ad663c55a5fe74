/**
 * The payment service, as an operator would run it: `POST /pay` charges the order at the gateway through a
 * `Stacks.Caller` and records it in its `Ledger` (a `ResourcePool`); `GET /health/live`, `GET /health/ready` (the
 * gateway's breaker as an optional check: an open breaker makes the service `degraded`, still ready) and
 * `GET /metrics` (Prometheus) on the same port; the server behind `GracefulShutdown`, so closing its scope (Ctrl-C)
 * drains the requests in flight. With a fallback, a payment the gateway cannot take is accepted as pending (202)
 * into a bounded queue and replayed once the breaker lets calls through.
 *
 * @since 0.1.0
 */
import { GracefulShutdown, Health, type LoadShedding, Prometheus } from "@effect-resilience/platform"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as http from "node:http"
import type { Ledger } from "./Ledger.js"
import type { Caller } from "./Stacks.js"

export {
  /**
   * The gateway answered with an error status, or could not be reached.
   *
   * @since 0.1.0
   * @category errors
   */
  GatewayError
} from "./Stacks.js"

/**
 * The kind of an error in lower snake case, for the report: `gateway_503`, `timeout_attempt`,
 * `circuit_breaker_open`, `bulkhead_queue_full`, ...
 *
 * @since 0.1.0
 * @category utils
 */
export const errorKind = (error: unknown): string => {
  if (typeof error !== "object" || error === null || !("_tag" in error)) return "unknown"
  const e = error as {
    readonly _tag: string
    readonly status?: number
    readonly scope?: string
    readonly reason?: string
  }
  switch (e._tag) {
    case "GatewayError":
    case "HttpStatusError":
      return e.status === 0 ? "gateway_unreachable" : `gateway_${e.status}`
    case "RequestError":
      return "gateway_unreachable"
    case "TimeoutError":
      return `timeout_${e.scope ?? "attempt"}`
    case "CircuitBreakerOpenError":
      return "circuit_breaker_open"
    case "BulkheadRejectedError":
      return `bulkhead_${
        String(e.reason ?? "rejected").replace(/[A-Z]/g, (c, i) => (i > 0 ? "_" : "") + c.toLowerCase())
      }`
    case "RateLimitedError":
      return "rate_limited"
    default:
      return e._tag.replace(/[A-Z]/g, (c, i) => (i > 0 ? "_" : "") + c.toLowerCase())
  }
}

/**
 * What the fallback did: payments accepted as pending, replayed (Clock millis of each), refused (queue full).
 *
 * @since 0.1.0
 * @category models
 */
export interface FallbackStats {
  readonly queued: number
  readonly replayedAt: ReadonlyArray<number>
  readonly refused: number
  /** Still waiting in the queue or being replayed. */
  readonly waiting: number
}

/**
 * A running payment service.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly url: string
  readonly fallback: Effect.Effect<FallbackStats>
}

/**
 * Options of the service.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly caller: Caller
  readonly ledger: Ledger
  /** The capacity of the pending queue, or none for no fallback. */
  readonly fallbackCapacity: Option.Option<number>
  /** Time between two rounds of health checks. */
  readonly healthInterval: number
  /** Serve `POST /pay` through this load shedder (health and metrics are never shed). */
  readonly shedding?: LoadShedding.LoadShedder | undefined
}

/**
 * Starts the payment service on a random loopback port for the life of the scope; closing the scope drains it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = (options: Options): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { caller, ledger } = options
    const checks = [Health.check({ name: "ledger", check: ledger.ping, timeout: "1 second" })]
    if (Option.isSome(caller.breakerState)) {
      const state = caller.breakerState.value
      checks.push(Health.check({
        name: "gateway",
        critical: false,
        timeout: "1 second",
        check: Effect.map(state, (s) => s === "Closed")
      }))
    }
    const health = yield* Health.make({ checks, interval: options.healthInterval, eventLoop: false }).pipe(
      Effect.orDie
    )
    const prometheus = yield* Prometheus.make({ serviceName: `payments-${caller.name}` }).pipe(Effect.orDie)

    // The fallback: a bounded queue of pending orders and the fibers replaying them.
    let queued = 0
    let refused = 0
    let replaying = 0
    const replayedAt: Array<number> = []
    const queue = yield* Queue.dropping<string>(Option.getOrElse(options.fallbackCapacity, () => 1))
    if (Option.isSome(options.fallbackCapacity)) {
      const open = Option.getOrElse(caller.breakerState, () => Effect.succeed("Closed"))
      const replay = Effect.gen(function*() {
        // Wait for the breaker to let calls through (half-open: this call is a probe), then take a payment: while
        // the gateway is away the payments stay in the queue, which holds at most its capacity.
        while ((yield* open) === "Open") yield* Effect.sleep("100 millis")
        const order = yield* Queue.take(queue)
        replaying++
        const exit = yield* Effect.exit(Effect.zipRight(caller.charge(order), ledger.record(order, "paid")))
        if (Exit.isSuccess(exit)) {
          replayedAt.push(yield* Clock.currentTimeMillis)
        } else {
          yield* Queue.offer(queue, order)
          yield* Effect.sleep("200 millis")
        }
        replaying--
      })
      yield* Effect.forkScoped(Effect.replicateEffect(Effect.forever(replay), 4, { concurrency: "unbounded" }))
    }

    const pay = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const order = new URL(request.url, "http://localhost").searchParams.get("order") ?? "0"
      const charged = yield* Effect.either(caller.charge(order))
      if (charged._tag === "Right") {
        return yield* ledger.record(order, "paid").pipe(
          Effect.as(HttpServerResponse.unsafeJson({ status: "paid", order })),
          Effect.catchAll(() =>
            Effect.succeed(HttpServerResponse.unsafeJson({ status: "failed", kind: "ledger" }, { status: 500 }))
          )
        )
      }
      const kind = errorKind(charged.left)
      if (Option.isSome(options.fallbackCapacity) && !order.startsWith("warmup")) {
        if (yield* Queue.offer(queue, order)) {
          queued++
          yield* Effect.ignore(ledger.record(order, "pending"))
          return HttpServerResponse.unsafeJson({ status: "pending", order, kind }, { status: 202 })
        }
        refused++
      }
      const status = kind.startsWith("timeout") ? 504 : kind === "gateway_unreachable" ? 502 : 503
      return HttpServerResponse.unsafeJson({ status: "failed", kind }, { status })
    })
    const app = HttpRouter.empty.pipe(
      HttpRouter.post("/pay", pay),
      HttpRouter.concat(Health.router),
      HttpRouter.concat(Prometheus.router)
    )
    const services = Context.make(Health.Health, health).pipe(Context.add(Prometheus.Prometheus, prometheus))
    const context = yield* Layer.build(
      GracefulShutdown.layer({ drainTimeout: "3 seconds", interruptGrace: "200 millis" }).pipe(
        Layer.provide(NodeHttpServer.layer(() => http.createServer(), { host: "127.0.0.1", port: 0 })),
        Layer.provide(Layer.succeedContext(services))
      )
    ).pipe(Effect.orDie)
    const server = Context.get(context, HttpServer.HttpServer)
    yield* (options.shedding === undefined ? server.serve(app) : server.serve(app, options.shedding.middleware)).pipe(
      Effect.provide(services)
    )
    const address = server.address as HttpServer.TcpAddress
    return {
      url: `http://127.0.0.1:${address.port}`,
      fallback: Effect.map(Queue.size(queue), (size) => ({
        queued,
        replayedAt: [...replayedAt],
        refused,
        // a queue's size is negative while takers wait on it
        waiting: Math.max(0, size) + replaying
      }))
    }
  })
