import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { InvalidOptionsError } from "../InvalidOptionsError.js"

/** @internal */
export class OptionsValidator {
  constructor(readonly constructorName: string) {}

  fail(field: string, value: unknown, expected: string): never {
    throw new InvalidOptionsError({ constructorName: this.constructorName, field, value, expected })
  }

  /** A duration input that is not negative and not NaN (zero allowed unless `positive`). */
  duration(
    field: string,
    input: Duration.DurationInput,
    options?: { readonly positive?: boolean; readonly finite?: boolean }
  ): Duration.Duration {
    const expected = `a ${options?.positive ? "positive" : "non-negative"}${
      options?.finite ? " finite" : ""
    } duration (e.g. 100, "2 seconds", Duration.millis(100))`
    if (typeof input === "number" && (Number.isNaN(input) || input < 0)) this.fail(field, input, expected)
    if (typeof input === "bigint" && input < BigInt(0)) this.fail(field, input, expected)
    if (typeof input === "string" && input.trim().startsWith("-")) this.fail(field, input, expected)
    if (Array.isArray(input) && input.some((n) => typeof n !== "number" || Number.isNaN(n) || n < 0)) {
      this.fail(field, input, expected)
    }
    const decoded = Duration.decodeUnknown(input)
    if (decoded._tag === "None") return this.fail(field, input, expected)
    const d = decoded.value
    if (options?.positive && Duration.lessThanOrEqualTo(d, Duration.zero)) this.fail(field, input, expected)
    if (options?.finite && !Duration.isFinite(d)) this.fail(field, input, expected)
    return d
  }

  /** An integer `>= min` (and `<= max` when given). */
  int(field: string, value: number, min: number, max?: number): number {
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || (max !== undefined && value > max)) {
      this.fail(field, value, `an integer >= ${min}${max !== undefined ? ` and <= ${max}` : ""}`)
    }
    return value
  }

  /** A finite number in a range; `exclusiveMin` makes the lower bound open. */
  number(
    field: string,
    value: number,
    range: { readonly min: number; readonly max?: number; readonly exclusiveMin?: boolean }
  ): number {
    const lowOk = range.exclusiveMin ? value > range.min : value >= range.min
    const highOk = range.max === undefined || value <= range.max
    if (typeof value !== "number" || !Number.isFinite(value) || !lowOk || !highOk) {
      const low = range.exclusiveMin ? `(${range.min}` : `[${range.min}`
      const high = range.max === undefined ? "∞)" : `${range.max}]`
      this.fail(field, value, `a number in ${low}, ${high}`)
    }
    return value
  }

  /** A non-empty string. */
  nonEmpty(field: string, value: string): string {
    if (typeof value !== "string" || value.length === 0) this.fail(field, value, "a non-empty string")
    return value
  }

  /** A function, or `undefined` when the option is optional. */
  optionalFunction<F>(field: string, value: F | undefined): F | undefined {
    if (value !== undefined && typeof value !== "function") this.fail(field, value, "a function")
    return value
  }

  /** A function. */
  function<F>(field: string, value: F): F {
    if (typeof value !== "function") this.fail(field, value, "a function")
    return value
  }

  /** `true`, `false` or `undefined`. */
  optionalBoolean(field: string, value: boolean | undefined): boolean | undefined {
    if (value !== undefined && typeof value !== "boolean") this.fail(field, value, "a boolean")
    return value
  }

  /** A non-null object (options nested in options). */
  object<O>(field: string, value: O): O {
    if (typeof value !== "object" || value === null || Array.isArray(value)) this.fail(field, value, "an object")
    return value
  }

  /** One of a few literal values. */
  oneOf<const L extends string>(field: string, value: L, allowed: ReadonlyArray<L>): L {
    if (!allowed.includes(value)) this.fail(field, value, allowed.map((a) => JSON.stringify(a)).join(" or "))
    return value
  }
}

/**
 * An `InvalidOptionsError` of a policy built from nested options (`ResilientClient.make`'s `bulkhead`), restated
 * as the outer constructor's: the field becomes `bulkhead.maxConcurrent`, so the error names what the caller wrote.
 *
 * @internal
 */
export const relabel = (constructorName: string, prefix: string) => (error: InvalidOptionsError): InvalidOptionsError =>
  new InvalidOptionsError({
    constructorName,
    field: error.field === "options" ? prefix : `${prefix}.${error.field}`,
    value: error.value,
    expected: error.expected
  })

/**
 * Runs `f` (which may throw an `InvalidOptionsError` of a nested constructor) and restates its error with `relabel`.
 *
 * @internal
 */
export const nestedSync = <A>(constructorName: string, prefix: string, f: () => A): A => {
  try {
    return f()
  } catch (error) {
    if (error instanceof InvalidOptionsError) throw relabel(constructorName, prefix)(error)
    throw error
  }
}

/**
 * Runs a synchronous validation: an `InvalidOptionsError` thrown by the validator becomes a typed failure,
 * anything else stays a defect.
 *
 * @internal
 */
export const validated = <A>(
  constructorName: string,
  f: (v: OptionsValidator) => A
): Effect.Effect<A, InvalidOptionsError> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(f(new OptionsValidator(constructorName)))
    } catch (error) {
      if (error instanceof InvalidOptionsError) return Effect.fail(error)
      return Effect.die(error)
    }
  })

/**
 * Validates synchronously and throws the `InvalidOptionsError`: for pure constructors such as `Backoff` builders
 * that return a `Schedule`, where a failure cannot be typed.
 *
 * @internal
 */
export const validatedSync = <A>(constructorName: string, f: (v: OptionsValidator) => A): A =>
  f(new OptionsValidator(constructorName))

/**
 * An integer read from configuration: empty, fractional, unsafe or below `min` is a `ConfigError` naming the key and
 * the text as given (`Config.integer` reads an empty value as 0).
 *
 * @internal
 */
export const configInteger = (name: string, options: { readonly min: number }): Config.Config<number> =>
  Config.string(name).pipe(Config.mapOrFail((text) => {
    const n = text.trim() === "" ? Number.NaN : Number(text)
    return Number.isSafeInteger(n) && n >= options.min
      ? Either.right(n)
      : Either.left(
        ConfigError.InvalidData([], `Expected an integer >= ${options.min} but received ${JSON.stringify(text)}`)
      )
  }))

/**
 * A duration read from configuration, as `Config.duration` (`"2 seconds"`, `"150 millis"`), but empty, negative
 * (which `Config.duration` reads as 0), infinite or unreadable text is a `ConfigError` naming the key and the text as
 * given; so is zero when `positive`.
 *
 * @internal
 */
export const configDuration = (
  name: string,
  options?: { readonly positive?: boolean | undefined }
): Config.Config<Duration.Duration> =>
  Config.string(name).pipe(Config.mapOrFail((text) => {
    const positive = options?.positive === true
    const decoded = text.trim().startsWith("-") ? Option.none() : Duration.decodeUnknown(text.trim())
    if (Option.isSome(decoded) && Duration.isFinite(decoded.value)) {
      if (!positive || Duration.greaterThan(decoded.value, Duration.zero)) return Either.right(decoded.value)
    }
    return Either.left(
      ConfigError.InvalidData(
        [],
        `Expected a ${positive ? "positive" : "non-negative"} finite duration (e.g. "2 seconds") but received ${
          JSON.stringify(text)
        }`
      )
    )
  }))
