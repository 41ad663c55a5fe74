import type * as AdaptiveThrottle from "@effect-resilience/core/AdaptiveThrottle"
import * as Backoff from "@effect-resilience/core/Backoff"
import type * as Bulkhead from "@effect-resilience/core/Bulkhead"
import * as CircuitBreaker from "@effect-resilience/core/CircuitBreaker"
import { InvalidOptionsError } from "@effect-resilience/core/InvalidOptionsError"
import { configDuration, configInteger, validatedSync } from "@effect-resilience/core/OptionsValidator"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Api from "../ResilientHttpClient.js"

/** The options of `ResilientHttpClient.make`, checked, with every default filled in. @internal */
export interface Resolved {
  readonly name: string
  readonly timeout: Duration.Duration | undefined
  readonly deadline: Duration.Duration | undefined
  readonly retry:
    | {
      readonly maxAttempts: number
      readonly schedule: Schedule.Schedule<unknown, unknown>
      readonly maxRetryAfter: Duration.Duration
      readonly budget:
        | { readonly ratio?: number; readonly minPerSecond?: number; readonly window?: Duration.DurationInput }
        | undefined
    }
    | undefined
  readonly retryStatuses: ReadonlySet<number>
  readonly circuitBreaker: Omit<CircuitBreaker.CircuitBreaker.Options, "name"> | undefined
  readonly bulkhead: Omit<Bulkhead.Bulkhead.Options, "name"> | undefined
  readonly adaptiveThrottle: Omit<AdaptiveThrottle.AdaptiveThrottle.Options, "name"> | undefined
  readonly hedge: { readonly delay: Duration.DurationInput; readonly maxHedges?: number | undefined } | undefined
  readonly key: ((request: HttpClientRequest.HttpClientRequest) => string) | undefined
  readonly maxKeys: number
  readonly idleTtl: Duration.Duration
  readonly fails: (status: number) => boolean
  readonly hosts: ReadonlySet<string> | undefined
  readonly metrics: boolean
  readonly tracing: boolean
}

/** @internal */
export const defaultRetryStatuses: ReadonlyArray<number> = [408, 429, 502, 503, 504]

/** @internal */
export const defaultFailOn = (status: number): boolean => status >= 500 || status === 408 || status === 429

const defaultSchedule = Backoff.fullJitter(Backoff.exponential({ base: "100 millis", cap: "5 seconds" }))

const defaultBreaker: Omit<CircuitBreaker.CircuitBreaker.Options, "name"> = {
  strategy: CircuitBreaker.timeWindow({ duration: "30 seconds", buckets: 10, failureRate: 0.5, minimumCalls: 20 }),
  openDuration: "5 seconds"
}

const constructorName = "ResilientHttpClient.make"

const fail = (field: string, value: unknown, expected: string): never => {
  throw new InvalidOptionsError({ constructorName, field, value, expected })
}

const duration = (
  field: string,
  input: Duration.DurationInput,
  positive: boolean,
  finite = false
): Duration.Duration => validatedSync(constructorName, (v) => v.duration(field, input, { positive, finite }))

/** A nested part: an options object (or `false` / `undefined`, which `part` reads). */
const partObject = (field: string, value: unknown): void => {
  if (value !== undefined && value !== false && (typeof value !== "object" || value === null || Array.isArray(value))) {
    fail(field, value, "an options object, or false")
  }
}

const flag = (field: string, value: unknown): void => {
  if (value !== undefined && typeof value !== "boolean") fail(field, value, "a boolean")
}

