import { CircuitBreaker } from "@effect-resilience/core"
import { Data, Effect, Either, Stream } from "effect"

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

/** Collects the breaker's changes from now on as `From>To@at` (subscribed before it returns). */
export const recordChanges = (changes: Stream.Stream<CircuitBreaker.StateChange>) =>
  Effect.gen(function*() {
    const seen: Array<string> = []
    yield* Stream.runForEach(changes, (c) => Effect.sync(() => seen.push(`${c.from}>${c.to}@${c.at}`))).pipe(
      Effect.forkScoped
    )
    // Let the reader subscribe before anything happens.
    for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
    return seen
  })
