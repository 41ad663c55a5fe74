// The README's first example, verbatim but for the test wrapper: it must compile and do what the README says.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, TestClock } from "effect"

import { Backoff, CircuitBreaker, ResilientClient, Retry } from "@effect-resilience/core"
import { Context, Data } from "effect"

class GatewayError extends Data.TaggedError("GatewayError")<{ readonly status: number }> {}

// A gateway call that fails twice with a 503, then succeeds.
let calls = 0
const charge = (order: string) =>
  Effect.suspend(() => ++calls <= 2 ? Effect.fail(new GatewayError({ status: 503 })) : Effect.succeed(`paid ${order}`))

// 1. One policy at a time: retries with capped exponential backoff and full jitter.
const retried = charge("A-1").pipe(
  Retry.retry({
    schedule: Backoff.fullJitter(Backoff.exponential({ base: "100 millis", cap: "2 seconds" })),
    maxAttempts: 4
  })
)

// 2. The whole stack as a service: bulkhead, per-attempt timeout, retries with jitter, a circuit breaker.
class Payments extends Context.Tag("Payments")<Payments, ResilientClient.ResilientClient>() {}

const PaymentsLive = ResilientClient.layer(Payments, {
  name: "payments",
  ...ResilientClient.defaults,
  circuitBreaker: { strategy: CircuitBreaker.consecutive(5), openDuration: "30 seconds" }
})

const program = Effect.gen(function*() {
  const payments = yield* Payments
  const receipt = yield* payments.execute(charge("A-2")) // Effect<string, GatewayError | ClientError>
  const stats = yield* payments.stats
  return { receipt, stats }
}).pipe(Effect.provide(PaymentsLive))

describe("README", () => {
  it.effect("the first example retries through two failures, alone and inside the client", () =>
    Effect.gen(function*() {
      calls = 0
      const first = yield* Effect.fork(retried)
      yield* TestClock.adjust("10 seconds")
      expect(yield* Fiber.join(first)).toBe("paid A-1")
      expect(calls).toBe(3)
      calls = 0
      const second = yield* Effect.fork(program)
      yield* TestClock.adjust("10 seconds")
      const { receipt, stats } = yield* Fiber.join(second)
      expect(receipt).toBe("paid A-2")
      expect(stats.succeeded).toBe(1)
      expect(stats.total).toBe(1)
    }))
})
