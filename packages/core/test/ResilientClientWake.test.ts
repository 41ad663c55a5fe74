import { Backoff, CircuitBreaker, CircuitBreakerStore, ResilientClient } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Data, Duration, Effect, Exit, Fiber, Option, TestClock } from "effect"

class GatewayError extends Data.TaggedError("GatewayError")<{ readonly request: number }> {}

/** A gateway answering after 10 ms: fails while `down`, counts its calls per request. */
const makeGateway = () => {
  const state = { down: true, calls: new Map<number, number>() }
  const charge = (request: number) =>
    Effect.zipRight(
      Effect.sync(() => state.calls.set(request, (state.calls.get(request) ?? 0) + 1)),
      Effect.zipRight(
        Effect.sleep("10 millis"),
        Effect.suspend(() =>
          state.down ? Effect.fail(new GatewayError({ request })) : Effect.succeed(`charged ${request}`)
        )
      )
    )
  return { charge, state, callsOf: (request: number) => state.calls.get(request) ?? 0 }
}

const settle = Effect.gen(function*() {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
})

/** 3 attempts 200 ms apart, a breaker opened by 2 consecutive failures for 1 s. */
const options = (name: string, onOpenBreaker?: "fail" | "wait") => ({
  name,
  bulkhead: { maxConcurrent: 10, maxQueue: 10 },
  timeout: "300 millis",
  retry: {
    maxAttempts: 3,
    schedule: Backoff.constant("200 millis"),
    ...(onOpenBreaker === undefined ? {} : { onOpenBreaker })
  },
  circuitBreaker: { strategy: CircuitBreaker.consecutive(2), openDuration: "1 second" }
} as const)

/**
 * Call 1 fails at 10 ms and sleeps its backoff until 210 ms; call 2, made at 20 ms, fails at 30 ms and opens the
 * breaker (2 consecutive failures): call 1 is sleeping when the breaker opens.
 */
const openWhileSleeping = (
  client: ResilientClient.ResilientClient,
  gateway: ReturnType<typeof makeGateway>,
  openedBy: ResilientClient.ResilientClient = client
) =>
  Effect.gen(function*() {
    const sleeper = yield* Effect.fork(client.execute(gateway.charge(1)))
    yield* TestClock.adjust("20 millis")
    expect(gateway.callsOf(1)).toBe(1)
    expect(sleeper.unsafePoll()).toBeNull()
    const opener = yield* Effect.fork(Effect.either(openedBy.execute(gateway.charge(2))))
    yield* TestClock.adjust("10 millis")
    yield* settle
    return { sleeper, opener }
  })

