import { CircuitBreaker, CircuitBreakerStore, RateLimiter, ResilienceMetrics } from "@effect-resilience/core"
import { RedisCircuitBreakerStore, RedisRateLimiter } from "@effect-resilience/redis"
import { Services } from "@effect-resilience/testing"
import { assert, describe, it } from "@effect/vitest"
import {
  type Clock,
  Config,
  ConfigProvider,
  Context,
  Data,
  Deferred,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  Layer,
  Logger,
  Metric,
  MetricState,
  Option,
  Scope
} from "effect"
import { Redis } from "ioredis"
import { cleanup, countedClient, eventually, proxy, redis, skewedClock, sleep } from "./utils.js"

class Boom extends Data.TaggedError("Boom")<{}> {}

const fail = Effect.fail(new Boom())
const ok = Effect.succeed("ok")

type Options = Partial<RedisCircuitBreakerStore.RedisCircuitBreakerStore.Options>

interface Replica {
  readonly context: Context.Context<CircuitBreakerStore.CircuitBreakerStore>
  readonly commands: Array<string>
  readonly fibers: Array<number>
  readonly clock: Clock.Clock | undefined
  readonly run: <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Effect.Effect<A, E>
}

/** A replica: its own connection, store and (optionally skewed) clock, living in `scope`. */
const replica = (
  prefix: string,
  scope: Scope.Scope,
  options: Options = {},
  clock?: Clock.Clock,
  logs?: Array<string>,
  delayMillis = 0
) =>
  Effect.gen(function*() {
    const counted = yield* countedClient(options.url ?? redis.url, delayMillis).pipe(Scope.extend(scope))
    const { url: _url, ...rest } = options
    const withClock = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      clock === undefined ? effect : Effect.withClock(effect, clock)
    const logger = Logger.make(({ logLevel, message }) => {
      logs?.push(`${logLevel.label} ${String(message)}`)
    })
    const withLogs = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      logs === undefined ? effect : Effect.provide(effect, Logger.replace(Logger.defaultLogger, logger))
    const context = yield* withLogs(withClock(Layer.buildWithScope(
      RedisCircuitBreakerStore.layer({
        client: counted.client,
        keyPrefix: prefix,
        flushInterval: "20 millis",
        ...rest
      }),
      scope
    )))
    const r: Replica = {
      context,
      commands: counted.commands,
      fibers: counted.fibers,
      clock,
      run: (effect) => withClock(Effect.provide(Scope.extend(effect, scope), context))
    }
    return r
  })

const breakerIn = (r: Replica, options: Partial<CircuitBreaker.CircuitBreaker.Options> = {}) =>
  r.run(CircuitBreaker.make({
    name: "shared",
    strategy: CircuitBreaker.consecutive(3),
    openDuration: "1 minute",
    ...options
  }))

const stateIs = (r: Replica, breaker: CircuitBreaker.CircuitBreaker, state: CircuitBreaker.State) =>
  r.run(Effect.map(breaker.state, (s) => s === state))

/** A fresh key prefix (its keys deleted) and the test's scope. */
const fresh = (name: string) =>
  Effect.gen(function*() {
    const prefix = Services.uniquePrefix(name)
    yield* cleanup(prefix)
    return { prefix, scope: yield* Effect.scope }
  })

/** Two replicas (plain ones unless given) with the breaker "shared" in each: `ba` in `a`, `bb` in `b`. */
const pair = (
  prefix: string,
  scope: Scope.Scope,
  makeA: ReturnType<typeof replica> = replica(prefix, scope),
  makeB: ReturnType<typeof replica> = replica(prefix, scope)
) =>
  Effect.gen(function*() {
    const a = yield* makeA
    const b = yield* makeB
    return { a, b, ba: yield* breakerIn(a), bb: yield* breakerIn(b) }
  })

/** A plain client of the test's own, disconnected when the scope closes. */
const adminClient = Effect.acquireRelease(
  Effect.sync(() => new Redis(redis.url)),
  (client) => Effect.sync(() => client.disconnect())
)

const storeErrors = Effect.map(
  Metric.value(Metric.tagged(ResilienceMetrics.storeErrorsTotal, "store", "redis")),
  (s: MetricState.MetricState.Counter<number>) => s.count
)

