/**
 * Load shedding for an `@effect/platform` HTTP server: at most `limit` requests are handled at once (a number, or
 * an `AdaptiveLimit` learned from the handler's latency), at most `maxQueue` more wait (for at most
 * `queueTimeout`), and the rest are answered at once with `503 Service Unavailable` and `Retry-After`, before
 * any of the handler's work is done. A service that accepts every request under overload answers none of them in
 * time; one that sheds keeps the latency of those it accepts.
 *
 * Health and metrics routes (`/health`, `/health/*`, `/metrics`) are never shed (change with `exempt`). A
 * `priority` function orders the queue: a request of higher priority is handed a slot first and, when the queue is
 * full, displaces a queued request of lower priority (which gets the 503).
 *
 * Metrics (pushed on scrape): `adaptive_limit{name}` (the limit now), `bulkhead_active{name}` (requests in
 * flight), `bulkhead_queued{name}`, `load_shed_total{reason}` with reason `limit` (past the limit, no queue),
 * `queue_full` or `queue_timeout`.
 *
 * On Node, `shedder.front(server)` also sheds in the server's `request` event, before a fiber is started for the
 * request: the requests the middleware would shed whatever they are cost a plain Node response.
 *
 * @since 0.1.0
 */
import type * as AdaptiveLimit from "@effect-resilience/core/AdaptiveLimit"
import type { InvalidOptionsError } from "@effect-resilience/core/InvalidOptionsError"
import type * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Http from "node:http"
import type * as Https from "node:https"
import * as internal from "./internal/loadShedding.js"

/**
 * Why a request was shed: past the limit with no queue, the queue was full (or it was displaced by a request of
 * higher priority), or it waited `queueTimeout` in the queue.
 *
 * @since 0.1.0
 * @category models
 */
export type ShedReason = "limit" | "queue_full" | "queue_timeout"

/**
 * What the shedder holds now, and what it has shed since it was made.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly limit: number
  readonly inFlight: number
  readonly queued: number
  readonly shed: Readonly<Record<ShedReason, number>>
}

/**
 * The shedding middleware: an `HttpMiddleware` that keeps the app's types.
 *
 * @since 0.1.0
 * @category models
 */
export interface Middleware {
  <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R>
}

/**
 * A load shedder: its middleware and its read-outs.
 *
 * @since 0.1.0
 * @category models
 */
export interface LoadShedder {
  /** The middleware to serve the app through (`HttpServer.serve(app, shedder.middleware)`). */
  readonly middleware: Middleware
  /** The limit, requests in flight and queued, and requests shed by reason. */
  readonly stats: Effect.Effect<Stats>
  /**
   * Installs the shedder's front on a Node server and returns the server: each request that the middleware would
   * certainly shed when it arrives (past the limit with `maxQueue: 0`, or the queue full and no `priority`
   * function) is answered at once in the server's `request` event, with the middleware's 503 (same `Retry-After`,
   * `X-Load-Shed` and body) and counted in the same `stats` and `load_shed_total`, without starting a fiber; every
   * other request goes on to the server's listeners (`NodeHttpServer`) and the middleware, which decides as before.
   * Serve the app through `middleware` as well: the front reads the state the middleware keeps.
   *
   * Requests the front sheds skip the app's other middleware (no span, no access log). Exempt requests are never
   * shed: by default the shedder's paths (`/health`, `/health/*`, `/metrics`) on `request.url`; when the shedder
   * has a custom `exempt`, the front needs `options.exempt`, the same test on the Node request.
   *
   * Throws `InvalidOptionsError` (constructor `"LoadShedder.front"`) when `server` is not a `node:http` or
   * `node:https` server, `options.exempt` is not a function, or it is missing while the shedder's is custom.
   */
  readonly front: <S extends Http.Server | Https.Server>(server: S, options?: LoadShedding.FrontOptions) => S
}

/**
 * @since 0.1.0
 */
