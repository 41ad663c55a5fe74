import { Services } from "@effect-resilience/testing"
import { Clock, Effect, Fiber, Option, type Scope } from "effect"
import { Redis } from "ioredis"

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
export const countedClient = (url: string = redis.url): Effect.Effect<Counted, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const client = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 })
      client.on("error", () => {})
      const commands: Array<string> = []
      const fibers: Array<number> = []
      const send = client.sendCommand.bind(client)
      client.sendCommand = ((command: { name: string }, ...rest: Array<unknown>) => {
        commands.push(command.name)
        fibers.push(Option.match(Fiber.getCurrentFiber(), { onNone: () => -1, onSome: (f) => f.id().id }))
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
