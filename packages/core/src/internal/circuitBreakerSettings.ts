/**
 * A circuit breaker's options, checked once: the strategy builders and `makeSettings`, whose `Settings` every key
 * of a keyed breaker shares.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import type { CircuitBreaker, StateChange, Strategy } from "../CircuitBreaker.js"
import type { InvalidOptionsError } from "../InvalidOptionsError.js"
import type { StrategyConfig } from "./circuitBreakerWindow.js"
import { type OptionsValidator, validated } from "./validate.js"

/** @internal */
export const consecutive = (threshold: number): Strategy => ({ _tag: "Consecutive", threshold })

/** @internal */
export const countWindow = (options: {
  readonly size: number
  readonly failureRate: number
  readonly minimumCalls?: number | undefined
}): Strategy => ({ _tag: "CountWindow", ...options })

/** @internal */
export const timeWindow = (options: {
  readonly duration: Duration.DurationInput
  readonly buckets: number
  readonly failureRate: number
  readonly minimumCalls?: number | undefined
}): Strategy => ({ _tag: "TimeWindow", ...options })

// -----------------------------------------------------------------------------
// Settings: the validated options, shared by every key of a keyed breaker
// -----------------------------------------------------------------------------

const defaultIsFailure = (cause: Cause.Cause<unknown>): boolean => !Cause.isInterruptedOnly(cause)

/** `isFailureCause`, or its deprecated alias `isFailure`, as the settings' `isFailure`; both at once is a mistake. */
const withFailureCause = <O extends CircuitBreaker.Options>(
  constructorName: string,
  options: O
): Effect.Effect<O, InvalidOptionsError> =>
  typeof options !== "object" || options === null || options.isFailureCause === undefined
    ? Effect.succeed(options)
    : validated(constructorName, (v) => {
      if (options.isFailure !== undefined) {
        v.fail("isFailure", options.isFailure, "absent when isFailureCause is given (its deprecated alias)")
      }
      return { ...options, isFailure: v.function("isFailureCause", options.isFailureCause) }
    })

/** @internal */
export interface HealthCheck {
  readonly check: (key: string | undefined) => Effect.Effect<unknown, unknown>
  readonly intervalMillis: number
}

/** @internal */
export interface Settings {
  readonly name: string
  readonly strategy: StrategyConfig
  readonly slowMillis: number | undefined
  readonly slowRate: number
  readonly openMillis: number
  /** The longest an `openDuration` schedule may keep the breaker open. */
  readonly maxOpenMillis: number
  readonly schedule: Schedule.Schedule<Duration.Duration, unknown> | undefined
  readonly maxProbes: number
  readonly successesToClose: number
  /** How long a half-open probe holds its slot (`halfOpen.probeLease`); `undefined`: until it ends. */
  readonly probeLeaseMillis: number | undefined
  /** While open: a check of the dependency every `intervalMillis` (`healthCheck`). */
  readonly healthCheck: HealthCheck | undefined
  readonly isFailure: (cause: Cause.Cause<unknown>) => boolean
  readonly onStateChange: ((change: StateChange) => Effect.Effect<void>) | undefined
  /** Whether a closed call needs the clock (time window or slow calls). */
  readonly timed: boolean
}

const validateStrategy = (v: OptionsValidator, strategy: Strategy): StrategyConfig => {
  switch (strategy._tag) {
    case "Consecutive":
      return { _tag: "Consecutive", threshold: v.int("strategy.threshold", strategy.threshold, 1) }
    case "CountWindow": {
      const size = v.int("strategy.size", strategy.size, 1)
      const failureRate = v.number("strategy.failureRate", strategy.failureRate, { min: 0, max: 1, exclusiveMin: true })
      const minimumCalls = strategy.minimumCalls === undefined
        ? size
        : v.int("strategy.minimumCalls", strategy.minimumCalls, 1, size)
      return { _tag: "CountWindow", size, failureRate, minimumCalls }
    }
    case "TimeWindow": {
      const duration = v.duration("strategy.duration", strategy.duration, { positive: true, finite: true })
      // A bucket is a slot per window part: at most one per millisecond, and 10,000 in all (1e9 died allocating).
      const buckets = v.int(
        "strategy.buckets",
        strategy.buckets,
        1,
        Math.min(10_000, Math.max(1, Math.floor(Duration.toMillis(duration))))
      )
      const failureRate = v.number("strategy.failureRate", strategy.failureRate, { min: 0, max: 1, exclusiveMin: true })
      const minimumCalls = strategy.minimumCalls === undefined
        ? 20
        : v.int("strategy.minimumCalls", strategy.minimumCalls, 1)
      return { _tag: "TimeWindow", durationMillis: Duration.toMillis(duration), buckets, failureRate, minimumCalls }
    }
    default:
      return v.fail("strategy", strategy, "consecutive(n), countWindow({...}) or timeWindow({...})")
  }
}

