/**
 * PgPool's lending protocol: a query started by callback on a borrowed client, so the borrow and the query share one
 * suspension of the caller's fiber (the way node-postgres's own pool runs a queued query on the client just given
 * back). It works on the pool through its `LendingHook`.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import type { Entry, LendingHook, PoolTimeoutError, Waiter } from "./poolState.js"

/**
 * Where a task reports its outcome, exactly once.
 *
 * @internal
 */
export interface TaskDone<B, E2> {
  done(outcome: Effect.Effect<B, E2>): void
}

/**
 * A unit of work started by callback on a borrowed resource.
 *
 * @internal
 */
export interface Task<A, B, E2> {
  /** Starts the work; reports to `run.done` exactly once. */
  start(resource: A, run: TaskDone<B, E2>): void
  /** The caller was interrupted while the work runs: stop it; `done` is still awaited afterwards. */
  stop(resource: A): Effect.Effect<void>
}

/**
 * Per fiber that ran a task: the task it waits for or runs now; if the fiber ends first, a waiting task leaves the
 * queue and a running one is stopped. One observer a fiber.
 */
interface FiberWatch {
  running: { fiberEnded(): void } | undefined
}

/**
 * One `runTask` call: a waiter while queued, then the task's `done` target. It installs no interruption frame
 * (that would cost the hot path more than the borrow itself): a fiber that ends (interrupted) while its task
 * waits takes the task out of the queue at once (an O(1) unlink), and one that ends while its task runs has the
 * task stopped, through one exit observer per fiber. A waiter whose fiber is interrupted but not yet ended is
 * skipped when a resource comes.
 */
class TaskRun<A, E, B, E2> implements Waiter<A, E>, TaskDone<B, E2> {
  prev: Waiter<A, E> | undefined = undefined
  next: Waiter<A, E> | undefined = undefined
  queued = false
  readonly deadline: number
  running: Entry<A> | undefined = undefined
  epoch = 0
  called = false
  watch: FiberWatch | undefined = undefined
  constructor(
    readonly hook: LendingHook<A, E>,
    readonly watches: WeakMap<Fiber.RuntimeFiber<unknown, unknown>, FiberWatch>,
    readonly task: Task<A, B, E2>,
    readonly resume: (outcome: Effect.Effect<B, E2 | PoolTimeoutError<E>>) => void,
    readonly fiber: Fiber.RuntimeFiber<unknown, unknown>,
    readonly start: number
  ) {
    this.deadline = start + hook.acquireTimeoutMillis
  }
  /** Registers with its fiber's watch, so the fiber's end reaches this run. */
  observe() {
    let watch = this.watches.get(this.fiber)
    if (watch === undefined) {
      const created: FiberWatch = { running: undefined }
      this.watches.set(this.fiber, created)
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
    const retiring = this.hook.giveBack(entry, this.epoch)
    if (retiring !== undefined) this.hook.background(retiring)
    this.resume(outcome)
  }
  fiberEnded() {
    if (this.queued) {
      // Abandoned while waiting: out of the queue now, so `waiting` counts only live callers.
      this.hook.leave(this)
      this.watch!.running = undefined
      return
    }
    const entry = this.running
    if (entry !== undefined) this.hook.background(this.task.stop(entry.value))
  }
  wake(entry: Entry<A>, now: number) {
    if (this.fiber.unsafePoll() !== null || !Cause.isEmpty(this.fiber.getFiberRef(FiberRef.interruptedCause))) {
      // Its caller is gone: the resource goes to the next waiter.
      const retiring = this.hook.giveBack(entry)
      if (retiring !== undefined) this.hook.background(retiring)
      return
    }
    this.hook.recordWait(this.start, now)
    this.run(entry)
  }
  reject(outcome: Effect.Effect<never, PoolTimeoutError<E>>) {
    if (this.watch !== undefined && this.watch.running === this) this.watch.running = undefined
    this.resume(outcome)
  }
}

/**
 * Makes `runTask` for a pool: runs a callback task on a borrowed resource in one suspension of the caller, lent
 * from the idle stack, or started by whoever gives a resource back to this waiter. Resources due for validation or
 * retirement take the general path (`useWith`). Per-call state lives in a `TaskRun`, not in closures.
 *
 * @internal
 */
export const makeRunTask = <A, E>(
  hook: LendingHook<A, E>,
  useWith: <B, E2>(
    f: (resource: A) => Effect.Effect<B, E2>,
    onFailure: (resource: A) => Effect.Effect<void> | undefined
  ) => Effect.Effect<B, E2 | PoolTimeoutError<E>>
) => {
  const watches = new WeakMap<Fiber.RuntimeFiber<unknown, unknown>, FiberWatch>()
  const general = <B, E2>(task: Task<A, B, E2>): Effect.Effect<B, E2 | PoolTimeoutError<E>> =>
    useWith(
      (resource) => Effect.async<B, E2>((resume) => task.start(resource, { done: resume })),
      (resource) => task.stop(resource)
    )
  const validatesAlways = hook.settings.validate !== undefined && hook.settings.validateAfterMillis === 0
  const recordAll = hook.settings.recordAll
  return <B, E2>(makeTask: () => Task<A, B, E2>): Effect.Effect<B, E2 | PoolTimeoutError<E>> =>
    Effect.async<B, E2 | PoolTimeoutError<E>>((resume) => {
      if (hook.closed) return resume(Effect.interrupt)
      const task = makeTask()
      // The register runs on the calling fiber, which Effect exposes while it runs: no extra op to fetch it.
      const current = Fiber.getCurrentFiber()
      if (current._tag === "None" || validatesAlways) return resume(general(task))
      const fiber = current.value
      const t = hook.now()
      const run = new TaskRun<A, E, B, E2>(hook, watches, task, resume, fiber, t)
      const entry = hook.lendIdle(fiber, t)
      if (entry === "check") return resume(general(task))
      if (entry !== undefined) {
        if (recordAll) hook.recordWait(t, t)
        run.run(entry)
      } else {
        run.observe()
        hook.enqueue(run)
      }
    })
}
