import { ResilienceMetrics, ResilienceRegistry } from "@effect-resilience/core"
import { validated } from "@effect-resilience/core/internal/validate"
import type { InvalidOptionsError } from "@effect-resilience/core/InvalidOptionsError"
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import { pipeArguments } from "effect/Pipeable"
import * as Pool from "effect/Pool"
import { hasProperty } from "effect/Predicate"
import * as Random from "effect/Random"
import * as Scope from "effect/Scope"
import type * as ResourcePool from "../ResourcePool.js"

/** @internal */
export const TypeId: ResourcePool.TypeId = Symbol.for("@effect-resilience/pool/ResourcePool") as ResourcePool.TypeId

/** @internal */
export class PoolTimeoutError<E = never> extends Data.TaggedError("PoolTimeoutError")<{
  readonly poolName: string
  readonly waited: Duration.Duration
  readonly lastError: E | undefined
}> {
  override get message(): string {
    const last = this.lastError === undefined
      ? ""
      : `; the last attempt to create one failed: ${describe(this.lastError)}`
    return `pool ${JSON.stringify(this.poolName)}: no resource within ${Duration.format(this.waited)}${last}`
  }
}

/** A short, credential-free description of an error: its tag or class name, and its code when it has one. */
const describe = (error: unknown): string => {
  if (typeof error !== "object" || error === null) return typeof error
  const tag = hasProperty(error, "_tag") && typeof error._tag === "string"
    ? error._tag
    : error instanceof Error
    ? error.name
    : "error"
  const code = hasProperty(error, "code") && (typeof error.code === "string" || typeof error.code === "number")
    ? `(${error.code})`
    : ""
  return tag + code
}

/** A pooled resource with the pool's bookkeeping. */
interface Entry<A> {
  readonly value: A
  borrowed: boolean
  /** Clock millis of the last return (or creation). */
  lastReturned: number
  lease: Lease<A> | undefined
  evicting: boolean
}

/** One borrow: the entry, the scope that gives it back to Effect's pool, the borrowing fiber. */
interface Lease<A> {
  readonly entry: Entry<A>
  readonly scope: Scope.CloseableScope
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
  borrowedAt: number
  released: boolean
  leakReported: boolean
}

/** Whether a borrower holds a slot. */
interface Ticket {
  held: boolean
}

/** Never abandoned: the direct path does not wait. */
const directTicket: Ticket = { held: true }

/** A caller waiting for a slot. */
interface Waiter {
  resume: ((effect: Effect.Effect<void>) => void) | undefined
  granted: boolean
}

/** Why one creation attempt failed, numbered so a borrower can tell a stale failure from its own. */
class CreateFailure<E> {
  constructor(readonly seq: number, readonly error: E | undefined) {}
}

const backoffBaseMillis = 50
const backoffCapMillis = 1_000

/** @internal */
export const make = <A, E, R>(
  options: ResourcePool.ResourcePool.Options<A, E, R>
): Effect.Effect<
  ResourcePool.ResourcePool<A, E>,
  InvalidOptionsError | ResilienceRegistry.DuplicateNameError,
  Scope.Scope | Exclude<R, Scope.Scope>
> =>
  Effect.flatMap(
    validated("ResourcePool.make", (v) => {
      const name = v.nonEmpty("name", options.name)
      const max = v.int("max", options.max ?? 10, 1)
      const min = v.int("min", options.min ?? 0, 0)
      if (min > max) v.fail("min", options.min, `an integer >= 0 and <= max (${max})`)
      const acquireTimeout = v.duration("acquireTimeout", options.acquireTimeout ?? "30 seconds", { positive: true })
      const maxLifetime = v.duration("maxLifetime", options.maxLifetime ?? "30 minutes", {
        positive: true,
        finite: true
      })
      const idleTimeout = v.duration("idleTimeout", options.idleTimeout ?? "10 minutes", { positive: true })
      const leakDetection = options.leakDetection === undefined
        ? undefined
        : v.duration("leakDetection", options.leakDetection, { positive: true })
      const drainTimeout = v.duration("drainTimeout", options.drainTimeout ?? "30 seconds")
      let validateAfterMillis: number | undefined
      if (options.validate !== undefined) {
        const vob = options.validateOnBorrow ?? true
        if (vob === true) validateAfterMillis = 0
        else if (vob !== false) validateAfterMillis = Duration.toMillis(v.duration("validateOnBorrow", vob))
      }
      return {
        name,
        max,
        min,
        acquireTimeout,
        maxLifetime,
        idleTimeout,
        leakDetection,
        drainTimeout,
        validateAfterMillis
      }
    }),
    (config) =>
      Effect.flatMap(Effect.clock, (clock) =>
        Effect.flatMap(Effect.scope, (scope) => build(options, config, clock, scope)))
  ) as Effect.Effect<
    ResourcePool.ResourcePool<A, E>,
    InvalidOptionsError | ResilienceRegistry.DuplicateNameError,
    Scope.Scope | Exclude<R, Scope.Scope>
  >

