import type { InvalidOptionsError } from "@effect-resilience/core/InvalidOptionsError"
import { validated } from "@effect-resilience/core/OptionsValidator"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type { Teardown } from "@effect/platform/Runtime"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Http from "node:http"
import * as Https from "node:https"
import * as Net from "node:net"
import type * as Api from "../GracefulShutdown.js"
import { tag as healthTag } from "./health.js"
import { optionsObject } from "./options.js"

/** @internal */
export class DrainTimeoutError extends Data.TaggedError("DrainTimeoutError")<{
  /** Requests still running when the deadline passed (they were interrupted). */
  readonly interrupted: number
  /** The drain deadline that passed. */
  readonly drainTimeout: Duration.Duration
}> {
  override get message(): string {
    return `drain deadline of ${
      Duration.format(this.drainTimeout)
    } passed with ${this.interrupted} request(s) in flight; they were interrupted`
  }
}

/** @internal */
export const tag = Context.GenericTag<Api.GracefulShutdown, Api.GracefulShutdownService>(
  "@effect-resilience/platform/GracefulShutdown"
)

/** @internal */
export const drainTimeoutExitCode = 75

interface InFlight {
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
  readonly response: Http.ServerResponse | undefined
  readonly socket: Net.Socket | undefined
}

class Tracker {
  readonly requests = new Set<InFlight>()
  /** Sockets that have carried a request, with their requests in flight. */
  readonly sockets = new Map<Net.Socket, Set<InFlight>>()
  /** The Node server, learned from the first request's socket. */
  server: Net.Server | undefined = undefined
  draining = false
  /** The listener is to be closed (at once, or as soon as a request shows the server). */
  closed = false
  private listenerClosed = false
  private waiter: Deferred.Deferred<void> | undefined = undefined

  /** Completes once no request is in flight (at once when none is); requests may start while it waits. */
  readonly whenIdle: Effect.Effect<void> = Effect.suspend(() => {
    if (this.requests.size === 0) return Effect.void
    if (this.waiter === undefined) this.waiter = Deferred.unsafeMake<void>(FiberId.none)
    return Deferred.await(this.waiter)
  })

  start(entry: InFlight): void {
    this.requests.add(entry)
    const socket = entry.socket
    if (socket !== undefined) {
      const active = this.sockets.get(socket)
      if (active === undefined) {
        this.sockets.set(socket, new Set([entry]))
        // a closed connection ends the tracking of its requests: when the peer resets while the response is
        // written, Node never calls back `response.end`, and the request's fiber never ends
        socket.once("close", () => this.socketClosed(socket))
        if (this.server === undefined) this.server = serverOf(socket)
      } else {
        active.add(entry)
      }
    }
    if (this.draining) {
      closeAfterResponse(entry.response)
      if (this.closed && !this.listenerClosed) this.stopAccepting()
    }
  }

  end(entry: InFlight): void {
    if (!this.requests.delete(entry)) return
    if (entry.socket !== undefined) this.sockets.get(entry.socket)?.delete(entry)
    if (this.requests.size === 0 && this.waiter !== undefined) {
      Deferred.unsafeDone(this.waiter, Exit.void)
      this.waiter = undefined
    }
  }

  private socketClosed(socket: Net.Socket): void {
    const active = this.sockets.get(socket)
    this.sockets.delete(socket)
    if (active !== undefined) { for (const entry of active) this.end(entry) }
  }

  /** Drain begins: idle keep-alive connections close now, busy ones after their response. */
  beginDrain(): void {
    this.draining = true
    for (const [socket, active] of this.sockets) {
      if (active.size === 0) socket.destroy()
    }
    for (const entry of this.requests) closeAfterResponse(entry.response)
  }

  /**
   * Stops accepting: the listener closes and so do idle connections; a request on a connection that is still open
   * is answered with `Connection: close`. When no request has shown the server yet, the first one that does closes
   * it.
   */
  stopAccepting(): void {
    this.closed = true
    const server = this.server
    if (server === undefined) return
    this.listenerClosed = true
    if (server.listening) server.close()
    if (server instanceof Http.Server || server instanceof Https.Server) server.closeIdleConnections()
  }
}

/** The server that accepted a socket (Node sets `socket.server` when it accepts a connection). */
const serverOf = (socket: Net.Socket): Net.Server | undefined => {
  const server: unknown = (socket as { readonly server?: unknown }).server
  return server instanceof Net.Server ? server : undefined
}

const closeAfterResponse = (response: Http.ServerResponse | undefined): void => {
  if (response !== undefined && !response.headersSent) response.setHeader("connection", "close")
}

/** The Node response and socket behind an `HttpServerRequest`, when the server is `NodeHttpServer`. */
const nodeParts = (request: HttpServerRequest.HttpServerRequest) =>
  request.source instanceof Http.IncomingMessage
    ? { socket: request.source.socket, response: NodeHttpServerRequest.toServerResponse(request) }
    : { socket: undefined, response: undefined }

