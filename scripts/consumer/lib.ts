// Exported with inferred types and `declaration: true`: a library built on ours must be able to name every
// type our API gives it (TS2742 when a type is only reachable through an internal file).
import { CircuitBreaker, ResilientClient, Timeout } from "@effect-resilience/core"
import { Duration, Effect } from "effect"

export const chargeThrough = (client: ResilientClient.ResilientClient, order: string) =>
  client.execute(Effect.succeed(`receipt for ${order}`))

export const guarded = (breaker: CircuitBreaker.CircuitBreaker) =>
  Effect.succeed(1).pipe(breaker.execute, Timeout.timeout("1 second"))

export const strategy = () => CircuitBreaker.countWindow({ size: 10, failureRate: 0.5 })

export const openError = () =>
  Effect.fail(
    new CircuitBreaker.CircuitBreakerOpenError({ breakerName: "b", state: "Open", retryAfter: Duration.seconds(1) })
  )

export type ChargeError = Effect.Effect.Error<ReturnType<typeof chargeThrough>>
