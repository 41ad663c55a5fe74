/**
 * `ResourcePool.make`: the options validated into `Settings`, then the pool built around one `PoolState`
 * (`poolState.ts`) from its seams: supply (`poolSupply.ts`), lending (`poolLending.ts`), maintenance
 * (`poolMaintenance.ts`) and drain (`poolDrain.ts`).
 *
 * @internal
 */
import { ResilienceMetrics, ResilienceRegistry } from "@effect-resilience/core"
import type { InvalidOptionsError } from "@effect-resilience/core/InvalidOptionsError"
import { validated } from "@effect-resilience/core/OptionsValidator"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { pipeArguments } from "effect/Pipeable"
import { hasProperty } from "effect/Predicate"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import type * as ResourcePool from "../ResourcePool.js"
import { makeDrain } from "./poolDrain.js"
import { makeGet, useWith } from "./poolLending.js"
import { startMaintenance } from "./poolMaintenance.js"
import {
  describe,
  type LendingHook,
  PoolMetrics,
  PoolState,
  type PoolTimeoutError,
  type Settings
} from "./poolState.js"
import { makeSupply } from "./poolSupply.js"

export { poolLeaksTotal, PoolTimeoutError } from "./poolState.js"

/** @internal */
export const TypeId: ResourcePool.TypeId = Symbol.for("@effect-resilience/pool/ResourcePool") as ResourcePool.TypeId

/**
 * The pool with what the package's own modules use: `useWith` runs `onFailure` (say, cancelling a statement still
 * running) before a resource whose borrower failed or was interrupted goes back.
 *
 * @internal
 */
export interface Internal<A, E> extends ResourcePool.ResourcePool<A, E> {
  readonly useWith: <B, E2, R2>(
    f: (resource: A) => Effect.Effect<B, E2, R2>,
    onFailure: ((resource: A) => Effect.Effect<void> | undefined) | undefined
  ) => Effect.Effect<B, E2 | PoolTimeoutError<E>, R2>
  /** What another lending protocol (PgPool's callback tasks, `pgPoolTask.ts`) uses of the pool. */
  readonly lending: LendingHook<A, E>
  readonly collector: ResilienceMetrics.Collector
  /**
   * `invalidate`, applied at once (for callbacks outside any fiber): the resource is never lent again; an idle one is
   * closed in the background, a borrowed one when given back.
   */
  readonly invalidateNow: (resource: A) => void
}

/** @internal */
export const make = <A, E, R>(
  options: ResourcePool.ResourcePool.Options<A, E, R>,
  constructorName = "ResourcePool.make"
): Effect.Effect<
  Internal<A, E>,
  InvalidOptionsError | ResilienceRegistry.DuplicateNameError,
  Scope.Scope | Exclude<R, Scope.Scope>
> =>
  Effect.flatMap(
    validated(constructorName, (v): Settings<A> => {
      // Every option is checked for its type too: `null` is not "left out", a number is not a function.
      const given: unknown = options
      if (typeof given !== "object" || given === null || Array.isArray(given)) {
        v.fail("options", given, "an options object")
      }
      const name = v.nonEmpty("name", options.name)
      if (!Effect.isEffect(options.acquire)) {
        v.fail("acquire", options.acquire, "an Effect that creates a resource")
      }
      const max = options.max === undefined ? 10 : v.int("max", options.max, 1)
      const min = options.min === undefined ? 0 : v.int("min", options.min, 0)
      if (min > max) {
        v.fail("min", options.min, `an integer >= 0 and <= max (${max})`)
      }
      const acquireTimeout = options.acquireTimeout === undefined
        ? Duration.seconds(30)
        : v.duration("acquireTimeout", options.acquireTimeout, { positive: true })
      const maxLifetime = options.maxLifetime === undefined
        ? Duration.minutes(30)
        : v.duration("maxLifetime", options.maxLifetime, { positive: true, finite: true })
      const idleTimeout = options.idleTimeout === undefined
        ? Duration.minutes(10)
        : v.duration("idleTimeout", options.idleTimeout, { positive: true })
      const leakDetection = options.leakDetection === undefined
        ? undefined
        : v.duration("leakDetection", options.leakDetection, { positive: true })
      const drainTimeout = options.drainTimeout === undefined
        ? Duration.seconds(30)
        : v.duration("drainTimeout", options.drainTimeout)
      const validate: unknown = options.validate
      if (validate !== undefined && typeof validate !== "function") {
        v.fail("validate", validate, "a function (resource) => Effect<boolean>")
      }
      const vob = options.validateOnBorrow
      const validateOnBorrowMillis = vob === undefined || vob === true
        ? 0
        : vob === false
        ? undefined
        : Duration.toMillis(v.duration("validateOnBorrow", vob))
      const histogram: unknown = options.histogram
      if (histogram !== undefined && typeof histogram !== "boolean") v.fail("histogram", histogram, "a boolean")
      return {
        name,
        max,
        min,
        acquireTimeout,
        maxLifetime,
        idleTimeout,
        leakDetection,
        drainTimeout,
        validate: validate as ((resource: A) => Effect.Effect<boolean>) | undefined,
        validateAfterMillis: validate === undefined ? undefined : validateOnBorrowMillis,
        recordAll: histogram === true
      }
    }),
    (settings) =>
      Effect.flatMap(
        Effect.clock,
        (clock) => Effect.flatMap(Effect.scope, (scope) => build(options.acquire, settings, clock, scope))
      )
  ) as Effect.Effect<
    Internal<A, E>,
    InvalidOptionsError | ResilienceRegistry.DuplicateNameError,
    Scope.Scope | Exclude<R, Scope.Scope>
  >

