import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import { dual } from "effect/Function"
import * as Metric from "effect/Metric"
import * as Predicate from "effect/Predicate"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import type * as AdaptiveLimit from "../AdaptiveLimit.js"
import type * as Bulkhead from "../Bulkhead.js"
import type { InvalidOptionsError } from "../InvalidOptionsError.js"
import * as ResilienceMetrics from "../ResilienceMetrics.js"
import * as ResilienceRegistry from "../ResilienceRegistry.js"
import * as adaptiveLimit from "./adaptiveLimit.js"
import { unsafeRemainingMillis } from "./deadline.js"
import { instrument } from "./instrument.js"
import { LruMap } from "./lru.js"
import { callerRuntime, clockOf, startTimer } from "./timer.js"
import { type OptionsValidator, validated } from "./validate.js"

/** @internal */
export const TypeId: Bulkhead.TypeId = Symbol.for("@effect-resilience/core/Bulkhead") as Bulkhead.TypeId

/** @internal */
export class BulkheadRejectedError extends Data.TaggedError("BulkheadRejectedError")<{
  readonly bulkheadName: string
  readonly reason: "QueueFull" | "QueueTimeout" | "TooManyKeys"
}> {
  override get message(): string {
    return `bulkhead ${JSON.stringify(this.bulkheadName)} rejected the call: ${
      this.reason === "QueueFull"
        ? "queue full"
        : this.reason === "QueueTimeout"
        ? "timed out in the queue"
        : "too many keys busy (maxKeys)"
    }`
  }
}

/** A caller waiting for a slot: a node of the FIFO queue (a doubly linked list, O(1) removal). */
class Waiter {
  prev: Waiter | undefined = undefined
  next: Waiter | undefined = undefined
  /** Set once the slot has been handed over to this waiter. */
  granted = false
  /** Set while the waiter is linked in the queue. */
  linked = true
  resume: ((effect: Effect.Effect<void, BulkheadRejectedError>) => void) | undefined = undefined
  cancelTimer: (() => void) | undefined = undefined
}

interface Resolved {
  readonly name: string
  readonly maxConcurrent: number
  /** The limit is learned from latency (`maxConcurrent` is then its initial limit). */
  readonly adaptive: AdaptiveLimit.AdaptiveLimit | undefined
  readonly maxQueue: number
  readonly queueTimeoutMillis: number | undefined
  /** Adaptive queue timeout (`codel`), in millis; `undefined`: off. */
  readonly codel: { readonly targetMillis: number; readonly intervalMillis: number } | undefined
}

const resolve = (v: OptionsValidator, options: Bulkhead.Bulkhead.Options): Resolved => {
  v.object("options", options)
  v.optionalBoolean("metrics", options.metrics)
  v.optionalBoolean("tracing", options.tracing)
  v.optionalBoolean("histogram", options.histogram)
  const queueTimeout = options.queueTimeout === undefined
    ? undefined
    : v.duration("queueTimeout", options.queueTimeout)
  const limit = options.maxConcurrent
  let codel: Resolved["codel"] = undefined
  if (options.codel !== undefined) {
    v.object("codel", options.codel)
    const target = v.duration("codel.target", options.codel.target ?? codelDefaults.target, {
      positive: true,
      finite: true
    })
    const interval = v.duration("codel.interval", options.codel.interval ?? codelDefaults.interval, {
      positive: true,
      finite: true
    })
    codel = { targetMillis: Duration.toMillis(target), intervalMillis: Duration.toMillis(interval) }
  }
  return {
    name: v.nonEmpty("name", options.name),
    maxConcurrent: adaptiveLimit.isAdaptiveLimit(limit) ? limit.initialLimit : v.int("maxConcurrent", limit, 1),
    adaptive: adaptiveLimit.isAdaptiveLimit(limit) ? limit : undefined,
    maxQueue: v.int("maxQueue", options.maxQueue ?? 0, 0),
    queueTimeoutMillis: queueTimeout === undefined || !Duration.isFinite(queueTimeout)
      ? undefined
      : Duration.toMillis(queueTimeout),
    codel
  }
}

/** `codel`'s defaults: Facebook's for its RPC servers' queues ("Fail at Scale", 2015). @internal */
export const codelDefaults = { target: Duration.millis(5), interval: Duration.millis(100) }