const makeMiddleware = (tracker: Tracker) => <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> =>
  Effect.withFiberRuntime((fiber) => {
    const request = Context.unsafeGet(fiber.currentContext, HttpServerRequest.HttpServerRequest)
    const { response, socket } = nodeParts(request)
    const entry: InFlight = { fiber, response, socket }
    tracker.start(entry)
    return Effect.ensuring(app, Effect.sync(() => tracker.end(entry)))
  })

/** @internal */
export const layer = (
  options: Api.GracefulShutdown.Options = {}
): Layer.Layer<HttpServer.HttpServer | Api.GracefulShutdown, InvalidOptionsError, HttpServer.HttpServer> =>
  Layer.effectContext(Effect.gen(function*() {
    const config = yield* validated("GracefulShutdown.layer", (v) => {
      optionsObject(v, options)
      return {
        preStopDelay: v.duration("preStopDelay", options.preStopDelay ?? 0, { finite: true }),
        drainTimeout: v.duration("drainTimeout", options.drainTimeout ?? "20 seconds", { finite: true }),
        interruptGrace: v.duration("interruptGrace", options.interruptGrace ?? "1 second", { finite: true })
      }
    })
    const server = yield* HttpServer.HttpServer
    const health = yield* Effect.serviceOption(healthTag)
    const tracker = new Tracker()
    const middleware = makeMiddleware(tracker)
    const drained = yield* Deferred.make<void, DrainTimeoutError>()
    let started = false

    const drainOnce: Effect.Effect<void, DrainTimeoutError> = Effect.gen(function*() {
      const inFlightAtStart = tracker.requests.size
      tracker.beginDrain()
      if (Option.isSome(health)) yield* health.value.markDraining
      yield* Effect.logInfo(`shutdown: draining, ${inFlightAtStart} request(s) in flight`)
      yield* Effect.sleep(config.preStopDelay)
      // stop accepting, so the wait below is for what was accepted only, even under steady traffic
      tracker.stopAccepting()
      yield* Effect.logInfo(`shutdown: listener closed, ${tracker.requests.size} request(s) in flight`)
      // finalizers run uninterruptibly: the wait is made interruptible so that its timeout can cut it
      const clean = yield* tracker.whenIdle.pipe(
        Effect.interruptible,
        Effect.timeout(config.drainTimeout),
        Effect.option
      )
      if (Option.isSome(clean)) {
        yield* Effect.logInfo("shutdown: drained, every request answered")
        return
      }
      const interrupted = tracker.requests.size
      const self = yield* Effect.fiberId
      for (const entry of tracker.requests) entry.fiber.unsafeInterruptAsFork(self)
      // the interrupted requests answer 503 and close; what cannot is cut off so the server can close
      yield* tracker.whenIdle.pipe(
        Effect.interruptible,
        Effect.timeout(config.interruptGrace),
        Effect.ignore
      )
      for (const entry of tracker.requests) entry.socket?.destroy()
      const error = new DrainTimeoutError({ interrupted, drainTimeout: config.drainTimeout })
      yield* Effect.logError(`shutdown: ${error.message}`)
      return yield* Effect.fail(error)
    })

    // the drain may be registered by several `serve` calls: the first runs it, the others wait for it
    const drain: Effect.Effect<void> = Effect.suspend(() => {
      if (started) return Deferred.await(drained)
      started = true
      return Effect.intoDeferred(drainOnce, drained).pipe(Effect.zipRight(Deferred.await(drained)))
    }).pipe(
      // a finalizer cannot fail: the deadline that passed becomes a defect, so the exit of the main fiber says it
      Effect.orDie
    )

    const wrapped = HttpServer.make({
      address: server.address,
      serve: (app, userMiddleware?: HttpMiddleware.HttpMiddleware) =>
        Effect.zipRight(
          server.serve(app, (inner) => middleware(userMiddleware === undefined ? inner : userMiddleware(inner))),
          Effect.addFinalizer(() => drain)
        )
    })

    const service: Api.GracefulShutdownService = {
      inFlight: Effect.sync(() => tracker.requests.size),
      draining: Effect.sync(() => tracker.draining)
    }
    return Context.make(HttpServer.HttpServer, wrapped).pipe(Context.add(tag, service))
  }))

const isDrainTimeout = (defect: unknown): boolean => defect instanceof DrainTimeoutError

/** @internal */
export const teardown: Teardown = (exit, onExit) => {
  if (Exit.isSuccess(exit)) return onExit(0)
  if (Cause.defects(exit.cause).pipe((defects) => Array.from(defects).some(isDrainTimeout))) {
    return onExit(drainTimeoutExitCode)
  }
  onExit(Cause.isInterruptedOnly(exit.cause) ? 0 : 1)
}