describe("ResilientClient: a call sleeping its backoff when the client's own breaker opens", () => {
  it.scoped("by default, it ends at once with the breaker's rejection, without another attempt", () =>
    Effect.gen(function*() {
      const gateway = makeGateway()
      const client = yield* ResilientClient.make(options("wake"))
      const breaker = Option.getOrThrow(client.circuitBreaker)
      const { opener, sleeper } = yield* openWhileSleeping(client, gateway)
      expect(yield* breaker.state).toBe("Open")
      // The opener stops at its own failure; the sleeper is done too, the clock still at the opening (30 ms).
      expect(yield* Fiber.join(opener)).toMatchObject({ _tag: "Left", left: { _tag: "GatewayError", request: 2 } })
      const exit = sleeper.unsafePoll()
      expect(exit).not.toBeNull()
      expect(Exit.isFailure(exit!)).toBe(true)
      const error = yield* Effect.flip(Fiber.join(sleeper))
      expect(error).toMatchObject({ _tag: "CircuitBreakerOpenError", breakerName: "wake", state: "Open" })
      // Its hint: the whole open duration, as the breaker turns away a call at the instant it opens.
      expect(Duration.toMillis((error as CircuitBreaker.CircuitBreakerOpenError).retryAfter)).toBe(1000)
      expect(gateway.callsOf(1)).toBe(1)
      expect(yield* client.stats).toMatchObject({ inFlight: 0, failed: 1, rejected: { CircuitOpen: 1 } })
      // Counted by the breaker as the rejection of the attempt that would have followed.
      expect((yield* breaker.stats).rejected).toBe(1)
      expect(yield* Option.getOrThrow(client.bulkhead).stats).toEqual({ active: 0, queued: 0, rejected: 0 })
      // Nothing left running: past the backoff, the gateway sees no more calls.
      yield* TestClock.adjust("2 seconds")
      expect(gateway.callsOf(1)).toBe(1)
    }))

  it.scoped("with onOpenBreaker \"wait\", it sleeps its backoff out, waits for the breaker and then runs", () =>
    Effect.gen(function*() {
      const gateway = makeGateway()
      const client = yield* ResilientClient.make(options("wait", "wait"))
      const { opener, sleeper } = yield* openWhileSleeping(client, gateway)
      expect(yield* Option.getOrThrow(client.circuitBreaker).state).toBe("Open")
      expect(sleeper.unsafePoll()).toBeNull()
      // The opener waits for the breaker too: out of the way, so that the sleeper is the only probe.
      yield* Fiber.interrupt(opener)
      gateway.state.down = false
      // At 210 ms its retry is turned away with 820 ms left, which it waits for; at 1030 ms it probes.
      yield* TestClock.adjust("200 millis")
      expect(sleeper.unsafePoll()).toBeNull()
      expect(gateway.callsOf(1)).toBe(1)
      yield* TestClock.adjust("790 millis")
      expect(sleeper.unsafePoll()).toBeNull()
      yield* TestClock.adjust("20 millis")
      expect(yield* Fiber.join(sleeper)).toBe("charged 1")
      expect(gateway.callsOf(1)).toBe(2)
    }))

  it.scoped("interrupting it while it sleeps still ends it at once; a later opening finds nobody to wake", () =>
    Effect.gen(function*() {
      const gateway = makeGateway()
      const client = yield* ResilientClient.make(options("interrupt"))
      const sleeper = yield* Effect.fork(client.execute(gateway.charge(1)))
      yield* TestClock.adjust("20 millis")
      expect(sleeper.unsafePoll()).toBeNull()
      const exit = yield* Fiber.interrupt(sleeper)
      expect(Exit.isInterrupted(exit)).toBe(true)
      expect(yield* client.stats).toMatchObject({ inFlight: 0, interrupted: 1 })
      // The breaker opens afterwards: nothing is woken, nothing is counted.
      const opener1 = yield* Effect.fork(Effect.either(client.execute(gateway.charge(2))))
      yield* TestClock.adjust("10 millis")
      const opener2 = yield* Effect.fork(Effect.either(client.execute(gateway.charge(3))))
      yield* TestClock.adjust("10 millis")
      yield* settle
      expect(yield* Option.getOrThrow(client.circuitBreaker).state).toBe("Open")
      yield* TestClock.adjust("2 seconds")
      yield* Fiber.join(opener1)
      yield* Fiber.join(opener2)
      expect(gateway.callsOf(1)).toBe(1)
      expect((yield* Option.getOrThrow(client.circuitBreaker).stats).rejected).toBe(1)
      expect(yield* client.stats).toMatchObject({ inFlight: 0, interrupted: 1, rejected: { CircuitOpen: 1 } })
    }))

  it.scoped("a sleeping call whose breaker stays closed retries after its backoff as before", () =>
    Effect.gen(function*() {
      const gateway = makeGateway()
      const client = yield* ResilientClient.make(options("closed"))
      const call = yield* Effect.fork(client.execute(gateway.charge(1)))
      yield* TestClock.adjust("20 millis")
      gateway.state.down = false
      yield* TestClock.adjust("190 millis")
      expect(call.unsafePoll()).toBeNull()
      yield* TestClock.adjust("10 millis")
      expect(yield* Fiber.join(call)).toBe("charged 1")
      expect(gateway.callsOf(1)).toBe(2)
    }))

  it.scoped("with a breaker shared by two clients: the other client's failures open it, isolation wakes too", () =>
    Effect.gen(function*() {
      const gateway = makeGateway()
      const breaker = yield* CircuitBreaker.make({
        name: "shared",
        strategy: CircuitBreaker.consecutive(2),
        openDuration: "1 second"
      })
      const base = options("x")
      const x = yield* ResilientClient.make({ ...base, name: "x", circuitBreaker: breaker })
      const y = yield* ResilientClient.make({ ...base, name: "y", circuitBreaker: breaker })
      const { sleeper } = yield* openWhileSleeping(x, gateway, y)
      expect(sleeper.unsafePoll()).not.toBeNull()
      expect(yield* Effect.flip(Fiber.join(sleeper))).toMatchObject({
        _tag: "CircuitBreakerOpenError",
        breakerName: "shared",
        state: "Open"
      })
      expect(gateway.callsOf(1)).toBe(1)

      // Closed again; a call of y sleeps its backoff when the breaker is isolated.
      yield* breaker.reset
      const sleeping = yield* Effect.fork(y.execute(gateway.charge(4)))
      yield* TestClock.adjust("20 millis")
      expect(sleeping.unsafePoll()).toBeNull()
      yield* breaker.isolate
      yield* settle
      expect(sleeping.unsafePoll()).not.toBeNull()
      expect(yield* Effect.flip(Fiber.join(sleeping))).toMatchObject({
        _tag: "CircuitBreakerOpenError",
        state: "Isolated"
      })
      expect(gateway.callsOf(4)).toBe(1)
    }))

  it.scoped("with a store, an opening learnt from another replica wakes it too", () =>
    Effect.gen(function*() {
      const gateway = makeGateway()
      const client = yield* ResilientClient.make(options("replicated"))
      // Another replica of the same breaker (same name, same store): its failures open the shared record.
      const replica = yield* CircuitBreaker.make({
        name: "replicated",
        strategy: CircuitBreaker.consecutive(2),
        openDuration: "1 second"
      })
      const sleeper = yield* Effect.fork(client.execute(gateway.charge(1)))
      yield* TestClock.adjust("20 millis")
      expect(sleeper.unsafePoll()).toBeNull()
      yield* Effect.either(replica.execute(Effect.fail(new GatewayError({ request: 9 }))))
      yield* Effect.either(replica.execute(Effect.fail(new GatewayError({ request: 9 }))))
      expect(yield* replica.state).toBe("Open")
      yield* settle
      expect(yield* Option.getOrThrow(client.circuitBreaker).state).toBe("Open")
      expect(sleeper.unsafePoll()).not.toBeNull()
      expect(yield* Effect.flip(Fiber.join(sleeper))).toMatchObject({
        _tag: "CircuitBreakerOpenError",
        breakerName: "replicated",
        state: "Open"
      })
      expect(gateway.callsOf(1)).toBe(1)
    }).pipe(Effect.provide(CircuitBreakerStore.layerMemory)))
})
