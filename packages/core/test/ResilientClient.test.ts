import {
  Backoff,
  Bulkhead,
  CircuitBreaker,
  ResilienceMetrics,
  ResilienceRegistry,
  ResilientClient,
  RetryAfter,
  RetryBudget,
  Timeout
} from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import {
  ConfigError,
  ConfigProvider,
  Context,
  Data,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  Layer,
  Metric,
  Option,
  Random,
  TestClock
} from "effect"

class GatewayError extends Data.TaggedError("GatewayError")<{ readonly request: number }> {}

/** A fake payment gateway: counts calls and how many run at once; `fails(request)` decides the outcome. */
const makeGateway = (options: { readonly latency: Duration.DurationInput; readonly fails: (n: number) => boolean }) => {
  const state = { calls: 0, running: 0, peak: 0 }
  const charge = (request: number) =>
    Effect.acquireUseRelease(
      Effect.sync(() => {
        state.calls++
        state.running++
        state.peak = Math.max(state.peak, state.running)
      }),
      () =>
        Effect.zipRight(
          Effect.sleep(options.latency),
          options.fails(request) ? Effect.fail(new GatewayError({ request })) : Effect.succeed(`charged ${request}`)
        ),
      () => Effect.sync(() => state.running--)
    )
  return { charge, state }
}

/** Advances the TestClock in steps until the fiber is done. */
const runToEnd = <A, E>(fiber: Fiber.RuntimeFiber<A, E>, step: Duration.DurationInput = "10 millis") =>
  Effect.gen(function*() {
    while (fiber.unsafePoll() === null) yield* TestClock.adjust(step)
    return yield* Fiber.join(fiber)
  })

class Payments extends Context.Tag("test/Payments")<Payments, ResilientClient.ResilientClient>() {}