describe.skipIf(!redis.available)("RedisCircuitBreakerStore", () => {
  it.scopedLive("failures in one replica open the breaker in the other; closing propagates", () =>
    Effect.gen(function*() {
      const { prefix, scope } = yield* fresh("cb-open")
      const { a, b, ba, bb } = yield* pair(prefix, scope)
      for (let i = 0; i < 3; i++) yield* Effect.either(ba.execute(fail))
      assert.strictEqual(yield* ba.state, "Open")
      assert.isTrue(yield* eventually(stateIs(b, bb, "Open")))
      const rejected = yield* Effect.either(bb.execute(ok))
      assert.isTrue(Either.isLeft(rejected) && rejected.left._tag === "CircuitBreakerOpenError")
      yield* bb.reset
      assert.isTrue(yield* eventually(stateIs(a, ba, "Closed")))
    }))

  it.scopedLive("a transition made while the store's answer to an earlier one is on its way is kept", () =>
    Effect.gen(function*() {
      const { prefix, scope } = yield* fresh("cb-race")
      // A's script runs are held 150 ms: it resets while the answer to its opening is on its way.
      const { b, ba, bb } = yield* pair(prefix, scope, replica(prefix, scope, {}, undefined, undefined, 150))
      yield* sleep(200)
      for (let i = 0; i < 3; i++) yield* Effect.either(ba.execute(fail))
      yield* sleep(20)
      yield* ba.reset
      assert.isTrue(yield* eventually(stateIs(b, bb, "Open")))
      assert.isTrue(yield* eventually(stateIs(b, bb, "Closed")))
      yield* sleep(300)
      assert.strictEqual(yield* ba.state, "Closed")
      assert.strictEqual(yield* bb.state, "Closed")
    }))

  it.scopedLive("the success path sends no command from the caller's fiber; commands do not grow with calls", () =>
    Effect.gen(function*() {
      const { prefix, scope } = yield* fresh("cb-hot")
      const a = yield* replica(prefix, scope, { flushInterval: "50 millis" })
      const breaker = yield* breakerIn(a)
      yield* sleep(100)
      const before = a.commands.length
      const caller = Option.getOrThrow(Fiber.getCurrentFiber()).id().id
      const started = Date.now()
      for (let i = 0; i < 10_000; i++) {
        yield* breaker.execute(ok)
        if (i % 1000 === 0) yield* sleep(5)
      }
      yield* sleep(120)
      const elapsed = Date.now() - started
      const sent = a.commands.slice(before)
      assert.isFalse(a.fibers.slice(before).includes(caller), "a command was sent from the caller's fiber")
      // At most one script run per flush interval (plus one), whatever the number of calls.
      assert.isAtMost(sent.length, Math.ceil(elapsed / 50) + 1)
      assert.isAtLeast(sent.length, 1)
      assert.deepStrictEqual([...new Set(sent)], ["evalsha"])
    }))

  it.scopedLive("a replica whose clock is seconds ahead or behind opens and admits probes at the same instants", () =>
    Effect.gen(function*() {
      const { prefix, scope } = yield* fresh("cb-skew")
      const a = yield* replica(prefix, scope)
      const ahead = yield* replica(prefix, scope, {}, skewedClock(5_000))
      const behind = yield* replica(prefix, scope, {}, skewedClock(-5_000))
      const options = { openDuration: "1500 millis" } as const
      const ba = yield* breakerIn(a, options)
      const bAhead = yield* breakerIn(ahead, options)
      const bBehind = yield* breakerIn(behind, options)
      yield* sleep(60)
      const openedAt = Date.now()
      for (let i = 0; i < 3; i++) yield* Effect.either(ba.execute(fail))
      assert.isTrue(yield* eventually(stateIs(ahead, bAhead, "Open")))
      assert.isTrue(yield* eventually(stateIs(behind, bBehind, "Open")))
      // Judged on its own clock, the replica ahead would see the opening 5 s old and admit probes at once.
      if (Date.now() - openedAt < 1_000) assert.isTrue(yield* stateIs(ahead, bAhead, "Open"))
      // Judged on its own clock, the replica behind would stay open until 6.5 s after the opening.
      yield* sleep(Math.max(0, openedAt + 2_000 - Date.now()))
      assert.isTrue(yield* stateIs(behind, bBehind, "HalfOpen"))
      assert.isTrue(yield* stateIs(ahead, bAhead, "HalfOpen"))
    }))

  it.scopedLive("half-open admits maxProbes probes across the fleet; a lapsed lease's verdict is dropped", () =>
    Effect.gen(function*() {
      const { prefix, scope } = yield* fresh("cb-probes")
      const replicas = [
        yield* replica(prefix, scope, { leaseTtl: "1 second" }),
        yield* replica(prefix, scope, { leaseTtl: "1 second" }),
        yield* replica(prefix, scope, { leaseTtl: "1 second" })
      ]
      const options = { openDuration: "200 millis", halfOpen: { maxProbes: 2 } } as const
      const breakers = yield* Effect.forEach(replicas, (r) => breakerIn(r, options))
      yield* sleep(60)
      for (let i = 0; i < 3; i++) yield* Effect.either(breakers[0]!.execute(fail))
      yield* sleep(300)
      // Probes that hold until released: every replica keeps trying for a while.
      let admitted = 0
      const release = yield* Deferred.make<void>()
      const probe = Effect.zipRight(Effect.sync(() => admitted++), Deferred.await(release))
      const running: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
      const attempt = Effect.gen(function*() {
        for (let i = 0; i < 3; i++) {
          running.push(yield* replicas[i]!.run(Effect.forkIn(Effect.exit(breakers[i]!.execute(probe)), scope)))
        }
        yield* sleep(20)
      })
      // Until two probes run (the leases take a flush to come), then a few more rounds: never a third.
      const deadline = Date.now() + 3_000
      while (admitted < 2 && Date.now() < deadline) yield* attempt
      for (let round = 0; round < 5; round++) yield* attempt
      assert.strictEqual(admitted, 2)
      // The leases lapse (1 s) while the probes still run; their successes then close nothing.
      yield* sleep(1_100)
      yield* Deferred.succeed(release, undefined)
      yield* Effect.forEach(running, Fiber.await, { discard: true })
      yield* sleep(150)
      for (let i = 0; i < 3; i++) {
        assert.notStrictEqual(yield* replicas[i]!.run(breakers[i]!.state), "Closed")
      }
      // A probe under a live lease does close the breaker everywhere.
      const closers = yield* Effect.forEach(
        [0, 1, 2],
        (i) => replicas[i]!.run(Effect.either(breakers[i]!.execute(ok)))
      )
      assert.isTrue(closers.every(Either.isLeft))
      yield* sleep(60)
      const retried = yield* Effect.forEach(
        [0, 1, 2],
        (i) => replicas[i]!.run(Effect.either(breakers[i]!.execute(ok)))
      )
      assert.isAtLeast(retried.filter(Either.isRight).length, 1)
      for (let i = 0; i < 3; i++) {
        assert.isTrue(yield* eventually(stateIs(replicas[i]!, breakers[i]!, "Closed")))
      }
    }))

  it.scopedLive("keys expire after idleTtl", () =>
    Effect.gen(function*() {
      const { prefix, scope } = yield* fresh("cb-ttl")
      const a = yield* replica(prefix, scope, { idleTtl: "400 millis" })
      const breaker = yield* breakerIn(a)
      yield* Effect.either(breaker.execute(fail))
      const client = yield* adminClient
      const keys = () => Effect.promise(() => client.keys(`${prefix}*`))
      assert.isTrue(yield* eventually(Effect.map(keys(), (k) => k.length === 1)))
      const [key] = yield* keys()
      const ttl = yield* Effect.promise(() => client.pttl(key!))
      assert.isTrue(ttl > 0 && ttl <= 400, `pttl ${ttl}`)
      assert.isTrue(yield* eventually(Effect.map(keys(), (k) => k.length === 0), 2_000))
    }))

  it.scopedLive("keyed breakers share each key's state: one hash per key, one connection and flush for all", () =>
    Effect.gen(function*() {
      const { prefix, scope } = yield* fresh("cb-keyed")
      const a = yield* replica(prefix, scope)
      const b = yield* replica(prefix, scope)
      const keyed = (r: Replica) =>
        r.run(CircuitBreaker.keyed({
          name: "hosts",
          strategy: CircuitBreaker.consecutive(2),
          openDuration: "1 minute",
          maxKeys: 100,
          idleTtl: "1 minute"
        }))
      const ka = yield* keyed(a)
      const kb = yield* keyed(b)
      for (let i = 0; i < 20; i++) yield* ka.execute(`host-${i}`, ok)
      // Each replica learns a key's shared state once it uses the key.
      yield* kb.execute("host-3", ok)
      yield* kb.execute("host-4", ok)
      yield* sleep(60)
      for (let i = 0; i < 2; i++) yield* Effect.either(ka.execute("host-3", fail))
      assert.isTrue(yield* eventually(b.run(Effect.map(kb.state("host-3"), (s) => s === "Open"))))
      assert.strictEqual(yield* b.run(kb.state("host-4")), "Closed")
      const client = yield* adminClient
      assert.strictEqual((yield* Effect.promise(() => client.keys(`${prefix}*`))).length, 20)
      // 500 keys busy at once: still one script run per flush (20 ms), not one per key.
      yield* sleep(60)
      const before = a.commands.length
      const started = Date.now()
      for (let round = 0; round < 5; round++) {
        for (let i = 0; i < 500; i++) yield* ka.execute(`busy-${i}`, ok)
        yield* sleep(25)
      }
      yield* sleep(60)
      const flushes = Math.ceil((Date.now() - started) / 20) + 1
      assert.isAtMost(a.commands.length - before, flushes * 2)
    }))

  it.scopedLive("layerConfig reads the options from Config", () =>
    Effect.gen(function*() {
      const prefix = Services.uniquePrefix("cb-config")
      yield* cleanup(prefix)
      const provider = ConfigProvider.fromMap(new Map([["REDIS_URL", redis.url], ["REDIS_PREFIX", prefix]]))
      const layer = RedisCircuitBreakerStore.layerConfig({
        url: Config.string("REDIS_URL"),
        keyPrefix: Config.string("REDIS_PREFIX"),
        flushInterval: Config.succeed(Duration.millis(20))
      })
      const context = yield* Layer.build(layer).pipe(Effect.withConfigProvider(provider))
      const breaker = yield* Effect.provide(CircuitBreaker.make({ name: "configured" }), context)
      yield* Effect.either(breaker.execute(fail))
      const client = yield* adminClient
      assert.isTrue(
        yield* eventually(Effect.map(Effect.promise(() => client.keys(`${prefix}*`)), (k) => k.length === 1))
      )
      const missing = yield* Effect.exit(
        Layer.build(layer).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map())))
      )
      assert.isTrue(Exit.isFailure(missing))
    }))

  it.scopedLive("a wrong password or URL fails the layer with a typed error that never shows the password", () =>
    Effect.gen(function*() {
      const url = new URL(redis.url)
      url.username = "nobody"
      url.password = "s3cr3t-pass"
      const exit = yield* Effect.exit(Layer.build(
        RedisCircuitBreakerStore.layer({ url: url.toString(), keyPrefix: "never" })
      ))
      assert.isTrue(Exit.isFailure(exit))
      const text = JSON.stringify(exit) + String(exit)
      assert.notInclude(text, "s3cr3t-pass")
      const error = Exit.isFailure(exit) ? Option.getOrThrow(Exit.causeOption(exit)) : undefined
      assert.include(String(error), "AuthenticationFailed")
      const bad = yield* Effect.exit(
        Layer.build(RedisCircuitBreakerStore.layer({ url: "http://x", keyPrefix: "never" }))
      )
      assert.include(String(bad), "InvalidUrl")
      const unreachable = yield* Effect.exit(
        Layer.build(RedisCircuitBreakerStore.layer({ url: "redis://:pw-unreachable@127.0.0.1:1", keyPrefix: "never" }))
      )
      assert.include(String(unreachable), "Unreachable")
      assert.notInclude(String(unreachable), "pw-unreachable")
      assert.strictEqual(typeof (yield* storeErrors), "number")
    }))

  it.scopedLive("Redis cut mid-run: every call goes on with local state, errors are counted, and breakers re-converge", () =>
    Effect.gen(function*() {
      const { prefix, scope } = yield* fresh("cb-cut")
      const link = yield* proxy
      const logs: Array<string> = []
      const { a, b, ba, bb } = yield* pair(
        prefix,
        scope,
        replica(prefix, scope, { url: link.url }, undefined, logs),
        replica(prefix, scope, { url: link.url })
      )
      yield* sleep(60)
      const errorsBefore = yield* storeErrors
      yield* Effect.promise(() => link.cut())
      // Cut off: a opens on its own failures, b goes on admitting calls; none of them waits for Redis.
      for (let i = 0; i < 3; i++) yield* Effect.either(ba.execute(fail))
      assert.strictEqual(yield* ba.state, "Open")
      for (let i = 0; i < 100; i++) assert.strictEqual(yield* bb.execute(ok), "ok")
      assert.isTrue(yield* eventually(Effect.map(storeErrors, (n) => n > errorsBefore)))
      // More failing flushes while cut: still one line.
      yield* ba.reset
      yield* sleep(60)
      for (let i = 0; i < 3; i++) yield* Effect.either(ba.execute(fail))
      yield* sleep(60)
      assert.strictEqual(yield* bb.state, "Closed")
      // Back: a's opening reaches b.
      yield* Effect.promise(() => link.restore())
      assert.isTrue(yield* eventually(stateIs(b, bb, "Open"), 10_000))
      // And decisions flow both ways again (subscriptions renewed).
      yield* bb.reset
      assert.isTrue(yield* eventually(stateIs(a, ba, "Closed"), 10_000))
      // The change is logged once each way, not per call or per flush.
      assert.deepStrictEqual(logs.map((l) => l.split(" ")[0]), ["WARN", "INFO"], logs.join("\n"))
    }))

  it.scopedLive("a slow Redis: flushes that outlast their timeout count as errors; calls never wait for them", () =>
    Effect.gen(function*() {
      const { prefix, scope } = yield* fresh("cb-slow")
      // Every script run held 1.5 s, beyond the flush timeout (max(10 × 20 ms, 1 s)).
      const a = yield* replica(prefix, scope, {}, undefined, undefined, 1_500)
      const breaker = yield* breakerIn(a)
      const before = yield* storeErrors
      yield* Effect.either(breaker.execute(fail))
      yield* sleep(100)
      for (let i = 0; i < 1_000; i++) yield* breaker.execute(ok)
      for (let i = 0; i < 3; i++) yield* Effect.either(breaker.execute(fail))
      // Decided on local state while a held script run is still on its way.
      assert.isAtLeast(a.commands.filter((c) => c === "evalsha").length, 1)
      assert.strictEqual(yield* breaker.state, "Open")
      assert.isTrue(yield* eventually(Effect.map(storeErrors, (n) => n > before), 3_000))
    }))

  it.scopedLive("a Redis that forgot the script (restart, SCRIPT FLUSH) gets it again", () =>
    Effect.gen(function*() {
      const { prefix, scope } = yield* fresh("cb-noscript")
      const { a, b, ba, bb } = yield* pair(prefix, scope)
      yield* ba.execute(ok)
      yield* sleep(60)
      const client = yield* adminClient
      yield* Effect.promise(() => client.script("FLUSH"))
      for (let i = 0; i < 3; i++) yield* Effect.either(ba.execute(fail))
      assert.isTrue(yield* eventually(stateIs(b, bb, "Open")))
      assert.include(a.commands, "script")
    }))

  it.scopedLive("cut off, a replica probes on its own; its recovery reaches the fleet when Redis is back", () =>
    Effect.gen(function*() {
      const { prefix, scope } = yield* fresh("cb-cut-probe")
      const link = yield* proxy
      const a = yield* replica(prefix, scope, { url: link.url })
      const b = yield* replica(prefix, scope)
      const options = { openDuration: "200 millis" } as const
      const ba = yield* breakerIn(a, options)
      const bb = yield* breakerIn(b, { openDuration: "1 minute" })
      yield* sleep(60)
      for (let i = 0; i < 3; i++) yield* Effect.either(ba.execute(fail))
      assert.isTrue(yield* eventually(stateIs(b, bb, "Open")))
      yield* Effect.promise(() => link.cut())
      yield* sleep(250)
      // Half-open with no Redis to grant a lease: the first call asks (and the flush fails), then probes run locally.
      const probed = yield* eventually(Effect.map(Effect.either(ba.execute(ok)), Either.isRight))
      assert.isTrue(probed)
      assert.strictEqual(yield* ba.state, "Closed")
      yield* Effect.promise(() => link.restore())
      assert.isTrue(yield* eventually(stateIs(b, bb, "Closed"), 10_000))
      assert.strictEqual(yield* ba.state, "Closed")
    }))

  it.scopedLive("a rate limiter over a cut Redis lets calls through, counts the errors, and limits again after", () =>
    Effect.gen(function*() {
      const prefix = Services.uniquePrefix("rl-cut")
      yield* cleanup(prefix)
      const link = yield* proxy
      const context = yield* Layer.build(RedisRateLimiter.layer({ url: link.url, keyPrefix: `${prefix}:rl:` }))
      const limiter = yield* Effect.provide(
        RateLimiter.make({ name: prefix, limit: 5, interval: "1 minute" }),
        context
      )
      const errors = Effect.map(
        Metric.value(Metric.tagged(ResilienceMetrics.storeErrorsTotal, "store", "rate_limiter")),
        (s) => s.count
      )
      const outcomes = (n: number) =>
        Effect.forEach(Array.from({ length: n }), () => Effect.either(limiter.execute(ok)))
      assert.deepStrictEqual((yield* outcomes(7)).map(Either.isRight), [true, true, true, true, true, false, false])
      yield* Effect.promise(() => link.cut())
      const before = yield* errors
      assert.isTrue((yield* outcomes(5)).every(Either.isRight))
      assert.isAtLeast((yield* errors) - before, 5)
      yield* Effect.promise(() => link.restore())
      assert.isTrue(yield* eventually(Effect.map(limiter.execute(ok).pipe(Effect.either), Either.isLeft), 10_000))
    }))
})
