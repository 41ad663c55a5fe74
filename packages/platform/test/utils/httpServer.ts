/**
 * Real HTTP servers on random loopback ports for the ResilientHttpClient tests: each records what it saw (requests,
 * sockets opened and closed) and answers with a scripted handler.
 */
import { Effect } from "effect"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

export interface SeenRequest {
  readonly method: string
  readonly url: string
  readonly headers: Http.IncomingHttpHeaders
}

export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string
  readonly host: string
  readonly requests: Array<SeenRequest>
  /** Sockets the server accepted. */
  readonly sockets: () => number
  /** Sockets the client closed while a request was waiting for its answer. */
  readonly abandoned: () => number
  /** Resolves when `requests.length` reaches `n`. */
  readonly waitForRequests: (n: number) => Effect.Effect<void>
  /** Resolves when a waiting request's socket was closed by the client. */
  readonly waitForAbandoned: Effect.Effect<void>
}

/** The handler gets the request, the response and the 1-based number of the request. */
export type Handler = (req: Http.IncomingMessage, res: Http.ServerResponse, n: number) => void

const sleepReal = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))

export const httpServer = (handler: Handler): Effect.Effect<TestServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ readonly server: Http.Server; readonly api: TestServer }>((resume) => {
      const requests: Array<SeenRequest> = []
      let sockets = 0
      let abandoned = 0
      const server = Http.createServer((req, res) => {
        requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers })
        // Abandoned: the client closed the socket before the server answered.
        res.on("close", () => {
          if (!res.writableFinished) abandoned++
        })
        // Read the request body before answering, as real servers do.
        req.resume()
        req.on("end", () => handler(req, res, requests.length))
      })
      server.on("connection", () => sockets++)
      server.keepAliveTimeout = 30_000
      const until = (done: () => boolean) =>
        Effect.promise(async () => {
          for (let i = 0; i < 2000 && !done(); i++) await sleepReal(5)
          if (!done()) throw new Error("the server never saw what the test waits for")
        })
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as AddressInfo).port
        resume(Effect.succeed({
          server,
          api: {
            origin: `http://127.0.0.1:${port}`,
            host: `127.0.0.1:${port}`,
            requests,
            sockets: () => sockets,
            abandoned: () => abandoned,
            waitForRequests: (n) => until(() => requests.length >= n),
            waitForAbandoned: until(() => abandoned > 0)
          }
        }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ api }) => api))

/** Answers `status` with a small body and the given headers. */
export const answer = (res: Http.ServerResponse, status: number, headers: Http.OutgoingHttpHeaders = {}) => {
  const body = status >= 400 ? `{"error":"status ${status}"}` : `{"ok":true}`
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...headers })
  res.end(body)
}
