/**
 * A `ResourcePool`'s state, held in one place (`PoolState`), and the three verbs of a resource's life in it: `lend`
 * (to a borrower), `giveBack` (from a borrower: on to the next waiter, on the idle stack, or retired) and `retire`
 * (closed for good, handed back to Effect's pool). The seams that act on it: `poolSupply.ts` (creation),
 * `poolLending.ts` (borrowing), `poolMaintenance.ts` (the reaper and the sweep), `poolDrain.ts` (the drain at close).
 *
 * @internal
 */
import { ResilienceMetrics } from "@effect-resilience/core"
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import type * as Pool from "effect/Pool"
import { hasProperty } from "effect/Predicate"
import * as Scope from "effect/Scope"

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

/** A short, credential-free description of an error: its tag or class name, and its code when it has one. @internal */
export const describe = (error: unknown): string => {
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

/** @internal */
export const poolLeaksTotal = Metric.counter("pool_leak_warnings_total", {
  description: "Resources held longer than the pool's leakDetection threshold",
  incremental: true
})

/** The validated options. @internal */
export interface Settings<A> {
  readonly name: string
  readonly max: number
  readonly min: number
  readonly acquireTimeout: Duration.Duration
  readonly maxLifetime: Duration.Duration
  readonly idleTimeout: Duration.Duration
  readonly leakDetection: Duration.Duration | undefined
  readonly drainTimeout: Duration.Duration
  /** `validate`, when given and validation on borrow is on. */
  readonly validate: ((resource: A) => Effect.Effect<boolean>) | undefined
  /** Millis a resource may rest before a borrow validates it (0: every borrow). */
  readonly validateAfterMillis: number | undefined
  /** Every borrow updates the acquire histogram (`histogram: true`), not only those that waited. */
  readonly recordAll: boolean
}

/** A pooled resource with the pool's bookkeeping. @internal */
export interface Entry<A> {
  readonly value: A
  /** Clock millis after which it is closed instead of lent (creation + maxLifetime). */
  readonly expiresAt: number
  /** The scope of its checkout from Effect's pool (closing it hands the resource back there). */
  scope: Scope.CloseableScope | undefined
  borrowed: boolean
  /** Counts the loans, so a late give-back of an earlier loan does nothing. */
  epoch: number
  /** Clock millis of the last give-back (creation at first). */
  lastReturned: number
  borrowedAt: number
  borrower: Fiber.RuntimeFiber<unknown, unknown> | undefined
  /** Never lent yet: no need to validate it. */
  fresh: boolean
  /** Marked broken: closed instead of lent. */
  invalid: boolean
  leakReported: boolean
}

/** A borrower waiting for a resource; linked into the queue without allocation. @internal */
export interface Waiter<A, E> {
  prev: Waiter<A, E> | undefined
  next: Waiter<A, E> | undefined
  queued: boolean
  readonly start: number
  readonly deadline: number
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
  /** Handed an entry (already lent to it) at clock millis `now`. */
  wake(entry: Entry<A>, now: number): void
  /** Timed out, or the pool is closing. */
  reject(outcome: Effect.Effect<never, PoolTimeoutError<E>>): void
}

/** Why one creation attempt failed, numbered so a creator can tell a stale failure from its own. @internal */
export class CreateFailure<E> {
  constructor(readonly seq: number, readonly error: E | undefined) {}
}

/** The FIFO of waiters: an intrusive doubly linked list, so queueing and leaving allocate nothing. @internal */
export class WaitQueue<A, E> {
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

/**
 * What a lending protocol outside this package's core (PgPool's callback tasks) uses of the pool: the idle stack's
 * top, the wait queue, and giving back.
 *
 * @internal
 */
export interface LendingHook<A, E> {
  readonly settings: Settings<A>
  readonly closed: boolean
  readonly acquireTimeoutMillis: number
  now(): number
  /**
   * Lends the most recently used idle resource to `fiber` when nobody waits and it needs neither validation nor
   * retirement: the entry; `"check"` when it needs one of those (take the general path); `undefined` when none is
   * idle or others wait (queue).
   */
  lendIdle(fiber: Fiber.RuntimeFiber<unknown, unknown>, now: number): Entry<A> | "check" | undefined
  /** Queues a waiter and makes sure creators work for it. */
  enqueue(waiter: Waiter<A, E>): void
  /** Takes a waiter out of the queue (it gave up). */
  leave(waiter: Waiter<A, E>): void
  giveBack(entry: Entry<A>, epoch?: number): Effect.Effect<void> | undefined
  /** Runs a clean-up in the background (never on the caller's fiber). */
  background(effect: Effect.Effect<void>): void
  /** Counts a wait in the acquire histogram. */
  recordWait(start: number, now: number): void
}

/** Metrics, tagged once. @internal */
export class PoolMetrics {
  readonly idle: Metric.Metric.Gauge<number>
  readonly borrowed: Metric.Metric.Gauge<number>
  /**
   * `name="<pool>"`, one array for the pool's life: the acquire histogram is updated on the hot path through the
   * untagged metric with these labels, which finds its hook in one lookup (a `Metric.tagged` wrapper would merge the
   * labels first, on every update).
   */
  readonly labels: ReadonlyArray<MetricLabel.MetricLabel>
  readonly timeouts: Metric.Metric.Counter<number>
  readonly invalidated: Metric.Metric.Counter<number>
  readonly leaks: Metric.Metric.Counter<number>
  constructor(name: string) {
    const resources = Metric.tagged(ResilienceMetrics.poolResources, "name", name)
    this.idle = Metric.tagged(resources, "state", "idle")
    this.borrowed = Metric.tagged(resources, "state", "borrowed")
    this.labels = [MetricLabel.make("name", name)]
    this.timeouts = Metric.tagged(ResilienceMetrics.poolTimeoutsTotal, "name", name)
    this.invalidated = Metric.tagged(ResilienceMetrics.poolInvalidatedTotal, "name", name)
    this.leaks = Metric.tagged(poolLeaksTotal, "name", name)
  }
}

/**
 * A pool's state: plain local fields, read and written synchronously (the hot path touches only these), and the
 * verbs of a resource's life. Effect's pool and the creator's start are set by the supply (`poolSupply.ts`).
 *
 * @internal
 */
export class PoolState<A, E> implements LendingHook<A, E> {
  /** Every resource alive (created, not yet closed). */
  readonly live = new Set<Entry<A>>()
  readonly byValue = new Map<A, Entry<A>>()
  /** Checked out and free: a stack, the most recently used on top. */
  readonly idle: Array<Entry<A>> = []
  readonly waiters = new WaitQueue<A, E>()
  alive = 0
  /** Checked out of Effect's pool (idle, lent or being retired). */
  checkedOut = 0
  /** Creator fibers at work. */
  creating = 0
  borrowed = 0
  closed = false
  failureSeq = 0
  consecutiveFailures = 0
  lastError: E | undefined = undefined
  timeouts = 0
  /** Set by the drain while it waits for borrowed resources to come back. */
  onAllGivenBack: (() => void) | undefined = undefined
  /** Set while the reaper sleeps with no waiter. */
  wakeReaper: (() => void) | undefined = undefined
  readonly acquireTimeoutMillis: number
  readonly maxLifetimeMillis: number
  readonly leakMillis: number | undefined
  // Set by the supply once Effect's pool exists.
  effectPool: Pool.Pool<Entry<A>, CreateFailure<E>> | undefined = undefined
  startCreator: () => void = () => {}

  constructor(
    readonly settings: Settings<A>,
    readonly clock: Clock.Clock,
    readonly metrics: PoolMetrics,
    readonly background: (effect: Effect.Effect<void>) => void
  ) {
    this.acquireTimeoutMillis = Duration.toMillis(settings.acquireTimeout)
    this.maxLifetimeMillis = Duration.toMillis(settings.maxLifetime)
    this.leakMillis = settings.leakDetection === undefined ? undefined : Duration.toMillis(settings.leakDetection)
  }

  now(): number {
    return this.clock.unsafeCurrentTimeMillis()
  }

  timeoutError(waitedMillis: number): PoolTimeoutError<E> {
    this.timeouts++
    this.metrics.timeouts.unsafeUpdate(1, [])
    return new PoolTimeoutError<E>({
      poolName: this.settings.name,
      waited: Duration.millis(waitedMillis),
      lastError: this.lastError
    })
  }

  // --- a resource's life ------------------------------------------------------

  lend(entry: Entry<A>, fiber: Fiber.RuntimeFiber<unknown, unknown>): void {
    entry.borrowed = true
    entry.epoch++
    entry.borrower = fiber
    if (this.leakMillis !== undefined) {
      entry.borrowedAt = this.now()
      entry.leakReported = false
    }
    this.borrowed++
  }

  /**
   * Takes a lent entry back (with `epoch`, only from that loan: a late give-back of an earlier one does nothing) and
   * passes it on, or retires it when the pool is closing, it is marked broken or it expired: `undefined` when done
   * synchronously, else the effect that retires it.
   */
  giveBack(entry: Entry<A>, epoch?: number): Effect.Effect<void> | undefined {
    if (!entry.borrowed || (epoch !== undefined && entry.epoch !== epoch)) return undefined
    entry.borrowed = false
    entry.borrower = undefined
    this.borrowed--
    if (this.closed && this.borrowed === 0 && this.onAllGivenBack !== undefined) this.onAllGivenBack()
    if (this.closed || entry.invalid) return this.retire(entry)
    const t = this.now()
    if (t >= entry.expiresAt) return this.retire(entry)
    entry.lastReturned = t
    this.passOn(entry, t)
    return undefined
  }

  /** A free entry goes to the first waiter (lent to it), or on the idle stack; `t` is the clock's millis now. */
  passOn(entry: Entry<A>, t: number): void {
    const waiter = this.waiters.shift()
    if (waiter === undefined) return void this.idle.push(entry)
    this.lend(entry, waiter.fiber)
    waiter.wake(entry, t)
  }

  /** Closes a checked-out entry for good: invalidated in Effect's pool, then handed back there. */
  retire(entry: Entry<A>): Effect.Effect<void> {
    return Effect.suspend(() => {
      const scope = entry.scope
      if (scope === undefined) return Effect.void
      entry.scope = undefined
      this.checkedOut--
      // Closing: handed back to Effect's pool, whose shutdown (next) closes it. Invalidating it now would make that
      // pool create a replacement while shutting down.
      if (this.closed) return Scope.close(scope, Exit.void)
      return this.effectPool!.invalidate(entry).pipe(
        Effect.zipRight(Scope.close(scope, Exit.void)),
        Effect.zipRight(Effect.sync(() => this.ensureCreators()))
      )
    })
  }

  /** Starts creators for the waiters no creator works for yet, within `max`. */
  ensureCreators(): void {
    while (!this.closed && this.creating < this.waiters.size && this.checkedOut + this.creating < this.settings.max) {
      this.creating++
      this.startCreator()
    }
  }

  // --- the hook of other lending protocols --------------------------------------

  /** Whether a lent entry must be validated before use. */
  needsValidation(entry: Entry<A>, t: number): boolean {
    const after = this.settings.validateAfterMillis
    return this.settings.validate !== undefined && !entry.fresh && after !== undefined &&
      (after === 0 || t - entry.lastReturned >= after)
  }

  lendIdle(fiber: Fiber.RuntimeFiber<unknown, unknown>, t: number): Entry<A> | "check" | undefined {
    if (this.waiters.size > 0 || this.idle.length === 0) return undefined
    const entry = this.idle[this.idle.length - 1]!
    if (entry.invalid || t >= entry.expiresAt || this.needsValidation(entry, t)) return "check"
    this.idle.pop()
    this.lend(entry, fiber)
    return entry
  }

  enqueue(waiter: Waiter<A, E>): void {
    this.waiters.add(waiter)
    if (this.wakeReaper !== undefined) this.wakeReaper()
    this.ensureCreators()
  }

  leave(waiter: Waiter<A, E>): void {
    this.waiters.delete(waiter)
  }

  recordWait(start: number, t: number): void {
    ResilienceMetrics.poolAcquireDurationSeconds.unsafeUpdate((t - start) / 1000, this.metrics.labels)
  }

  /** Marks a resource broken now; returns what closes it when that must run (it is idle). */
  markInvalid(resource: A): Effect.Effect<void> | undefined {
    const entry = this.byValue.get(resource)
    if (entry === undefined || entry.invalid) return undefined
    this.metrics.invalidated.unsafeUpdate(1, [])
    entry.invalid = true
    if (entry.borrowed) return undefined
    const index = this.idle.indexOf(entry)
    if (index >= 0) {
      this.idle.splice(index, 1)
      return this.retire(entry)
    }
    // Idle inside Effect's pool (never checked out, or on its way to a waiter).
    return entry.scope === undefined ? this.effectPool!.invalidate(entry) : undefined
  }
}

/** How a creation failed, for the log. @internal */
export const describeCause = <E>(cause: Cause.Cause<E | undefined>): string => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some") {
    return failure.value === undefined ? "timed out" : describeFailure(failure.value)
  }
  return Cause.isInterruptedOnly(cause) ? "interrupted" : "defect"
}

const describeFailure = (error: unknown): string => {
  return hasProperty(error, "message") ? `${describe(error)}: ${String(error.message)}` : describe(error)
}