const int = (field: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number =>
  typeof value === "number" && Number.isInteger(value) && value >= min && value <= max
    ? value
    : fail(field, value, `an integer >= ${min}${max === Number.MAX_SAFE_INTEGER ? "" : ` and <= ${max}`}`)

const fn = <F>(field: string, value: F | undefined): F | undefined =>
  value === undefined || typeof value === "function" ? value : fail(field, value, "a function")

/** An optional part: `false` turns it off, `undefined` takes the default. */
const part = <A>(value: A | false | undefined, fallback: A): A | undefined =>
  value === false ? undefined : value === undefined ? fallback : value

const resolveSync = (options: Api.ResilientHttpClient.Options): Resolved => {
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    fail("options", options, "an options object")
  }
  for (const field of ["retry", "circuitBreaker", "bulkhead", "hedge", "adaptiveThrottle"] as const) {
    partObject(field, options[field])
  }
  flag("metrics", options.metrics)
  flag("tracing", options.tracing)
  if (typeof options.name !== "string" || options.name.length === 0) fail("name", options.name, "a non-empty string")
  const timeout = part(options.timeout, "10 seconds")
  const deadline = options.deadline === false ? undefined : options.deadline
  const retry = part(options.retry, {})
  const statuses = retry?.statuses ?? defaultRetryStatuses
  if (!Array.isArray(statuses)) fail("retry.statuses", statuses, "an array of statuses")
  statuses.forEach((s, i) => int(`retry.statuses[${i}]`, s, 100, 599))
  if (retry?.schedule !== undefined && !Schedule.isSchedule(retry.schedule)) {
    fail("retry.schedule", retry.schedule, "a Schedule")
  }
  const budget = retry === undefined ? undefined : part(retry.budget, {})
  const failOn = fn("failOn", options.failOn) ?? defaultFailOn
  const retryStatuses: ReadonlySet<number> = new Set(statuses)
  const hosts = options.hosts
  if (hosts !== undefined && (!Array.isArray(hosts) || hosts.some((h) => typeof h !== "string"))) {
    fail("hosts", hosts, "an array of host names")
  }
  if (options.hedge !== undefined) duration("hedge.delay", options.hedge.delay, false, true)
  return {
    name: options.name,
    timeout: timeout === undefined ? undefined : duration("timeout", timeout, true),
    deadline: deadline === undefined ? undefined : duration("deadline", deadline, true),
    retry: retry === undefined ? undefined : {
      maxAttempts: int("retry.maxAttempts", retry.maxAttempts ?? 3, 1),
      schedule: retry.schedule ?? defaultSchedule,
      maxRetryAfter: duration("retry.maxRetryAfter", retry.maxRetryAfter ?? "10 seconds", false),
      budget
    },
    retryStatuses,
    circuitBreaker: part(options.circuitBreaker, defaultBreaker),
    bulkhead: part(options.bulkhead, { maxConcurrent: 100 }),
    adaptiveThrottle: part(options.adaptiveThrottle, undefined),
    hedge: options.hedge,
    key: fn("key", options.key),
    maxKeys: int("maxKeys", options.maxKeys ?? 1000, 1),
    idleTtl: duration("idleTtl", options.idleTtl ?? "10 minutes", true),
    // A retryable status must fail the attempt, or there is nothing to retry.
    fails: (status) => retryStatuses.has(status) || failOn(status),
    hosts: hosts === undefined ? undefined : new Set(hosts.map((h) => h.toLowerCase())),
    metrics: options.metrics !== false,
    tracing: options.tracing === true
  }
}

/** @internal */
export const resolve = (options: Api.ResilientHttpClient.Options): Effect.Effect<Resolved, InvalidOptionsError> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(resolveSync(options))
    } catch (error) {
      return error instanceof InvalidOptionsError ? Effect.fail(error) : Effect.die(error)
    }
  })

const key = (prefix: string, path: string) => `${prefix}_${path}`

