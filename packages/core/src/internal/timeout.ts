/**
 * The two limits that fail with `TimeoutError`: an attempt's (`Timeout.timeout`) and a whole call's
 * (`Deadline.within`, which sets the `Deadline` FiberRef of `./deadline.ts`). Both validate their duration once and
 * return an operator.
 *
 * @internal
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { currentDeadline, type DeadlineState, needsOwnTimer } from "./deadline.js"
import { clockOf, interruptAfter, runTimed } from "./timer.js"
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

/**
 * `interruptAfter` for one attempt inside a possible deadline: when the deadline ends first, its own timer
 * governs and the attempt runs on the caller's fiber with no timer at all.
 */
const attemptTimeout = <A, E, R, E2>(
  self: Effect.Effect<A, E, R>,
  millis: number,
  onTimeout: () => E2
): Effect.Effect<A, E | E2, R> =>
  Effect.withFiberRuntime<A, E | E2, R>((parent, status) =>
    needsOwnTimer(parent, millis) ? runTimed(parent, status, self, millis, onTimeout) : self
  )

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

/** `Deadline.within(duration)`: the duration checked and decoded once, the operator returned. */
const withinOperator = (duration: Duration.DurationInput): TimeoutOperator => {
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

/** `Timeout.timeout(duration)`: the duration checked and decoded once, the operator returned. */
const timeoutOperator = (duration: Duration.DurationInput): TimeoutOperator => {
  const limit = validatedSync("Timeout.timeout", (v) => v.duration("duration", duration))
  if (!Duration.isFinite(limit)) return identityOperator
  const limitMillis = Duration.toMillis(limit)
  const onTimeout = () => new TimeoutError({ duration: limit, scope: "attempt" })
  return (self) => attemptTimeout(self, limitMillis, onTimeout)
}

/** @internal */
export const timeout = dualOperator(timeoutOperator)
