import { ResilienceMetrics, ResilienceRegistry } from "@effect-resilience/core"
import type { InvalidOptionsError } from "@effect-resilience/core/InvalidOptionsError"
import { validated } from "@effect-resilience/core/OptionsValidator"
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as FiberSet from "effect/FiberSet"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import { pipeArguments } from "effect/Pipeable"
import * as Pool from "effect/Pool"
import { hasProperty } from "effect/Predicate"
import * as Random from "effect/Random"
import * as Runtime from "effect/Runtime"
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
  /** Clock millis after which it is closed instead of lent (creation + maxLifetime). */
  readonly expiresAt: number
  /** The scope of its checkout from Effect's pool (closing it hands the resource back there). */
  scope: Scope.CloseableScope | undefined
  borrowed: boolean
  /** Counts the borrows, so a late release of an earlier borrow does nothing. */
  epoch: number
  /** Clock millis of the last return (creation at first). */
  lastReturned: number
  borrowedAt: number
  borrower: Fiber.RuntimeFiber<unknown, unknown> | undefined
  /** Never lent yet: no need to validate it. */
  fresh: boolean
  /** Marked broken: closed instead of lent. */
  invalid: boolean
  leakReported: boolean
}

/** A borrower waiting for a resource; linked into the queue without allocation. */
interface Waiter<A, E> {
  prev: Waiter<A, E> | undefined
  next: Waiter<A, E> | undefined
  queued: boolean
  readonly start: number
  readonly deadline: number
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
  /** Handed an entry (already lent to it). */
  wake(entry: Entry<A>): void
  /** Timed out, or the pool is closing. */
  reject(outcome: Effect.Effect<never, PoolTimeoutError<E>>): void
}

/**
 * Where a task reports its outcome, exactly once.
 *
 * @internal
 */
export interface TaskDone<B, E2> {
  done(outcome: Effect.Effect<B, E2>): void
}

/**
 * A unit of work started by callback on a borrowed resource, so a borrow and the work share one suspension of
 * the caller's fiber (the way node-postgres's own pool runs a queued query on the client just given back).
 *
 * @internal
 */
export interface Task<A, B, E2> {
  /** Starts the work; reports to `run.done` exactly once. */
  start(resource: A, run: TaskDone<B, E2>): void
  /** The caller was interrupted while the work runs: stop it; `done` is still awaited afterwards. */
  stop(resource: A): Effect.Effect<void>
}

/** Why one creation attempt failed, numbered so a creator can tell a stale failure from its own. */
class CreateFailure<E> {
  constructor(readonly seq: number, readonly error: E | undefined) {}
}

/** The FIFO of waiters: an intrusive doubly linked list, so queueing and leaving allocate nothing. */
class WaitQueue<A, E> {
  size = 0
  head: Waiter<A, E> | undefined = undefined
  tail: Waiter<A, E> | undefined = undefined
  add(waiter: Waiter<A, E>) {
    waiter.queued = true
    waiter.prev = this.tail
    waiter.next = undefined
    if (this.tail === undefined) this.head = waiter
    else this.tail.next = waiter
    this.tail = waiter
    this.size++
  }
  delete(waiter: Waiter<A, E>) {
    if (!waiter.queued) return
    waiter.queued = false
    if (waiter.prev === undefined) this.head = waiter.next
    else waiter.prev.next = waiter.next
    if (waiter.next === undefined) this.tail = waiter.prev
    else waiter.next.prev = waiter.prev
    waiter.prev = undefined
    waiter.next = undefined
    this.size--
  }
  shift(): Waiter<A, E> | undefined {
    const waiter = this.head
    if (waiter !== undefined) this.delete(waiter)
    return waiter
  }
  toArray(): Array<Waiter<A, E>> {
    const all: Array<Waiter<A, E>> = []
    for (let w = this.head; w !== undefined; w = w.next) all.push(w)
    return all
  }
}

type Restore = <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>

const backoffBaseMillis = 50
const backoffCapMillis = 1_000

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
  /** Runs the task `makeTask` makes, one per execution (an effect may run many times, concurrently). */
  readonly runTask: <B, E2>(makeTask: () => Task<A, B, E2>) => Effect.Effect<B, E2 | PoolTimeoutError<E>>
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
    validated(constructorName, (v) => {
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
        validateAfterMillis: validate === undefined ? undefined : validateOnBorrowMillis
      }
    }),
    (config) =>
      Effect.flatMap(
        Effect.clock,
        (clock) => Effect.flatMap(Effect.scope, (scope) => build(options, config, clock, scope))
      )
  ) as Effect.Effect<
    Internal<A, E>,
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