/** The state machine of one bulkhead, without registration: shared by `make` and `keyed`. @internal */
export class BulkheadImpl implements Bulkhead.Bulkhead, ResilienceMetrics.Collector {
  readonly [TypeId]: Bulkhead.TypeId = TypeId
  readonly name: string
  readonly maxQueue: number
  readonly queueTimeoutMillis: number | undefined
  readonly codel: Resolved["codel"]
  /** With `codel`: when the queue last went from empty to not empty (Clock millis). */
  private busySince = 0
  /** The calls that may run now: fixed, or learned by `adaptive`. */
  limit: number
  /** The learned limit's state, when the limit is adaptive. */
  readonly adaptive: adaptiveLimit.State | undefined
  active = 0
  queued = 0
  rejected = 0
  private head: Waiter | undefined = undefined
  private tail: Waiter | undefined = undefined
  private readonly rejectedQueueFull: Metric.Metric.Counter<number>
  private readonly rejectedQueueTimeout: Metric.Metric.Counter<number>
  private readonly activeGauge: Metric.Metric.Gauge<number>
  private readonly queuedGauge: Metric.Metric.Gauge<number>
  private readonly limitGauge: Metric.Metric.Gauge<number>

  /** The current limit (for an adaptive limit, what it has learned so far). */
  get maxConcurrent(): number {
    return this.limit
  }

  constructor(options: Resolved, readonly metrics: boolean) {
    this.name = options.name
    this.limit = options.maxConcurrent
    this.adaptive = options.adaptive === undefined ? undefined : adaptiveLimit.unsafeMakeState(options.adaptive)
    this.limitGauge = ResilienceMetrics.adaptiveLimit.pipe(Metric.tagged("name", this.name))
    this.maxQueue = options.maxQueue
    this.queueTimeoutMillis = options.queueTimeoutMillis
    this.codel = options.codel
    const rejected = ResilienceMetrics.bulkheadRejectedTotal.pipe(Metric.tagged("name", this.name))
    this.rejectedQueueFull = rejected.pipe(Metric.tagged("reason", "queue_full"))
    this.rejectedQueueTimeout = rejected.pipe(Metric.tagged("reason", "queue_timeout"))
    this.activeGauge = ResilienceMetrics.bulkheadActive.pipe(Metric.tagged("name", this.name))
    this.queuedGauge = ResilienceMetrics.bulkheadQueued.pipe(Metric.tagged("name", this.name))
  }

  get stats(): Effect.Effect<Bulkhead.BulkheadStats> {
    return Effect.sync(() => ({ active: this.active, queued: this.queued, rejected: this.rejected }))
  }

  /** Pushes the gauges (run by `ResilienceMetrics.flush` before a scrape). */
  collect(): void {
    if (!this.metrics) return
    this.activeGauge.unsafeUpdate(this.active, [])
    this.queuedGauge.unsafeUpdate(this.queued, [])
    if (this.adaptive !== undefined) this.limitGauge.unsafeUpdate(this.limit, [])
  }

  /** Hands the slot to the first waiter, or frees it. */
  releaseSlot(): void {
    const waiter = this.head
    // Past the limit (an adaptive limit that shrank): the slot is gone, not handed over.
    if (waiter === undefined || this.active > this.limit) {
      this.active--
      return
    }
    this.grant(waiter)
  }

  private grant(waiter: Waiter): void {
    this.unlink(waiter)
    waiter.granted = true
    waiter.cancelTimer?.()
    waiter.resume?.(Effect.void)
  }

  /** One sample for the adaptive limit; a limit that grew admits waiters at once. */
  private sample(rttMillis: number, inflight: number, dropped: boolean): void {
    this.limit = this.adaptive!.onSample(rttMillis, inflight, dropped)
    while (this.active < this.limit && this.head !== undefined) {
      this.active++
      this.grant(this.head)
    }
  }

  private unlink(waiter: Waiter): void {
    if (!waiter.linked) return
    waiter.linked = false
    if (waiter.prev === undefined) this.head = waiter.next
    else waiter.prev.next = waiter.next
    if (waiter.next === undefined) this.tail = waiter.prev
    else waiter.next.prev = waiter.prev
    waiter.prev = waiter.next = undefined
    this.queued--
  }

