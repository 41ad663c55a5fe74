import { Services } from "@effect-resilience/testing"
import { Clock, Effect, Fiber, Option, type Scope } from "effect"
import { Redis } from "ioredis"
import * as net from "node:net"

export const redis = await Services.redis()

/** A client whose commands are counted (only this test's: other files share the server). */
export interface Counted {
  readonly client: Redis
  /** Commands sent so far, by name. */
  readonly commands: Array<string>
  /** The fiber (id) running when each command was sent, -1 when none was. */
  readonly fibers: Array<number>
}

/** A client for `url` that records every command it sends; disconnected when the scope closes. */
export const countedClient = (
  url: string = redis.url,
  /** Holds every EVALSHA this long before sending it (a slow Redis). */
  delayMillis = 0
): Effect.Effect<Counted, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const client = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 })
      client.on("error", () => {})
      const commands: Array<string> = []
      const fibers: Array<number> = []
      const send = client.sendCommand.bind(client)
      client.sendCommand = ((command: { name: string; promise: Promise<unknown> }, ...rest: Array<unknown>) => {
        commands.push(command.name)
        fibers.push(Option.match(Fiber.getCurrentFiber(), { onNone: () => -1, onSome: (f) => f.id().id }))
        if (delayMillis > 0 && command.name === "evalsha") {
          setTimeout(() => (send as (...args: Array<unknown>) => unknown)(command, ...rest), delayMillis)
          return command.promise
        }
        return (send as (...args: Array<unknown>) => unknown)(command, ...rest)
      }) as typeof client.sendCommand
      return { client, commands, fibers }
    }),
    ({ client }) => Effect.sync(() => client.disconnect())
  )

/** Deletes every key under `prefix` (when the scope closes). */
export const cleanup = (prefix: string): Effect.Effect<void, never, Scope.Scope> =>
  Effect.addFinalizer(() =>
    Effect.promise(async () => {
      const client = new Redis(redis.url)
      try {
        let cursor = "0"
        do {
          const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000)
          cursor = next
          if (keys.length > 0) await client.del(...keys)
        } while (cursor !== "0")
      } finally {
        client.disconnect()
      }
    })
  )

/** A live clock moved by `skewMillis` (a replica whose clock disagrees). */
export const skewedClock = (skewMillis: number): Clock.Clock => {
  const live = Clock.make()
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => live.unsafeCurrentTimeMillis() + skewMillis,
    unsafeCurrentTimeNanos: () => live.unsafeCurrentTimeNanos() + BigInt(skewMillis) * 1_000_000n,
    currentTimeMillis: Effect.sync(() => live.unsafeCurrentTimeMillis() + skewMillis),
    currentTimeNanos: Effect.sync(() => live.unsafeCurrentTimeNanos() + BigInt(skewMillis) * 1_000_000n),
    sleep: (duration) => live.sleep(duration)
  }
}

/** Polls `check` every 10 ms (real time) until it holds, at most `maxMillis`; says whether it did. */
export const eventually = <E, R>(
  check: Effect.Effect<boolean, E, R>,
  maxMillis = 5_000
): Effect.Effect<boolean, E, R> =>
  Effect.gen(function*() {
    const deadline = Date.now() + maxMillis
    while (Date.now() < deadline) {
      if (yield* check) return true
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
    }
    return yield* check
  })

/** Waits `millis` of real time. */
export const sleep = (millis: number): Effect.Effect<void> =>
  Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, millis)))

/** A loopback TCP proxy to Redis that a test can cut (closing every connection) and restore on the same port. */
export interface Proxy {
  readonly url: string
  readonly cut: () => Promise<void>
  readonly restore: () => Promise<void>
}

export const proxy: Effect.Effect<Proxy, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(async () => {
    const target = new URL(redis.url)
    const sockets = new Set<net.Socket>()
    const makeServer = () =>
      net.createServer((socket) => {
        const upstream = net.connect({ host: target.hostname, port: Number(target.port) })
        sockets.add(socket)
        sockets.add(upstream)
        const drop = () => {
          socket.destroy()
          upstream.destroy()
          sockets.delete(socket)
          sockets.delete(upstream)
        }
        socket.on("error", drop).on("close", drop)
        upstream.on("error", drop).on("close", drop)
        socket.pipe(upstream)
        upstream.pipe(socket)
      })
    const listen = (server: net.Server, port: number) =>
      new Promise<number>((resolve, reject) => {
        server.once("error", reject)
        server.listen(port, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port))
      })
    let server = makeServer()
    const port = await listen(server, 0)
    const close = () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        sockets.clear()
        server.close(() => resolve())
      })
    return {
      url: `redis://127.0.0.1:${port}`,
      cut: close,
      restore: async () => {
        server = makeServer()
        await listen(server, port)
      },
      close
    }
  }),
  (p) => Effect.promise(() => p.close())
)
