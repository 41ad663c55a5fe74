/**
 * The option fuzzer (issue 12): a table per public constructor and per `layerConfig` key, fed hostile values
 * (negative, zero, NaN, ±Infinity, fractions, huge, empty, wrong type, null, undefined where required, throwing
 * functions). Each value must give a typed `InvalidOptionsError` (or a `ConfigError` for a configuration key)
 * naming the field and the value as given, or be listed as accepted with the reason; never a defect, a plain
 * throw, a hang (each case is bounded by a timer) or a silent 0. A constructor that cannot fail in a type (a pure
 * builder such as `Backoff.exponential`, an operator such as `Retry.retry`) may throw its `InvalidOptionsError`
 * when it is built (`throwsAtBuild`), as its documentation says.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"

/**
 * What a value must give: `"reject"` (an `InvalidOptionsError` / `ConfigError` naming the field and the value),
 * accepted (with the documented reason), or `either` of the two (e.g. `null` for an optional option: read as left
 * out, or refused naming the field; never a defect).
 *
 * @since 0.1.0
 * @category models
 */
export type Expectation = "reject" | { readonly accept: string } | { readonly either: string }

/**
 * One hostile (or healthy) value for a field.
 *
 * @since 0.1.0
 * @category models
 */
export interface Value {
  readonly label: string
  readonly value: unknown
  readonly expect: Expectation
  /** A function that throws when called: its call may fail as a defect, but the policy must not hang. */
  readonly hostile?: boolean
  /**
   * A credential inside the value (a URL's password): the error must name the field but must not show it, in its
   * value, message or JSON. The value is then compared with the credential masked, not as given.
   */
  readonly secret?: string
  /** The field the error names when it is more precise than the option's path (`retry.statuses[0]`)... */
  readonly field?: string
  /** ...and the value it names there (the element, not the array). */
  readonly errorValue?: unknown
  /**
   * A rejection documented as another typed failure (e.g. a store's `RedisStoreError { reason: "InvalidUrl" }`): that
   * failure passes too (a `secret` must not show in it).
   */
  readonly errorTag?: string
}

/**
 * A field kind: the values to feed it.
 *
 * @since 0.1.0
 * @category models
 */
export type Kind = ReadonlyArray<Value>

const reject = "reject" as const
const accept = (why: string): Expectation => ({ accept: why })
const v = (label: string, value: unknown, expect: Expectation, hostile = false): Value =>
  hostile ? { label, value, expect, hostile } : { label, value, expect }

const wrongTypes: Kind = [v("null", null, reject), v("{}", {}, reject), v("true", true, reject), v("[]", [], reject)]

/**
 * Values for a field that may be left out (`undefined` is accepted: the default applies) or must be given.
 *
 * @since 0.1.0
 * @category kinds
 */
export const optional = (kind: Kind, why = "left out: the documented default applies"): Kind => [
  ...kind.map((value) =>
    value.value === null ? { ...value, expect: { either: "null reads as left out (`??`), or is refused" } } : value
  ),
  v("undefined", undefined, accept(why))
]

/**
 * @since 0.1.0
 * @category kinds
 */
export const required = (kind: Kind): Kind => [...kind, v("undefined", undefined, reject)]

/**
 * A duration. `zero` and `infinity` say whether those are accepted (and why) or rejected.
 *
 * @since 0.1.0
 * @category kinds
 */
export const duration = (options: { readonly zero: Expectation; readonly infinity: Expectation }): Kind => [
  v("-1", -1, reject),
  v("-0.5", -0.5, reject),
  v("0", 0, options.zero),
  v("Duration.zero", Duration.zero, options.zero),
  v("NaN", Number.NaN, reject),
  v("Infinity", Number.POSITIVE_INFINITY, options.infinity),
  v("-Infinity", Number.NEGATIVE_INFINITY, reject),
  v("0.5 (fraction of a ms)", 0.5, accept("a fraction of a millisecond is a duration")),
  v("1e12 (huge)", 1e12, accept("a long but finite duration")),
  v("\"\"", "", reject),
  v("\"-5 seconds\"", "-5 seconds", reject),
  v("\"banana\"", "banana", reject),
  v("-1n", BigInt(-1), reject),
  v("[-1, 0]", [-1, 0], reject),
  v("\"2 seconds\"", "2 seconds", accept("healthy")),
  ...wrongTypes
]

/**
 * An integer `>= min` (`<= max`).
 *
 * @since 0.1.0
 * @category kinds
 */
