import {
  Bulkhead,
  CircuitBreaker,
  RateLimiter,
  ResilienceRegistry,
  ResilientClient,
  RetryBudget
} from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import type { Scope } from "effect"
import { Context, Effect, Exit } from "effect"

// A name belongs to a policy for the life of the scope that made it: closing the scope frees the name.
const entryNames = Effect.map(ResilienceRegistry.entries, (all) => all.map((e) => `${e.kind}:${e.name}`))

const releasesItsName = <A, E>(
  made: ReadonlyArray<string>,
  make: (name: string) => Effect.Effect<A, E, Scope.Scope>
) =>
  Effect.gen(function*() {
    yield* Effect.scoped(Effect.gen(function*() {
      yield* make("orders")
      expect(yield* entryNames).toEqual(made)
      // While the first is alive, the name is taken.
      const duplicate = yield* Effect.flip(make("orders"))
      expect(duplicate).toBeInstanceOf(ResilienceRegistry.DuplicateNameError)
      // The failed duplicate took nothing away from the first.
      expect(yield* entryNames).toEqual(made)
    }))
    expect(yield* entryNames).toEqual([])
    // The name is free again: a second policy of that name can be made, and is listed.
    yield* Effect.scoped(Effect.gen(function*() {
      yield* make("orders")
      expect(yield* entryNames).toEqual(made)
    }))
    expect(yield* entryNames).toEqual([])
  }).pipe(Effect.provide(ResilienceRegistry.layer))

describe("registry names last as long as the policy's scope", () => {
  it.effect("CircuitBreaker.make", () =>
    releasesItsName(["circuit_breaker:orders"], (name) => CircuitBreaker.make({ name })))

  it.effect("CircuitBreaker.keyed", () =>
    releasesItsName(
      ["circuit_breaker:orders"],
      (name) => CircuitBreaker.keyed({ name, maxKeys: 10, idleTtl: "1 minute" })
    ))

  it.effect("Bulkhead.make", () =>
    releasesItsName(["bulkhead:orders"], (name) => Bulkhead.make({ name, maxConcurrent: 2 })))

  it.effect("Bulkhead.keyed", () =>
    releasesItsName(["bulkhead:orders"], (name) => Bulkhead.keyed({ name, maxConcurrent: 2 })))

  it.effect("RateLimiter.make", () =>
    releasesItsName(["rate_limiter:orders"], (name) => RateLimiter.make({ name, limit: 5, interval: "1 second" })))

  it.effect("RateLimiter.keyed", () =>
    releasesItsName(["rate_limiter:orders"], (name) => RateLimiter.keyed({ name, limit: 5, interval: "1 second" })))

  it.effect("RetryBudget.make", () => releasesItsName(["retry_budget:orders"], (name) => RetryBudget.make({ name })))

  it.effect("ResilientClient.make: the client and the parts it makes", () =>
    releasesItsName(
      ["bulkhead:orders", "circuit_breaker:orders", "rate_limiter:orders", "client:orders"],
      (name) =>
        ResilientClient.make({
          name,
          ...ResilientClient.defaults,
          rateLimiter: { limit: 5, interval: "1 second" }
        })
    ))

  it.effect("ResilientClient.layer: the name is free once the layer is released", () =>
    Effect.gen(function*() {
      class Orders extends Context.Tag("Orders")<Orders, ResilientClient.ResilientClient>() {}
      const live = ResilientClient.layer(Orders, { name: "orders", bulkhead: { maxConcurrent: 1 } })
      yield* Effect.scoped(Effect.provide(Effect.flatMap(Orders, (c) => c.execute(Effect.void)), live))
      yield* Effect.scoped(Effect.provide(Effect.flatMap(Orders, (c) => c.execute(Effect.void)), live))
      expect(yield* entryNames).toEqual([])
    }).pipe(Effect.provide(ResilienceRegistry.layer)))
})

describe("ResilienceRegistry.register", () => {
  const entry: ResilienceRegistry.Entry = {
    kind: "pool",
    name: "db",
    status: Effect.succeed({ healthy: true, state: "ok" })
  }

  it.effect("does nothing without a registry", () =>
    Effect.gen(function*() {
      yield* Effect.scoped(Effect.zipRight(ResilienceRegistry.register(entry), ResilienceRegistry.register(entry)))
      expect(yield* ResilienceRegistry.entries).toEqual([])
    }))

  it.effect("removes only its own entry: a name taken anew after a removal by hand stays", () =>
    Effect.gen(function*() {
      const registry = yield* ResilienceRegistry.ResilienceRegistry
      const other: ResilienceRegistry.Entry = { ...entry, status: Effect.succeed({ healthy: false, state: "other" }) }
      yield* Effect.scoped(Effect.gen(function*() {
        yield* ResilienceRegistry.register(entry)
        yield* registry.unregister("pool", "db")
        yield* registry.register(other)
      }))
      expect(yield* registry.entries).toEqual([other])
    }).pipe(Effect.provide(ResilienceRegistry.layer)))

  it.effect("removes the entry when the scope closes, whatever the exit", () =>
    Effect.gen(function*() {
      const failed = yield* Effect.exit(
        Effect.scoped(Effect.zipRight(ResilienceRegistry.register(entry), Effect.fail("boom")))
      )
      expect(failed).toEqual(Exit.fail("boom"))
      expect(yield* entryNames).toEqual([])
      yield* Effect.scoped(Effect.zipRight(ResilienceRegistry.register(entry), Effect.interrupt)).pipe(Effect.exit)
      expect(yield* entryNames).toEqual([])
    }).pipe(Effect.provide(ResilienceRegistry.layer)))
})
