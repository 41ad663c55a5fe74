import type { InvalidOptionsError, ResilienceRegistry } from "@effect-resilience/core"
import { Backoff, ResilientClient, Timeout } from "@effect-resilience/core"
import { describe, expectTypeOf, it } from "@effect/vitest"
import type { Scope } from "effect"
import { Context, Data, Effect, Exit, Schedule } from "effect"

class GatewayError extends Data.TaggedError("GatewayError")<{ readonly status: number }> {}
class OtherError extends Data.TaggedError("OtherError")<{}> {}
declare const call: Effect.Effect<string, GatewayError>

// What each callback of a client typed by E receives: the attempt's failures in retry, the call's final failure
// in fallback. Never `unknown` once the client is typed.
type AttemptFailure = GatewayError | ResilientClient.AttemptError
type FinalFailure = GatewayError | ResilientClient.ClientError

describe("a client typed by the errors of its calls", () => {
  it("make<E>: retry.while, retry.onRetry and a schedule that reads the error all get E", () => {
    const made = ResilientClient.make<GatewayError>({
      name: "gateway",
      retry: {
        maxAttempts: 3,
        schedule: Backoff.exponential({ base: "10 millis" }).pipe(
          Schedule.whileInput((error: AttemptFailure) => error._tag !== "GatewayError" || error.status >= 500)
        ),
        while: (error) => {
          expectTypeOf(error).toEqualTypeOf<AttemptFailure>()
          return error._tag === "GatewayError" ? error.status !== 400 : true
        },
        onRetry: (event) => {
          expectTypeOf(event.error).toEqualTypeOf<AttemptFailure>()
          return Effect.void
        }
      }
    })
    expectTypeOf(made).toEqualTypeOf<
      Effect.Effect<
        ResilientClient.ResilientClient<GatewayError>,
        InvalidOptionsError.InvalidOptionsError | ResilienceRegistry.DuplicateNameError,
        Scope.Scope
      >
    >()
  })

  it("a schedule typed by E alone is refused: the client's own TimeoutError and breaker rejection reach it too", () => {
    ResilientClient.make<GatewayError>({
      name: "gateway",
      retry: {
        // @ts-expect-error a TimeoutError would reach `error.status` at run time
        schedule: Backoff.constant("10 millis").pipe(Schedule.whileInput((error: GatewayError) => error.status >= 500))
      }
    })
  })

  it("fallback gets E | ClientError; with make<E, B, EB> the call's error is EB alone", () => {
    const _made = ResilientClient.make<GatewayError, string, never>({
      name: "gateway",
      fallback: (error) => {
        expectTypeOf(error).toEqualTypeOf<FinalFailure>()
        return Effect.succeed(error._tag === "GatewayError" ? `degraded ${error.status}` : error._tag)
      }
    })
    type Client = Effect.Effect.Success<typeof _made>
    expectTypeOf<Client>().toEqualTypeOf<ResilientClient.ResilientClient<GatewayError, string, never, true>>()
    const client = {} as Client
    expectTypeOf(client.execute(call)).toEqualTypeOf<Effect.Effect<string, never>>()
  })

  it("an annotated fallback types the client without type arguments", () => {
    const _made = ResilientClient.make({
      name: "gateway",
      fallback: (error: FinalFailure) => Effect.succeed(error._tag),
      retry: {
        while: (error) => {
          expectTypeOf(error).toEqualTypeOf<AttemptFailure>()
          return true
        }
      }
    })
    expectTypeOf<Effect.Effect.Success<typeof _made>>().toEqualTypeOf<
      ResilientClient.ResilientClient<GatewayError, FinalFailure["_tag"], never, true>
    >()
  })

  it("circuitBreaker.classify gets the attempt's exit: E or the attempt's TimeoutError", () => {
    ResilientClient.make<GatewayError>({
      name: "gateway",
      circuitBreaker: {
        classify: (exit) => {
          expectTypeOf(exit).toEqualTypeOf<Exit.Exit<unknown, GatewayError | Timeout.TimeoutError>>()
          return Exit.isFailure(exit)
        }
      }
    })
  })

  it("a client typed by E takes only calls that fail with E", () => {
    const client = {} as ResilientClient.ResilientClient<GatewayError>
    expectTypeOf(client.execute(call)).toEqualTypeOf<
      Effect.Effect<string, GatewayError | ResilientClient.ClientError>
    >()
    expectTypeOf(client.execute(Effect.succeed(1))).toEqualTypeOf<
      Effect.Effect<number, ResilientClient.ClientError>
    >()
    // @ts-expect-error the client's callbacks were not written for OtherError
    client.execute(Effect.fail(new OtherError()))
  })

  it("layer: the tag's client type gives the options' callbacks their E", () => {
    class Gateway extends Context.Tag("Gateway")<Gateway, ResilientClient.ResilientClient<GatewayError>>() {}
    ResilientClient.layer(Gateway, {
      name: "gateway",
      ...ResilientClient.defaults,
      retry: {
        ...ResilientClient.defaults.retry,
        while: (error) => {
          expectTypeOf(error).toEqualTypeOf<AttemptFailure>()
          return true
        }
      }
    })
    class Degraded extends Context.Tag("Degraded")<
      Degraded,
      ResilientClient.ResilientClient<GatewayError, "degraded", never, true>
    >() {}
    ResilientClient.layer(Degraded, {
      name: "degraded",
      fallback: (error) => {
        expectTypeOf(error).toEqualTypeOf<FinalFailure>()
        return Effect.succeed("degraded" as const)
      }
    })
    // layerConfig has no callbacks: any E will do.
    ResilientClient.layerConfig(Gateway, "GATEWAY")
  })

  it("options whose fallback may be absent: a call fails with the fallback's error or the call's and the client's", () => {
    const options = {} as ResilientClient.ResilientClient.Options<GatewayError, "degraded", OtherError>
    const _made = ResilientClient.make(options)
    const client = {} as Effect.Effect.Success<typeof _made>
    expectTypeOf(client.execute(call)).toEqualTypeOf<
      Effect.Effect<string, OtherError | GatewayError | ResilientClient.ClientError>
    >()
  })

  it("untyped, as before: E is unknown and any call goes through", () => {
    const _made = ResilientClient.make({
      name: "plain",
      retry: {
        while: (error) => {
          expectTypeOf(error).toEqualTypeOf<unknown>()
          return true
        }
      }
    })
    const client = {} as Effect.Effect.Success<typeof _made>
    expectTypeOf(client).toEqualTypeOf<ResilientClient.ResilientClient>()
    expectTypeOf(client.execute(call)).toEqualTypeOf<
      Effect.Effect<string, GatewayError | ResilientClient.ClientError>
    >()
    expectTypeOf(client.execute(Effect.fail(new OtherError()))).toEqualTypeOf<
      Effect.Effect<never, OtherError | ResilientClient.ClientError>
    >()
  })
})