export const int = (min: number, max?: number, huge: Expectation = accept("a large bound is a bound")): Kind => {
  const inRange = (n: number) => n >= min && (max === undefined || n <= max)
  const at = (n: number, why: string) => (inRange(n) ? accept(why) : reject)
  return [
    v("-1", -1, at(-1, "in range")),
    v("0", 0, at(0, "in range")),
    v("1", 1, at(1, "in range")),
    v("0.5", 0.5, reject),
    v("2.5", 2.5, reject),
    v("NaN", Number.NaN, reject),
    v("Infinity", Number.POSITIVE_INFINITY, reject),
    v("-Infinity", Number.NEGATIVE_INFINITY, reject),
    v("1e9 (huge)", 1e9, max !== undefined && 1e9 > max ? reject : huge),
    v("\"3\"", "3", reject),
    v("\"\"", "", reject),
    ...wrongTypes
  ]
}

/**
 * A finite number in a range.
 *
 * @since 0.1.0
 * @category kinds
 */
export const number = (
  range: { readonly min: number; readonly max?: number; readonly exclusiveMin?: boolean }
): Kind => {
  const ok = (n: number) =>
    (range.exclusiveMin ? n > range.min : n >= range.min) && (range.max === undefined || n <= range.max)
  const at = (n: number) => (ok(n) ? accept("in range") : reject)
  return [
    v("-0.1", -0.1, at(-0.1)),
    v("0", 0, at(0)),
    v("0.5", 0.5, at(0.5)),
    v("1", 1, at(1)),
    v("1.5", 1.5, at(1.5)),
    v("1e9", 1e9, at(1e9)),
    v("NaN", Number.NaN, reject),
    v("Infinity", Number.POSITIVE_INFINITY, reject),
    v("-Infinity", Number.NEGATIVE_INFINITY, reject),
    v("\"0.5\"", "0.5", reject),
    ...wrongTypes
  ]
}

/**
 * A non-empty string (a name).
 *
 * @since 0.1.0
 * @category kinds
 */
export const name: Kind = [
  v("\"\"", "", reject),
  v("5", 5, reject),
  v("\"x\".repeat(10_000)", "x".repeat(10_000), accept("any non-empty string is a name")),
  ...wrongTypes
]

/**
 * A boolean flag.
 *
 * @since 0.1.0
 * @category kinds
 */
export const boolean: Kind = [
  v("\"yes\"", "yes", reject),
  v("1", 1, reject),
  v("0", 0, reject),
  v("true", true, accept("healthy")),
  v("false", false, accept("healthy")),
  v("null", null, reject),
  v("{}", {}, reject)
]

/**
 * A callback. `throwing` is a function that throws when called: accepted when it is built (it is a function), and
 * its call must end (as that call's defect, or as the policy documents) without wedging the policy.
 *
 * @since 0.1.0
 * @category kinds
 */
export const fn = (throwing: Expectation = accept("a function; its throw is that call's defect")): Kind => [
  v("5", 5, reject),
  v("\"f\"", "f", reject),
  v("null", null, reject),
  v("{}", {}, reject),
  v(
    "throwing function",
    () => {
      throw new Error("fuzz: hostile callback")
    },
    throwing,
    true
  )
]

/**
 * One of a few string literals.
 *
 * @since 0.1.0
 * @category kinds
 */
export const literal = (...allowed: ReadonlyArray<string>): Kind => [
  ...allowed.map((a) => v(JSON.stringify(a), a, accept("healthy"))),
  v("\"nonsense\"", "nonsense", reject),
  v("5", 5, reject),
  v("null", null, reject)
]

/**
 * A nested options object or a policy instance: wrong types are rejected.
 *
 * @since 0.1.0
 * @category kinds
 */
export const object = (extra: Kind = []): Kind => [
  v("null", null, reject),
  v("5", 5, reject),
  v("\"x\"", "x", reject),
  v("[]", [], reject),
  ...extra
]

/**
 * Values for a configuration key (strings, as the environment gives them).
 *
 * @since 0.1.0
 * @category kinds
 */
