import type { Bulkhead, CircuitBreaker, RateLimiter, ResilientClient } from "@effect-resilience/core"
import { Backoff, Deadline, Retry, Timeout } from "@effect-resilience/core"
import { describe, expectTypeOf, it } from "@effect/vitest"
import { Data, Effect } from "effect"

class GatewayError extends Data.TaggedError("GatewayError")<{ readonly status: number }> {}
declare const call: Effect.Effect<string, GatewayError>

// The error unions are part of the API: each policy adds exactly its own error, nothing is widened to unknown.
describe("error unions in signatures", () => {
  it("Retry keeps the error type unchanged", () => {
    const retried = call.pipe(Retry.retry({ schedule: Backoff.constant("1 second"), maxAttempts: 3 }))
    expectTypeOf(retried).toEqualTypeOf<Effect.Effect<string, GatewayError>>()
  })

  it("Timeout and Deadline add TimeoutError", () => {
    expectTypeOf(call.pipe(Timeout.timeout("1 second"))).toEqualTypeOf<
      Effect.Effect<string, GatewayError | Timeout.TimeoutError>
    >()
    expectTypeOf(Deadline.within(call, "1 second")).toEqualTypeOf<
      Effect.Effect<string, GatewayError | Timeout.TimeoutError>
    >()
  })

  it("a breaker, a bulkhead and a limiter add their rejection", () => {
    const breaker = {} as CircuitBreaker.CircuitBreaker
    const bulkhead = {} as Bulkhead.Bulkhead
    const limiter = {} as RateLimiter.RateLimiter
    expectTypeOf(breaker.execute(call)).toEqualTypeOf<
      Effect.Effect<string, GatewayError | CircuitBreaker.CircuitBreakerOpenError>
    >()
    expectTypeOf(bulkhead.execute(call)).toEqualTypeOf<
      Effect.Effect<string, GatewayError | Bulkhead.BulkheadRejectedError>
    >()
    expectTypeOf(limiter.execute(call)).toEqualTypeOf<
      Effect.Effect<string, GatewayError | RateLimiter.RateLimitedError>
    >()
  })

  it("a client adds its ClientError union; with a fallback only the fallback's error remains", () => {
    const client = {} as ResilientClient.ResilientClient
    expectTypeOf(client.execute(call)).toEqualTypeOf<
      Effect.Effect<string, GatewayError | ResilientClient.ClientError>
    >()
    const withFallback = {} as ResilientClient.ResilientClient<unknown, "degraded", never, true>
    expectTypeOf(withFallback.execute(call)).toEqualTypeOf<Effect.Effect<string | "degraded", never>>()
  })
})
