import * as net from "node:net"

/** A PostgreSQL CancelRequest: length 16, code 80877102. */
const isCancelRequest = (chunk: Buffer): boolean =>
  chunk.length >= 8 && chunk.readInt32BE(0) === 16 && chunk.readInt32BE(4) === 80877102

/**
 * A TCP proxy on loopback in front of PostgreSQL, for fault tests: it can stop forwarding (a stalled network:
 * connections stay open, bytes go nowhere) and hold CancelRequests back for a while (a slow cancel path).
 */
export interface Proxy {
  readonly port: number
  readonly url: string
  /** Stops forwarding in both directions on every connection, old and new (they stay open). */
  stall(): void
  /** Forwards again (what was held back is delivered). */
  resume(): void
  /** CancelRequests reach the server only after this many milliseconds. */
  delayCancels(millis: number): void
  /** How many CancelRequests went through the proxy. */
  readonly cancels: () => number
  /** Destroys every connection and stops listening. */
  close(): Promise<void>
}

export const start = (target: { readonly host: string; readonly port: number }, database = "test"): Promise<Proxy> =>
  new Promise((resolve, reject) => {
    const sockets = new Set<net.Socket>()
    const pending: Array<() => void> = []
    let stalled = false
    let cancelDelay = 0
    let cancels = 0
    const forward = (to: net.Socket, chunk: Buffer) => {
      if (stalled) pending.push(() => to.write(chunk))
      else to.write(chunk)
    }
    const server = net.createServer({ allowHalfOpen: true }, (client) => {
      const upstream = net.connect({ port: target.port, host: target.host, allowHalfOpen: true })
      sockets.add(client)
      sockets.add(upstream)
      let first = true
      // Client bytes (and the client's end) held back this long: a slow path for CancelRequests.
      let delay = 0
      client.on("data", (chunk: Buffer) => {
        if (first) {
          first = false
          if (isCancelRequest(chunk)) {
            cancels++
            delay = cancelDelay
          }
        }
        if (delay > 0) setTimeout(() => forward(upstream, chunk), delay)
        else forward(upstream, chunk)
      })
      upstream.on("data", (chunk: Buffer) => forward(client, chunk))
      const end = () => {
        if (stalled) return
        client.destroy()
        upstream.destroy()
      }
      client.on("end", () => {
        if (delay > 0) setTimeout(() => upstream.end(), delay)
        else if (!stalled) upstream.end()
      })
      upstream.on("end", () => {
        if (!stalled) client.end()
      })
      client.on("close", () => {
        sockets.delete(client)
      })
      upstream.on("close", () => {
        sockets.delete(upstream)
        end()
      })
      client.on("error", end)
      upstream.on("error", end)
    })
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      resolve({
        port,
        url: `postgres://postgres@127.0.0.1:${port}/${database}`,
        stall: () => {
          stalled = true
        },
        resume: () => {
          stalled = false
          for (const send of pending.splice(0)) send()
        },
        delayCancels: (millis) => {
          cancelDelay = millis
        },
        cancels: () => cancels,
        close: () =>
          new Promise<void>((done) => {
            stalled = false
            pending.length = 0
            for (const socket of sockets) socket.destroy()
            server.close(() => done())
          })
      })
    })
  })