export const config = {
  duration: (options: { readonly zero: Expectation }): Kind => [
    v("\"-5 seconds\"", "-5 seconds", reject),
    v("\"0 seconds\"", "0 seconds", options.zero),
    v("\"\"", "", reject),
    v("\" \"", " ", reject),
    v("\"banana\"", "banana", reject),
    v("\"NaN seconds\"", "NaN seconds", reject),
    v("\"Infinity\"", "Infinity", reject),
    v("\"1.5 seconds\"", "1.5 seconds", accept("a fraction of a second is a duration")),
    v("\"100000000 seconds\" (huge)", "100000000 seconds", accept("a long but finite duration")),
    v("\"2 seconds\"", "2 seconds", accept("healthy"))
  ],
  int: (min: number): Kind => [
    v("\"-1\"", "-1", min <= -1 ? accept("in range") : reject),
    v("\"0\"", "0", min <= 0 ? accept("in range") : reject),
    v("\"1\"", "1", min <= 1 ? accept("in range") : reject),
    v("\"\"", "", reject),
    v("\" \"", " ", reject),
    v("\"1.5\"", "1.5", reject),
    v("\"NaN\"", "NaN", reject),
    v("\"Infinity\"", "Infinity", reject),
    v("\"1e400\"", "1e400", reject),
    v("\"99999999999999999999\" (unsafe)", "99999999999999999999", reject),
    v("\"many\"", "many", reject),
    v("\"1000\" (large)", "1000", accept("a large bound is a bound"))
  ]
}

/**
 * A constructor under test.
 *
 * @since 0.1.0
 * @category models
 */
export interface Target {
  /** As in its `InvalidOptionsError`: `"CircuitBreaker.make"`. */
  readonly constructorName: string
  /** Valid options: each case changes one field of a fresh copy. */
  readonly base: () => unknown
  /** Other valid options for some fields (e.g. no `cap` while `base` is fuzzed). */
  readonly baseFor?: Readonly<Record<string, () => unknown>>
  /** The field an error names when the whole argument is bad (default `"options"`; `"duration"` for a duration). */
  readonly argumentField?: string
  /** The option path (`"strategy.threshold"`; `""` for the options argument itself) and its values. */
  readonly fields: Readonly<Record<string, Kind>>
  /** Builds the policy (a synchronous throw is caught and classified). */
  readonly build: (options: never) => Effect.Effect<unknown, unknown, Scope.Scope>
  /**
   * Uses what was built: a few calls, so that an option accepted but broken shows up as a defect now, not in
   * production. A hostile value (a throwing callback) may make those calls fail in any way; they must still end.
   */
  readonly probe?: (built: never, hostile: boolean) => Effect.Effect<unknown, unknown, Scope.Scope>
  /** The constructor throws its `InvalidOptionsError` when built (pure builders and operators; documented). */
  readonly throwsAtBuild?: boolean
  /** The bound of each case, when building and closing takes longer than the default (e.g. a final flush). */
  readonly timeoutMillis?: number
}

/**
 * A configuration reader under test: one key at a time is set to each value.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConfigTarget {
  readonly name: string
  readonly keys: Readonly<Record<string, Kind>>
  /** Other keys every case needs (e.g. a required URL). */
  readonly baseEnv?: Readonly<Record<string, string>>
  /** Reads the configuration and builds from it, under the given provider. */
  readonly build: (provider: ConfigProvider.ConfigProvider) => Effect.Effect<unknown, unknown, Scope.Scope>
  /** Text that must never appear in an error (credentials). */
  readonly secrets?: ReadonlyArray<string>
  /**
   * The option a key feeds, when the constructor checks it after the configuration is read: its
   * `InvalidOptionsError` naming that field also passes (e.g. `DATABASE_URL` → `url`).
   */
  readonly fieldOf?: Readonly<Record<string, string>>
}

/**
 * One case.
 *
 * @since 0.1.0
 * @category models
 */
export interface Case {
  readonly target: string
  readonly field: string
  readonly value: Value
  readonly run: (timeoutMillis: number) => Promise<Outcome>
  readonly check: (outcome: Outcome) => string | undefined
}

/**
 * How a case ended.
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome =
  | { readonly _tag: "Ok" }
  | { readonly _tag: "InvalidOptions"; readonly error: InvalidOptionsLike; readonly thrown: boolean }
  | { readonly _tag: "ConfigError"; readonly error: ConfigError.ConfigError }
  | { readonly _tag: "Failure"; readonly error: unknown }
  | { readonly _tag: "Defect"; readonly defect: unknown }
  | { readonly _tag: "Hang" }

/**
 * What the fuzzer reads of an `InvalidOptionsError` (structurally: this package does not depend on the core).
 *
 * @since 0.1.0
 * @category models
 */
export interface InvalidOptionsLike {
  readonly _tag: "InvalidOptionsError"
  readonly constructorName: string
  readonly field: string
  readonly value: unknown
  readonly message: string
}

