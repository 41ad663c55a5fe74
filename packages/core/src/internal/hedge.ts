import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Runtime from "effect/Runtime"
import type * as Hedge from "../Hedge.js"
import type { RetryBudget } from "../RetryBudget.js"
import { unsafeRemainingMillis } from "./deadline.js"
import { isRetryBudget } from "./retryBudget.js"
import { callerRuntime, clockOf, startTimer } from "./timer.js"
import { validatedSync } from "./validate.js"

interface Resolved {
  readonly delayMillis: number
  readonly maxHedges: number
  readonly budget: RetryBudget | undefined
  readonly recordRequest: boolean
}

/** @internal */
export const resolve = (options: Hedge.Hedge.Options): Resolved =>
  validatedSync("Hedge.hedge", (v) => {
    const delay = v.duration("delay", v.object("options", options).delay, { finite: true })
    if (options.budget !== undefined && !isRetryBudget(options.budget)) {
      v.fail("budget", options.budget, "a RetryBudget (RetryBudget.make)")
    }
    return {
      delayMillis: Duration.toMillis(delay),
      maxHedges: v.int("maxHedges", options.maxHedges ?? 1, 0),
      budget: options.budget,
      recordRequest: true
    }
  })

/**
 * Runs `self`, and another copy of it each `delayMillis` without an answer (at most `maxHedges` more, each
 * taking a budget token). The first success wins and the others are interrupted (and awaited); when every
 * attempt started has failed, the call fails with the last failure. The first attempt starts on a child fiber
 * at once, so an answer before `delay` costs no timer.
 *
 * @internal
 */
export const hedgeResolved = <A, E, R>(self: Effect.Effect<A, E, R>, options: Resolved): Effect.Effect<A, E, R> => {
  if (options.maxHedges === 0) return self
  return Effect.withFiberRuntime<A, E, R>((parent, status) => {
    const budget = options.budget
    if (budget !== undefined && options.recordRequest) budget.unsafeRecordRequest()
    const runtime = callerRuntime<R>(parent, status.runtimeFlags)
    // Attempts start at once on a copy of the caller's runtime and are supervised by this call by hand (the winner's
    // settle and the async canceller interrupt and await the others), not forked with `Effect.fork`: a forked first
    // attempt would start on the scheduler, so a hedged call that answers before `delay` would still suspend and set
    // a timer. Measured for the same choice in `interruptAfter` (./timer.ts): the forked form made a timed client call 4x dearer.
    const first = Runtime.runFork(runtime)(self)
    const done = first.unsafePoll()
    if (done !== null) return done
    const left = unsafeRemainingMillis(parent)
    // No hedge can help when the deadline ends before it would start.
    if (left !== undefined && left <= options.delayMillis) {
      // The attempt runs outside the caller's supervision: interrupting the caller must interrupt it.
      return Effect.onInterrupt(Fiber.join(first), () => Fiber.interrupt(first))
    }
    const clock = clockOf(parent)
    const fibers: Array<Fiber.RuntimeFiber<A, E>> = [first]
    let running = 1
    let hedges = 0
    let settled = false
    let cancelTimer: (() => void) | undefined = undefined
    return Effect.async<A, E>((resume) => {
      const others = (winner: Fiber.RuntimeFiber<A, E>) => fibers.filter((f) => f !== winner)
      const settle = (winner: Fiber.RuntimeFiber<A, E>, exit: Exit.Exit<A, E>) => {
        settled = true
        cancelTimer?.()
        const losers = others(winner)
        resume(losers.length === 0 ? exit : Effect.zipRight(Fiber.interruptAll(losers), exit))
      }
      const observe = (fiber: Fiber.RuntimeFiber<A, E>) =>
        fiber.addObserver((exit) => {
          running--
          if (settled) return
          if (exit._tag === "Success") return settle(fiber, exit)
          // A failure ends the call only when no other attempt is still running.
          if (running === 0) settle(fiber, exit)
        })
      const arm = () => {
        cancelTimer = startTimer(clock, runtime as Runtime.Runtime<never>, options.delayMillis, () => {
          cancelTimer = undefined
          if (settled || hedges >= options.maxHedges) return
          if (budget !== undefined && !budget.unsafeTryAcquire(clock.unsafeCurrentTimeMillis())) return
          hedges++
          const fiber = Runtime.runFork(runtime)(self)
          fibers.push(fiber)
          running++
          observe(fiber)
          if (!settled && hedges < options.maxHedges) arm()
        })
      }
      observe(first)
      if (!settled) arm()
      return Effect.suspend(() => {
        settled = true
        cancelTimer?.()
        return Fiber.interruptAll(fibers)
      })
    })
  })
}

/**
 * A dual whose data-last form checks the options at once, when `Hedge.hedge(options)` is called, and not each time
 * the operator is applied.
 *
 * @internal
 */
export const hedge: {
  (options: Hedge.Hedge.Options): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, options: Hedge.Hedge.Options): Effect.Effect<A, E, R>
} = function(
  ...args: [Hedge.Hedge.Options] | [Effect.Effect<unknown, unknown, unknown>, Hedge.Hedge.Options]
) {
  if (args.length === 1) {
    const resolved = resolve(args[0])
    return <A, E, R>(self: Effect.Effect<A, E, R>) => hedgeResolved(self, resolved)
  }
  return hedgeResolved(args[0], resolve(args[1]))
} as never