interface Config {
  readonly name: string
  readonly max: number
  readonly min: number
  readonly acquireTimeout: Duration.Duration
  readonly maxLifetime: Duration.Duration
  readonly idleTimeout: Duration.Duration
  readonly leakDetection: Duration.Duration | undefined
  readonly drainTimeout: Duration.Duration
  readonly validateAfterMillis: number | undefined
}

const build = <A, E, R>(
  options: ResourcePool.ResourcePool.Options<A, E, R>,
  config: Config,
  clock: Clock.Clock,
  poolScope: Scope.Scope
): Effect.Effect<ResourcePool.ResourcePool<A, E>, ResilienceRegistry.DuplicateNameError, R | Scope.Scope> =>
  Effect.gen(function*() {
    const { max, min, name } = config
    const acquireTimeoutMillis = Duration.toMillis(config.acquireTimeout)
    const idleTimeoutMillis = Duration.toMillis(config.idleTimeout)
    const leakMillis = config.leakDetection === undefined ? undefined : Duration.toMillis(config.leakDetection)
    const validateAfterMillis = config.validateAfterMillis
    const validate = options.validate
    const recordAll = options.histogram === true
    const stampReturns = validateAfterMillis !== undefined && validateAfterMillis > 0 ||
      Number.isFinite(idleTimeoutMillis)

    // Metrics, tagged once.
    const resources = Metric.tagged(ResilienceMetrics.poolResources, "name", name)
    const idleGauge = Metric.tagged(resources, "state", "idle")
    const borrowedGauge = Metric.tagged(resources, "state", "borrowed")
    const acquireSeconds = Metric.tagged(ResilienceMetrics.poolAcquireDurationSeconds, "name", name)
    const timeoutsCounter = Metric.tagged(ResilienceMetrics.poolTimeoutsTotal, "name", name)
    const invalidatedCounter = Metric.tagged(ResilienceMetrics.poolInvalidatedTotal, "name", name)
    const leaksCounter = Metric.tagged(poolLeaksTotal, "name", name)

    // Registered first, so a duplicate name fails before anything is built.
    const registry = yield* Effect.serviceOption(ResilienceRegistry.ResilienceRegistry)
    if (Option.isSome(registry)) {
      yield* registry.value.register({ kind: "pool", name, status: Effect.suspend(() => status) })
      yield* Scope.addFinalizer(poolScope, registry.value.unregister("pool", name))
    }

    // Plain local state: the hot path reads and writes only these.
    const live = new Set<Entry<A>>()
    const byValue = new Map<A, Entry<A>>()
    const waiters = new Set<Waiter>()
    let size = 0
    let slots = 0
    let borrowed = 0
    let waiting = 0
    let closed = false
    let failureSeq = 0
    let consecutiveFailures = 0
    let lastError: E | undefined = undefined
    let timeouts = 0
    let drained: (() => void) | undefined = undefined

    const collector: ResilienceMetrics.Collector = {
      collect: () => {
        idleGauge.unsafeUpdate(size - borrowed, [])
        borrowedGauge.unsafeUpdate(borrowed, [])
      }
    }
    ResilienceMetrics.registerCollector(collector)

    const now = () => clock.unsafeCurrentTimeMillis()

    // What Effect's pool creates: the resource wrapped in an entry, counted while it lives.
    const createTimed: Effect.Effect<A, E | undefined, R> = Number.isFinite(acquireTimeoutMillis)
      ? Effect.timeoutFail(options.acquire, { duration: config.acquireTimeout, onTimeout: () => undefined })
      : options.acquire
    const create: Effect.Effect<Entry<A>, CreateFailure<E>, R | Scope.Scope> = Effect.matchCauseEffect(createTimed, {
      onFailure: (cause) => {
        const failure = Cause.failureOption(cause)
        if (Option.isNone(failure) && !Cause.isInterruptedOnly(cause)) {
          return Effect.failCause(Cause.stripFailures(cause))
        }
        failureSeq++
        consecutiveFailures++
        if (Option.isSome(failure) && failure.value !== undefined) lastError = failure.value
        const error = new CreateFailure(failureSeq, lastError)
        const log = consecutiveFailures === 1
          ? Effect.logWarning(`ResourcePool ${name}: creating a resource failed`, describeCause(cause))
          : Effect.logDebug(`ResourcePool ${name}: creating a resource failed (${consecutiveFailures} in a row)`)
        return Effect.zipRight(log, Effect.fail(error))
      },
      onSuccess: (value) => {
        consecutiveFailures = 0
        const entry: Entry<A> = { value, borrowed: false, lastReturned: now(), lease: undefined, evicting: false }
        live.add(entry)
        byValue.set(value, entry)
        size++
        return Effect.as(
          Effect.addFinalizer(() =>
            Effect.sync(() => {
              live.delete(entry)
              if (byValue.get(value) === entry) byValue.delete(value)
              size--
            })
          ),
          entry
        )
      }
    })

    const pool = yield* Pool.makeWithTTL({
      acquire: create,
      min,
      max,
      timeToLive: config.maxLifetime,
      timeToLiveStrategy: "creation"
    })
    const poolGet = pool.get

    // Slots: at most `max` borrowers hold or are getting a resource; the rest wait here, in order.
    const releaseSlot = () => {
      for (const waiter of waiters) {
        waiters.delete(waiter)
        waiter.granted = true
        waiter.resume!(Effect.void)
        return
      }
      slots--
      if (closed && slots === 0 && drained !== undefined) drained()
    }
    const releaseSlotEffect = Effect.sync(releaseSlot)

    const waitForSlot = (
      restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>,
      remainingMillis: number
    ): Effect.Effect<boolean> =>
      Effect.suspend(() => {
        const waiter: Waiter = { resume: undefined, granted: false }
        const wait = Effect.async<void>((resume) => {
          waiter.resume = resume
          waiters.add(waiter)
        })
        const bounded = Number.isFinite(remainingMillis)
          ? Effect.timeoutTo(wait, {
            duration: Duration.millis(Math.max(0, remainingMillis)),
            onSuccess: () => true,
            onTimeout: () => false
          })
          : Effect.as(wait, true)
        return restore(bounded).pipe(
          Effect.onExit((exit) =>
            Effect.sync(() => {
              if (Exit.isSuccess(exit) && exit.value) return
              waiters.delete(waiter)
              // Granted just as the wait ended: pass the slot on.
              if (waiter.granted) releaseSlot()
            })
          ),
          Effect.map((ok) => ok || waiter.granted)
        )
      })

    const onBorrowed = (entry: Entry<A>, scope: Scope.CloseableScope, fiber: Fiber.RuntimeFiber<unknown, unknown>) => {
      entry.borrowed = true
      borrowed++
      const lease: Lease<A> = {
        entry,
        scope,
        fiber,
        borrowedAt: leakMillis === undefined ? 0 : now(),
        released: false,
        leakReported: false
      }
      entry.lease = lease
      return lease
    }

    const release = (lease: Lease<A>): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (lease.released) return Effect.void
        lease.released = true
        const entry = lease.entry
        entry.borrowed = false
        entry.lease = undefined
        if (stampReturns) entry.lastReturned = now()
        borrowed--
        return Effect.zipRight(Scope.close(lease.scope, Exit.void), releaseSlotEffect)
      })

    const invalidateEntry = (entry: Entry<A>): Effect.Effect<void> =>
      Effect.suspend(() => {
        invalidatedCounter.unsafeUpdate(1, [])
        return pool.invalidate(entry)
      })

    // Runs `validate` when the entry has been idle long enough; a broken entry is invalidated and given back.
    const needsValidation = (entry: Entry<A>) =>
      validateAfterMillis !== undefined &&
      (validateAfterMillis === 0 || now() - entry.lastReturned >= validateAfterMillis)
    const checkEntry = (
      entry: Entry<A>,
      scope: Scope.CloseableScope,
      restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>
    ): Effect.Effect<boolean> =>
      Effect.flatMap(Effect.exit(restore(validate!(entry.value))), (exit) => {
        if (Exit.isSuccess(exit) && exit.value) return Effect.succeed(true)
        const back = Effect.zipRight(invalidateEntry(entry), Scope.close(scope, Exit.void))
        return Exit.isInterrupted(exit) ? Effect.zipRight(back, Effect.interrupt) : Effect.as(back, false)
      })

    /**
     * Gets an entry while holding a slot. `direct`: an idle entry is known to be there, so Effect's pool hands it
     * over at once; otherwise one is being created and the wait runs in a fiber the caller can leave.
     */
    const getEntry = (
      restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>,
      direct: boolean,
      remainingMillis: number,
      ticket: Ticket
    ): Effect.Effect<
      { readonly entry: Entry<A>; readonly scope: Scope.CloseableScope } | CreateFailure<E> | undefined
    > =>
      Effect.flatMap(Scope.make(), (scope) => {
        const got = Effect.matchCauseEffect(Scope.extend(poolGet, scope), {
          onFailure: (cause) => {
            const failure = Cause.failureOption(cause)
            return Effect.zipRight(
              Scope.close(scope, Exit.void),
              Option.isSome(failure) ? Effect.succeed(failure.value) : Effect.failCause(Cause.stripFailures(cause))
            )
          },
          onSuccess: (entry) => Effect.succeed({ entry, scope })
        })
        if (direct) return got
        return Effect.flatMap(Effect.forkDaemon(got), (fiber) => {
          const wait = Number.isFinite(remainingMillis)
            ? Effect.timeoutTo(Fiber.join(fiber), {
              duration: Duration.millis(Math.max(0, remainingMillis)),
              onSuccess: (result) => result as typeof result | undefined,
              onTimeout: () => undefined
            })
            : Fiber.join(fiber)
          // Left behind (timed out or interrupted): whatever the fiber gets goes straight back, and the slot is
          // released only then, as the fiber holds one of Effect's pool permits until it ends.
          const abandon = Effect.suspend(() => {
            ticket.held = false
            return Effect.forkDaemon(
              Effect.flatMap(Fiber.await(fiber), (exit) =>
                Effect.zipRight(
                  Exit.isSuccess(exit) && exit.value !== undefined && !(exit.value instanceof CreateFailure)
                    ? Scope.close(exit.value.scope, Exit.void)
                    : Effect.void,
                  releaseSlotEffect
                ))
            )
          })
          return restore(wait).pipe(
            Effect.onExit((exit) => Exit.isSuccess(exit) && exit.value !== undefined ? Effect.void : abandon)
          )
        })
      })

    const timeoutError = (waitedMillis: number) => {
      timeouts++
      timeoutsCounter.unsafeUpdate(1, [])
      return new PoolTimeoutError<E>({ poolName: name, waited: Duration.millis(waitedMillis), lastError })
    }

    /** The slow path: wait for a slot, wait for a resource to be created, back off after failed creations. */
    const slowAcquire = (
      restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>,
      fiber: Fiber.RuntimeFiber<unknown, unknown>
    ): Effect.Effect<Lease<A>, PoolTimeoutError<E>> => {
      const start = now()
      const deadline = start + acquireTimeoutMillis
      const ticket: Ticket = { held: false }
      waiting++
      const giveUp = (): Effect.Effect<never, PoolTimeoutError<E>> => {
        if (ticket.held) {
          ticket.held = false
          releaseSlot()
        }
        return Effect.fail(timeoutError(now() - start))
      }
      const loop: Effect.Effect<Lease<A>, PoolTimeoutError<E>> = Effect.suspend(() => {
        if (closed) return Effect.interrupt
        if (!ticket.held) {
          if (slots < max && waiters.size === 0) {
            slots++
            ticket.held = true
          } else {
            return Effect.flatMap(waitForSlot(restore, deadline - now()), (ok) => {
              if (!ok) return giveUp()
              ticket.held = true
              return loop
            })
          }
        }
        const seen = failureSeq
        const direct = size - slots + 1 > 0
        return Effect.flatMap(getEntry(restore, direct, deadline - now(), ticket), (result) => {
          if (result === undefined) return giveUp()
          if (result instanceof CreateFailure) {
            if (result.seq <= seen) return loop
            const left = deadline - now()
            if (left <= 0) return giveUp()
            return Effect.flatMap(Random.next, (r) => {
              const base = Math.min(backoffCapMillis, backoffBaseMillis * 2 ** Math.min(20, consecutiveFailures - 1))
              const delay = Math.min(left, Math.round(base * (0.5 + r / 2)))
              return Effect.zipRight(restore(Effect.sleep(Duration.millis(delay))), loop)
            })
          }
          const { entry, scope } = result
          if (validate !== undefined && needsValidation(entry)) {
            return Effect.flatMap(checkEntry(entry, scope, restore), (ok) => {
              if (!ok) return now() >= deadline ? giveUp() : loop
              return Effect.succeed(onBorrowed(entry, scope, fiber))
            })
          }
          return Effect.succeed(onBorrowed(entry, scope, fiber))
        })
      })
      return loop.pipe(
        Effect.onExit((exit) =>
          Effect.sync(() => {
            waiting--
            if (ticket.held && Exit.isFailure(exit)) {
              ticket.held = false
              releaseSlot()
            }
            if (Exit.isSuccess(exit)) acquireSeconds.unsafeUpdate((now() - start) / 1000, [])
          })
        )
      )
    }

    /** Borrows: the fast path when an idle resource is free and nobody waits, otherwise the slow path. */
    const acquire = (
      restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>
    ): Effect.Effect<Lease<A>, PoolTimeoutError<E>> =>
      Effect.withFiberRuntime((fiber) => {
        if (closed) return Effect.interrupt
        if (slots < max && waiters.size === 0 && size > slots) {
          slots++
          const start = recordAll ? now() : 0
          return Effect.flatMap(getEntry(restore, true, 0, directTicket), (result) => {
            if (result === undefined || result instanceof CreateFailure) {
              // A stale failed creation was handed out first, or the entry just expired: take the slow path.
              releaseSlot()
              return slowAcquire(restore, fiber)
            }
            const { entry, scope } = result
            if (validate !== undefined && needsValidation(entry)) {
              return checkEntry(entry, scope, restore).pipe(
                Effect.onInterrupt(() => releaseSlotEffect),
                Effect.flatMap((ok) => {
                  if (ok) return Effect.succeed(onBorrowed(entry, scope, fiber))
                  releaseSlot()
                  return slowAcquire(restore, fiber)
                })
              )
            }
            if (recordAll) acquireSeconds.unsafeUpdate((now() - start) / 1000, [])
            return Effect.succeed(onBorrowed(entry, scope, fiber))
          })
        }
        return slowAcquire(restore, fiber)
      })

    const use = <B, E2, R2>(
      f: (resource: A) => Effect.Effect<B, E2, R2>
    ): Effect.Effect<B, E2 | PoolTimeoutError<E>, R2> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(
          acquire(restore),
          (lease) =>
            Effect.flatMap(Effect.exit(restore(f(lease.entry.value))), (exit) => Effect.zipRight(release(lease), exit))
        )
      )

    const get: Effect.Effect<A, PoolTimeoutError<E>, Scope.Scope> = Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(
        acquire(restore),
        (lease) => Effect.as(Effect.addFinalizer(() => release(lease)), lease.entry.value)
      )
    )

    const invalidate = (resource: A): Effect.Effect<void> =>
      Effect.suspend(() => {
        const entry = byValue.get(resource)
        return entry === undefined ? Effect.void : invalidateEntry(entry)
      })

    const stats: Effect.Effect<ResourcePool.Stats> = Effect.sync(() => ({
      size,
      idle: size - borrowed,
      borrowed,
      waiting
    }))

    const status: Effect.Effect<ResilienceRegistry.EntryStatus> = Effect.sync(() => {
      const failing = consecutiveFailures > 0 && size === 0
      const state = closed ? "closed" : failing ? "failing" : waiters.size > 0 ? "exhausted" : "ok"
      const details: Record<string, number | string | boolean> = {
        size,
        idle: size - borrowed,
        borrowed,
        waiting,
        min,
        max,
        timeouts,
        consecutiveCreateFailures: consecutiveFailures
      }
      if (lastError !== undefined && consecutiveFailures > 0) details.lastError = describe(lastError)
      return { healthy: !closed && !failing, state, details }
    })

    // Idle eviction down to `min` and leak warnings: one fiber, no timer per resource.
    const sweep = Effect.suspend(() => {
      const t = now()
      const evict: Array<Entry<A>> = []
      let spare = Math.min(size - min, size - slots)
      const leaks: Array<Lease<A>> = []
      for (const entry of live) {
        if (entry.borrowed) {
          const lease = entry.lease
          if (
            leakMillis !== undefined && lease !== undefined && !lease.leakReported && t - lease.borrowedAt >= leakMillis
          ) {
            lease.leakReported = true
            leaks.push(lease)
          }
        } else if (spare > 0 && !entry.evicting && t - entry.lastReturned >= idleTimeoutMillis) {
          entry.evicting = true
          spare--
          evict.push(entry)
        }
      }
      return Effect.zipRight(
        Effect.forEach(evict, (entry) => pool.invalidate(entry), { discard: true }),
        Effect.forEach(leaks, (lease) =>
          Effect.zipRight(
            Effect.sync(() => leaksCounter.unsafeUpdate(1, [])),
            Effect.logWarning(
              `ResourcePool ${name}: a resource has been borrowed for ${
                Duration.format(Duration.millis(t - lease.borrowedAt))
              }, longer than leakDetection (${Duration.format(config.leakDetection!)}): possible leak`
            ).pipe(Effect.annotateLogs({ pool: name, borrower: String(lease.fiber.id().id) }))
          ), { discard: true })
      )
    })
    const sweepMillis = Math.min(idleTimeoutMillis, leakMillis ?? Infinity)
    const interval = Duration.millis(Math.max(10, Math.min(30_000, sweepMillis / 2)))

    // The drain: added after Effect's pool, so it runs before the pool's own shutdown.
    const drain = Effect.suspend(() => {
      closed = true
      for (const waiter of waiters) {
        waiters.delete(waiter)
        waiter.resume!(Effect.interrupt)
      }
      if (slots === 0) return Effect.void
      return Effect.async<void>((resume) => {
        drained = () => resume(Effect.void)
      }).pipe(
        Effect.timeoutOption(config.drainTimeout),
        Effect.flatMap((done) => {
          if (Option.isSome(done)) return Effect.void
          return Effect.withFiberRuntime<void>((self) => {
            const leases: Array<Lease<A>> = []
            for (const entry of live) if (entry.lease !== undefined) leases.push(entry.lease)
            const fibers = leases.map((l) => l.fiber).filter((f) => f !== self)
            return Effect.logWarning(
              `ResourcePool ${name}: ${leases.length} resource(s) still borrowed after drainTimeout ${
                Duration.format(config.drainTimeout)
              }: interrupting their borrowers`
            ).pipe(
              Effect.zipRight(Fiber.interruptAll(fibers)),
              // Borrowers whose scope outlives their fiber: give their resources back for them.
              Effect.zipRight(Effect.forEach(leases, release, { discard: true }))
            )
          })
        })
      )
    })
    yield* Scope.addFinalizer(poolScope, drain)

    if (Number.isFinite(sweepMillis)) {
      yield* Effect.forkIn(Effect.forever(Effect.zipRight(Effect.sleep(interval), sweep)), poolScope)
    }

    const self: ResourcePool.ResourcePool<A, E> & { readonly collector: ResilienceMetrics.Collector } = {
      [TypeId]: TypeId,
      name,
      get,
      use,
      invalidate,
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

const describeCause = <E>(cause: Cause.Cause<E | undefined>): string => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    return failure.value === undefined ? "timed out" : describeFailure(failure.value)
  }
  return Cause.isInterruptedOnly(cause) ? "interrupted" : "defect"
}

const describeFailure = (error: unknown): string => {
  return hasProperty(error, "message") ? `${describe(error)}: ${String(error.message)}` : describe(error)
}

/** @internal */
export const poolLeaksTotal = Metric.counter("pool_leak_warnings_total", {
  description: "Resources held longer than the pool's leakDetection threshold",
  incremental: true
})

/** @internal */
export const isResourcePool = (u: unknown): u is ResourcePool.ResourcePool<unknown, unknown> => hasProperty(u, TypeId)
