import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as DefaultServices from "effect/DefaultServices"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import type * as FiberStatus from "effect/FiberStatus"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import { validatedSync } from "./validate.js"

/** @internal */
export class TimeoutError extends Data.TaggedError("TimeoutError")<{
  readonly duration: Duration.Duration
  readonly scope: "attempt" | "deadline"
}> {
  override get message(): string {
    return `${this.scope === "attempt" ? "attempt timed out" : "deadline exceeded"} after ${
      Duration.format(this.duration)
    }`
  }
}

/** @internal */
export interface DeadlineState {
  /** Clock millis at which the deadline passes. */
  readonly at: number
  /** The whole budget, for the error. */
  readonly budget: Duration.Duration
}

/** @internal */
export const currentDeadline: FiberRef.FiberRef<DeadlineState | undefined> = FiberRef.unsafeMake<
  DeadlineState | undefined
>(undefined)

const liveClock: Clock.Clock = Context.get(DefaultServices.liveServices, Clock.Clock)

/** The largest delay a JS timer accepts; longer limits never fire (as with Effect's own clock). */
const MAX_TIMER_MILLIS = 2 ** 31 - 1

/** The `Clock` a fiber sees (the `TestClock` in tests). @internal */
export const clockOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): Clock.Clock =>
  Context.get(fiber.currentDefaultServices, Clock.Clock)

/**
 * What is left of the fiber's deadline in millis, `undefined` outside any deadline. Synchronous: for policies
 * that already hold their fiber (`Effect.withFiberRuntime`).
 *
 * @internal
 */
export const unsafeRemainingMillis = (fiber: Fiber.RuntimeFiber<unknown, unknown>): number | undefined => {
  const deadline = fiber.getFiberRef(currentDeadline)
  return deadline === undefined ? undefined : Math.max(0, deadline.at - clockOf(fiber).unsafeCurrentTimeMillis())
}

const succeedUndefined = Effect.succeed(undefined)

/** @internal */
export const remainingMillis: Effect.Effect<number | undefined> = Effect.withFiberRuntime((fiber) => {
  const left = unsafeRemainingMillis(fiber)
  return left === undefined ? succeedUndefined : Effect.succeed(left)
})

/** @internal */
export const remaining: Effect.Effect<Option.Option<Duration.Duration>> = Effect.map(
  remainingMillis,
  (millis) => millis === undefined ? Option.none() : Option.some(Duration.millis(millis))
)

const noop = () => {}

/** Monotonic time in millis (the live clock's nanos): a wall-clock jump must not fire every lane at once. */
const monotonicMillis = (): number => Number(liveClock.unsafeCurrentTimeNanos()) / 1e6

/** A pending task of a `TimerLane`. */
interface TimerEntry {
  readonly at: number
  readonly task: () => void
  done: boolean
}

/**
 * The live-clock timers of one delay. Every entry of a lane has the same delay, so deadlines arrive in order and
 * the lane is a FIFO with one JS timer armed for its head: adding and cancelling an entry are a push and a flag,
 * not a `setTimeout`/`clearTimeout` pair (which costs microseconds once the event loop is busy). Cancelled entries
 * are dropped from the head as calls end, so the lane holds about the calls in flight (at most the calls of the
 * last `millis`). While no entry is live the JS timer is unref'd: it never keeps the process alive for nothing.
 */
class TimerLane {
  private entries: Array<TimerEntry> = []
  private head = 0
  private live = 0
  private handle: ReturnType<typeof setTimeout> | undefined = undefined
  private refed = false

  constructor(readonly millis: number, readonly lanes: Map<number, TimerLane>) {}

  add(task: () => void): () => void {
    const now = monotonicMillis()
    const entry: TimerEntry = { at: now + this.millis, task, done: false }
    this.entries.push(entry)
    this.live++
    if (this.handle === undefined) this.arm(entry.at, now)
    else if (!this.refed) {
      this.handle.ref()
      this.refed = true
    }
    return () => this.cancel(entry)
  }

