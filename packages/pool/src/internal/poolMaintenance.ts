/**
 * A pool's maintenance, on two fibers of its scope and no timer per resource: the reaper fails the waits that pass
 * `acquireTimeout`; the sweep retires idle resources past `idleTimeout` (down to `min`) or `maxLifetime` and warns of
 * resources borrowed longer than `leakDetection`.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { Entry, PoolState } from "./poolState.js"

/** Fails the waits that pass their deadline. Waiters queue in deadline order (same timeout, FIFO). */
const makeReaper = <A, E>(state: PoolState<A, E>): Effect.Effect<never> =>
  Effect.forever(Effect.suspend(() => {
    const head = state.waiters.head
    if (head === undefined) {
      return Effect.async<void>((resume) => {
        state.wakeReaper = () => {
          state.wakeReaper = undefined
          resume(Effect.void)
        }
      })
    }
    const t = state.now()
    if (head.deadline > t) return Effect.sleep(Duration.millis(head.deadline - t))
    for (const waiter of state.waiters.toArray()) {
      if (waiter.deadline > t) continue
      state.waiters.delete(waiter)
      waiter.reject(Effect.fail(state.timeoutError(t - waiter.start)))
    }
    return Effect.void
  }))

/** Idle eviction down to `min`, expiry of idle resources, leak warnings. */
const makeSweep = <A, E>(state: PoolState<A, E>): Effect.Effect<void> => {
  const { leakDetection, min, name } = state.settings
  const idleTimeoutMillis = Duration.toMillis(state.settings.idleTimeout)
  const leakMillis = state.leakMillis
  return Effect.suspend(() => {
    const t = state.now()
    const idle = state.idle
    const retiring: Array<Entry<A>> = []
    let spare = state.alive - min
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
      for (const entry of state.live) {
        if (entry.borrowed && !entry.leakReported && t - entry.borrowedAt >= leakMillis) {
          entry.leakReported = true
          leaks.push(entry)
        }
      }
    }
    return Effect.zipRight(
      Effect.forEach(retiring, (entry) => state.retire(entry), { discard: true }),
      Effect.forEach(leaks, (entry) =>
        Effect.zipRight(
          Effect.sync(() => state.metrics.leaks.unsafeUpdate(1, [])),
          Effect.logWarning(
            `ResourcePool ${name}: a resource has been borrowed for ${
              Duration.format(Duration.millis(t - entry.borrowedAt))
            }, longer than leakDetection (${Duration.format(leakDetection!)}): possible leak`
          ).pipe(Effect.annotateLogs({ pool: name, borrower: String(entry.borrower?.id().id) }))
        ), { discard: true })
    )
  })
}

/**
 * Forks the reaper and the sweep in the pool's scope.
 *
 * @internal
 */
export const startMaintenance = <A, E>(state: PoolState<A, E>, poolScope: Scope.Scope): Effect.Effect<void> => {
  const sweepMillis = Math.min(
    Duration.toMillis(state.settings.idleTimeout),
    state.leakMillis ?? Infinity,
    state.maxLifetimeMillis
  )
  const interval = Duration.millis(Math.max(10, Math.min(30_000, sweepMillis / 2)))
  const sweep = makeSweep(state)
  return Effect.zipRight(
    Effect.forkIn(makeReaper(state), poolScope),
    Effect.forkIn(Effect.forever(Effect.zipRight(Effect.sleep(interval), sweep)), poolScope)
  )
}