  private reject(reason: "QueueFull" | "QueueTimeout"): BulkheadRejectedError {
    this.rejected++
    if (this.metrics) (reason === "QueueFull" ? this.rejectedQueueFull : this.rejectedQueueTimeout).unsafeUpdate(1, [])
    return new BulkheadRejectedError({ bulkheadName: this.name, reason })
  }

  /** The opt-in span and histogram, when asked for. */
  instrumented: (<A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>) | undefined = undefined

  execute<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | BulkheadRejectedError, R> {
    return this.instrumented === undefined ? this.run(effect) : this.instrumented(this.run(effect))
  }

  private run<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | BulkheadRejectedError, R> {
    // The mask's body runs when the call starts: the slot is taken and the release registered in one
    // uninterruptible step, so an interruption can neither leak a slot nor skip the release.
    return Effect.uninterruptibleMask((restore) => {
      // Below the limit a bulkhead is a counter.
      if (this.active < this.limit) {
        this.active++
        return this.adaptive === undefined ? this.released(restore(effect)) : this.sampled(restore(effect))
      }
      if (this.queued >= this.maxQueue) return Effect.fail(this.reject("QueueFull"))
      return Effect.withFiberRuntime<A, E | BulkheadRejectedError, R>((fiber) => this.enqueue(restore, effect, fiber))
    })
  }

  /** Runs `self`, then frees the slot whatever the outcome (call it in an uninterruptible region). */
  private released<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    const handlers: {
      readonly onFailure: (cause: Cause.Cause<E>) => Effect.Effect<never, E>
      readonly onSuccess: (a: A) => Effect.Effect<A>
    } = this.releaseThen
    return Effect.matchCauseEffect(self, handlers)
  }

  /** Frees the slot, then passes the outcome on (allocated once: the hot path makes no closure for it). */
  private readonly releaseThen = {
    onFailure: <E>(cause: Cause.Cause<E>): Effect.Effect<never, E> => {
      this.releaseSlot()
      return Effect.failCause(cause)
    },
    onSuccess: <A>(a: A): Effect.Effect<A> => {
      this.releaseSlot()
      return Effect.succeed(a)
    }
  }

  /**
   * Runs `self` for an adaptive limit: its latency (from `Clock`) and the calls running when it started make one
   * sample when it ends; a `TimeoutError` is a drop; other failures and interruption give no sample. Then frees the
   * slot (call it in an uninterruptible region).
   */
  private sampled<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return Effect.withFiberRuntime<A, E, R>((fiber) => {
      const clock = clockOf(fiber)
      const start = clock.unsafeCurrentTimeNanos()
      const inflight = this.active
      const rtt = () => Number(clock.unsafeCurrentTimeNanos() - start) / 1_000_000
      return Effect.matchCauseEffect(self, {
        onFailure: (cause) => {
          const failure = Cause.failureOption(cause)
          if (failure._tag === "Some" && Predicate.isTagged(failure.value, "TimeoutError")) {
            this.sample(rtt(), inflight, true)
          }
          this.releaseSlot()
          return Effect.failCause(cause)
        },
        onSuccess: (a) => {
          this.sample(rtt(), inflight, false)
          this.releaseSlot()
          return Effect.succeed(a)
        }
      })
    })
  }

  private enqueue<A, E, R>(
    restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>,
    effect: Effect.Effect<A, E, R>,
    fiber: Fiber.RuntimeFiber<unknown, unknown>
  ): Effect.Effect<A, E | BulkheadRejectedError, R> {
    // CoDel, as Facebook's queues apply it: a queue that has not been empty for `interval` is a standing queue,
    // not a burst; a call joining it waits at most `target` (the queue drains, and the calls it serves have not
    // waited out their callers). One read of the clock, on the queueing path only.
    let waitMillis = this.queueTimeoutMillis
    if (this.codel !== undefined) {
      const now = clockOf(fiber).unsafeCurrentTimeMillis()
      if (this.queued === 0) this.busySince = now
      else if (now - this.busySince >= this.codel.intervalMillis) {
        waitMillis = waitMillis === undefined ? this.codel.targetMillis : Math.min(waitMillis, this.codel.targetMillis)
      }
    }
    const waiter = new Waiter()
    if (this.tail === undefined) this.head = this.tail = waiter
    else {
      waiter.prev = this.tail
      this.tail.next = waiter
      this.tail = waiter
    }
    this.queued++
    // The wait is bounded by queueTimeout; a deadline that ends first interrupts the wait itself.
    const left = unsafeRemainingMillis(fiber)
    const timerMillis = waitMillis !== undefined && (left === undefined || waitMillis < left)
      ? waitMillis
      : undefined
    const wait = Effect.async<void, BulkheadRejectedError>((resume) => {
      // Handed a slot before the wait began: go on at once.
      if (waiter.granted) return resume(Effect.void)
      waiter.resume = resume
      if (timerMillis !== undefined) {
        const runtime = callerRuntime<never>(fiber, Runtime.defaultRuntimeFlags)
        waiter.cancelTimer = startTimer(clockOf(fiber), runtime, timerMillis, () => {
          if (waiter.granted || !waiter.linked) return
          this.unlink(waiter)
          resume(Effect.fail(this.reject("QueueTimeout")))
        })
      }
      return Effect.sync(() => {
        waiter.cancelTimer?.()
        this.unlink(waiter)
      })
    })
    return Effect.matchCauseEffect(restore(wait), {
      onFailure: (cause) => {
        waiter.cancelTimer?.()
        // Interrupted after the slot was handed over: pass it on.
        if (waiter.granted) this.releaseSlot()
        else this.unlink(waiter)
        return Effect.failCause(cause)
      },
      onSuccess: () => this.adaptive === undefined ? this.released(restore(effect)) : this.sampled(restore(effect))
    })
  }
}

