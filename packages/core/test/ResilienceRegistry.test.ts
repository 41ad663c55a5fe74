import { ResilienceRegistry } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"

const entry = (kind: ResilienceRegistry.PolicyKind, name: string, state = "Closed"): ResilienceRegistry.Entry => ({
  kind,
  name,
  status: Effect.succeed({ healthy: state === "Closed", state })
})

describe("ResilienceRegistry", () => {
  it.effect("lists entries and breakers with their states", () =>
    Effect.gen(function*() {
      const registry = yield* ResilienceRegistry.ResilienceRegistry
      yield* registry.register(entry("circuit_breaker", "payments", "Open"))
      yield* registry.register(entry("bulkhead", "payments"))
      expect((yield* registry.entries).map((e) => `${e.kind}:${e.name}`)).toEqual([
        "circuit_breaker:payments",
        "bulkhead:payments"
      ])
      expect(yield* registry.breakers).toEqual([{ name: "payments", state: "Open" }])
    }).pipe(Effect.provide(ResilienceRegistry.layer)))

  it.effect("refuses a duplicate name of the same kind, naming it", () =>
    Effect.gen(function*() {
      const registry = yield* ResilienceRegistry.ResilienceRegistry
      yield* registry.register(entry("pool", "db"))
      const exit = yield* Effect.exit(registry.register(entry("pool", "db")))
      expect(exit).toEqual(Exit.fail(new ResilienceRegistry.DuplicateNameError({ kind: "pool", registeredName: "db" })))
      yield* registry.unregister("pool", "db")
      yield* registry.register(entry("pool", "db"))
      expect((yield* registry.entries).length).toBe(1)
    }).pipe(Effect.provide(ResilienceRegistry.layer)))

  it.effect("registerIfPresent does nothing without a registry", () =>
    Effect.gen(function*() {
      yield* ResilienceRegistry.registerIfPresent(entry("pool", "db"))
      yield* ResilienceRegistry.registerIfPresent(entry("pool", "db"))
      expect(yield* ResilienceRegistry.entries).toEqual([])
    }))
})