/**
 * How it works: Effect's `Pool` creates the resources (in the background, `min` of them eagerly), retires them at
 * `maxLifetime` and closes them at shutdown. This pool checks resources out of it, one scope each, and lends them
 * from a plain stack of idle ones: a borrow that finds one idle touches no `Scope`, semaphore or fiber. Borrowers
 * that find none wait in a FIFO list; creator fibers (at most one per waiter, within `max`) check out or create
 * resources for them and back off after failures; one reaper fiber fails the waits that pass `acquireTimeout`.
 */
const build = <A, E, R>(
  options: ResourcePool.ResourcePool.Options<A, E, R>,
  config: Config,
  clock: Clock.Clock,
  poolScope: Scope.Scope
): Effect.Effect<Internal<A, E>, ResilienceRegistry.DuplicateNameError, R | Scope.Scope> =>
  Effect.gen(function*() {
    const { max, min, name } = config
    const acquireTimeoutMillis = Duration.toMillis(config.acquireTimeout)
    const maxLifetimeMillis = Duration.toMillis(config.maxLifetime)
    const idleTimeoutMillis = Duration.toMillis(config.idleTimeout)
    const leakMillis = config.leakDetection === undefined ? undefined : Duration.toMillis(config.leakDetection)
    const validateAfterMillis = config.validateAfterMillis
    const validate = options.validate
    const recordAll = options.histogram === true

    // Registered first, so a duplicate name fails before anything is built.
    yield* Scope.extend(
      ResilienceRegistry.register({ kind: "pool", name, status: Effect.suspend(() => status) }),
      poolScope
    )

    // Metrics, tagged once.
    const resources = Metric.tagged(ResilienceMetrics.poolResources, "name", name)
    const idleGauge = Metric.tagged(resources, "state", "idle")
    const borrowedGauge = Metric.tagged(resources, "state", "borrowed")
    const acquireSeconds = Metric.tagged(ResilienceMetrics.poolAcquireDurationSeconds, "name", name)
    const timeoutsCounter = Metric.tagged(ResilienceMetrics.poolTimeoutsTotal, "name", name)
    const invalidatedCounter = Metric.tagged(ResilienceMetrics.poolInvalidatedTotal, "name", name)
    const leaksCounter = Metric.tagged(poolLeaksTotal, "name", name)

    // Plain local state: the hot path reads and writes only these.
    const live = new Set<Entry<A>>()
    const byValue = new Map<A, Entry<A>>()
    const idle: Array<Entry<A>> = []
    const waiters = new WaitQueue<A, E>()
    let alive = 0
    let checkedOut = 0
    let creating = 0
    let borrowed = 0
    let closed = false
    let failureSeq = 0
    let consecutiveFailures = 0
    let lastError: E | undefined = undefined
    let timeouts = 0
    let drained: (() => void) | undefined = undefined
    let wakeReaper: (() => void) | undefined = undefined

    const collector: ResilienceMetrics.Collector = {
      collect: () => {
        idleGauge.unsafeUpdate(alive - borrowed, [])
        borrowedGauge.unsafeUpdate(borrowed, [])
      }
    }
    ResilienceMetrics.registerCollector(collector)

    const now = () => clock.unsafeCurrentTimeMillis()

    // What Effect's pool creates: the resource in an entry, counted while it lives.
    const createTimed: Effect.Effect<A, E | undefined, R> = Number.isFinite(acquireTimeoutMillis)
      ? Effect.timeoutFail(options.acquire, { duration: config.acquireTimeout, onTimeout: () => undefined })
      : options.acquire
    const create: Effect.Effect<Entry<A>, CreateFailure<E>, R | Scope.Scope> = Effect.matchCauseEffect(createTimed, {
      onFailure: (cause) => {
        // A defect (an acquire that throws or dies) counts as a failed creation too: retried with back-off, never
        // a dead creator that leaves its waiters to time out.
        const failure = Cause.failureOption(cause)
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
        const created = now()
        const entry: Entry<A> = {
          value,
          expiresAt: created + maxLifetimeMillis,
          scope: undefined,
          borrowed: false,
          epoch: 0,
          lastReturned: created,
          borrowedAt: 0,
          borrower: undefined,
          fresh: true,
          invalid: false,
          leakReported: false
        }
        live.add(entry)
        byValue.set(value, entry)
        alive++
        return Effect.as(
          Effect.addFinalizer(() =>
            Effect.sync(() => {
              live.delete(entry)
              if (byValue.get(value) === entry) byValue.delete(value)
              alive--
            })
          ),
          entry
        )
      }
    })

    // Effect's pool lives in a child scope, closed after the drain: it adds finalizers as it runs (one per creation
    // it forks, which wait for that creation), and in the pool's own scope those would run before the drain.
    const innerScope = yield* Scope.fork(poolScope, ExecutionStrategy.sequential)
    // Creator fibers belong to that scope too, made before Effect's pool so they are awaited after its shutdown (the
    // drain interrupts them first without waiting: one may be inside a creation that only that shutdown ends).
    const creators = yield* Scope.extend(FiberSet.make<void, never>(), innerScope)
    const forkCreator = yield* FiberSet.runtime(creators)<never>()
    const pool = yield* Scope.extend(
      Pool.makeWithTTL({
        acquire: create,
        min,
        max,
        timeToLive: config.maxLifetime,
        timeToLiveStrategy: "creation"
      }),
      innerScope
    )
    const poolGet = pool.get
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())

    const timeoutError = (waitedMillis: number) => {
      timeouts++
      timeoutsCounter.unsafeUpdate(1, [])
      return new PoolTimeoutError<E>({ poolName: name, waited: Duration.millis(waitedMillis), lastError })
    }

    const lend = (entry: Entry<A>, fiber: Fiber.RuntimeFiber<unknown, unknown>) => {
      entry.borrowed = true
      entry.epoch++
      entry.borrower = fiber
      if (leakMillis !== undefined) {
        entry.borrowedAt = now()
        entry.leakReported = false
      }
      borrowed++
    }

    const unlend = (entry: Entry<A>) => {
      entry.borrowed = false
      entry.borrower = undefined
      borrowed--
      if (closed && borrowed === 0 && drained !== undefined) drained()
    }

    /** Closes a checked-out entry for good: invalidated in Effect's pool, then handed back there. */
    const retire = (entry: Entry<A>): Effect.Effect<void> =>
      Effect.suspend(() => {
        const scope = entry.scope
        if (scope === undefined) return Effect.void
        entry.scope = undefined
        checkedOut--
        // Closing: handed back to Effect's pool, whose shutdown (next) closes it. Invalidating it now would make that
        // pool create a replacement while shutting down.
        if (closed) return Scope.close(scope, Exit.void)
        return pool.invalidate(entry).pipe(
          Effect.zipRight(Scope.close(scope, Exit.void)),
          Effect.zipRight(Effect.sync(ensureCreators))
        )
      })

    /** A free entry goes to the first waiter, or on the idle stack. */
    const offer = (entry: Entry<A>) => {
      const waiter = waiters.shift()
      if (waiter === undefined) return void idle.push(entry)
      lend(entry, waiter.fiber)
      waiter.wake(entry)
    }

    /** Gives a borrowed entry back: `undefined` when done synchronously, or the effect that retires it. */
    const giveBack = (entry: Entry<A>): Effect.Effect<void> | undefined => {
      unlend(entry)
      if (closed || entry.invalid) return retire(entry)
      const t = now()
      if (t >= entry.expiresAt) return retire(entry)
      entry.lastReturned = t
      offer(entry)
      return undefined
    }

    const release = (entry: Entry<A>, epoch: number): Effect.Effect<void> | undefined =>
      entry.epoch === epoch && entry.borrowed ? giveBack(entry) : undefined

    // Creators: check a resource out of Effect's pool (an idle one there, or a new one) for the waiters.
    const creator: Effect.Effect<void> = Effect.uninterruptibleMask((restore) => {
      let counted = true
      const stop = () => {
        if (counted) {
          counted = false
          creating--
        }
        return Effect.void
      }
      const attempt: Effect.Effect<void> = Effect.suspend(() => {
        if (closed) return stop()
        const seen = failureSeq
        return Effect.flatMap(
          Scope.make(),
          (scope) =>
            Effect.flatMap(Effect.exit(restore(Scope.extend(poolGet, scope))), (exit) => {
              if (Exit.isSuccess(exit)) {
                const entry = exit.value
                entry.scope = scope
                checkedOut++
                // Expired or marked broken while idle inside Effect's pool: close it and get another.
                if (!closed && (entry.invalid || now() >= entry.expiresAt)) {
                  return Effect.zipRight(retire(entry), attempt)
                }
                stop()
                if (closed) return retire(entry)
                offer(entry)
                return Effect.void
              }
              return Effect.zipRight(
                Scope.close(scope, Exit.void),
                Effect.suspend(() => {
                  const failure = Cause.failureOption(exit.cause)
                  if (Option.isNone(failure)) {
                    stop()
                    return Cause.isInterruptedOnly(exit.cause)
                      ? Effect.void
                      : Effect.logError(`ResourcePool ${name}: creating a resource died`, exit.cause)
                  }
                  // A failure from before this attempt (say, of the eager `min` fill): try again at once.
                  if (failure.value.seq <= seen) return attempt
                  if (closed || waiters.size < creating) return stop()
                  return Effect.flatMap(Random.next, (r) => {
                    const base = Math.min(
                      backoffCapMillis,
                      backoffBaseMillis * 2 ** Math.min(20, consecutiveFailures - 1)
                    )
                    return Effect.zipRight(
                      restore(Effect.sleep(Duration.millis(Math.round(base * (0.5 + r / 2))))),
                      attempt
                    )
                  })
                })
              )
            })
        )
      })
      return Effect.onExit(attempt, stop)
    })

    function ensureCreators() {
      while (!closed && creating < waiters.size && checkedOut + creating < max) {
        creating++
        forkCreator(creator)
      }
    }

    // The reaper: fails the waits that pass their deadline. Waiters queue in deadline order (same timeout, FIFO).
    const reaper: Effect.Effect<never> = Effect.forever(Effect.suspend(() => {
      const head = waiters.head
      if (head === undefined) {
        return Effect.async<void>((resume) => {
          wakeReaper = () => {
            wakeReaper = undefined
            resume(Effect.void)
          }
        })
      }
      const t = now()
      if (head.deadline > t) return Effect.sleep(Duration.millis(head.deadline - t))
      for (const waiter of waiters.toArray()) {
        if (waiter.deadline > t) continue
        waiters.delete(waiter)
        waiter.reject(Effect.fail(timeoutError(t - waiter.start)))
      }
      return Effect.void
    }))

    // Validation of a lent entry: broken ones are closed and another is tried, within the same deadline.
    const needsValidation = (entry: Entry<A>, t: number) =>
      !entry.fresh && validateAfterMillis !== undefined &&
      (validateAfterMillis === 0 || t - entry.lastReturned >= validateAfterMillis)

    const checkLent = (
      entry: Entry<A>,
      restore: Restore,
      fiber: Fiber.RuntimeFiber<unknown, unknown>,
      start: number,
      deadline: number
    ): Effect.Effect<Entry<A>, PoolTimeoutError<E>> => {
      const epoch = entry.epoch
      return Effect.flatMap(Effect.exit(restore(runValidate(entry.value))), (exit) => {
        if (Exit.isSuccess(exit) && exit.value === true) return Effect.succeed(entry)
        invalidatedCounter.unsafeUpdate(1, [])
        // Given back for this borrower meanwhile (the drain): nothing left to undo here.
        if (entry.borrowed && entry.borrower === fiber && entry.epoch === epoch) unlend(entry)
        entry.invalid = true
        const back = retire(entry)
        if (Exit.isFailure(exit) && Cause.isInterrupted(exit.cause)) return Effect.zipRight(back, Effect.interrupt)
        return Effect.zipRight(back, Effect.suspend(() => borrow(restore, fiber, start, deadline)))
      })
    }

    /** `validate` as an Effect that cannot throw: a throw, a defect or a value that is no Effect all mean invalid. */
    const runValidate = (value: A): Effect.Effect<boolean> =>
      Effect.suspend(() => {
        const result: unknown = validate!(value)
        return Effect.isEffect(result)
          ? result as Effect.Effect<boolean>
          : Effect.dieMessage(`ResourcePool ${name}: validate returned no Effect`)
      })

    const lent = (
      entry: Entry<A>,
      restore: Restore,
      fiber: Fiber.RuntimeFiber<unknown, unknown>,
      start: number,
      deadline: number,
      t: number
    ): Effect.Effect<Entry<A>, PoolTimeoutError<E>> => {
      const check = validate !== undefined && needsValidation(entry, t)
      entry.fresh = false
      return check ? checkLent(entry, restore, fiber, start, deadline) : Effect.succeed(entry)
    }

    /** Takes an idle entry when nobody waits, otherwise queues. */
    const borrow = (
      restore: Restore,
      fiber: Fiber.RuntimeFiber<unknown, unknown>,
      start: number,
      deadline: number
    ): Effect.Effect<Entry<A>, PoolTimeoutError<E>> => {
      if (closed) return Effect.interrupt
      if (waiters.size === 0) {
        const entry = idle.pop()
        if (entry !== undefined) {
          const t = now()
          if (entry.invalid || t >= entry.expiresAt) {
            // Closed in the background: the borrower does not wait for it.
            runFork(retire(entry))
            return borrow(restore, fiber, start, deadline)
          }
          lend(entry, fiber)
          if (recordAll) acquireSeconds.unsafeUpdate((t - start) / 1000, [])
          return lent(entry, restore, fiber, start, deadline, t)
        }
      }
      return wait(restore, fiber, start, deadline)
    }

    const wait = (
      restore: Restore,
      fiber: Fiber.RuntimeFiber<unknown, unknown>,
      start: number,
      deadline: number
    ): Effect.Effect<Entry<A>, PoolTimeoutError<E>> => {
      const t = now()
      if (t >= deadline) return Effect.fail(timeoutError(t - start))
      const waiter = new Parked(start, deadline, fiber)
      waiters.add(waiter)
      if (wakeReaper !== undefined) wakeReaper()
      ensureCreators()
      return Effect.flatMap(
        Effect.exit(restore(Effect.async<Entry<A>, PoolTimeoutError<E>>((resume) => {
          if (waiter.early !== undefined) resume(waiter.early)
          else waiter.resume = resume
        }))),
        (exit) => {
          if (Exit.isSuccess(exit)) {
            const t = now()
            acquireSeconds.unsafeUpdate((t - start) / 1000, [])
            return lent(exit.value, restore, fiber, start, deadline, t)
          }
          waiters.delete(waiter)
          // Handed an entry just as the wait was interrupted: give it back.
          const entry = waiter.handed
          if (entry !== undefined && entry.borrowed && entry.borrower === fiber) {
            const retiring = giveBack(entry)
            if (retiring !== undefined) return Effect.zipRight(retiring, exit)
          }
          return exit
        }
      )
    }

    /** A borrower parked in `wait`. */
    class Parked implements Waiter<A, E> {
      prev: Waiter<A, E> | undefined = undefined
      next: Waiter<A, E> | undefined = undefined
      queued = false
      resume: ((outcome: Effect.Effect<Entry<A>, PoolTimeoutError<E>>) => void) | undefined = undefined
      /** The outcome when it came before the fiber suspended. */
      early: Effect.Effect<Entry<A>, PoolTimeoutError<E>> | undefined = undefined
      handed: Entry<A> | undefined = undefined
      constructor(
        readonly start: number,
        readonly deadline: number,
        readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
      ) {}
      wake(entry: Entry<A>) {
        this.handed = entry
        this.settle(Effect.succeed(entry))
      }
      reject(outcome: Effect.Effect<never, PoolTimeoutError<E>>) {
        this.settle(outcome)
      }
      settle(outcome: Effect.Effect<Entry<A>, PoolTimeoutError<E>>) {
        if (this.resume !== undefined) this.resume(outcome)
        else this.early = outcome
      }
    }

    /**
     * Per fiber that ran a task: the task it waits for or runs now; if the fiber ends first, a waiting task leaves the
     * queue and a running one is stopped. One observer a fiber.
     */
    interface FiberWatch {
      running: { fiberEnded(): void } | undefined
    }
    const watches = new WeakMap<Fiber.RuntimeFiber<unknown, unknown>, FiberWatch>()

    /**
     * One `runTask` call: a waiter while queued, then the task's `done` target. It installs no interruption frame
     * (that would cost the hot path more than the borrow itself): a fiber that ends (interrupted) while its task
     * waits takes the task out of the queue at once (an O(1) unlink), and one that ends while its task runs has the
     * task stopped, through one exit observer per fiber. A waiter whose fiber is interrupted but not yet ended is
     * skipped when a resource comes.
     */
    class TaskRun<B, E2> implements Waiter<A, E>, TaskDone<B, E2> {
      prev: Waiter<A, E> | undefined = undefined
      next: Waiter<A, E> | undefined = undefined
      queued = false
      readonly deadline: number
      running: Entry<A> | undefined = undefined
      epoch = 0
      called = false
      watch: FiberWatch | undefined = undefined
      constructor(
        readonly task: Task<A, B, E2>,
        readonly resume: (outcome: Effect.Effect<B, E2 | PoolTimeoutError<E>>) => void,
        readonly fiber: Fiber.RuntimeFiber<unknown, unknown>,
        readonly start: number
      ) {
        this.deadline = start + acquireTimeoutMillis
      }
      /** Registers with its fiber's watch, so the fiber's end reaches this run. */
      observe() {
        let watch = watches.get(this.fiber)
        if (watch === undefined) {
          const created: FiberWatch = { running: undefined }
          watches.set(this.fiber, created)
          this.fiber.addObserver(() => created.running?.fiberEnded())
          watch = created
        }
        watch.running = this
        this.watch = watch
      }
      run(entry: Entry<A>) {
        this.running = entry
        this.epoch = entry.epoch
        entry.fresh = false
        if (this.watch === undefined) this.observe()
        else this.watch.running = this
        try {
          this.task.start(entry.value, this)
        } catch (error) {
          this.done(Effect.die(error))
        }
      }
      done(outcome: Effect.Effect<B, E2>) {
        if (this.called) return
        this.called = true
        const entry = this.running!
        this.running = undefined
        if (this.watch!.running === this) this.watch!.running = undefined
        const retiring = release(entry, this.epoch)
        if (retiring !== undefined) runFork(retiring)
        this.resume(outcome)
      }
      fiberEnded() {
        if (this.queued) {
          // Abandoned while waiting: out of the queue now, so `waiting` counts only live callers.
          waiters.delete(this)
          this.watch!.running = undefined
          return
        }
        const entry = this.running
        if (entry !== undefined) runFork(this.task.stop(entry.value))
      }
      wake(entry: Entry<A>) {
        if (this.fiber.unsafePoll() !== null || !Cause.isEmpty(this.fiber.getFiberRef(FiberRef.interruptedCause))) {
          // Its caller is gone: the resource goes to the next waiter.
          const retiring = giveBack(entry)
          if (retiring !== undefined) runFork(retiring)
          return
        }
        acquireSeconds.unsafeUpdate((now() - this.start) / 1000, [])
        this.run(entry)
      }
      reject(outcome: Effect.Effect<never, PoolTimeoutError<E>>) {
        if (this.watch !== undefined && this.watch.running === this) this.watch.running = undefined
        this.resume(outcome)
      }
    }

    const acquire = (restore: Restore): Effect.Effect<Entry<A>, PoolTimeoutError<E>> =>
      Effect.withFiberRuntime((fiber) => {
        const start = now()
        return borrow(restore, fiber, start, start + acquireTimeoutMillis)
      })

    const useWith = <B, E2, R2>(
      f: (resource: A) => Effect.Effect<B, E2, R2>,
      onFailure: ((resource: A) => Effect.Effect<void> | undefined) | undefined
    ): Effect.Effect<B, E2 | PoolTimeoutError<E>, R2> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(acquire(restore), (entry) => {
          const epoch = entry.epoch
          return Effect.flatMap(Effect.exit(restore(f(entry.value))), (exit) => {
            if (onFailure !== undefined && exit._tag === "Failure") {
              const cleanup = onFailure(entry.value)
              if (cleanup !== undefined) {
                return Effect.zipRight(cleanup, Effect.suspend(() => release(entry, epoch) ?? Effect.void)).pipe(
                  Effect.zipRight(exit)
                )
              }
            }
            const retiring = release(entry, epoch)
            return retiring === undefined ? exit : Effect.zipRight(retiring, exit)
          })
        })
      )

    /**
     * Runs a callback task on a borrowed resource in one suspension of the caller: lent from the idle stack, or
     * started by whoever gives a resource back to this waiter. Entries due for validation or retirement take the
     * general path (`useWith`). Per-call state lives in a `TaskRun`, not in closures.
     */
    const runTask = <B, E2>(makeTask: () => Task<A, B, E2>): Effect.Effect<B, E2 | PoolTimeoutError<E>> =>
      Effect.async<B, E2 | PoolTimeoutError<E>>((resume) => {
        if (closed) return resume(Effect.interrupt)
        const task = makeTask()
        // The register runs on the calling fiber, which Effect exposes while it runs: no extra op to fetch it.
        const current = Fiber.getCurrentFiber()
        if (current._tag === "None" || (validate !== undefined && validateAfterMillis === 0)) {
          return resume(generalTask(task))
        }
        const fiber = current.value
        const t = now()
        const run = new TaskRun<B, E2>(task, resume, fiber, t)
        if (waiters.size === 0 && idle.length > 0) {
          const entry = idle[idle.length - 1]!
          if (entry.invalid || t >= entry.expiresAt || (validate !== undefined && needsValidation(entry, t))) {
            return resume(generalTask(task))
          }
          idle.pop()
          lend(entry, fiber)
          if (recordAll) acquireSeconds.unsafeUpdate(0, [])
          run.run(entry)
        } else {
          run.observe()
          waiters.add(run)
          if (wakeReaper !== undefined) wakeReaper()
          ensureCreators()
        }
      })

    const generalTask = <B, E2>(task: Task<A, B, E2>): Effect.Effect<B, E2 | PoolTimeoutError<E>> =>
      useWith(
        (resource) => Effect.async<B, E2>((resume) => task.start(resource, { done: resume })),
        (resource) => task.stop(resource)
      )

    const use = <B, E2, R2>(
      f: (resource: A) => Effect.Effect<B, E2, R2>
    ): Effect.Effect<B, E2 | PoolTimeoutError<E>, R2> => useWith(f, undefined)

    const get: Effect.Effect<A, PoolTimeoutError<E>, Scope.Scope> = Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(acquire(restore), (entry) => {
        const epoch = entry.epoch
        return Effect.as(Effect.addFinalizer(() => release(entry, epoch) ?? Effect.void), entry.value)
      })
    )

    /** Marks a resource broken now; returns what closes it when that must run (it is idle). */
    const markInvalid = (resource: A): Effect.Effect<void> | undefined => {
      const entry = byValue.get(resource)
      if (entry === undefined || entry.invalid) return undefined
      invalidatedCounter.unsafeUpdate(1, [])
      entry.invalid = true
      if (entry.borrowed) return undefined
      const index = idle.indexOf(entry)
      if (index >= 0) {
        idle.splice(index, 1)
        return retire(entry)
      }
      // Idle inside Effect's pool (never checked out, or on its way to a waiter).
      return entry.scope === undefined ? pool.invalidate(entry) : undefined
    }

    const invalidate = (resource: A): Effect.Effect<void> => Effect.suspend(() => markInvalid(resource) ?? Effect.void)

    const invalidateNow = (resource: A): void => {
      const closing = markInvalid(resource)
      if (closing !== undefined) runFork(closing)
    }

    const stats: Effect.Effect<ResourcePool.Stats> = Effect.sync(() => ({
      size: alive,
      idle: alive - borrowed,
      borrowed,
      waiting: waiters.size
    }))

    const status: Effect.Effect<ResilienceRegistry.EntryStatus> = Effect.sync(() => {
      const failing = consecutiveFailures > 0 && alive === 0
      const state = closed ? "closed" : failing ? "failing" : waiters.size > 0 ? "exhausted" : "ok"
      const details: Record<string, number | string | boolean> = {
        size: alive,
        idle: alive - borrowed,
        borrowed,
        waiting: waiters.size,
        min,
        max,
        timeouts,
        consecutiveCreateFailures: consecutiveFailures
      }
      if (lastError !== undefined && consecutiveFailures > 0) details.lastError = describe(lastError)
      return { healthy: !closed && !failing, state, details }
    })

    // Idle eviction down to `min`, expiry of idle resources, leak warnings: one fiber, no timer per resource.
    const sweep = Effect.suspend(() => {
      const t = now()
      const retiring: Array<Entry<A>> = []
      let spare = alive - min
      // The stack's bottom holds the least recently used.
      for (let i = 0; i < idle.length;) {
        const entry = idle[i]!
        if (entry.invalid || t >= entry.expiresAt || (spare > 0 && t - entry.lastReturned >= idleTimeoutMillis)) {
          idle.splice(i, 1)
          spare--
          retiring.push(entry)
        } else {
          i++
        }
      }
      const leaks: Array<Entry<A>> = []
      if (leakMillis !== undefined) {
        for (const entry of live) {
          if (entry.borrowed && !entry.leakReported && t - entry.borrowedAt >= leakMillis) {
            entry.leakReported = true
            leaks.push(entry)
          }
        }
      }
      return Effect.zipRight(
        Effect.forEach(retiring, retire, { discard: true }),
        Effect.forEach(leaks, (entry) =>
          Effect.zipRight(
            Effect.sync(() => leaksCounter.unsafeUpdate(1, [])),
            Effect.logWarning(
              `ResourcePool ${name}: a resource has been borrowed for ${
                Duration.format(Duration.millis(t - entry.borrowedAt))
              }, longer than leakDetection (${Duration.format(config.leakDetection!)}): possible leak`
            ).pipe(Effect.annotateLogs({ pool: name, borrower: String(entry.borrower?.id().id) }))
          ), { discard: true })
      )
    })
    const sweepMillis = Math.min(idleTimeoutMillis, leakMillis ?? Infinity, maxLifetimeMillis)
    const interval = Duration.millis(Math.max(10, Math.min(30_000, sweepMillis / 2)))

    // The drain: added after Effect's pool, so it runs before the pool's own shutdown.
    const drain = Effect.suspend(() => {
      closed = true
      for (const waiter of waiters.toArray()) {
        waiters.delete(waiter)
        waiter.reject(Effect.interrupt)
      }
      // Finalizers run uninterruptibly, and a timeout interrupts (and awaits) what it times out: the wait itself is
      // made interruptible, or the timeout would wait for it forever.
      const waitBorrowed = borrowed === 0 ? Effect.void : Effect.interruptible(Effect.async<void>((resume) => {
        drained = () => resume(Effect.void)
      })).pipe(
        Effect.timeoutOption(config.drainTimeout),
        Effect.flatMap((done) => {
          if (Option.isSome(done)) return Effect.void
          return Effect.withFiberRuntime<void>((self) => {
            const held: Array<Entry<A>> = []
            for (const entry of live) if (entry.borrowed) held.push(entry)
            const fibers = held.flatMap((e) => e.borrower !== undefined && e.borrower !== self ? [e.borrower] : [])
            return Effect.logWarning(
              `ResourcePool ${name}: ${held.length} resource(s) still borrowed after drainTimeout ${
                Duration.format(config.drainTimeout)
              }: interrupting their borrowers`
            ).pipe(
              Effect.annotateLogs({ pool: name, borrowed: held.length }),
              // Interrupted, not awaited: a borrower that ignores interruption must not hold the scope open.
              Effect.zipRight(Effect.forEach(fibers, (fiber) => Fiber.interruptFork(fiber), { discard: true })),
              // Borrowers whose scope outlives their fiber: give their resources back for them.
              Effect.zipRight(Effect.forEach(held, (e) => e.borrowed ? giveBack(e) ?? Effect.void : Effect.void, {
                discard: true
              }))
            )
          })
        })
      )
      return waitBorrowed.pipe(
        // Creators stop without being awaited: one may be inside a creation that only the pool's shutdown ends.
        Effect.zipRight(
          Effect.suspend(() => Effect.forEach(Array.from(creators), Fiber.interruptFork, { discard: true }))
        ),
        Effect.zipRight(Effect.suspend(() => Effect.forEach(idle.splice(0, idle.length), retire, { discard: true })))
      )
    })
    yield* Scope.addFinalizer(poolScope, drain)
    yield* Effect.forkIn(reaper, poolScope)
    yield* Effect.forkIn(Effect.forever(Effect.zipRight(Effect.sleep(interval), sweep)), poolScope)

    const self: Internal<A, E> = {
      [TypeId]: TypeId,
      name,
      get,
      use,
      useWith,
      runTask,
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