const bulkheadStatus = (impl: BulkheadImpl): Effect.Effect<ResilienceRegistry.EntryStatus> =>
  Effect.sync(() => ({
    healthy: true,
    state: impl.active >= impl.maxConcurrent ? (impl.queued >= impl.maxQueue ? "full" : "saturated") : "ok",
    details: {
      active: impl.active,
      queued: impl.queued,
      rejected: impl.rejected,
      maxConcurrent: impl.maxConcurrent,
      maxQueue: impl.maxQueue
    }
  }))

/** @internal */
export const make = (
  options: Bulkhead.Bulkhead.Options
): Effect.Effect<Bulkhead.Bulkhead, InvalidOptionsError | ResilienceRegistry.DuplicateNameError, Scope.Scope> =>
  Effect.flatMap(validated("Bulkhead.make", (v) => resolve(v, options)), (resolved) => {
    const impl = new BulkheadImpl(resolved, options.metrics !== false)
    if (options.tracing === true || options.histogram === true) {
      impl.instrumented = instrument({
        policy: "bulkhead",
        name: resolved.name,
        tracing: options.tracing,
        histogram: options.histogram
      })
    }
    ResilienceMetrics.registerCollector(impl)
    return Effect.as(
      ResilienceRegistry.register({ kind: "bulkhead", name: resolved.name, status: bulkheadStatus(impl) }),
      impl
    )
  })

/** @internal */
export const withBulkhead = dual<
  (
    bulkhead: Bulkhead.Bulkhead
  ) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | BulkheadRejectedError, R>,
  <A, E, R>(self: Effect.Effect<A, E, R>, bulkhead: Bulkhead.Bulkhead) => Effect.Effect<A, E | BulkheadRejectedError, R>
>(2, (self, bulkhead) => bulkhead.execute(self))

/** @internal */
export const KeyedTypeId: Bulkhead.KeyedTypeId = Symbol.for(
  "@effect-resilience/core/Bulkhead/Keyed"
) as Bulkhead.KeyedTypeId

class KeyedImpl<K> implements Bulkhead.KeyedBulkhead<K>, ResilienceMetrics.Collector {
  readonly [KeyedTypeId]: Bulkhead.KeyedTypeId = KeyedTypeId
  readonly entries: LruMap<K, BulkheadImpl>
  private readonly activeGauge: Metric.Metric.Gauge<number>
  private readonly queuedGauge: Metric.Metric.Gauge<number>

