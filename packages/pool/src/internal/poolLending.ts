/**
 * A pool's lending: a borrow that finds an idle resource takes it from the stack (no `Scope`, semaphore or fiber);
 * one that finds none waits in the FIFO queue until a resource is given back or created for it; a resource due for
 * validation is validated first, and a broken one retired and another tried within the same deadline.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import type { Entry, PoolState, PoolTimeoutError, Waiter } from "./poolState.js"

type Restore = <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>

/** A borrower parked in `wait`. */
class Parked<A, E> implements Waiter<A, E> {
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

/** `validate` as an Effect that cannot throw: a throw, a defect or a value that is no Effect all mean invalid. */
const runValidate = <A, E>(state: PoolState<A, E>, value: A): Effect.Effect<boolean> =>
  Effect.suspend(() => {
    const result: unknown = state.settings.validate!(value)
    return Effect.isEffect(result)
      ? result as Effect.Effect<boolean>
      : Effect.dieMessage(`ResourcePool ${state.settings.name}: validate returned no Effect`)
  })

/** Validates a lent entry: a broken one is retired and another borrowed, within the same deadline. */
const validateLent = <A, E>(
  state: PoolState<A, E>,
  entry: Entry<A>,
  restore: Restore,
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  start: number,
  deadline: number
): Effect.Effect<Entry<A>, PoolTimeoutError<E>> => {
  const epoch = entry.epoch
  return Effect.flatMap(Effect.exit(restore(runValidate(state, entry.value))), (exit) => {
    if (Exit.isSuccess(exit) && exit.value === true) return Effect.succeed(entry)
    state.metrics.invalidated.unsafeUpdate(1, [])
    entry.invalid = true
    // Given back for this borrower meanwhile (the drain): nothing left to undo here but the retirement.
    const back = (entry.borrower === fiber ? state.giveBack(entry, epoch) : undefined) ?? state.retire(entry)
    if (Exit.isFailure(exit) && Cause.isInterrupted(exit.cause)) return Effect.zipRight(back, Effect.interrupt)
    return Effect.zipRight(back, Effect.suspend(() => borrow(state, restore, fiber, start, deadline)))
  })
}

/** Just lent: validated first when it is due. */
const afterLend = <A, E>(
  state: PoolState<A, E>,
  entry: Entry<A>,
  restore: Restore,
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  start: number,
  deadline: number,
  t: number
): Effect.Effect<Entry<A>, PoolTimeoutError<E>> => {
  const check = state.needsValidation(entry, t)
  entry.fresh = false
  return check ? validateLent(state, entry, restore, fiber, start, deadline) : Effect.succeed(entry)
}

/** Takes an idle entry when nobody waits, otherwise queues. */
const borrow = <A, E>(
  state: PoolState<A, E>,
  restore: Restore,
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  start: number,
  deadline: number
): Effect.Effect<Entry<A>, PoolTimeoutError<E>> => {
  if (state.closed) return Effect.interrupt
  if (state.waiters.size === 0) {
    const entry = state.idle.pop()
    if (entry !== undefined) {
      const t = state.now()
      if (entry.invalid || t >= entry.expiresAt) {
        // Closed in the background: the borrower does not wait for it.
        state.background(state.retire(entry))
        return borrow(state, restore, fiber, start, deadline)
      }
      state.lend(entry, fiber)
      if (state.settings.recordAll) state.recordWait(start, t)
      return afterLend(state, entry, restore, fiber, start, deadline, t)
    }
  }
  return wait(state, restore, fiber, start, deadline)
}

const wait = <A, E>(
  state: PoolState<A, E>,
  restore: Restore,
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  start: number,
  deadline: number
): Effect.Effect<Entry<A>, PoolTimeoutError<E>> => {
  const t = state.now()
  if (t >= deadline) return Effect.fail(state.timeoutError(t - start))
  const waiter = new Parked<A, E>(start, deadline, fiber)
  state.enqueue(waiter)
  return Effect.flatMap(
    Effect.exit(restore(Effect.async<Entry<A>, PoolTimeoutError<E>>((resume) => {
      if (waiter.early !== undefined) resume(waiter.early)
      else waiter.resume = resume
    }))),
    (exit) => {
      if (Exit.isSuccess(exit)) {
        const t = state.now()
        state.recordWait(start, t)
        return afterLend(state, exit.value, restore, fiber, start, deadline, t)
      }
      state.leave(waiter)
      // Handed an entry just as the wait was interrupted: give it back.
      const entry = waiter.handed
      if (entry !== undefined && entry.borrowed && entry.borrower === fiber) {
        const retiring = state.giveBack(entry)
        if (retiring !== undefined) return Effect.zipRight(retiring, exit)
      }
      return exit
    }
  )
}

const acquire = <A, E>(state: PoolState<A, E>, restore: Restore): Effect.Effect<Entry<A>, PoolTimeoutError<E>> =>
  Effect.withFiberRuntime((fiber) => {
    const start = state.now()
    return borrow(state, restore, fiber, start, start + state.acquireTimeoutMillis)
  })

/**
 * `use`, with `onFailure` run (say, cancelling a statement still running) before a resource whose borrower failed or
 * was interrupted is given back.
 *
 * @internal
 */
export const useWith = <A, E, B, E2, R2>(
  state: PoolState<A, E>,
  f: (resource: A) => Effect.Effect<B, E2, R2>,
  onFailure: ((resource: A) => Effect.Effect<void> | undefined) | undefined
): Effect.Effect<B, E2 | PoolTimeoutError<E>, R2> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(acquire(state, restore), (entry) => {
      const epoch = entry.epoch
      return Effect.flatMap(Effect.exit(restore(f(entry.value))), (exit) => {
        if (onFailure !== undefined && exit._tag === "Failure") {
          const cleanup = onFailure(entry.value)
          if (cleanup !== undefined) {
            return Effect.zipRight(cleanup, Effect.suspend(() => state.giveBack(entry, epoch) ?? Effect.void)).pipe(
              Effect.zipRight(exit)
            )
          }
        }
        const retiring = state.giveBack(entry, epoch)
        return retiring === undefined ? exit : Effect.zipRight(retiring, exit)
      })
    })
  )

/** `get`: lent until the scope closes. @internal */
export const makeGet = <A, E>(state: PoolState<A, E>): Effect.Effect<A, PoolTimeoutError<E>, Scope.Scope> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(acquire(state, restore), (entry) => {
      const epoch = entry.epoch
      return Effect.as(Effect.addFinalizer(() => state.giveBack(entry, epoch) ?? Effect.void), entry.value)
    })
  )
