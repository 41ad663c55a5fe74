import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { dual } from "effect/Function"
import * as Option from "effect/Option"

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

/** @internal */
export const remainingMillis: Effect.Effect<number | undefined> = Effect.flatMap(
  FiberRef.get(currentDeadline),
  (deadline) =>
    deadline === undefined
      ? Effect.succeed(undefined)
      : Effect.map(Clock.currentTimeMillis, (now) => Math.max(0, deadline.at - now))
)

/** @internal */
export const remaining: Effect.Effect<Option.Option<Duration.Duration>> = Effect.map(
  remainingMillis,
  (millis) => millis === undefined ? Option.none() : Option.some(Duration.millis(millis))
)

/** @internal */
export const within = dual<
  (
    duration: Duration.DurationInput
  ) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | TimeoutError, R>,
  <A, E, R>(self: Effect.Effect<A, E, R>, duration: Duration.DurationInput) => Effect.Effect<A, E | TimeoutError, R>
>(2, (self, duration) => {
  const budget = Duration.decode(duration)
  const budgetMillis = Duration.toMillis(budget)
  return Effect.flatMap(
    Effect.zip(FiberRef.get(currentDeadline), Clock.currentTimeMillis),
    ([outer, now]) => {
      const at = now + budgetMillis
      // An outer deadline that ends first governs: its own timer fires, nothing to add here.
      if (outer !== undefined && outer.at <= at) return self
      const state: DeadlineState = { at, budget }
      return Effect.locally(self, currentDeadline, state).pipe(
        Effect.timeoutFail({
          duration: budget,
          onTimeout: () => new TimeoutError({ duration: budget, scope: "deadline" })
        })
      )
    }
  )
})

/** @internal */
export const timeout = dual<
  (
    duration: Duration.DurationInput
  ) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | TimeoutError, R>,
  <A, E, R>(self: Effect.Effect<A, E, R>, duration: Duration.DurationInput) => Effect.Effect<A, E | TimeoutError, R>
>(2, (self, duration) => {
  const limit = Duration.decode(duration)
  const limitMillis = Duration.toMillis(limit)
  const timed = Effect.timeoutFail(self, {
    duration: limit,
    onTimeout: () => new TimeoutError({ duration: limit, scope: "attempt" })
  })
  return Effect.flatMap(remainingMillis, (left) =>
    // The deadline's own timer fires first when it is shorter than this attempt's limit.
    left !== undefined && left <= limitMillis ? self : timed)
})