const isInvalidOptions = (u: unknown): u is InvalidOptionsLike =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "InvalidOptionsError"

const HANG = Symbol("hang")

const classify = async (
  effect: () => Effect.Effect<unknown, unknown, Scope.Scope>,
  timeoutMillis: number
): Promise<Outcome> => {
  const program = Effect.scoped(Effect.suspend(effect)).pipe(
    Effect.timeoutFail({ duration: Duration.millis(timeoutMillis), onTimeout: () => HANG })
  )
  const exit = await Effect.runPromiseExit(program)
  if (Exit.isSuccess(exit)) return { _tag: "Ok" }
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    if (error === HANG) return { _tag: "Hang" }
    if (isInvalidOptions(error)) return { _tag: "InvalidOptions", error, thrown: false }
    if (ConfigError.isConfigError(error)) return { _tag: "ConfigError", error }
    return { _tag: "Failure", error }
  }
  const defect = Cause.dieOption(exit.cause)
  if (Option.isSome(defect) && isInvalidOptions(defect.value)) {
    return { _tag: "InvalidOptions", error: defect.value, thrown: true }
  }
  return { _tag: "Defect", defect: Option.getOrElse(defect, () => Cause.pretty(exit.cause)) }
}

const show = (u: unknown): string => {
  if (typeof u === "function") return "[function]"
  if (typeof u === "bigint") return `${u}n`
  if (typeof u === "string" && u.length > 40) return JSON.stringify(u.slice(0, 40) + "…")
  try {
    return JSON.stringify(u) ?? String(u)
  } catch {
    return String(u)
  }
}

const describeOutcome = (o: Outcome): string => {
  switch (o._tag) {
    case "InvalidOptions":
      return `InvalidOptionsError(${o.thrown ? "thrown " : ""}field ${o.error.field}, value ${show(o.error.value)})`
    case "ConfigError":
      return `ConfigError(${String(o.error)})`
    case "Failure":
      return `failure ${show(o.error)}`
    case "Defect":
      return `defect ${
        o.defect instanceof Error ? o.defect.stack?.split("\n").slice(0, 3).join(" | ") : show(o.defect)
      }`
    default:
      return o._tag
  }
}

const safeJson = (u: unknown): string => {
  try {
    return JSON.stringify(u) ?? ""
  } catch {
    return ""
  }
}

const sameValue = (a: unknown, b: unknown): boolean => {
  if (Object.is(a, b)) return true
  if (typeof a === "object" && a !== null && typeof b === "object" && b !== null) {
    try {
      return JSON.stringify(a) === JSON.stringify(b)
    } catch {
      return false
    }
  }
  return false
}

const setPath = (options: unknown, path: string, value: unknown): unknown => {
  if (path === "") return value
  const keys = path.split(".")
  const root = { ...(options as Record<string, unknown>) }
  let node: Record<string, unknown> = root
  for (const key of keys.slice(0, -1)) {
    const child = node[key]
    node[key] = typeof child === "object" && child !== null ? { ...(child as Record<string, unknown>) } : {}
    node = node[key] as Record<string, unknown>
  }
  node[keys[keys.length - 1]!] = value
  return root
}

/**
 * The cases of a constructor's table.
 *
 * @since 0.1.0
 * @category constructors
 */
export const cases = (target: Target): Array<Case> =>
  Object.entries(target.fields).flatMap(([field, kind]) =>
    kind.map((value): Case => ({
      target: target.constructorName,
      field,
      value,
      run: (timeoutMillis) =>
        classify(() => {
          const options = setPath((target.baseFor?.[field] ?? target.base)(), field, value.value)
          return Effect.flatMap(
            target.build(options as never),
            (built) => target.probe === undefined ? Effect.void : target.probe(built as never, value.hostile === true)
          )
        }, target.timeoutMillis ?? timeoutMillis),
      check: (outcome) => {
        const where = `${target.constructorName} ${field || "(options)"} = ${value.label}`
        const expectedField = value.field ?? (field === "" ? target.argumentField ?? "options" : field)
        if (value.expect === "reject" || ("either" in value.expect && outcome._tag !== "Ok")) {
          if (
            outcome._tag === "Failure" && value.errorTag !== undefined &&
            (outcome.error as { _tag?: unknown })._tag === value.errorTag
          ) {
            return value.secret !== undefined && safeJson(outcome.error).includes(value.secret)
              ? `${where}: the error shows the credential`
              : undefined
          }
          if (outcome._tag !== "InvalidOptions") {
            return `${where}: expected InvalidOptionsError, got ${describeOutcome(outcome)}`
          }
          if (outcome.thrown && !target.throwsAtBuild) {
            return `${where}: InvalidOptionsError thrown (a defect), not a typed failure`
          }
          const e = outcome.error
          if (value.secret !== undefined) {
            const shown = [String(e.value), e.message, safeJson(e), String((e as { stack?: unknown }).stack)]
            if (shown.some((text) => text.includes(value.secret!))) return `${where}: the error shows the credential`
          }
          if (e.constructorName !== target.constructorName) return `${where}: error names ${e.constructorName}`
          if (e.field !== expectedField) {
            return `${where}: error names field ${JSON.stringify(e.field)}`
          }
          const given = "errorValue" in value ? value.errorValue : value.value
          if (value.secret === undefined && !sameValue(e.value, given)) {
            return `${where}: error names value ${show(e.value)}, not as given`
          }
          return undefined
        }
        if (outcome._tag === "Ok") return undefined
        return `${where}: documented as accepted (${why(value.expect)}), got ${describeOutcome(outcome)}`
      }
    }))
  )

