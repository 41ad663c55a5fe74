import { PgPool, ResourcePool } from "@effect-resilience/pool"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Redacted } from "effect"

const throwing = () => {
  throw new Error("hostile option")
}

/** Values no duration option accepts. */
const badDurations: ReadonlyArray<unknown> = [
  -1,
  Number.NaN,
  Number.NEGATIVE_INFINITY,
  "",
  "-5 seconds",
  "banana",
  BigInt(-1),
  [-1, 0],
  null,
  {},
  true,
  throwing
]
const badInts: ReadonlyArray<unknown> = [
  -1,
  0.5,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  "3",
  "",
  null,
  {},
  true,
  throwing
]
const badStrings: ReadonlyArray<unknown> = [5, null, {}, true, throwing]

const resourcePoolCases: ReadonlyArray<readonly [string, ReadonlyArray<unknown>]> = [
  ["name", ["", ...badStrings]],
  ["acquire", [undefined, 5, null, {}, throwing, "acquire"]],
  ["max", [0, ...badInts]],
  ["min", badInts],
  ["acquireTimeout", [0, ...badDurations]],
  ["maxLifetime", [0, Number.POSITIVE_INFINITY, Duration.infinity, ...badDurations]],
  ["idleTimeout", [0, ...badDurations]],
  ["leakDetection", [0, ...badDurations]],
  ["drainTimeout", badDurations],
  ["validate", [5, "f", null, {}, true]],
  ["validateOnBorrow", ["yes", ...badDurations.filter((d) => d !== true)]],
  ["histogram", ["yes", 1, 0, null, {}]]
]

const pgPoolCases: ReadonlyArray<readonly [string, ReadonlyArray<unknown>]> = [
  ["name", ["", ...badStrings]],
  ["url", [5, null, {}, true, throwing, "", "not a url", "mysql://u:p@h/db", Redacted.make(5)]],
  ["password", [5, null, {}, throwing]],
  ["host", [5, null, {}, throwing]],
  ["user", [5, null, {}, throwing]],
  ["database", [5, null, {}, throwing]],
  ["port", [0, 65536, ...badInts]],
  ["ssl", [5, "yes", null, throwing]],
  ["applicationName", ["", ...badStrings]],
  ["min", badInts],
  ["max", [0, ...badInts]],
  ["acquireTimeout", [0, ...badDurations]],
  ["connectTimeout", [0, Number.POSITIVE_INFINITY, ...badDurations]],
  ["queryTimeout", [0, Number.POSITIVE_INFINITY, ...badDurations]],
  ["validateAfterIdle", badDurations],
  ["maxLifetime", [0, Number.POSITIVE_INFINITY, ...badDurations]],
  ["idleTimeout", [0, ...badDurations]],
  ["leakDetection", [0, ...badDurations]],
  ["drainTimeout", badDurations]
]

/** The outcome must be a typed InvalidOptionsError naming the field: no defect, no throw, no hang. */
const expectRefused = <A, E, R>(
  make: Effect.Effect<A, E, R>,
  field: string,
  value: unknown
): Effect.Effect<void, never, Exclude<R, import("effect/Scope").Scope>> =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(Effect.scoped(Effect.suspend(() => make)).pipe(Effect.timeout("2 seconds")))
    const label = `${field} = ${String(value)}`
    expect(Exit.isFailure(exit), label).toBe(true)
    if (Exit.isSuccess(exit)) return
    const failure = Cause.failureOption(exit.cause)
    expect(failure._tag, `${label}: ${Cause.pretty(exit.cause)}`).toBe("Some")
    if (failure._tag === "Some") {
      expect(failure.value, label).toMatchObject({ _tag: "InvalidOptionsError", field })
    }
  }) as never

describe("pool options", () => {
  it.effect("ResourcePool.make refuses every bad value with an InvalidOptionsError naming the field", () =>
    Effect.gen(function*() {
      const acquire = Effect.succeed(1)
      for (const [field, values] of resourcePoolCases) {
        for (const value of values) {
          const options = { name: "options-rp", acquire, [field]: value }
          const make = ResourcePool.make(options as unknown as ResourcePool.ResourcePool.Options<number, never, never>)
          yield* expectRefused(make, field, value)
        }
      }
      for (const options of [null, 5, "pool", undefined]) {
        yield* expectRefused(
          ResourcePool.make(options as unknown as ResourcePool.ResourcePool.Options<number, never, never>),
          "options",
          options
        )
      }
    }))

  it.effect("ResourcePool.make accepts huge bounds and long finite durations", () =>
    Effect.gen(function*() {
      const pool = yield* ResourcePool.make({
        name: "options-huge",
        acquire: Effect.succeed(1),
        max: 1e9,
        acquireTimeout: 1e12,
        maxLifetime: 1e12,
        idleTimeout: Duration.infinity,
        drainTimeout: 0,
        validate: () => Effect.succeed(true),
        validateOnBorrow: "1 second"
      })
      expect(yield* pool.use(Effect.succeed)).toBe(1)
    }).pipe(Effect.scoped))

  it.effect("PgPool.make refuses every bad value with an InvalidOptionsError naming the field", () =>
    Effect.gen(function*() {
      for (const [field, values] of pgPoolCases) {
        for (const value of values) {
          const config = { name: "options-pg", url: "postgres://postgres@127.0.0.1:1/test", [field]: value }
          yield* expectRefused(PgPool.make(config as unknown as PgPool.PgPool.Config), field, value)
        }
      }
      for (const config of [null, 5, "pool", undefined]) {
        yield* expectRefused(PgPool.make(config as unknown as PgPool.PgPool.Config), "options", config)
      }
    }))

  it.live("a bad PgPool.query timeout is refused; Infinity and huge ones mean no timer", () =>
    Effect.gen(function*() {
      const db = yield* PgPool.make({
        name: "options-query",
        url: "postgres://postgres@127.0.0.1:1/test",
        acquireTimeout: "50 millis",
        connectTimeout: 1e12,
        queryTimeout: 1e12
      })
      for (const timeout of badDurations) {
        const error = yield* Effect.flip(db.query("SELECT 1", [], { timeout: timeout as number }))
        expect(error, String(timeout)).toMatchObject({ _tag: "InvalidOptionsError", field: "timeout" })
      }
      for (const timeout of [Number.POSITIVE_INFINITY, 1e12]) {
        const error = yield* Effect.flip(db.query("SELECT 1", [], { timeout }))
        expect(error._tag).toBe("PoolTimeoutError")
      }
    }).pipe(Effect.scoped))
})
