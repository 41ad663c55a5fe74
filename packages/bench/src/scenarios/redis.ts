/**
 * Scenario: breaker state shared through Redis (`@effect-resilience/redis`).
 *
 * - The closed success path with the Redis store beside the memory store (per-call cost, same rounds).
 * - Propagation: the time from one replica's opening to another replica applying it (two stores with their own
 *   connections in this process), over many openings.
 * - Redis commands per second of one replica calling at ~10,000 calls/s (they must not grow with the call rate).
 * - A fleet of three replicas at 50 failing calls/s each: how many failures get through before all three are open,
 *   shared against unshared.
 *
 * @since 0.1.0
 */
import { CircuitBreaker, CircuitBreakerStore } from "@effect-resilience/core"
import { RedisCircuitBreakerStore } from "@effect-resilience/redis"
import { Services } from "@effect-resilience/testing"
import { Context, Effect, Layer, Stream } from "effect"
import { Redis } from "ioredis"
import { performance } from "node:perf_hooks"
import { bareEffect, makeScope, opEffect } from "../common.js"
import { type Config, effectBatch, measureAll, type Row } from "../harness.js"
import { quantile } from "../stats.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface RedisResult {
  readonly skipped?: string
  readonly flushIntervalMillis: number
  /** Per-call rows: the bare call, the breaker with the memory store, with the Redis store. */
  readonly rows: ReadonlyArray<Row>
  readonly propagation: {
    readonly openings: number
    readonly p50Millis: number
    readonly p99Millis: number
    readonly maxMillis: number
  } | null
  readonly commands: {
    readonly seconds: number
    readonly callsPerSecond: number
    readonly commandsPerSecond: number
  } | null
  readonly fleet: {
    readonly replicas: number
    readonly callsPerSecondPerReplica: number
    readonly runs: number
    /** Failures let through by the whole fleet before every replica was open: median, min, max over runs. */
    readonly sharedMedian: number
    readonly sharedMin: number
    readonly sharedMax: number
    /** The same fleet without sharing: every replica learns on its own. */
    readonly unshared: number
    /** One process alone. */
    readonly single: number
  } | null
}

const flushIntervalMillis = 100

const countedClient = (url: string) => {
  const client = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 })
  client.on("error", () => {})
  let commands = 0
  const send = client.sendCommand.bind(client)
  client.sendCommand = ((...args: Array<unknown>) => {
    commands++
    return (send as (...args: Array<unknown>) => unknown)(...args)
  }) as typeof client.sendCommand
  return { client, commands: () => commands }
}

type StoreContext = Context.Context<CircuitBreakerStore.CircuitBreakerStore>

const storeIn = (
  client: Redis,
  keyPrefix: string,
  scope: ReturnType<typeof makeScope>
): Promise<StoreContext> =>
  scope.build(Effect.flatMap(Effect.scope, (s) =>
    Layer.buildWithScope(
      RedisCircuitBreakerStore.layer({ client, keyPrefix, flushInterval: `${flushIntervalMillis} millis` }),
      s
    )))

const breakerIn = (
  context: StoreContext,
  scope: ReturnType<typeof makeScope>,
  options: CircuitBreaker.CircuitBreaker.Options
): Promise<CircuitBreaker.CircuitBreaker> => scope.build(Effect.provide(CircuitBreaker.make(options), context))

const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))

const fail = Effect.fail("boom")

/** The time from A's opening to B applying it, `n` times (A resets between openings and B sees that too). */
const propagation = async (
  a: CircuitBreaker.CircuitBreaker,
  b: CircuitBreaker.CircuitBreaker,
  n: number,
  scope: ReturnType<typeof makeScope>
) => {
  let waiting: { readonly to: CircuitBreaker.State; readonly resolve: (at: number) => void } | undefined
  await scope.build(Effect.forkScoped(Stream.runForEach(b.changes, (change) =>
    Effect.sync(() => {
      if (waiting !== undefined && change.to === waiting.to) {
        const w = waiting
        waiting = undefined
        w.resolve(performance.now())
      }
    }))))
  await sleep(50)
  const until = (to: CircuitBreaker.State) =>
    new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`replica B never saw ${to}`)), 5_000)
      waiting = {
        to,
        resolve: (at) => {
          clearTimeout(timer)
          resolve(at)
        }
      }
    })
  const delays: Array<number> = []
  for (let i = 0; i < n; i++) {
    const opened = until("Open")
    await Effect.runPromise(Effect.gen(function*() {
      for (let k = 0; k < 3; k++) yield* Effect.either(a.execute(fail))
    }))
    const at = performance.now()
    delays.push((await opened) - at)
    const closed = until("Closed")
    await Effect.runPromise(a.reset)
    await closed
  }
  delays.sort((x, y) => x - y)
  return {
    openings: n,
    p50Millis: quantile(delays, 0.5),
    p99Millis: quantile(delays, 0.99),
    maxMillis: delays[delays.length - 1]!
  }
}

/** One replica calling at ~10,000 calls/s for `seconds`: its Redis commands per second. */
const commandRate = async (
  breaker: CircuitBreaker.CircuitBreaker,
  commands: () => number,
  seconds: number
) => {
  const batch = effectBatch(100, () => breaker.execute(opEffect))
  await sleep(2 * flushIntervalMillis)
  const before = commands()
  const start = performance.now()
  let calls = 0
  while (performance.now() - start < seconds * 1000) {
    await batch()
    calls += 100
    // 100 calls per 10 ms: ~10,000 calls/s.
    const due = start + (calls / 10_000) * 1000
    const wait = due - performance.now()
    if (wait > 0) await sleep(wait)
  }
  const elapsed = (performance.now() - start) / 1000
  return { seconds: elapsed, callsPerSecond: calls / elapsed, commandsPerSecond: (commands() - before) / elapsed }
}

