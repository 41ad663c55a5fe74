/**
 * The `Deadline` FiberRef and what is left of it: every wait (retry, queue, rate limit, hedge) reads it.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import { clockOf } from "./timer.js"

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

/**
 * Whether an attempt limit needs a timer of its own: not when the deadline ends first (its timer governs).
 *
 * @internal
 */
export const needsOwnTimer = (fiber: Fiber.RuntimeFiber<unknown, unknown>, limitMillis: number): boolean => {
  const left = unsafeRemainingMillis(fiber)
  return left === undefined || left > limitMillis
}
