/**
 * Option validation for constructors, the one every policy of this project uses: each check names the
 * constructor, the option path and the value, and a bad option becomes an `InvalidOptionsError` (a typed
 * failure with `validated`, a thrown error with `validatedSync`). Packages built on the core (pools, health
 * checks, stores) validate their own options with it, so every error reads the same.
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as internal from "./internal/validate.js"
import type { InvalidOptionsError } from "./InvalidOptionsError.js"

/**
 * The checks available inside `validated` / `validatedSync`. Each returns the value (decoded, for
 * durations) when it is valid and throws an `InvalidOptionsError` naming the field when it is not.
 *
 * @since 0.1.0
 * @category models
 */
export interface OptionsValidator {
  /** The constructor named in every error, e.g. `"ResourcePool.make"`. */
  readonly constructorName: string
  /** Refuses `value` for `field`, saying what was `expected`. */
  fail(field: string, value: unknown, expected: string): never
  /** A duration input that is not negative and not NaN (zero allowed unless `positive`; `finite` refuses infinity). */
  duration(
    field: string,
    input: Duration.DurationInput,
    options?: { readonly positive?: boolean; readonly finite?: boolean }
  ): Duration.Duration
  /** An integer `>= min` (and `<= max` when given). */
  int(field: string, value: number, min: number, max?: number): number
  /** A finite number in a range; `exclusiveMin` makes the lower bound open. */
  number(
    field: string,
    value: number,
    range: { readonly min: number; readonly max?: number; readonly exclusiveMin?: boolean }
  ): number
  /** A non-empty string. */
  nonEmpty(field: string, value: string): string
  /** A function, or `undefined` when the option is optional. */
  optionalFunction<F>(field: string, value: F | undefined): F | undefined
  /** A function. */
  function<F>(field: string, value: F): F
  /** `true`, `false` or `undefined`. */
  optionalBoolean(field: string, value: boolean | undefined): boolean | undefined
  /** A non-null object that is not an array (options nested in options, or the options themselves). */
  object<O>(field: string, value: O): O
  /** One of a few string literals. */
  oneOf<const L extends string>(field: string, value: L, allowed: ReadonlyArray<L>): L
}

/**
 * Runs the checks in `f` when the effect runs: the value `f` returns on success, an `InvalidOptionsError` as a
 * typed failure when a check refuses an option (anything else `f` throws stays a defect).
 *
 * @example
 * ```ts
 * import { OptionsValidator } from "@effect-resilience/core"
 * import { type Duration, Effect } from "effect"
 *
 * const make = (options: { readonly size: number; readonly ttl: Duration.DurationInput }) =>
 *   OptionsValidator.validated("Cache.make", (v) => ({
 *     size: v.int("size", options.size, 1),
 *     ttl: v.duration("ttl", options.ttl, { positive: true })
 *   }))
 *
 * // Fails with InvalidOptionsError: "Cache.make: invalid option size = 0; expected an integer >= 1"
 * Effect.runPromiseExit(make({ size: 0, ttl: "1 minute" })).then(console.log)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const validated: <A>(
  constructorName: string,
  f: (validator: OptionsValidator) => A
) => Effect.Effect<A, InvalidOptionsError> = internal.validated

/**
 * Runs the checks in `f` at once and throws the `InvalidOptionsError`: for pure constructors (such as the
 * `Backoff` builders, which return a `Schedule`) where a failure cannot be typed.
 *
 * @example
 * ```ts
 * import { OptionsValidator } from "@effect-resilience/core"
 *
 * const percent = (value: number) =>
 *   OptionsValidator.validatedSync("percent", (v) => v.number("value", value, { min: 0, max: 100 }))
 *
 * console.log(percent(42)) // 42
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const validatedSync: <A>(constructorName: string, f: (validator: OptionsValidator) => A) => A =
  internal.validatedSync

/**
 * A duration read from configuration, as `Config.duration` reads it (`"2 seconds"`, `"150 millis"`), except that
 * empty, negative (which `Config.duration` reads as 0 ms), infinite or unreadable text is a `ConfigError` naming the
 * key and the text as given; so is zero with `positive: true`.
 *
 * @example
 * ```ts
 * import { OptionsValidator } from "@effect-resilience/core"
 * import { Config } from "effect"
 *
 * // DB_QUERY_TIMEOUT="-5 seconds" fails: Invalid data at DB_QUERY_TIMEOUT: "Expected a positive finite duration ..."
 * const queryTimeout = OptionsValidator.configDuration("DB_QUERY_TIMEOUT", { positive: true }).pipe(
 *   Config.withDefault("5 seconds")
 * )
 * ```
 *
 * @since 0.2.0
 * @category config
 */
export const configDuration: (
  name: string,
  options?: { readonly positive?: boolean | undefined }
) => Config.Config<Duration.Duration> = internal.configDuration

/**
 * An integer read from configuration: empty (which `Config.integer` reads as 0), fractional, beyond
 * `Number.MAX_SAFE_INTEGER` or below `min` is a `ConfigError` naming the key and the text as given.
 *
 * @example
 * ```ts
 * import { OptionsValidator } from "@effect-resilience/core"
 * import { Config } from "effect"
 *
 * const poolMax = OptionsValidator.configInteger("DB_POOL_MAX", { min: 1 }).pipe(Config.withDefault(10))
 * ```
 *
 * @since 0.2.0
 * @category config
 */
export const configInteger: (name: string, options: { readonly min: number }) => Config.Config<number> =
  internal.configInteger