describe("ResilientClient", () => {
  it.scoped("the seed's main: 15 calls, every 4th fails at the gateway, 10 concurrent: 11 succeed, 4 fail", () =>
    Effect.gen(function*() {
      const gateway = makeGateway({ latency: "50 millis", fails: (n) => n % 4 === 0 })
      const client = yield* ResilientClient.make({ name: "payments", ...ResilientClient.defaults })
      const fiber = yield* Effect.fork(
        Effect.forEach(
          Array.from({ length: 15 }, (_, i) => i),
          (i) => Effect.either(client.execute(gateway.charge(i))),
          { concurrency: 10 }
        )
      )
      const results = yield* runToEnd(fiber)
      expect(results.filter(Either.isRight)).toHaveLength(11)
      expect(results.filter(Either.isLeft)).toHaveLength(4)
      expect(results.flatMap((r, i) => Either.isLeft(r) ? [i] : [])).toEqual([0, 4, 8, 12])
      expect(gateway.state.peak).toBeLessThanOrEqual(10)
      expect(gateway.state.peak).toBeGreaterThan(1)
      const stats = yield* client.stats
      expect(stats.total).toBe(15)
      expect(stats.succeeded).toBe(11)
      expect(stats.failed + stats.rejected.CircuitOpen).toBe(4)
      expect(stats.inFlight).toBe(0)
      // Retries happened: more gateway calls than requests.
      expect(gateway.state.calls).toBeGreaterThan(15)
    }).pipe(Effect.withRandom(Random.make(42))))

  it.scoped("the same 15 calls all at once: the bulkhead keeps the gateway at 10, the rest queue", () =>
    Effect.gen(function*() {
      const gateway = makeGateway({ latency: "50 millis", fails: (n) => n % 4 === 0 })
      const client = yield* ResilientClient.make({ name: "payments", ...ResilientClient.defaults })
      const fiber = yield* Effect.fork(
        Effect.forEach(
          Array.from({ length: 15 }, (_, i) => i),
          (i) => Effect.either(client.execute(gateway.charge(i))),
          { concurrency: "unbounded" }
        )
      )
      yield* TestClock.adjust("1 millis")
      expect(yield* Option.getOrThrow(client.bulkhead).stats).toEqual({ active: 10, queued: 5, rejected: 0 })
      const results = yield* runToEnd(fiber)
      expect(results.filter(Either.isRight)).toHaveLength(11)
      expect(gateway.state.peak).toBe(10)
    }).pipe(Effect.withRandom(Random.make(7))))

  it.scoped("with the breaker open for 30 s, 100 calls fail fast without holding bulkhead slots", () =>
    Effect.gen(function*() {
      const gateway = makeGateway({ latency: "10 millis", fails: () => true })
      const client = yield* ResilientClient.make({ name: "payments", ...ResilientClient.defaults })
      // Open the breaker: 5 consecutive failures (the first call's 4 attempts and one more).
      yield* Effect.fork(Effect.either(client.execute(gateway.charge(0))))
      yield* Effect.fork(Effect.either(client.execute(gateway.charge(0))))
      yield* TestClock.adjust("5 seconds")
      const breaker = Option.getOrThrow(client.circuitBreaker)
      expect(yield* breaker.state).toBe("Open")
      const callsBefore = gateway.state.calls
      const rejectedBefore = (yield* client.stats).rejected.CircuitOpen
      const bulkhead = Option.getOrThrow(client.bulkhead)

      const fibers = yield* Effect.forEach(
        Array.from({ length: 100 }, (_, i) => i),
        (i) => Effect.fork(client.execute(gateway.charge(i)))
      )
      yield* Effect.yieldNow()
      // Every call is already done, without the clock moving: nobody waits on a slot for the breaker.
      const exits = fibers.map((f) => f.unsafePoll())
      expect(exits.every((e) => e !== null && Exit.isFailure(e))).toBe(true)
      const errors = yield* Effect.forEach(fibers, (f) => Effect.flip(Fiber.join(f)))
      expect(errors.every((e) => e._tag === "CircuitBreakerOpenError")).toBe(true)
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0, rejected: 0 })
      expect(gateway.state.calls).toBe(callsBefore)
      expect((yield* client.stats).rejected.CircuitOpen - rejectedBefore).toBe(100)
    }))

  describe("a breaker open for 500 ms (within maxRetryAfter)", () => {
    const setup = (onOpenBreaker?: "fail" | "wait") =>
      Effect.gen(function*() {
        const gateway = makeGateway({ latency: "10 millis", fails: (n) => n < 0 })
        const client = yield* ResilientClient.make({
          name: "payments",
          bulkhead: { maxConcurrent: 10, maxQueue: 100 },
          retry: {
            maxAttempts: 3,
            schedule: Backoff.constant("50 millis"),
            ...(onOpenBreaker === undefined ? {} : { onOpenBreaker })
          },
          circuitBreaker: { strategy: CircuitBreaker.consecutive(2), openDuration: "500 millis" },
          timeout: "300 millis"
        })
        // One call whose attempts fail opens the breaker on its second attempt; with fail-fast it stops there.
        const opener = yield* Effect.fork(Effect.either(client.execute(gateway.charge(-1))))
        // Attempts fail at 10 ms and 70 ms: open from 70 ms until 570 ms.
        yield* TestClock.adjust("100 millis")
        const breaker = Option.getOrThrow(client.circuitBreaker)
        expect(yield* breaker.state).toBe("Open")
        return { client, gateway, opener, bulkhead: Option.getOrThrow(client.bulkhead) }
      })

    it.scoped("by default, calls made while it is open fail at once, holding no bulkhead slot", () =>
      Effect.gen(function*() {
        const { bulkhead, client, gateway, opener } = yield* setup()
        // The call that opened the breaker did not wait to retry onto it: it ended when the breaker opened.
        expect(opener.unsafePoll()).not.toBeNull()
        expect(yield* Fiber.join(opener)).toMatchObject({ _tag: "Left", left: { _tag: "GatewayError" } })
        expect(gateway.state.calls).toBe(2)
        const fibers = yield* Effect.forEach([1, 2, 3, 4, 5], (i) => Effect.fork(client.execute(gateway.charge(i))))
        yield* Effect.yieldNow()
        // Done without the clock moving, with the breaker's error: nobody parks on a slot.
        for (const fiber of fibers) {
          const exit = fiber.unsafePoll()
          expect(exit).not.toBeNull()
          expect(exit!._tag).toBe("Failure")
          expect(yield* Effect.flip(Fiber.join(fiber))).toMatchObject({
            _tag: "CircuitBreakerOpenError",
            state: "Open"
          })
        }
        expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0, rejected: 0 })
        expect(yield* client.stats).toMatchObject({ inFlight: 0, rejected: { CircuitOpen: 5 } })
        expect(gateway.state.calls).toBe(2)
      }))

    it.scoped("with retry.onOpenBreaker \"wait\", they wait for the breaker (holding no slot) and then run", () =>
      Effect.gen(function*() {
        const { bulkhead, client, gateway } = yield* setup("wait")
        const fiber = yield* Effect.fork(client.execute(gateway.charge(1)))
        yield* Effect.yieldNow()
        expect(fiber.unsafePoll()).toBeNull()
        // waiting, not calling: the slots are free for others (the opener waits too, with "wait")
        expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0, rejected: 0 })
        expect(yield* client.stats).toMatchObject({ inFlight: 2 })
        yield* TestClock.adjust("500 millis")
        expect(yield* Fiber.join(fiber)).toBe("charged 1")
      }))

    it.scoped("by default, a half-open rejection (probe slot taken) fails at once too", () =>
      Effect.gen(function*() {
        const { bulkhead, client } = yield* setup()
        yield* TestClock.adjust("500 millis")
        // The probe: slow, it holds the only probe slot.
        const probe = yield* Effect.fork(client.execute(Effect.as(Effect.sleep("200 millis"), "probed")))
        yield* Effect.yieldNow()
        const other = yield* Effect.fork(client.execute(Effect.succeed("other")))
        yield* Effect.yieldNow()
        const exit = other.unsafePoll()
        expect(exit).not.toBeNull()
        expect(yield* Effect.flip(Fiber.join(other))).toMatchObject({
          _tag: "CircuitBreakerOpenError",
          state: "HalfOpen"
        })
        expect((yield* bulkhead.stats).active).toBe(1)
        yield* TestClock.adjust("200 millis")
        expect(yield* Fiber.join(probe)).toBe("probed")
      }))

    it.scoped("a bad onOpenBreaker is an InvalidOptionsError naming the field", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          ResilientClient.make({
            name: "bad",
            retry: { maxAttempts: 2, onOpenBreaker: "sometimes" as "wait" }
          })
        )
        expect(error).toMatchObject({ _tag: "InvalidOptionsError", field: "retry.onOpenBreaker", value: "sometimes" })
      }))
  })

  it.scoped("a retry's wait holds no bulkhead slot: another call runs meanwhile; the retry queues again", () =>
    Effect.gen(function*() {
      // One slot, no queue. Call 1 is told to come back in 1 s (a RetryAfter hint); while it waits, call 2 gets the
      // slot; when call 1's wait ends while the slot is taken, its retry is refused by the full queue and not retried.
      class Busy extends Data.TaggedError("Busy")<{ readonly [RetryAfter.symbol]: Duration.Duration }> {}
      let calls1 = 0
      const first = Effect.suspend(() =>
        ++calls1 === 1
          ? Effect.fail(new Busy({ [RetryAfter.symbol]: Duration.seconds(1) }))
          : Effect.succeed("one")
      )
      const client = yield* ResilientClient.make({
        name: "slots",
        bulkhead: { maxConcurrent: 1, maxQueue: 0 },
        retry: { maxAttempts: 3, schedule: Backoff.constant("10 millis") }
      })
      const bulkhead = Option.getOrThrow(client.bulkhead)
      const one = yield* Effect.fork(client.execute(first))
      yield* Effect.yieldNow()
      expect(calls1).toBe(1)
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0, rejected: 0 })
      // call 2 runs for 2 s while call 1 waits
      const two = yield* Effect.fork(client.execute(Effect.as(Effect.sleep("2 seconds"), "two")))
      yield* Effect.yieldNow()
      expect((yield* bulkhead.stats).active).toBe(1)
      yield* TestClock.adjust("1 second")
      // call 1's retry met the full bulkhead: a rejection, not retried (one attempt made, none more)
      expect(yield* Effect.flip(Fiber.join(one))).toMatchObject({
        _tag: "BulkheadRejectedError",
        bulkheadName: "slots",
        reason: "QueueFull"
      })
      expect(calls1).toBe(1)
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(two)).toBe("two")
      expect(yield* client.stats).toMatchObject({ succeeded: 1, rejected: { QueueFull: 1 }, inFlight: 0 })
      // with the slot free, a call told to wait gets its retry through
      calls1 = 0
      const again = yield* Effect.fork(client.execute(first))
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(again)).toBe("one")
      expect(calls1).toBe(2)
    }))

  it.effect("a layer provided into a program and used from two services shares one state", () =>
    Effect.gen(function*() {
      class Checkout
        extends Context.Tag("test/Checkout")<Checkout, { readonly pay: Effect.Effect<string, unknown> }>()
      {}
      class Refunds
        extends Context.Tag("test/Refunds")<Refunds, { readonly refund: Effect.Effect<string, unknown> }>()
      {}
      const CheckoutLive = Layer.effect(
        Checkout,
        Effect.map(Payments, (client) => ({ pay: client.execute(Effect.succeed("paid")) }))
      )
      const RefundsLive = Layer.effect(
        Refunds,
        Effect.map(Payments, (client) => ({ refund: client.execute(Effect.succeed("refunded")) }))
      )
      const PaymentsLive = ResilientClient.layer(Payments, { name: "payments", ...ResilientClient.defaults })
      const AppLive = Layer.mergeAll(CheckoutLive, RefundsLive).pipe(Layer.provideMerge(PaymentsLive))

      const program = Effect.gen(function*() {
        const checkout = yield* Checkout
        const refunds = yield* Refunds
        yield* checkout.pay
        yield* checkout.pay
        yield* refunds.refund
        const client = yield* Payments
        return yield* client.stats
      })
      const stats = yield* program.pipe(Effect.provide(AppLive), Effect.provide(ResilienceRegistry.layer))
      expect(stats.total).toBe(3)
      expect(stats.succeeded).toBe(3)
    }))

  it.effect("layerConfig reads the prefixed keys over the defaults", () =>
    Effect.gen(function*() {
      const gateway = makeGateway({ latency: "10 millis", fails: () => true })
      const provider = ConfigProvider.fromMap(
        new Map([
          ["PAYMENTS_RETRY_MAX_ATTEMPTS", "2"],
          ["PAYMENTS_TIMEOUT", "1 second"],
          ["PAYMENTS_CIRCUIT_BREAKER_OPEN_DURATION", "10 seconds"],
          ["PAYMENTS_BULKHEAD_MAX_CONCURRENT", "3"]
        ])
      )
      const fiber = yield* Effect.flatMap(Payments, (client) => Effect.either(client.execute(gateway.charge(0)))).pipe(
        Effect.provide(ResilientClient.layerConfig(Payments, "PAYMENTS")),
        Effect.withConfigProvider(provider),
        Effect.fork
      )
      const result = yield* runToEnd(fiber)
      expect(Either.isLeft(result)).toBe(true)
      expect(gateway.state.calls).toBe(2)
      const options = yield* ResilientClient.config("PAYMENTS").pipe(Effect.withConfigProvider(provider))
      expect(options.name).toBe("payments")
      expect(options.bulkhead).toMatchObject({ maxConcurrent: 3, maxQueue: 100 })
      expect(options.timeout).toEqual(Duration.seconds(1))
      expect(options.circuitBreaker).toMatchObject({ openDuration: Duration.seconds(10) })
      expect(options.bulkhead).not.toHaveProperty("codel")
      const codel = yield* ResilientClient.config("PAYMENTS").pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["PAYMENTS_BULKHEAD_CODEL_TARGET", "20 millis"]])))
      )
      expect(codel.bulkhead).toMatchObject({ codel: { target: Duration.millis(20) } })
      expect(codel.bulkhead).not.toHaveProperty("codel.interval")
    }))

  it.effect("a bad config value is a ConfigError naming the key", () =>
    Effect.gen(function*() {
      const bad = (key: string, value: string) =>
        Effect.flatMap(Payments, () => Effect.void).pipe(
          Effect.provide(ResilientClient.layerConfig(Payments, "PAYMENTS")),
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([[key, value]]))),
          Effect.scoped,
          Effect.flip
        )
      const notANumber = yield* bad("PAYMENTS_RETRY_MAX_ATTEMPTS", "many")
      expect(ConfigError.isConfigError(notANumber)).toBe(true)
      expect(String(notANumber)).toContain("PAYMENTS_RETRY_MAX_ATTEMPTS")
      const zero = yield* bad("PAYMENTS_BULKHEAD_MAX_CONCURRENT", "0")
      expect(String(zero)).toContain("PAYMENTS_BULKHEAD_MAX_CONCURRENT")
      const duration = yield* bad("PAYMENTS_TIMEOUT", "soon")
      expect(String(duration)).toContain("PAYMENTS_TIMEOUT")
      const codelZero = yield* bad("PAYMENTS_BULKHEAD_CODEL_INTERVAL", "0 millis")
      expect(String(codelZero)).toContain("PAYMENTS_BULKHEAD_CODEL_INTERVAL")
    }))

  it.scoped("stats count calls, not attempts; a fallback answer is counted as such", () =>
    Effect.gen(function*() {
      let attempts = 0
      const flaky = Effect.suspend(() => ++attempts < 3 ? Effect.fail("flaky" as const) : Effect.succeed("ok"))
      const client = yield* ResilientClient.make({
        name: "flaky",
        retry: { maxAttempts: 4, schedule: Backoff.constant("10 millis") },
        fallback: (error) => Effect.succeed(`degraded (${String(error)})`)
      })
      const fiber = yield* Effect.fork(client.execute(flaky))
      expect(yield* runToEnd(fiber)).toBe("ok")
      expect(attempts).toBe(3)
      const failing = yield* Effect.fork(client.execute(Effect.fail("down")))
      expect(yield* runToEnd(failing)).toBe("degraded (down)")
      const stats = yield* client.stats
      expect(stats).toMatchObject({ total: 2, succeeded: 1, failed: 1, fallbacks: 1, inFlight: 0 })
    }))

  it.scoped("stats count interrupted calls: inFlight is exact, whether a call is running, queued or waiting to retry", () =>
    Effect.gen(function*() {
      const client = yield* ResilientClient.make({
        name: "interrupted",
        bulkhead: { maxConcurrent: 3, maxQueue: 10 },
        retry: { maxAttempts: 3, schedule: Backoff.constant("1 second") },
        fallback: () => Effect.succeed("fallback")
      })
      // One waiting between attempts, two running, two queued behind them.
      const retrying = yield* Effect.fork(client.execute(Effect.fail("flaky")))
      yield* Effect.yieldNow()
      const running = yield* Effect.forEach([1, 2, 3, 4], () => Effect.fork(client.execute(Effect.never)))
      yield* Effect.yieldNow()
      expect(yield* client.stats).toMatchObject({ total: 5, inFlight: 5, interrupted: 0 })
      yield* Fiber.interruptAll([...running, retrying])
      const stats = yield* client.stats
      expect(stats).toMatchObject({ total: 5, inFlight: 0, interrupted: 5, failed: 0, fallbacks: 0 })
      // The queue moved on: a new call runs.
      expect(yield* client.execute(Effect.succeed("ok"))).toBe("ok")
      expect(yield* client.stats).toMatchObject({ total: 6, succeeded: 1, inFlight: 0, interrupted: 5 })
    }))

  it.scoped("a retry budget counts each call once and each retry takes a token", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ name: "payments", ratio: 0.5, minPerSecond: 0 })
      const client = yield* ResilientClient.make({
        name: "budgeted",
        retry: { maxAttempts: 3, schedule: Backoff.constant("10 millis"), budget }
      })
      yield* Effect.forEach(Array.from({ length: 4 }), () => client.execute(Effect.succeed(1)))
      expect((yield* budget.stats).requests).toBe(4)
      let attempts = 0
      const failing = yield* Effect.fork(client.execute(Effect.suspend(() => Effect.fail(++attempts))))
      const error = yield* runToEnd(failing).pipe(Effect.flip)
      // 5 requests at ratio 0.5: 2 retry tokens, so 3 attempts in all, and the last error comes back.
      expect(attempts).toBe(3)
      expect(error).toBe(3)
      const stats = yield* budget.stats
      expect(stats.requests).toBe(5)
      expect(stats.retries).toBe(2)
    }))

  it.scoped("make uses only the parts it is given; a timeout per attempt is retried", () =>
    Effect.gen(function*() {
      const client = yield* ResilientClient.make({
        name: "lean",
        timeout: "1 second",
        retry: { maxAttempts: 2, schedule: Backoff.constant("100 millis") }
      })
      expect(Option.isNone(client.bulkhead)).toBe(true)
      expect(Option.isNone(client.circuitBreaker)).toBe(true)
      let attempts = 0
      const hangsOnce = Effect.suspend(() => ++attempts === 1 ? Effect.never : Effect.succeed("second"))
      const fiber = yield* Effect.fork(client.execute(hangsOnce))
      yield* TestClock.adjust("1 second")
      yield* TestClock.adjust("100 millis")
      expect(yield* Fiber.join(fiber)).toBe("second")

      const always = yield* Effect.fork(client.execute(Effect.never))
      yield* TestClock.adjust("5 seconds")
      expect(yield* Fiber.await(always)).toEqual(
        Exit.fail(new Timeout.TimeoutError({ duration: Duration.seconds(1), scope: "attempt" }))
      )
    }))

  it.scoped("the deadline bounds the whole call, retries included", () =>
    Effect.gen(function*() {
      const client = yield* ResilientClient.make({
        name: "bounded",
        deadline: "3 seconds",
        timeout: "2 seconds",
        retry: { maxAttempts: 10, schedule: Backoff.constant("500 millis") }
      })
      const fiber = yield* Effect.fork(client.execute(Effect.never))
      yield* TestClock.adjust("2999 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.await(fiber)).toEqual(
        Exit.fail(new Timeout.TimeoutError({ duration: Duration.seconds(3), scope: "deadline" }))
      )
    }))

  it.scoped("rejections are counted by reason; a shared bulkhead instance is used as given", () =>
    Effect.gen(function*() {
      const shared = yield* Bulkhead.make({ name: "shared", maxConcurrent: 1 })
      const client = yield* ResilientClient.make({
        name: "limited",
        rateLimiter: { limit: 2, interval: "1 second" },
        bulkhead: shared
      })
      expect(Option.getOrThrow(client.bulkhead)).toBe(shared)
      const results = yield* Effect.forEach([1, 2, 3], (i) => Effect.either(client.execute(Effect.succeed(i))))
      expect(results.map(Either.isRight)).toEqual([true, true, false])
      yield* Effect.fork(shared.execute(Effect.never))
      yield* Effect.yieldNow()
      yield* TestClock.adjust("1 second")
      const full = yield* Effect.flip(client.execute(Effect.succeed(4)))
      expect(full._tag).toBe("BulkheadRejectedError")
      const stats = yield* client.stats
      expect(stats.rejected).toEqual({ QueueFull: 1, QueueTimeout: 0, CircuitOpen: 0, RateLimited: 1, Throttled: 0 })
      expect(stats.succeeded).toBe(2)
    }))

  it.scoped("hedge inside the client: a slow attempt gets a copy, the first answer wins, one request per call", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ name: "hedged", ratio: 1, minPerSecond: 0 })
      const client = yield* ResilientClient.make({
        name: "hedged",
        timeout: "1 second",
        retry: { maxAttempts: 2, schedule: Backoff.constant("10 millis"), budget },
        hedge: { delay: "100 millis", budget }
      })
      let copies = 0
      const slowFirst = Effect.suspend(() =>
        ++copies === 1 ? Effect.never : Effect.as(Effect.sleep("20 millis"), copies)
      )
      const fiber = yield* Effect.fork(client.execute(slowFirst))
      yield* TestClock.adjust("120 millis")
      expect(yield* Fiber.join(fiber)).toBe(2)
      // The hedge took a token of the budget shared with the retry, which counted the call once.
      expect(yield* budget.stats).toMatchObject({ requests: 1, retries: 1 })
    }))

  it.scoped("spans and the latency histogram are opt-in", () =>
    Effect.gen(function*() {
      const client = yield* ResilientClient.make({
        name: "observed",
        timeout: "1 second",
        tracing: true,
        histogram: true
      })
      const span = yield* client.execute(Effect.currentSpan)
      expect(span.name).toBe("client observed")
      const fiber = yield* Effect.fork(client.execute(Effect.sleep("250 millis")))
      yield* TestClock.adjust("250 millis")
      yield* Fiber.join(fiber)
      const histogram = ResilienceMetrics.callDurationSeconds.pipe(
        Metric.tagged("policy", "client"),
        Metric.tagged("name", "observed")
      )
      const state = yield* Metric.value(histogram)
      expect(state.count).toBe(2)
      expect(state.max).toBeCloseTo(0.25)
      const quiet = yield* ResilientClient.make({ name: "quiet", timeout: "1 second" })
      expect(Option.isNone(yield* Effect.option(quiet.execute(Effect.currentSpan)))).toBe(true)
    }))

  it.scoped("registers itself and its parts in the registry", () =>
    Effect.gen(function*() {
      yield* ResilientClient.make({ name: "payments", ...ResilientClient.defaults })
      const entries = yield* ResilienceRegistry.entries
      expect(entries.map((e) => e.kind).sort()).toEqual(["bulkhead", "circuit_breaker", "client"])
      const client = entries.find((e) => e.kind === "client")!
      expect(yield* client.status).toMatchObject({ healthy: true })
      const dup = yield* Effect.flip(ResilientClient.make({ name: "payments", timeout: "1 second" }))
      expect(dup._tag).toBe("DuplicateNameError")
      const bad = yield* Effect.flip(ResilientClient.make({ name: "x", timeout: -1 }))
      expect(bad).toMatchObject({ _tag: "InvalidOptionsError", field: "timeout" })
    }).pipe(Effect.provide(ResilienceRegistry.layer)))
})
