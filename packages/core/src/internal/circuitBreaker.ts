/**
 * `CircuitBreaker.make` and `keyed`: a breaker's seams are its settings (`circuitBreakerSettings.ts`), its state
 * machine and sink (`circuitBreakerMachine.ts`), a call through it (`circuitBreakerExecute.ts`), its window
 * (`circuitBreakerWindow.ts`) and its sync with a store (`circuitBreakerSync.ts`).
 *
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { CircuitBreaker, KeyedCircuitBreaker, StateChange, Stats } from "../CircuitBreaker.js"
import type { InvalidOptionsError } from "../InvalidOptionsError.js"
import * as ResilienceRegistry from "../ResilienceRegistry.js"
import {
  executeWith,
  isolateMachine,
  makeExecute,
  readState,
  readStats,
  resetMachine
} from "./circuitBreakerExecute.js"
import { CircuitBreakerOpenError, Machine, openingSignal, Sink } from "./circuitBreakerMachine.js"
import { makeKeyedSettings, makeSettings, type Settings } from "./circuitBreakerSettings.js"
import { type Attachment, CircuitBreakerStore, type SharedConfig, type State } from "./circuitBreakerStore.js"
import { attachStore, connectStore } from "./circuitBreakerSync.js"
import { LruMap } from "./lru.js"

/** @internal */
export const TypeId: unique symbol = Symbol.for("@effect-resilience/core/CircuitBreaker")

/** @internal */
export const KeyedTypeId: unique symbol = Symbol.for("@effect-resilience/core/CircuitBreaker/Keyed")

export { CircuitBreakerOpenError } from "./circuitBreakerMachine.js"
export { consecutive, countWindow, timeWindow } from "./circuitBreakerSettings.js"

// -----------------------------------------------------------------------------
// Constructors
// -----------------------------------------------------------------------------

const changesCapacity = 256

const sharedConfig = (settings: Settings, key: string | undefined): SharedConfig => ({
  name: settings.name,
  strategy: settings.strategy,
  slowCallRate: settings.slowRate,
  key,
  maxProbes: settings.maxProbes
})

const statusOf = (state: State, stats: Stats): ResilienceRegistry.EntryStatus => ({
  healthy: state === "Closed",
  state,
  details: {
    successes: stats.successes,
    failures: stats.failures,
    rejected: stats.rejected,
    failureRate: stats.failureRate
  }
})

/** @internal */
export const make = (
  options: CircuitBreaker.Options
): Effect.Effect<CircuitBreaker, InvalidOptionsError | ResilienceRegistry.DuplicateNameError, Scope.Scope> =>
  Effect.gen(function*() {
    const settings = yield* makeSettings("CircuitBreaker.make", options)
    const pubsub = yield* PubSub.sliding<StateChange>(changesCapacity)
    const sink = new Sink(settings, pubsub, false)
    sink.hookScope = yield* Effect.scope
    const m = new Machine(sink, undefined)
    const stats = readStats(m)
    const breaker: CircuitBreaker & { readonly sink: Sink } = {
      [TypeId]: TypeId,
      name: settings.name,
      // Keeps the success collector alive as long as the breaker.
      sink,
      execute: makeExecute(m),
      state: readState(m),
      stats,
      changes: Stream.fromPubSub(pubsub),
      isolate: isolateMachine(m),
      reset: resetMachine(m)
    }
    machines.set(breaker, m)
    yield* ResilienceRegistry.register({
      kind: "circuit_breaker",
      name: settings.name,
      status: Effect.map(stats, (s) => statusOf(s.state, s))
    })
    const store = yield* Effect.serviceOption(CircuitBreakerStore)
    if (Option.isSome(store)) {
      const config = sharedConfig(settings, undefined)
      const attach = store.value.attach
      if (attach !== undefined) {
        const attachment = attachStore(m, attach, config)
        yield* Effect.addFinalizer(() => Effect.sync(() => attachment.detach()))
      } else {
        yield* connectStore(m, store.value, config)
      }
    }
    return breaker
  })

/** The machine of each breaker `make` built: its state read synchronously, its opening signal. */
const machines = new WeakMap<CircuitBreaker, Machine>()

/**
 * A breaker's state as last observed, read synchronously, without the clock (so `"Open"` may be due to turn
 * half-open); `undefined` for a breaker `make` did not build. A client's retry asks it after a failure.
 *
 * @internal
 */
export const unsafeStateOf = (breaker: CircuitBreaker): State | undefined => machines.get(breaker)?.state

/**
 * What a client's retry races its wait against (`onOpenBreaker: "fail"`): fails with the breaker's
 * `CircuitBreakerOpenError` once it opens or is isolated (see `openingSignal`); `undefined` for a breaker `make` did
 * not build.
 *
 * @internal
 */
export const openingSignalOf = (breaker: CircuitBreaker): Effect.Effect<never, CircuitBreakerOpenError> | undefined => {
  const m = machines.get(breaker)
  return m === undefined ? undefined : openingSignal(m)
}