  private cancel(entry: TimerEntry): void {
    if (entry.done) return
    entry.done = true
    this.live--
    this.dropDone()
    if (this.live === 0 && this.handle !== undefined && this.refed) {
      this.handle.unref()
      this.refed = false
    }
  }

  private dropDone(): void {
    const entries = this.entries
    while (this.head < entries.length && entries[this.head]!.done) this.head++
    if (this.head === entries.length) {
      this.entries = []
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > entries.length) {
      this.entries = entries.slice(this.head)
      this.head = 0
    }
  }

  private arm(at: number, now: number): void {
    // A raw timer on purpose: this is the hot path of every timed attempt, and the live Clock's own sleep is
    // this same setTimeout behind a fiber. Other clocks (TestClock) never get here.
    // eslint-disable-next-line no-restricted-syntax
    this.handle = setTimeout(this.fire, Math.max(0, at - now))
    this.refed = true
  }

  private readonly fire = (): void => {
    this.handle = undefined
    const now = monotonicMillis()
    while (this.head < this.entries.length) {
      const entry = this.entries[this.head]!
      if (!entry.done) {
        if (entry.at > now) break
        entry.done = true
        this.live--
        entry.task()
      }
      this.head++
    }
    this.dropDone()
    if (this.head < this.entries.length) this.arm(this.entries[this.head]!.at, now)
    else if (this.lanes.get(this.millis) === this) this.lanes.delete(this.millis)
  }
}

const lanes = new Map<number, TimerLane>()

/**
 * Runs `task` after `millis` of `clock` time and returns a function that cancels it. On the live clock the task
 * joins the `TimerLane` of its delay; on any other clock (`TestClock`) it is a fiber sleeping on that clock, so
 * tests stay exact.
 *
 * @internal
 */
export const schedule = (
  clock: Clock.Clock,
  runtime: Runtime.Runtime<never>,
  millis: number,
  task: () => void
): () => void => {
  if (clock === liveClock) {
    if (millis > MAX_TIMER_MILLIS) return noop
    let lane = lanes.get(millis)
    if (lane === undefined) {
      lane = new TimerLane(millis, lanes)
      lanes.set(millis, lane)
    }
    return lane.add(task)
  }
  const sleeper = Runtime.runFork(runtime)(Effect.andThen(clock.sleep(Duration.millis(millis)), Effect.sync(task)))
  return () => sleeper.unsafeInterruptAsFork(FiberId.none)
}

/**
 * Runs `self` on a child fiber started at once (no scheduler round-trip: an attempt that completes synchronously
 * never leaves the caller's stack) and interrupts it after `millis`; then fails with `onTimeout()`. The caller's
 * fiber only waits: no second fiber races it, and the timer is cancelled as soon as the attempt ends. If the
 * caller is interrupted, the attempt is interrupted and awaited (its finalizers run) first.
 *
 * @internal
 */
export const interruptAfter = <A, E, R, E2>(
  self: Effect.Effect<A, E, R>,
  millis: number,
  onTimeout: () => E2
): Effect.Effect<A, E | E2, R> =>
  Effect.withFiberRuntime<A, E | E2, R>((parent, status) => runTimed(parent, status, self, millis, onTimeout))

/**
 * `interruptAfter` for one attempt inside a possible deadline: when the deadline ends first, its own timer
 * governs and the attempt runs on the caller's fiber with no timer at all.
 *
 * @internal
 */
export const attemptTimeout = <A, E, R, E2>(
  self: Effect.Effect<A, E, R>,
  millis: number,
  onTimeout: () => E2
): Effect.Effect<A, E | E2, R> =>
  Effect.withFiberRuntime<A, E | E2, R>((parent, status) =>
    needsOwnTimer(parent, millis) ? runTimed(parent, status, self, millis, onTimeout) : self
  )