const why = (e: Expectation): string => (e === "reject" ? "reject" : "accept" in e ? e.accept : e.either)

/**
 * The cases of a configuration reader's table: each key set alone (over `baseEnv`) to each value.
 *
 * @since 0.1.0
 * @category constructors
 */
export const configCases = (target: ConfigTarget): Array<Case> =>
  Object.entries(target.keys).flatMap(([key, kind]) =>
    kind.map((value): Case => ({
      target: target.name,
      field: key,
      value,
      run: (timeoutMillis) =>
        classify(() => {
          const env = new Map(Object.entries(target.baseEnv ?? {}))
          env.set(key, String(value.value))
          return target.build(ConfigProvider.fromMap(env))
        }, timeoutMillis),
      check: (outcome) => {
        const where = `${target.name} ${key} = ${value.label}`
        const leaked = (text: string) => (target.secrets ?? []).find((secret) => text.includes(secret))
        if (outcome._tag === "ConfigError" || outcome._tag === "InvalidOptions") {
          const text = outcome._tag === "ConfigError" ? String(outcome.error) : outcome.error.message
          const secret = leaked(text + JSON.stringify(outcome.error))
          if (secret !== undefined) return `${where}: the error shows a credential`
        }
        if (value.expect === "reject") {
          const field = target.fieldOf?.[key]
          if (outcome._tag === "InvalidOptions" && field !== undefined && outcome.error.field === field) {
            return undefined
          }
          if (
            outcome._tag === "Failure" && value.errorTag !== undefined &&
            (outcome.error as { _tag?: unknown })._tag === value.errorTag
          ) {
            const secret = leaked(safeJson(outcome.error))
            return secret === undefined ? undefined : `${where}: the error shows a credential`
          }
          if (outcome._tag !== "ConfigError") return `${where}: expected a ConfigError, got ${describeOutcome(outcome)}`
          const text = String(outcome.error)
          if (!text.includes(key)) return `${where}: the ConfigError does not name ${key}: ${text}`
          const given = String(value.value)
          if (given.trim() !== "" && !text.includes(given) && leaked(given) === undefined) {
            return `${where}: the ConfigError does not show the value as given: ${text}`
          }
          return undefined
        }
        if (outcome._tag === "Ok") return undefined
        return `${where}: documented as accepted (${why(value.expect)}), got ${describeOutcome(outcome)}`
      }
    }))
  )

/**
 * Runs cases (sequentially, each bounded by `timeoutMillis`) and sums them up: `accepted` cases ended well (the value
 * is accepted by design), `rejected` ones with an `InvalidOptionsError` or `ConfigError` naming the field;
 * `failures` lists every case that did not end as its table says.
 *
 * @since 0.1.0
 * @category utils
 */
export const runAll = async (
  all: ReadonlyArray<Case>,
  timeoutMillis = 5_000
): Promise<{
  readonly cases: number
  readonly accepted: number
  readonly rejected: number
  readonly failures: ReadonlyArray<string>
}> => {
  const failures: Array<string> = []
  let accepted = 0
  let rejected = 0
  for (const c of all) {
    const outcome = await c.run(timeoutMillis)
    const problem = c.check(outcome)
    if (problem !== undefined) failures.push(problem)
    else if (outcome._tag === "Ok") accepted++
    else rejected++
  }
  return { cases: all.length, accepted, rejected, failures }
}