/** @internal */
export const withBreaker: {
  <A, E>(
    breaker: CircuitBreaker,
    options?: { readonly classify?: ((exit: Exit.Exit<A, E>) => boolean) | undefined }
  ): <R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | CircuitBreakerOpenError, R>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    breaker: CircuitBreaker,
    options?: { readonly classify?: ((exit: Exit.Exit<A, E>) => boolean) | undefined }
  ): Effect.Effect<A, E | CircuitBreakerOpenError, R>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    breaker: CircuitBreaker,
    options?: { readonly classify?: ((exit: Exit.Exit<A, E>) => boolean) | undefined }
  ): Effect.Effect<A, E | CircuitBreakerOpenError, R> => breaker.execute(self, options)
)

/** @internal */
export const keyed = (
  options: CircuitBreaker.KeyedOptions
): Effect.Effect<KeyedCircuitBreaker, InvalidOptionsError | ResilienceRegistry.DuplicateNameError, Scope.Scope> =>
  Effect.gen(function*() {
    const settings = yield* makeSettings("CircuitBreaker.keyed", options)
    const { idleTtlMillis, maxKeys } = yield* makeKeyedSettings(options)
    const pubsub = yield* PubSub.sliding<StateChange>(changesCapacity)
    const sink = new Sink(settings, pubsub, true)
    sink.hookScope = yield* Effect.scope
    // A store that drives the sync (`attach`) shares every key's state: one record per key, no fiber per key.
    const store = yield* Effect.serviceOption(CircuitBreakerStore)
    const attach = Option.isSome(store) ? store.value.attach : undefined
    const attachments = new WeakMap<Machine, Attachment>()
    const machines = new LruMap<string, Machine>(maxKeys, idleTtlMillis, canEvictMachine, (_key, m) => {
      attachments.get(m)?.detach()
    })
    const create = (key: string) => {
      const m = new Machine(sink, key)
      if (attach !== undefined) attachments.set(m, attachStore(m, attach, sharedConfig(settings, key)))
      return m
    }
    if (attach !== undefined) yield* Effect.addFinalizer(() => Effect.sync(() => machines.clear()))
    const get = (key: string, clock: Clock.Clock, force = false) =>
      machines.getOrCreate(key, clock.unsafeCurrentTimeMillis(), create, force)
    // Every key's breaker still matters and there is no room for a new one: rejected, never run unguarded.
    const tooManyKeys = Effect.suspend(() => {
      sink.rejections.unsafeUpdate(1, [])
      return Effect.fail(
        new CircuitBreakerOpenError({
          breakerName: settings.name,
          state: "Open",
          retryAfter: Duration.millis(settings.schedule === undefined ? settings.openMillis : idleTtlMillis),
          reason: "TooManyKeys"
        })
      )
    })
    const peek = (key: string, f: (m: Machine) => Effect.Effect<void>): Effect.Effect<void> =>
      Effect.suspend(() => {
        const m = machines.peek(key)
        return m === undefined ? Effect.void : f(m)
      })
    const openCount = () => {
      let open = 0
      for (const m of machines.values()) if (m.state !== "Closed") open++
      return open
    }
    const breaker: KeyedCircuitBreaker & { readonly sink: Sink } = {
      [KeyedTypeId]: KeyedTypeId,
      name: settings.name,
      sink,
      execute: (key, self, options) =>
        Effect.clockWith((clock) => {
          const m = get(key, clock)
          return m === undefined ? tooManyKeys : executeWith(m, self, options?.classify)
        }),
      state: (key) =>
        Effect.suspend(() => {
          const m = machines.peek(key)
          return m === undefined ? Effect.succeed("Closed" as const) : readState(m)
        }),
      stats: (key) =>
        Effect.suspend(() => {
          const m = machines.peek(key)
          return m === undefined
            ? Effect.succeed<Stats>({
              state: "Closed",
              successes: 0,
              failures: 0,
              slowCalls: 0,
              rejected: 0,
              failureRate: 0,
              slowCallRate: 0
            })
            : readStats(m)
        }),
      // An operator's isolation always takes: past maxKeys if need be.
      isolate: (key) => Effect.clockWith((clock) => isolateMachine(get(key, clock, true)!)),
      reset: (key) => peek(key, resetMachine),
      size: Effect.clockWith((clock) =>
        Effect.sync(() => {
          machines.evictIdle(clock.unsafeCurrentTimeMillis())
          return machines.size
        })
      ),
      changes: Stream.fromPubSub(pubsub)
    }
    yield* ResilienceRegistry.register({
      kind: "circuit_breaker",
      name: settings.name,
      status: Effect.sync(() => {
        const open = openCount()
        return {
          healthy: true,
          state: open === 0 ? "Closed" : "PartlyOpen",
          details: { keys: machines.size, notClosed: open }
        }
      })
    })
    return breaker
  })

/**
 * Whether a keyed breaker may forget a key's breaker. In use, only a closed one with no failure in its window (its
 * state is what a new breaker would have); idle for `idleTtl`, any but an isolated one, one still open, or one with
 * probes running.
 */
const canEvictMachine = (m: Machine, idle: boolean, now: number): boolean => {
  if (m.probes > 0 || m.state === "Isolated") return false
  if (m.state === "Open" && now < m.openUntil) return false
  if (idle) return true
  return m.state === "Closed" && m.counts(now).failures === 0
}

/** @internal */
export const isCircuitBreaker = (u: unknown): u is CircuitBreaker => typeof u === "object" && u !== null && TypeId in u

/** @internal */
export const isKeyedCircuitBreaker = (u: unknown): u is KeyedCircuitBreaker =>
  typeof u === "object" && u !== null && KeyedTypeId in u
