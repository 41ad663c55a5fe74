/**
 * A pool's supply: Effect's `Pool` creates the resources (in the background, `min` of them eagerly), retires them at
 * `maxLifetime` and closes them at shutdown; creator fibers (at most one per waiter, within `max`) check resources
 * out of it for the waiters and back off after failures.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import * as Pool from "effect/Pool"
import * as Random from "effect/Random"
import * as Scope from "effect/Scope"
import { CreateFailure, describeCause, type Entry, type PoolState } from "./poolState.js"

const backoffBaseMillis = 50
const backoffCapMillis = 1_000

/** What Effect's pool creates: the resource in an entry, counted while it lives. */
const makeCreate = <A, E, R>(
  state: PoolState<A, E>,
  acquire: Effect.Effect<A, E, R>
): Effect.Effect<Entry<A>, CreateFailure<E>, R | Scope.Scope> => {
  const settings = state.settings
  const name = settings.name
  const createTimed: Effect.Effect<A, E | undefined, R> = Number.isFinite(state.acquireTimeoutMillis)
    ? Effect.timeoutFail(acquire, { duration: settings.acquireTimeout, onTimeout: () => undefined })
    : acquire
  return Effect.matchCauseEffect(createTimed, {
    onFailure: (cause) => {
      // A defect (an acquire that throws or dies) counts as a failed creation too: retried with back-off, never
      // a dead creator that leaves its waiters to time out.
      const failure = Cause.failureOption(cause)
      state.failureSeq++
      state.consecutiveFailures++
      if (Option.isSome(failure) && failure.value !== undefined) state.lastError = failure.value
      const error = new CreateFailure(state.failureSeq, state.lastError)
      const log = state.consecutiveFailures === 1
        ? Effect.logWarning(`ResourcePool ${name}: creating a resource failed`, describeCause(cause))
        : Effect.logDebug(`ResourcePool ${name}: creating a resource failed (${state.consecutiveFailures} in a row)`)
      return Effect.zipRight(log, Effect.fail(error))
    },
    onSuccess: (value) => {
      state.consecutiveFailures = 0
      const created = state.now()
      const entry: Entry<A> = {
        value,
        expiresAt: created + state.maxLifetimeMillis,
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
      state.live.add(entry)
      state.byValue.set(value, entry)
      state.alive++
      return Effect.as(
        Effect.addFinalizer(() =>
          Effect.sync(() => {
            state.live.delete(entry)
            if (state.byValue.get(value) === entry) state.byValue.delete(value)
            state.alive--
          })
        ),
        entry
      )
    }
  })
}

/** A creator: checks a resource out of Effect's pool (an idle one there, or a new one) for the waiters. */
const makeCreator = <A, E>(
  state: PoolState<A, E>,
  poolGet: Effect.Effect<Entry<A>, CreateFailure<E>, Scope.Scope>
): Effect.Effect<void> =>
  Effect.uninterruptibleMask((restore) => {
    let counted = true
    const stop = () => {
      if (counted) {
        counted = false
        state.creating--
      }
      return Effect.void
    }
    const attempt: Effect.Effect<void> = Effect.suspend(() => {
      if (state.closed) return stop()
      const seen = state.failureSeq
      return Effect.flatMap(
        Scope.make(),
        (scope) =>
          Effect.flatMap(Effect.exit(restore(Scope.extend(poolGet, scope))), (exit) => {
            if (Exit.isSuccess(exit)) {
              const entry = exit.value
              entry.scope = scope
              state.checkedOut++
              // Expired or marked broken while idle inside Effect's pool: close it and get another.
              if (!state.closed && (entry.invalid || state.now() >= entry.expiresAt)) {
                return Effect.zipRight(state.retire(entry), attempt)
              }
              stop()
              if (state.closed) return state.retire(entry)
              state.passOn(entry, state.now())
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
                    : Effect.logError(`ResourcePool ${state.settings.name}: creating a resource died`, exit.cause)
                }
                // A failure from before this attempt (say, of the eager `min` fill): try again at once.
                if (failure.value.seq <= seen) return attempt
                if (state.closed || state.waiters.size < state.creating) return stop()
                return Effect.flatMap(Random.next, (r) => {
                  const base = Math.min(
                    backoffCapMillis,
                    backoffBaseMillis * 2 ** Math.min(20, state.consecutiveFailures - 1)
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

/**
 * Builds the supply of `state` in a child scope of the pool's, closed after the drain: Effect's pool adds finalizers
 * as it runs (one per creation it forks, which wait for that creation), and in the pool's own scope those would run
 * before the drain. Returns the creator fibers, which the drain interrupts.
 *
 * @internal
 */
export const makeSupply = <A, E, R>(
  state: PoolState<A, E>,
  acquire: Effect.Effect<A, E, R>,
  poolScope: Scope.Scope
): Effect.Effect<FiberSet.FiberSet<void, never>, never, R> =>
  Effect.gen(function*() {
    const innerScope = yield* Scope.fork(poolScope, ExecutionStrategy.sequential)
    // Creator fibers belong to that scope too, made before Effect's pool so they are awaited after its shutdown (the
    // drain interrupts them first without waiting: one may be inside a creation that only that shutdown ends).
    const creators = yield* Scope.extend(FiberSet.make<void, never>(), innerScope)
    const forkCreator = yield* FiberSet.runtime(creators)<never>()
    const pool = yield* Scope.extend(
      Pool.makeWithTTL({
        acquire: makeCreate(state, acquire),
        min: state.settings.min,
        max: state.settings.max,
        timeToLive: state.settings.maxLifetime,
        timeToLiveStrategy: "creation"
      }),
      innerScope
    )
    state.effectPool = pool
    const creator = makeCreator(state, pool.get)
    state.startCreator = () => {
      forkCreator(creator)
    }
    return creators
  })
