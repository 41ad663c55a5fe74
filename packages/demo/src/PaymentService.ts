/**
 * The payment service: `POST /pay` charges the order at the gateway through a caller (naive or resilient) and
 * answers 200, or an error status with the error's kind in a JSON body.
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpRouter from "@effect/platform/HttpRouter"
import type * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as http from "node:http"

/**
 * The gateway answered with an error status, or could not be reached.
 *
 * @since 0.1.0
 * @category errors
 */
export class GatewayError extends Data.TaggedError("GatewayError")<{
  /** The HTTP status, or 0 when the request failed before an answer. */
  readonly status: number
}> {}

/**
 * One charge at the gateway, as a plain HTTP call with no policy around it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const charge = (gatewayUrl: string, order: string): Effect.Effect<void, GatewayError, HttpClient.HttpClient> =>
  Effect.flatMap(
    HttpClient.HttpClient,
    (client) =>
      client.execute(HttpClientRequest.post(`${gatewayUrl}/charge?order=${order}`)).pipe(
        Effect.flatMap((response) =>
          response.status === 200
            ? Effect.asVoid(response.text)
            : Effect.zipRight(response.text, Effect.fail(new GatewayError({ status: response.status })))
        ),
        Effect.scoped,
        Effect.catchTag("RequestError", "ResponseError", () => Effect.fail(new GatewayError({ status: 0 })))
      )
  )

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
      return e.status === 0 ? "gateway_unreachable" : `gateway_${e.status}`
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
 * Starts the payment service on a random loopback port for the life of the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = <E, R>(
  call: (order: string) => Effect.Effect<void, E, R>
): Effect.Effect<{ readonly url: string }, never, Scope.Scope | R> =>
  Effect.gen(function*() {
    const pay = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const order = new URL(request.url, "http://localhost").searchParams.get("order") ?? "0"
      return yield* call(order).pipe(
        Effect.as(HttpServerResponse.unsafeJson({ status: "paid", order })),
        Effect.catchAll((error) => {
          const kind = errorKind(error)
          const status = kind.startsWith("timeout") ? 504 : kind === "gateway_unreachable" ? 502 : 503
          return Effect.succeed(HttpServerResponse.unsafeJson({ status: "failed", kind }, { status }))
        })
      )
    })
    const app = HttpRouter.empty.pipe(HttpRouter.post("/pay", pay))
    const server = yield* NodeHttpServer.make(() => http.createServer(), { host: "127.0.0.1", port: 0 }).pipe(
      Effect.orDie
    )
    yield* server.serve(app)
    const address = server.address as HttpServer.TcpAddress
    return { url: `http://127.0.0.1:${address.port}` }
  })
