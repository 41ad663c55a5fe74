/**
 * Timers for policies that run on the caller's fiber: `startTimer` (on the live clock a shared `TimerLane` per delay,
 * on any other clock a fiber sleeping on it) and `interruptAfter`, which runs an effect on a child fiber and
 * interrupts it when its time is up.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import type * as FiberStatus from "effect/FiberStatus"
import * as Runtime from "effect/Runtime"
import type * as RuntimeFlags from "effect/RuntimeFlags"

const liveClock: Clock.Clock = Context.get(DefaultServices.liveServices, Clock.Clock)

/** The largest delay a JS timer accepts; longer limits never fire (as with Effect's own clock). */
const MAX_TIMER_MILLIS = 2 ** 31 - 1

/** The `Clock` a fiber sees (the `TestClock` in tests). @internal */
export const clockOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): Clock.Clock =>
  Context.get(fiber.currentDefaultServices, Clock.Clock)

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
export const startTimer = (
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
 * Why not the supervised form (`Effect.fork` of the attempt, joined): the attempt is owned by the call, and the call
 * supervises it by hand: the caller's interruption interrupts and awaits it (the `async` canceller), and its end
 * ends the timer. `Effect.fork` (and `forkIn`, `FiberSet.run`) start the child on the scheduler, not at once, so
 * every timed attempt would suspend the caller and set a timer even when it answers synchronously. Measured on the
 * client bench (`pnpm bench --only=client`, `ResilientClient.defaults`, issue 15; five runs each, interleaved, on a
 * loaded 2-core machine): 3.6–4.6 µs per call as written, 18.9–21.4 µs with the attempt forked and joined, which
 * misses both targets (client_vs_cockatiel 1.07–1.25 for ≤ 0.5, client_vs_effect_native 0.49–0.57 for ≤ 0.25).
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
 * A copy of the caller's runtime (its context, flags and fiber refs), to start an attempt or a timer on at once,
 * without the scheduler hop of `Effect.fork`. The caller's context holds `R`: what runs on it gets exactly what the
 * caller was given.
 *
 * @internal
 */
export const callerRuntime = <R>(
  parent: Fiber.RuntimeFiber<unknown, unknown>,
  runtimeFlags: RuntimeFlags.RuntimeFlags
): Runtime.Runtime<R> =>
  Runtime.make({
    context: parent.currentContext as Context.Context<R>,
    runtimeFlags,
    fiberRefs: parent.getFiberRefs()
  })

/** `interruptAfter` for a caller that already holds its fiber. @internal */
export const runTimed = <A, E, R, E2>(
  parent: Fiber.RuntimeFiber<A, E | E2>,
  status: FiberStatus.Running,
  self: Effect.Effect<A, E, R>,
  millis: number,
  onTimeout: () => E2
): Effect.Effect<A, E | E2, R> => {
  const runtime = callerRuntime<R>(parent, status.runtimeFlags)
  const child = Runtime.runFork(runtime)(self)
  const done = child.unsafePoll()
  if (done !== null) return done
  let timedOut = false
  const cancel = startTimer(clockOf(parent), runtime as Runtime.Runtime<never>, millis, () => {
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