export declare namespace LoadShedding {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Options {
    /** Requests handled at once: an integer >= 1, or an `AdaptiveLimit` learned from the handler's latency. */
    readonly limit: number | AdaptiveLimit.AdaptiveLimit
    /** Requests that may wait for a slot (default 0: shed as soon as the limit is reached). */
    readonly maxQueue?: number | undefined
    /** How long a request may wait in the queue (default: until a slot frees). */
    readonly queueTimeout?: Duration.DurationInput | undefined
    /** A request's priority (default 0; higher is served first, and displaces lower ones from a full queue). */
    readonly priority?: ((request: HttpServerRequest.HttpServerRequest) => number) | undefined
    /** Requests never shed nor counted (default: `/health`, `/health/*` and `/metrics`). */
    readonly exempt?: ((request: HttpServerRequest.HttpServerRequest) => boolean) | undefined
    /** The `Retry-After` of a 503, rounded up to whole seconds (default 1 second). */
    readonly retryAfter?: Duration.DurationInput | undefined
    /** The name of its metrics (default `"http_server"`). */
    readonly name?: string | undefined
  }

  /**
   * The options of `shedder.front`.
   *
   * @since 0.1.0
   * @category models
   */
  export interface FrontOptions {
    /**
     * Node requests never shed at the front: the shedder's `exempt` on the Node request (default: `/health`,
     * `/health/*` and `/metrics` on `request.url`; required when the shedder's `exempt` is custom).
     */
    readonly exempt?: ((request: Http.IncomingMessage) => boolean) | undefined
  }
}

/**
 * Makes a load shedder, with read-outs (`stats`) beside its middleware.
 *
 * @example
 * ```ts
 * import { LoadShedding } from "@effect-resilience/platform"
 * import { HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
 * import { Effect, Layer } from "effect"
 *
 * const app = HttpRouter.empty.pipe(HttpRouter.get("/quote", HttpServerResponse.text("42")))
 *
 * const ServerLive = Layer.unwrapEffect(
 *   Effect.map(
 *     LoadShedding.make({ limit: 64, maxQueue: 32, queueTimeout: "200 millis" }),
 *     (shedder) => HttpServer.serve(app, shedder.middleware)
 *   )
 * )
 * ```
 *
 * @example
 * ```ts
 * // On Node: the front sheds in the server's request event, before a fiber is started.
 * import { LoadShedding } from "@effect-resilience/platform"
 * import { HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
 * import { NodeHttpServer } from "@effect/platform-node"
 * import { Effect, Layer } from "effect"
 * import { createServer } from "node:http"
 *
 * const app = HttpRouter.empty.pipe(HttpRouter.get("/quote", HttpServerResponse.text("42")))
 *
 * const ServerLive = Layer.unwrapEffect(
 *   Effect.map(LoadShedding.make({ limit: 64 }), (shedder) =>
 *     HttpServer.serve(app, shedder.middleware).pipe(
 *       Layer.provide(NodeHttpServer.layer(() => shedder.front(createServer()), { port: 3000 }))
 *     ))
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options: LoadShedding.Options) => Effect.Effect<LoadShedder, InvalidOptionsError> = internal.make

/**
 * The middleware alone (throws `InvalidOptionsError` on a bad option): `HttpServer.serve(app,
 * LoadShedding.middleware({ limit: AdaptiveLimit.gradient2() }))`.
 *
 * @example
 * ```ts
 * import { AdaptiveLimit } from "@effect-resilience/core"
 * import { LoadShedding } from "@effect-resilience/platform"
 * import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
 *
 * const app = HttpRouter.empty.pipe(HttpRouter.post("/orders", HttpServerResponse.text("accepted")))
 *
 * const ServerLive = HttpServer.serve(
 *   app,
 *   LoadShedding.middleware({
 *     limit: AdaptiveLimit.gradient2({ minLimit: 8, maxLimit: 256 }),
 *     maxQueue: 50,
 *     queueTimeout: "100 millis",
 *     // Payments first.
 *     priority: (request: HttpServerRequest.HttpServerRequest) => request.url.startsWith("/payments") ? 1 : 0
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const middleware: (options: LoadShedding.Options) => Middleware = internal.middleware
