/**
 * Where every named policy lists itself (breakers, bulkheads, rate limiters, retry budgets, pools, clients),
 * so health checks and metrics can find them. Optional: a policy built without the layer registers nowhere. A
 * policy holds its name for the life of the `Scope` it was made in (`register`), so a name is free again once
 * that scope has closed.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"

/**
 * The kinds of policy that register.
 *
 * @since 0.1.0
 * @category models
 */
export type PolicyKind =
  | "circuit_breaker"
  | "bulkhead"
  | "rate_limiter"
  | "retry_budget"
  | "pool"
  | "client"
  | "adaptive_throttle"

/**
 * What a registered policy says about itself when asked.
 *
 * @since 0.1.0
 * @category models
 */
export interface EntryStatus {
  /** Whether the policy is serving normally (a closed breaker, a pool that can hand out resources). */
  readonly healthy: boolean
  /** The state in a word, e.g. `"Closed"`, `"Open"`, `"ok"`. */
  readonly state: string
  /** Figures worth showing in a health report. */
  readonly details?: Readonly<Record<string, number | string | boolean>>
}

/**
 * A registered policy.
 *
 * @since 0.1.0
 * @category models
 */
export interface Entry {
  readonly kind: PolicyKind
  readonly name: string
  readonly status: Effect.Effect<EntryStatus>
}

/**
 * A second policy of the same kind tried to register under a name already taken.
 *
 * @since 0.1.0
 * @category errors
 */
export class DuplicateNameError extends Data.TaggedError("DuplicateNameError")<{
  readonly kind: PolicyKind
  readonly registeredName: string
}> {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `a ${this.kind} named ${JSON.stringify(this.registeredName)} is already registered`
  }
}

/**
 * The registry service.
 *
 * @since 0.1.0
 * @category models
 */
export interface Registry {
  /** Adds an entry; fails when an entry of the same kind and name exists. */
  readonly register: (entry: Entry) => Effect.Effect<void, DuplicateNameError>
  /** Removes an entry (nothing happens when absent). */
  readonly unregister: (kind: PolicyKind, name: string) => Effect.Effect<void>
  /** Every entry, in registration order. */
  readonly entries: Effect.Effect<ReadonlyArray<Entry>>
  /** Every registered circuit breaker with its current state. */
  readonly breakers: Effect.Effect<ReadonlyArray<{ readonly name: string; readonly state: string }>>
}

/**
 * The registry's tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class ResilienceRegistry extends Context.Tag("@effect-resilience/core/ResilienceRegistry")<
  ResilienceRegistry,
  Registry
>() {}

/**
 * Makes an empty registry.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Registry> = Effect.sync(() => {
  const byKey = new Map<string, Entry>()
  const key = (kind: PolicyKind, name: string) => `${kind}\u0000${name}`
  const entries = Effect.sync(() => Array.from(byKey.values()))
  return {
    register: (entry) =>
      Effect.suspend(() => {
        const k = key(entry.kind, entry.name)
        if (byKey.has(k)) return Effect.fail(new DuplicateNameError({ kind: entry.kind, registeredName: entry.name }))
        byKey.set(k, entry)
        return Effect.void
      }),
    unregister: (kind, name) => Effect.sync(() => void byKey.delete(key(kind, name))),
    entries,
    breakers: Effect.flatMap(
      entries,
      (all) =>
        Effect.forEach(
          all.filter((e) => e.kind === "circuit_breaker"),
          (e) => Effect.map(e.status, (s) => ({ name: e.name, state: s.state }))
        )
    )
  }
})

/**
 * Provides an empty registry.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<ResilienceRegistry> = Layer.effect(ResilienceRegistry, make)

/**
 * Registers an entry in the registry when one is provided, for the life of the current `Scope`: closing the
 * scope removes the entry, so the name is free again. Without a registry it does nothing (and adds no
 * finalizer). Every named policy calls it from its `make`, which is why those constructors need a `Scope`.
 *
 * @example
 * ```ts
 * import { ResilienceRegistry } from "@effect-resilience/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   yield* Effect.scoped(
 *     ResilienceRegistry.register({ kind: "pool", name: "db", status: Effect.succeed({ healthy: true, state: "ok" }) })
 *   )
 *   // the scope is closed: "db" may be registered again
 * }).pipe(Effect.provide(ResilienceRegistry.layer))
 * ```
 *
 * @since 0.2.0
 * @category combinators
 */
export const register = (entry: Entry): Effect.Effect<void, DuplicateNameError, Scope.Scope> =>
  Effect.flatMap(
    Effect.serviceOption(ResilienceRegistry),
    Option.match({
      onNone: () => Effect.void,
      onSome: (registry) =>
        Effect.acquireRelease(
          registry.register(entry),
          // Only this entry: one removed by hand and registered anew under the name belongs to someone else.
          () =>
            Effect.flatMap(
              registry.entries,
              (all) => all.includes(entry) ? registry.unregister(entry.kind, entry.name) : Effect.void
            )
        )
    })
  )

/**
 * Registers an entry in the registry when one is provided, with no end: the name stays taken after the policy
 * is gone.
 *
 * @deprecated Use `register`, which releases the name when the scope closes.
 * @since 0.1.0
 * @category combinators
 */
export const registerIfPresent = (entry: Entry): Effect.Effect<void, DuplicateNameError> =>
  Effect.flatMap(
    Effect.serviceOption(ResilienceRegistry),
    Option.match({ onNone: () => Effect.void, onSome: (registry) => registry.register(entry) })
  )

/**
 * Every entry of the provided registry, or none when no registry is provided.
 *
 * @since 0.1.0
 * @category getters
 */
export const entries: Effect.Effect<ReadonlyArray<Entry>> = Effect.flatMap(
  Effect.serviceOption(ResilienceRegistry),
  Option.match({ onNone: () => Effect.succeed([]), onSome: (registry) => registry.entries })
)