/** `maxOpenDuration` when none is given: 10 minutes. */
const DEFAULT_MAX_OPEN_MILLIS = 10 * 60 * 1000

/** The options of `make` or `keyed`, checked once into the `Settings` every key shares. @internal */
export const makeSettings = (
  constructorName: string,
  options: CircuitBreaker.Options
): Effect.Effect<Settings, InvalidOptionsError> =>
  Effect.flatMap(withFailureCause(constructorName, options), (options) => checkOptions(constructorName, options))

/** A keyed breaker's own options, checked. @internal */
export const makeKeyedSettings = (
  options: CircuitBreaker.KeyedOptions
): Effect.Effect<{ readonly maxKeys: number; readonly idleTtlMillis: number }, InvalidOptionsError> =>
  validated("CircuitBreaker.keyed", (v) => ({
    maxKeys: v.int("maxKeys", options.maxKeys, 1),
    idleTtlMillis: Duration.toMillis(v.duration("idleTtl", options.idleTtl, { positive: true }))
  }))

const checkOptions = (
  constructorName: string,
  options: CircuitBreaker.Options
): Effect.Effect<Settings, InvalidOptionsError> =>
  Effect.flatMap(
    validated(constructorName, (v) => {
      const name = v.nonEmpty("name", v.object("options", options).name)
      const strategy = validateStrategy(v, options.strategy ?? consecutive(5))
      if (options.halfOpen != null) v.object("halfOpen", options.halfOpen)
      if (options.slowCall != null) v.object("slowCall", options.slowCall)
      const maxOpenMillis = options.maxOpenDuration === undefined
        ? DEFAULT_MAX_OPEN_MILLIS
        : Duration.toMillis(v.duration("maxOpenDuration", options.maxOpenDuration, { positive: true, finite: true }))
      const isFailure = v.optionalFunction("isFailure", options.isFailure ?? undefined)
      const onStateChange = v.optionalFunction("onStateChange", options.onStateChange ?? undefined)
      const openInput = options.openDuration ?? "30 seconds"
      let openMillis = 0
      let schedule: Schedule.Schedule<Duration.Duration, unknown> | undefined
      if (Schedule.isSchedule(openInput)) {
        schedule = Schedule.delays(openInput as Schedule.Schedule<unknown, unknown>)
      } else {
        openMillis = Duration.toMillis(v.duration("openDuration", openInput, { finite: true }))
      }
      const maxProbes = v.int("halfOpen.maxProbes", options.halfOpen?.maxProbes ?? 1, 1)
      const successesToClose = v.int("halfOpen.successesToClose", options.halfOpen?.successesToClose ?? 1, 1)
      let healthCheck: HealthCheck | undefined
      if (options.healthCheck != null) {
        v.object("healthCheck", options.healthCheck)
        healthCheck = {
          check: v.function("healthCheck.check", options.healthCheck.check),
          intervalMillis: Duration.toMillis(
            v.duration("healthCheck.interval", options.healthCheck.interval, { positive: true, finite: true })
          )
        }
      }
      const probeLease = options.halfOpen?.probeLease
      const probeLeaseMillis = probeLease === undefined
        ? undefined
        : Duration.toMillis(v.duration("halfOpen.probeLease", probeLease, { positive: true, finite: true }))
      let slowMillis: number | undefined
      let slowRate = Infinity
      if (options.slowCall != null) {
        slowMillis = Duration.toMillis(v.duration("slowCall.duration", options.slowCall.duration, { finite: true }))
        slowRate = v.number("slowCall.rate", options.slowCall.rate, { min: 0, max: 1, exclusiveMin: true })
      }
      const settings: Settings = {
        name,
        strategy,
        slowMillis,
        slowRate,
        openMillis,
        maxOpenMillis,
        schedule,
        maxProbes,
        successesToClose,
        probeLeaseMillis,
        healthCheck,
        isFailure: isFailure ?? defaultIsFailure,
        onStateChange,
        timed: slowMillis !== undefined || strategy._tag === "TimeWindow"
      }
      return settings
    }),
    (settings) => {
      const schedule = settings.schedule
      if (schedule === undefined) return Effect.succeed(settings)
      // A schedule that gives no delay at all cannot say how long to stay open.
      return Effect.flatMap(
        Effect.clockWith((clock) => schedule.step(clock.unsafeCurrentTimeMillis(), undefined, schedule.initial)),
        ([, , decision]) =>
          ScheduleDecision.isDone(decision)
            ? validated(
              constructorName,
              (v): Settings => v.fail("openDuration", options.openDuration, "a Schedule that recurs at least once")
            )
            : Effect.succeed(settings)
      )
    }
  )
