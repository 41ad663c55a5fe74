/**
 * Graceful shutdown for an HTTP service on `NodeHttpServer`.
 *
 * `NodeRuntime.runMain` interrupts the main fiber at the first SIGTERM/SIGINT, with no hook before, and
 * `NodeHttpServer` runs each request on a detached fiber and, when its scope closes, waits for open
 * connections. So the drain lives in a finalizer: `GracefulShutdown.layer` wraps the `HttpServer` service, and
 * every `serve` through it tracks in-flight requests with a middleware and registers the drain right after the
 * request handler, so the drain runs first when the layers close:
 *
 * 1. readiness turns 503 (`Health.markDraining`, when a `Health` service is provided to the layer), idle
 *    keep-alive connections are closed and every response from now on carries `Connection: close`;
 * 2. wait `preStopDelay` (the load balancer takes the pod out of rotation; requests still arriving are served);
 * 3. stop accepting: the listener closes, and so do connections without a request; a request still arriving on an
 *    open connection is answered with `Connection: close`;
 * 4. wait for the accepted requests, at most `drainTimeout` (a request whose connection has closed no longer
 *    counts: there is nobody left to answer);
 * 5. past the deadline, interrupt what is left (the clients get a 503) and die with `DrainTimeoutError`;
 * 6. the handler is removed, the server closes, and the remaining layers close in reverse order (pools last).
 *
 * `GracefulShutdown.teardown`, given to `NodeRuntime.runMain`, makes the exit code say how it went: 0 after a
 * clean drain, `drainTimeoutExitCode` (75) when work had to be interrupted, 1 on any other failure.
 *
 * @since 0.1.0
 */
import type { InvalidOptionsError } from "@effect-resilience/core/InvalidOptionsError"
import type * as HttpServer from "@effect/platform/HttpServer"
import type { Teardown } from "@effect/platform/Runtime"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as internal from "./internal/gracefulShutdown.js"
import { DrainTimeoutError } from "./internal/gracefulShutdown.js"

export {
  /**
   * The drain deadline passed with requests still in flight; they were interrupted.
   *
   * @since 0.1.0
   * @category errors
   */
  DrainTimeoutError
}

/**
 * The state of the drain, read by tests, health and logs.
 *
 * @since 0.1.0
 * @category models
 */
export interface GracefulShutdownService {
  /** Requests being handled now. */
  readonly inFlight: Effect.Effect<number>
  /** Whether the drain has begun. */
  readonly draining: Effect.Effect<boolean>
}

/**
 * The identifier of the graceful-shutdown service in a context.
 *
 * @since 0.1.0
 * @category tags
 */
export interface GracefulShutdown {
  readonly _: unique symbol
}

/**
 * The graceful-shutdown service's tag.
 *
 * @since 0.1.0
 * @category tags
 */
export const GracefulShutdown: Context.Tag<GracefulShutdown, GracefulShutdownService> = internal.tag

/**
 * @since 0.1.0
 */
export declare namespace GracefulShutdown {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Options {
    /** Time to keep serving after readiness turns 503, before waiting on the in-flight requests (default 0). */
    readonly preStopDelay?: Duration.DurationInput | undefined
    /**
     * How long to wait for the accepted requests once `preStopDelay` has passed and the listener is closed
     * (default 20 seconds).
     */
    readonly drainTimeout?: Duration.DurationInput | undefined
    /**
     * Once the deadline has passed and the remaining requests are interrupted, how long they get to send
     * their 503 before their connections are destroyed (default 1 second).
     */
    readonly interruptGrace?: Duration.DurationInput | undefined
  }
}

/**
 * Wraps the provided `HttpServer`: everything served through the result is tracked and drained when its scope
 * closes. Provide it between the server and `HttpServer.serve`, with the `Health` service (if any) below it.
 * Fails with `InvalidOptionsError` naming the field for options that are not an object or a duration that is
 * negative, infinite or unreadable.
 *
 * @example
 * ```ts
 * import { GracefulShutdown, Health } from "@effect-resilience/platform"
 * import { HttpRouter, HttpServer } from "@effect/platform"
 * import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
 * import { Layer } from "effect"
 * import { createServer } from "node:http"
 *
 * const Main = HttpRouter.empty.pipe(
 *   HttpRouter.concat(Health.router),
 *   HttpServer.serve(),
 *   Layer.provide(GracefulShutdown.layer({ preStopDelay: "5 seconds", drainTimeout: "20 seconds" })),
 *   Layer.provide(NodeHttpServer.layer(createServer, { port: 3000 })),
 *   Layer.provide(Health.layer({ checks: [] }))
 * )
 *
 * Layer.launch(Main).pipe(NodeRuntime.runMain({ teardown: GracefulShutdown.teardown }))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (
  options?: GracefulShutdown.Options
) => Layer.Layer<
  HttpServer.HttpServer | GracefulShutdown,
  InvalidOptionsError,
  HttpServer.HttpServer
> = internal.layer

/**
 * A teardown for `NodeRuntime.runMain`: exit 0 on success or after a clean drain (interruption only),
 * `drainTimeoutExitCode` when the drain deadline passed, 1 on any other failure.
 *
 * @since 0.1.0
 * @category teardown
 */
export const teardown: Teardown = internal.teardown

/**
 * The exit code `teardown` uses when work had to be interrupted: 75 (`EX_TEMPFAIL`).
 *
 * @since 0.1.0
 * @category teardown
 */
export const drainTimeoutExitCode: number = internal.drainTimeoutExitCode