const runTimed = <A, E, R, E2>(
  parent: Fiber.RuntimeFiber<A, E | E2>,
  status: FiberStatus.Running,
  self: Effect.Effect<A, E, R>,
  millis: number,
  onTimeout: () => E2
): Effect.Effect<A, E | E2, R> => {
  const runtime = Runtime.make({
    // The caller's context holds `R`: the attempt runs with exactly what the caller was given.
    context: parent.currentContext as Context.Context<R>,
    runtimeFlags: status.runtimeFlags,
    fiberRefs: parent.getFiberRefs()
  })
  const child = Runtime.runFork(runtime)(self)
  const done = child.unsafePoll()
  if (done !== null) return done
  let timedOut = false
  const cancel = schedule(clockOf(parent), runtime as Runtime.Runtime<never>, millis, () => {
    timedOut = true
    child.unsafeInterruptAsFork(parent.id())
  })
  return Effect.async<A, E | E2>((resume) => {
    child.addObserver((exit) => {
      cancel()
      resume(timedOut && exit._tag === "Failure" ? Effect.fail(onTimeout()) : exit)
    })
    return Fiber.interrupt(child)
  })
}

/** An operator that adds `TimeoutError` to what it wraps. */
type TimeoutOperator = <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | TimeoutError, R>

/**
 * A dual whose data-last form builds the operator at once: the duration is checked (and decoded) when
 * `Timeout.timeout(d)` is called, not each time the operator is applied.
 */
const dualOperator = (build: (duration: Duration.DurationInput) => TimeoutOperator): {
  (duration: Duration.DurationInput): TimeoutOperator
  <A, E, R>(self: Effect.Effect<A, E, R>, duration: Duration.DurationInput): Effect.Effect<A, E | TimeoutError, R>
} =>
  function(...args: [Duration.DurationInput] | [Effect.Effect<unknown, unknown, unknown>, Duration.DurationInput]) {
    return args.length === 1 ? build(args[0]) : build(args[1])(args[0])
  } as never

const identityOperator: TimeoutOperator = (self) => self

/** @internal */
export const withinOperator = (duration: Duration.DurationInput): TimeoutOperator => {
  // Zero is a budget already spent (e.g. a caller's remaining deadline passed on): only a synchronous answer gets
  // through. Infinity is no budget at all.
  const budget = validatedSync("Deadline.within", (v) => v.duration("duration", duration))
  if (!Duration.isFinite(budget)) return identityOperator
  const budgetMillis = Duration.toMillis(budget)
  const onTimeout = () => new TimeoutError({ duration: budget, scope: "deadline" })
  return <A, E, R>(self: Effect.Effect<A, E, R>) =>
    Effect.withFiberRuntime<A, E | TimeoutError, R>((fiber) => {
      const outer = fiber.getFiberRef(currentDeadline)
      const at = clockOf(fiber).unsafeCurrentTimeMillis() + budgetMillis
      // An outer deadline that ends first governs: its own timer fires, nothing to add here.
      if (outer !== undefined && outer.at <= at) return self
      const state: DeadlineState = { at, budget }
      return interruptAfter(Effect.locally(self, currentDeadline, state), budgetMillis, onTimeout)
    })
}

/** @internal */
export const within = dualOperator(withinOperator)

/**
 * Whether an attempt limit needs a timer of its own: not when the deadline ends first (its timer governs).
 *
 * @internal
 */
export const needsOwnTimer = (fiber: Fiber.RuntimeFiber<unknown, unknown>, limitMillis: number): boolean => {
  const left = unsafeRemainingMillis(fiber)
  return left === undefined || left > limitMillis
}

/** @internal */
export const timeoutOperator = (duration: Duration.DurationInput): TimeoutOperator => {
  const limit = validatedSync("Timeout.timeout", (v) => v.duration("duration", duration))
  if (!Duration.isFinite(limit)) return identityOperator
  const limitMillis = Duration.toMillis(limit)
  const onTimeout = () => new TimeoutError({ duration: limit, scope: "attempt" })
  return (self) => attemptTimeout(self, limitMillis, onTimeout)
}

/** @internal */
export const timeout = dualOperator(timeoutOperator)
