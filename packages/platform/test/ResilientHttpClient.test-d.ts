import type { AdaptiveThrottle, Bulkhead, CircuitBreaker, Timeout } from "@effect-resilience/core"
import type { InvalidOptionsError } from "@effect-resilience/core/InvalidOptionsError"
import type { DuplicateNameError } from "@effect-resilience/core/ResilienceRegistry"
import { ResilientHttpClient } from "@effect-resilience/platform"
import type { HttpClient, HttpClientError, HttpClientResponse } from "@effect/platform"
import { describe, expectTypeOf, it } from "@effect/vitest"
import type { Effect, Layer, Scope } from "effect"

// The error unions are part of the API: the typed client names every failure; the layer keeps HttpClient's type.
describe("ResilientHttpClient types", () => {
  it("a request through the typed client fails with the policies' errors and the client's", () => {
    const client = {} as ResilientHttpClient.ResilientHttpClient
    expectTypeOf(client.get("http://h/")).toEqualTypeOf<
      Effect.Effect<
        HttpClientResponse.HttpClientResponse,
        | HttpClientError.HttpClientError
        | ResilientHttpClient.HttpStatusError
        | Timeout.TimeoutError
        | CircuitBreaker.CircuitBreakerOpenError
        | Bulkhead.BulkheadRejectedError
        | AdaptiveThrottle.AdaptiveThrottleError
      >
    >()
  })

  it("make needs the HttpClient in context only when no client is given", () => {
    const plain = {} as HttpClient.HttpClient
    expectTypeOf(ResilientHttpClient.make({ name: "a", client: plain })).toEqualTypeOf<
      Effect.Effect<ResilientHttpClient.ResilientHttpClient, InvalidOptionsError | DuplicateNameError, Scope.Scope>
    >()
    expectTypeOf(ResilientHttpClient.make({ name: "a" })).toEqualTypeOf<
      Effect.Effect<
        ResilientHttpClient.ResilientHttpClient,
        InvalidOptionsError | DuplicateNameError,
        Scope.Scope | HttpClient.HttpClient
      >
    >()
  })

  it("layer replaces the HttpClient (whose type is unchanged) and adds the typed client", () => {
    expectTypeOf(ResilientHttpClient.layer({ name: "a" })).toEqualTypeOf<
      Layer.Layer<
        HttpClient.HttpClient | ResilientHttpClient.ResilientHttpClient,
        InvalidOptionsError | DuplicateNameError,
        HttpClient.HttpClient
      >
    >()
  })
})