/**
 * Three replicas, each calling at `rate` calls/s, every call failing: the failures let through, fleet-wide, until
 * all three are open.
 */
const fleetFailures = async (
  contexts: ReadonlyArray<StoreContext | undefined>,
  name: string,
  rate: number,
  scope: ReturnType<typeof makeScope>
) => {
  const options: CircuitBreaker.CircuitBreaker.Options = {
    name,
    strategy: CircuitBreaker.timeWindow({ duration: "10 seconds", buckets: 10, failureRate: 0.5, minimumCalls: 20 }),
    openDuration: "1 minute"
  }
  const breakers = await Promise.all(
    contexts.map((c) => c === undefined ? scope.build(CircuitBreaker.make(options)) : breakerIn(c, scope, options))
  )
  await sleep(2 * flushIntervalMillis)
  const counts = await Promise.all(breakers.map(async (breaker, i) => {
    await sleep((i * 1000) / rate / breakers.length)
    let failures = 0
    const start = performance.now()
    for (let k = 0; k < 10 * rate; k++) {
      const due = start + (k * 1000) / rate
      const wait = due - performance.now()
      if (wait > 0) await sleep(wait)
      const outcome = await Effect.runPromise(
        Effect.either(breaker.execute(fail)).pipe(
          Effect.map((e) => e._tag === "Left" && e.left === "boom")
        )
      )
      if (!outcome) break
      failures++
    }
    return failures
  }))
  return counts.reduce((x, y) => x + y, 0)
}

/**
 * @since 0.1.0
 * @category scenarios
 */
export const run = async (config: Config, progress: (line: string) => void): Promise<RedisResult> => {
  const empty = { flushIntervalMillis, rows: [], propagation: null, commands: null, fleet: null }
  const info = await Services.redis()
  if (!info.available) return { ...empty, skipped: `Redis not available: ${info.reason ?? ""}` }
  const prefix = Services.uniquePrefix("bench-redis")
  const scope = makeScope()
  const counted = countedClient(info.url)
  const other = countedClient(info.url)
  const third = countedClient(info.url)
  try {
    const redisA = await storeIn(counted.client, prefix, scope)
    const redisB = await storeIn(other.client, prefix, scope)
    const redisC = await storeIn(third.client, prefix, scope)
    const memory = await scope.build(
      Effect.map(
        CircuitBreakerStore.makeMemory,
        (store) => Context.make(CircuitBreakerStore.CircuitBreakerStore, store)
      )
    )
    const n = config.calls
    const withMemory = await breakerIn(memory, scope, { name: "bench-memory-store" })
    const withRedis = await breakerIn(redisA, scope, { name: "bench-redis-store" })
    const alone = await scope.build(CircuitBreaker.make({ name: "bench-no-store" }))
    const rows = await measureAll(
      "redis",
      [
        bareEffect(n),
        {
          id: "no-store",
          label: "breaker without a store",
          side: "baseline",
          runtime: "effect",
          batch: effectBatch(n, () => alone.execute(opEffect))
        },
        {
          id: "memory-store",
          label: "breaker with `CircuitBreakerStore.layerMemory`",
          side: "baseline",
          runtime: "effect",
          batch: effectBatch(n, () => withMemory.execute(opEffect))
        },
        {
          id: "ours",
          label: "breaker with `RedisCircuitBreakerStore` (flush 100 ms)",
          side: "ours",
          runtime: "effect",
          batch: effectBatch(n, () => withRedis.execute(opEffect))
        }
      ],
      config,
      progress
    )

    progress("redis: propagation")
    const a = await breakerIn(redisA, scope, { name: "bench-propagation", strategy: CircuitBreaker.consecutive(3) })
    const b = await breakerIn(redisB, scope, { name: "bench-propagation", strategy: CircuitBreaker.consecutive(3) })
    const spread = await propagation(a, b, config.quick ? 20 : 100, scope)

    progress("redis: commands per second at 10,000 calls/s")
    const rate = await breakerIn(redisA, scope, { name: "bench-rate" })
    const commands = await commandRate(rate, counted.commands, config.quick ? 1 : 5)

    progress("redis: failures a fleet lets through")
    const runs = config.quick ? 2 : 5
    const shared: Array<number> = []
    for (let i = 0; i < runs; i++) {
      shared.push(await fleetFailures([redisA, redisB, redisC], `bench-fleet-${i}`, 50, scope))
    }
    const unshared = await fleetFailures([undefined, undefined, undefined], "bench-fleet-local", 50, scope)
    const single = await fleetFailures([undefined], "bench-fleet-single", 50, scope)
    shared.sort((x, y) => x - y)
    return {
      flushIntervalMillis,
      rows,
      propagation: spread,
      commands,
      fleet: {
        replicas: 3,
        callsPerSecondPerReplica: 50,
        runs,
        sharedMedian: quantile(shared, 0.5),
        sharedMin: shared[0]!,
        sharedMax: shared[shared.length - 1]!,
        unshared,
        single
      }
    }
  } finally {
    await scope.close()
    const cleanup = new Redis(info.url)
    const keys = await cleanup.keys(`${prefix}*`)
    if (keys.length > 0) await cleanup.del(...keys)
    cleanup.disconnect()
    counted.client.disconnect()
    other.client.disconnect()
    third.client.disconnect()
  }
}