/** @internal */
export const config = (prefix: string): Config.Config<Api.ResilientHttpClient.Options> => {
  // Config.integer reads "" as 0 and Config.duration "-5 seconds" as 0 ms: these readers refuse them, naming the key.
  const int = (path: string, min: number) => Config.option(configInteger(key(prefix, path), { min }))
  const duration = (path: string, positive = false) => Config.option(configDuration(key(prefix, path), { positive }))
  const list = (path: string) => Config.option(Config.array(Config.string(), key(prefix, path)))
  const statuses = Config.option(
    Config.array(Config.integer(), key(prefix, "RETRY_STATUSES")).pipe(
      Config.validate({
        message: "Expected HTTP statuses (100-599)",
        validation: (all) => all.every((s) => s >= 100 && s <= 599)
      })
    )
  )
  return Config.all({
    timeout: duration("TIMEOUT", true),
    deadline: duration("DEADLINE", true),
    retryMaxAttempts: int("RETRY_MAX_ATTEMPTS", 1),
    retryBaseDelay: duration("RETRY_BASE_DELAY"),
    retryMaxDelay: duration("RETRY_MAX_DELAY"),
    retryMaxDelayText: Config.option(Config.string(key(prefix, "RETRY_MAX_DELAY"))),
    retryMaxRetryAfter: duration("RETRY_MAX_RETRY_AFTER"),
    retryStatuses: statuses,
    bulkheadMaxConcurrent: int("BULKHEAD_MAX_CONCURRENT", 1),
    bulkheadMaxQueue: int("BULKHEAD_MAX_QUEUE", 0),
    bulkheadQueueTimeout: duration("BULKHEAD_QUEUE_TIMEOUT"),
    bulkheadCodelTarget: duration("BULKHEAD_CODEL_TARGET", true),
    bulkheadCodelInterval: duration("BULKHEAD_CODEL_INTERVAL", true),
    breakerFailures: int("CIRCUIT_BREAKER_CONSECUTIVE_FAILURES", 1),
    breakerOpenDuration: duration("CIRCUIT_BREAKER_OPEN_DURATION"),
    maxKeys: int("MAX_KEYS", 1),
    hosts: list("HOSTS"),
    hedgeDelay: duration("HEDGE_DELAY")
  }).pipe(Config.mapOrFail((c): Either.Either<Api.ResilientHttpClient.Options, ConfigError.ConfigError> => {
    const base = Option.getOrElse(c.retryBaseDelay, () => Duration.millis(100))
    // Without RETRY_MAX_DELAY the cap is 5 s, or the base when it is longer.
    const cap = Option.getOrElse(c.retryMaxDelay, () => Duration.max(Duration.seconds(5), base))
    if (Duration.lessThan(cap, base)) {
      return Either.left(ConfigError.InvalidData(
        [key(prefix, "RETRY_MAX_DELAY")],
        `Expected a duration >= the base delay (${Duration.format(base)}) but received ${
          JSON.stringify(c.retryMaxDelayText._tag === "Some" ? c.retryMaxDelayText.value : "")
        }`
      ))
    }
    const schedule = Option.isNone(c.retryBaseDelay) && Option.isNone(c.retryMaxDelay)
      ? {}
      : { schedule: Backoff.fullJitter(Backoff.exponential({ base, cap })) }
    const breaker = Option.isNone(c.breakerFailures) && Option.isNone(c.breakerOpenDuration)
      ? {}
      : {
        circuitBreaker: {
          strategy: Option.match(c.breakerFailures, {
            onNone: () => defaultBreaker.strategy,
            onSome: CircuitBreaker.consecutive
          }),
          openDuration: Option.getOrElse(c.breakerOpenDuration, () => Duration.seconds(5))
        }
      }
    const codel = Option.isNone(c.bulkheadCodelTarget) && Option.isNone(c.bulkheadCodelInterval)
      ? {}
      : {
        codel: {
          ...(Option.isSome(c.bulkheadCodelTarget) ? { target: c.bulkheadCodelTarget.value } : {}),
          ...(Option.isSome(c.bulkheadCodelInterval) ? { interval: c.bulkheadCodelInterval.value } : {})
        }
      }
    const bulkhead = Option.isNone(c.bulkheadMaxConcurrent) && Option.isNone(c.bulkheadMaxQueue) &&
        Option.isNone(c.bulkheadQueueTimeout) && Option.isNone(c.bulkheadCodelTarget) &&
        Option.isNone(c.bulkheadCodelInterval)
      ? {}
      : {
        bulkhead: {
          maxConcurrent: Option.getOrElse(c.bulkheadMaxConcurrent, () => 100),
          ...(Option.isSome(c.bulkheadMaxQueue) ? { maxQueue: c.bulkheadMaxQueue.value } : {}),
          ...(Option.isSome(c.bulkheadQueueTimeout) ? { queueTimeout: c.bulkheadQueueTimeout.value } : {}),
          ...codel
        }
      }
    return Either.right({
      name: prefix.toLowerCase(),
      ...(Option.isSome(c.timeout) ? { timeout: c.timeout.value } : {}),
      ...(Option.isSome(c.deadline) ? { deadline: c.deadline.value } : {}),
      retry: {
        ...(Option.isSome(c.retryMaxAttempts) ? { maxAttempts: c.retryMaxAttempts.value } : {}),
        ...(Option.isSome(c.retryMaxRetryAfter) ? { maxRetryAfter: c.retryMaxRetryAfter.value } : {}),
        ...(Option.isSome(c.retryStatuses) ? { statuses: c.retryStatuses.value } : {}),
        ...schedule
      },
      ...breaker,
      ...bulkhead,
      ...(Option.isSome(c.maxKeys) ? { maxKeys: c.maxKeys.value } : {}),
      ...(Option.isSome(c.hosts) ? { hosts: c.hosts.value } : {}),
      ...(Option.isSome(c.hedgeDelay) ? { hedge: { delay: c.hedgeDelay.value } } : {})
    })
  }))
}
