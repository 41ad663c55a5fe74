import { CircuitBreaker } from "@effect-resilience/core"
import { Data, Effect, Either } from "effect"

/** The failure the breaker tests count. */
export class Boom extends Data.TaggedError("Boom")<{ readonly n?: number }> {}

/** Runs a call through a breaker and says what happened: success, failure or rejected. */
export const outcome = <A, E>(effect: Effect.Effect<A, E | CircuitBreaker.CircuitBreakerOpenError>) =>
  Effect.map(
    Effect.either(effect),
    Either.match({
      onRight: () => "success" as const,
      onLeft: (e) => e instanceof CircuitBreaker.CircuitBreakerOpenError ? ("rejected" as const) : ("failure" as const)
    })
  )
