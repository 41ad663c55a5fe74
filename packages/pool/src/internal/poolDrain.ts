/**
 * A pool's drain, when its scope closes: waiters are turned away, borrowed resources are awaited up to
 * `drainTimeout` (then their borrowers are interrupted and the resources taken back), creators are stopped and idle
 * resources retired; Effect's pool shuts down after it.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import type { Entry, PoolState } from "./poolState.js"

/** @internal */
export const makeDrain = <A, E>(
  state: PoolState<A, E>,
  creators: FiberSet.FiberSet<void, never>
): Effect.Effect<void> => {
  const { drainTimeout, name } = state.settings
  return Effect.suspend(() => {
    state.closed = true
    for (const waiter of state.waiters.toArray()) {
      state.waiters.delete(waiter)
      waiter.reject(Effect.interrupt)
    }
    // Finalizers run uninterruptibly, and a timeout interrupts (and awaits) what it times out: the wait itself is
    // made interruptible, or the timeout would wait for it forever.
    const waitBorrowed = state.borrowed === 0 ? Effect.void : Effect.interruptible(Effect.async<void>((resume) => {
      state.onAllGivenBack = () => resume(Effect.void)
    })).pipe(
      Effect.timeoutOption(drainTimeout),
      Effect.flatMap((done) => {
        if (Option.isSome(done)) return Effect.void
        return Effect.withFiberRuntime<void>((self) => {
          const held: Array<Entry<A>> = []
          for (const entry of state.live) if (entry.borrowed) held.push(entry)
          const fibers = held.flatMap((e) => e.borrower !== undefined && e.borrower !== self ? [e.borrower] : [])
          return Effect.logWarning(
            `ResourcePool ${name}: ${held.length} resource(s) still borrowed after drainTimeout ${
              Duration.format(drainTimeout)
            }: interrupting their borrowers`
          ).pipe(
            Effect.annotateLogs({ pool: name, borrowed: held.length }),
            // Interrupted, not awaited: a borrower that ignores interruption must not hold the scope open.
            Effect.zipRight(Effect.forEach(fibers, (fiber) => Fiber.interruptFork(fiber), { discard: true })),
            // Borrowers whose scope outlives their fiber: give their resources back for them.
            Effect.zipRight(Effect.forEach(held, (e) => state.giveBack(e) ?? Effect.void, { discard: true }))
          )
        })
      })
    )
    return waitBorrowed.pipe(
      // Creators stop without being awaited: one may be inside a creation that only the pool's shutdown ends.
      Effect.zipRight(
        Effect.suspend(() => Effect.forEach(Array.from(creators), Fiber.interruptFork, { discard: true }))
      ),
      Effect.zipRight(
        Effect.suspend(() =>
          Effect.forEach(state.idle.splice(0, state.idle.length), (entry) => state.retire(entry), { discard: true })
        )
      )
    )
  })
}