  constructor(
    readonly name: string,
    readonly resolved: Resolved,
    maxKeys: number,
    idleTtlMillis: number,
    readonly metrics: boolean
  ) {
    this.entries = new LruMap<K, BulkheadImpl>(
      maxKeys,
      idleTtlMillis,
      // Never forget a bulkhead that has calls running or waiting: its slots are real.
      (b) => b.active === 0 && b.queued === 0
    )
    this.activeGauge = ResilienceMetrics.bulkheadActive.pipe(Metric.tagged("name", name))
    this.queuedGauge = ResilienceMetrics.bulkheadQueued.pipe(Metric.tagged("name", name))
    this.rejectedTooManyKeys = ResilienceMetrics.bulkheadRejectedTotal.pipe(
      Metric.tagged("name", name),
      Metric.tagged("reason", "too_many_keys")
    )
    this.full = {
      [TypeId]: TypeId,
      name,
      maxConcurrent: resolved.maxConcurrent,
      execute: <A, E, R>(_: Effect.Effect<A, E, R>) => Effect.suspend(() => Effect.fail(this.rejectKey())),
      stats: Effect.sync(() => ({ active: 0, queued: 0, rejected: this.rejected }))
    }
  }

  /** Calls turned away because every key was busy (not counted by any key's bulkhead). */
  rejected = 0
  private readonly rejectedTooManyKeys: Metric.Metric.Counter<number>
  /** What a new key gets while every key is busy: a bulkhead with no slot. */
  private readonly full: Bulkhead.Bulkhead

  private rejectKey(): BulkheadRejectedError {
    this.rejected++
    if (this.metrics) this.rejectedTooManyKeys.unsafeUpdate(1, [])
    return new BulkheadRejectedError({ bulkheadName: this.name, reason: "TooManyKeys" })
  }

  collect(): void {
    let active = 0
    let queued = 0
    for (const b of this.entries.values()) {
      active += b.active
      queued += b.queued
    }
    this.activeGauge.unsafeUpdate(active, [])
    this.queuedGauge.unsafeUpdate(queued, [])
  }

  /**
   * The bulkhead of `key`. A new key while `maxKeys` keys are busy gets none: a fresh bulkhead per call would lift
   * the limit, so the call is rejected (`"TooManyKeys"`) instead.
   */
  unsafeGet(key: K, now: number): Bulkhead.Bulkhead {
    return this.entries.getOrCreate(key, now, () => new BulkheadImpl(this.resolved, this.metrics)) ?? this.full
  }

  get(key: K): Effect.Effect<Bulkhead.Bulkhead> {
    return Effect.withFiberRuntime((fiber) =>
      Effect.succeed(this.unsafeGet(key, clockOf(fiber).unsafeCurrentTimeMillis()))
    )
  }

  execute<A, E, R>(key: K, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | BulkheadRejectedError, R> {
    return Effect.withFiberRuntime((fiber) =>
      this.unsafeGet(key, clockOf(fiber).unsafeCurrentTimeMillis()).execute(effect)
    )
  }

  get stats(): Effect.Effect<Bulkhead.BulkheadStats & { readonly keys: number }> {
    return Effect.sync(() => {
      let active = 0
      let queued = 0
      let rejected = this.rejected
      for (const b of this.entries.values()) {
        active += b.active
        queued += b.queued
        rejected += b.rejected
      }
      return { active, queued, rejected, keys: this.entries.size }
    })
  }
}

/** @internal */
export const keyed = <K = string>(
  options: Bulkhead.Bulkhead.KeyedOptions
): Effect.Effect<Bulkhead.KeyedBulkhead<K>, InvalidOptionsError | ResilienceRegistry.DuplicateNameError, Scope.Scope> =>
  Effect.flatMap(
    validated("Bulkhead.keyed", (v) => ({
      resolved: resolve(v, options),
      maxKeys: v.int("maxKeys", options.maxKeys ?? 10_000, 1),
      idleTtlMillis: Duration.toMillis(v.duration("idleTtl", options.idleTtl ?? "10 minutes", { positive: true }))
    })),
    ({ idleTtlMillis, maxKeys, resolved }) => {
      const impl = new KeyedImpl<K>(resolved.name, resolved, maxKeys, idleTtlMillis, options.metrics !== false)
      if (impl.metrics) ResilienceMetrics.registerCollector(impl)
      return Effect.as(
        ResilienceRegistry.register({
          kind: "bulkhead",
          name: resolved.name,
          status: Effect.map(impl.stats, (stats) => ({
            healthy: true,
            state: "ok",
            details: { active: stats.active, queued: stats.queued, rejected: stats.rejected, keys: stats.keys }
          }))
        }),
        impl
      )
    }
  )

/** @internal */
export const isBulkhead = (u: unknown): u is Bulkhead.Bulkhead => Predicate.hasProperty(u, TypeId)
