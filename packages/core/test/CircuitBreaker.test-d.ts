import { CircuitBreaker } from "@effect-resilience/core"
import { describe, expectTypeOf, it } from "@effect/vitest"
import type { Cause } from "effect"
import { Data, type Duration, Effect, Exit } from "effect"

class Transient extends Data.TaggedError("Transient")<{}> {}
class Permanent extends Data.TaggedError("Permanent")<{}> {}
declare const call: Effect.Effect<number, Transient | Permanent>
declare const breaker: CircuitBreaker.CircuitBreaker
declare const keyed: CircuitBreaker.KeyedCircuitBreaker

// A call's classifier is typed by the call: its exit carries the call's value and error, never `unknown`.
describe("CircuitBreaker: typed classification", () => {
  it("execute(self, { classify }) gets Exit<A, E> of the call", () => {
    const run = breaker.execute(call, {
      classify: (exit) => {
        expectTypeOf(exit).toEqualTypeOf<Exit.Exit<number, Transient | Permanent>>()
        return Exit.isFailure(exit)
      }
    })
    expectTypeOf(run).toEqualTypeOf<
      Effect.Effect<number, Transient | Permanent | CircuitBreaker.CircuitBreakerOpenError>
    >()
    keyed.execute("host", call, {
      classify: (exit) => {
        expectTypeOf(exit).toEqualTypeOf<Exit.Exit<number, Transient | Permanent>>()
        return true
      }
    })
  })

  it("withBreaker, data-first and data-last (in a pipe), gets the same", () => {
    const first = CircuitBreaker.withBreaker(call, breaker, {
      classify: (exit) => {
        expectTypeOf(exit).toEqualTypeOf<Exit.Exit<number, Transient | Permanent>>()
        return true
      }
    })
    const last = call.pipe(CircuitBreaker.withBreaker(breaker, {
      classify: (exit) => {
        expectTypeOf(exit).toEqualTypeOf<Exit.Exit<number, Transient | Permanent>>()
        return true
      }
    }))
    const plain = call.pipe(CircuitBreaker.withBreaker(breaker))
    type Expected = Effect.Effect<number, Transient | Permanent | CircuitBreaker.CircuitBreakerOpenError>
    expectTypeOf(first).toEqualTypeOf<Expected>()
    expectTypeOf(last).toEqualTypeOf<Expected>()
    expectTypeOf(plain).toEqualTypeOf<Expected>()
  })

  it("a classifier written for other errors is refused", () => {
    breaker.execute(call, {
      // @ts-expect-error the call fails with Transient | Permanent, not a string
      classify: (exit: Exit.Exit<number, string>) => Exit.isFailure(exit)
    })
  })

  it("the breaker-wide isFailureCause receives a Cause: an error predicate does not compile", () => {
    expectTypeOf<NonNullable<CircuitBreaker.CircuitBreaker.Options["isFailureCause"]>>().parameter(0).toEqualTypeOf<
      Cause.Cause<unknown>
    >()
    CircuitBreaker.make({
      name: "wide",
      // @ts-expect-error a Cause's _tag is "Fail", "Die", ..., never "Transient": this would count nothing
      isFailureCause: (e) => e._tag === "Transient"
    })
  })
})

describe("CircuitBreaker: healthCheck and probeLease", () => {
  it("check receives the key (undefined for make), may fail with anything; probeLease takes a DurationInput", () => {
    const options: CircuitBreaker.CircuitBreaker.Options = {
      name: "checked",
      halfOpen: { probeLease: "100 millis" },
      healthCheck: {
        check: (key) => {
          expectTypeOf(key).toEqualTypeOf<string | undefined>()
          return Effect.fail(new Transient())
        },
        interval: 100
      }
    }
    expectTypeOf(options.healthCheck).toEqualTypeOf<
      | {
        readonly check: (key: string | undefined) => Effect.Effect<unknown, unknown>
        readonly interval: Duration.DurationInput
      }
      | undefined
    >()
  })
})