const build = <A, E, R>(
  acquire: Effect.Effect<A, E, R>,
  settings: Settings<A>,
  clock: Clock.Clock,
  poolScope: Scope.Scope
): Effect.Effect<Internal<A, E>, ResilienceRegistry.DuplicateNameError, R | Scope.Scope> =>
  Effect.gen(function*() {
    const { max, min, name } = settings
    // Registered first, so a duplicate name fails before anything is built.
    yield* Scope.extend(
      ResilienceRegistry.register({ kind: "pool", name, status: Effect.suspend(() => status) }),
      poolScope
    )
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const state = new PoolState<A, E>(settings, clock, new PoolMetrics(name), (effect) => {
      runFork(effect)
    })
    const metrics = state.metrics
    const collector: ResilienceMetrics.Collector = {
      collect: () => {
        metrics.idle.unsafeUpdate(state.alive - state.borrowed, [])
        metrics.borrowed.unsafeUpdate(state.borrowed, [])
      }
    }
    ResilienceMetrics.registerCollector(collector)

    const creators = yield* makeSupply(state, acquire, poolScope)

    const invalidate = (resource: A): Effect.Effect<void> =>
      Effect.suspend(() => state.markInvalid(resource) ?? Effect.void)

    const invalidateNow = (resource: A): void => {
      const closing = state.markInvalid(resource)
      if (closing !== undefined) state.background(closing)
    }

    const stats: Effect.Effect<ResourcePool.Stats> = Effect.sync(() => ({
      size: state.alive,
      idle: state.alive - state.borrowed,
      borrowed: state.borrowed,
      waiting: state.waiters.size
    }))

    const status: Effect.Effect<ResilienceRegistry.EntryStatus> = Effect.sync(() => {
      const failing = state.consecutiveFailures > 0 && state.alive === 0
      const label = state.closed ? "closed" : failing ? "failing" : state.waiters.size > 0 ? "exhausted" : "ok"
      const details: Record<string, number | string | boolean> = {
        size: state.alive,
        idle: state.alive - state.borrowed,
        borrowed: state.borrowed,
        waiting: state.waiters.size,
        min,
        max,
        timeouts: state.timeouts,
        consecutiveCreateFailures: state.consecutiveFailures
      }
      if (state.lastError !== undefined && state.consecutiveFailures > 0) details.lastError = describe(state.lastError)
      return { healthy: !state.closed && !failing, state: label, details }
    })

    // The drain: added after Effect's pool, so it runs before the pool's own shutdown.
    yield* Scope.addFinalizer(poolScope, makeDrain(state, creators))
    yield* startMaintenance(state, poolScope)

    const self: Internal<A, E> = {
      [TypeId]: TypeId,
      name,
      get: makeGet(state),
      use: (f) => useWith(state, f, undefined),
      useWith: (f, onFailure) => useWith(state, f, onFailure),
      lending: state,
      invalidate,
      invalidateNow,
      stats,
      status,
      collector,
      pipe() {
        // eslint-disable-next-line prefer-rest-params
        return pipeArguments(this, arguments)
      }
    }
    return self
  })

/** @internal */
export const isResourcePool = (u: unknown): u is ResourcePool.ResourcePool<unknown, unknown> => hasProperty(u, TypeId)
