/**
 * The option fuzzer over the pool package's constructors (issue 12): see `@effect-resilience/testing` `Fuzz`.
 */
import { OptionsValidator } from "@effect-resilience/core"
import { PgPool, ResourcePool } from "@effect-resilience/pool"
import { Fuzz } from "@effect-resilience/testing"
import { describe, expect, it } from "@effect/vitest"
import { Config, Duration, Effect, Layer, Redacted } from "effect"

const { boolean, duration, fn, int, name, object, optional, required } = Fuzz
const accept = (why: string): Fuzz.Expectation => ({ accept: why })
const url = "postgres://postgres@127.0.0.1:5432/test"

const poolDurations = {
  acquireTimeout: optional(duration({ zero: "reject", infinity: accept("infinity: wait as long as it takes") })),
  maxLifetime: optional(duration({ zero: "reject", infinity: "reject" })),
  idleTimeout: optional(duration({ zero: "reject", infinity: accept("infinity: never close idle ones") })),
  leakDetection: optional(duration({ zero: "reject", infinity: accept("infinity: off") })),
  drainTimeout: optional(
    duration({
      zero: accept("zero: interrupt borrowers at once"),
      infinity: accept("infinity: wait for every borrower")
    })
  )
}

/** A secret inside a URL: the error must name `url` without showing it. */
const secretUrls: Fuzz.Kind = [
  {
    label: "password with '/'",
    value: "postgres://u:s3cr/et-AAA@127.0.0.1:5432/db?x=%",
    expect: "reject",
    secret: "s3cr/et-AAA"
  },
  {
    label: "password with %ZZ",
    value: "postgres://u:pw%ZZsecret-BBB@127.0.0.1/db",
    expect: "reject",
    secret: "pw%ZZsecret-BBB"
  },
  { label: "not a URL, with a password", value: "postgres://u:secret-CCC@", expect: "reject", secret: "secret-CCC" },
  { label: "\"\"", value: "", expect: "reject" },
  { label: "5", value: 5, expect: "reject" },
  { label: "{}", value: {}, expect: "reject" },
  { label: "\"http://x\"", value: "http://x", expect: "reject" },
  {
    label: "Redacted(bad, with a password)",
    value: Redacted.make("postgres://u:secret-DDD@:notaport/db"),
    expect: "reject",
    secret: "secret-DDD"
  },
  { label: "healthy", value: url, expect: accept("healthy") }
]

const targets: ReadonlyArray<Fuzz.Target> = [
  {
    constructorName: "ResourcePool.make",
    base: () => ({ name: "fuzz-pool", acquire: Effect.succeed({}), max: 2 }),
    fields: {
      "": object(),
      name: required(name),
      acquire: required(object([{ label: "a function", value: () => 1, expect: "reject" }])),
      min: optional(Fuzz.int(0, 2)),
      max: optional(int(1)),
      validate: optional(fn()),
      validateOnBorrow: optional([
        ...boolean.filter((v) => typeof v.value !== "number"),
        ...duration({ zero: accept("zero: validate every borrow"), infinity: accept("infinity: never") }).filter((v) =>
          typeof v.value !== "boolean"
        )
      ]),
      histogram: optional(boolean),
      ...poolDurations
    },
    build: (options: ResourcePool.ResourcePool.Options<object, never, never>) => ResourcePool.make(options),
    probe: (pool: ResourcePool.ResourcePool<object>, hostile) =>
      hostile ? Effect.exit(pool.use(() => Effect.void)) : pool.use(() => Effect.void)
  },
  {
    constructorName: "PgPool.make",
    base: () => ({ name: "fuzz-pg", url, min: 0, max: 2 }),
    fields: {
      "": object(),
      name: required(name),
      url: optional(secretUrls),
      port: optional(int(1, 65_535)),
      min: optional(int(0, 2)),
      max: optional(int(1)),
      ssl: optional([
        ...object().filter((v) => v.value !== null && !Array.isArray(v.value)),
        { label: "[]", value: [], expect: { either: "an array is an object: read as empty TLS options, or refused" } }
      ]),
      connectTimeout: optional(duration({ zero: "reject", infinity: "reject" })),
      queryTimeout: optional(duration({ zero: "reject", infinity: "reject" })),
      validateAfterIdle: optional(duration({ zero: accept("zero: check every borrow"), infinity: accept("never") })),
      ...poolDurations
    },
    build: (config: PgPool.PgPool.Config) => PgPool.make(config)
  }
]

const configTarget: Fuzz.ConfigTarget = {
  name: "PgPool.layerConfig",
  keys: {
    DATABASE_URL: [
      { label: "password with '/'", value: "postgres://u:s3cr/et-AAA@127.0.0.1:5432/db?x=%", expect: "reject" },
      { label: "not a URL", value: "nonsense", expect: "reject" },
      { label: "\"\"", value: "", expect: "reject" },
      { label: "healthy", value: url, expect: accept("healthy") }
    ],
    DATABASE_POOL_MAX: Fuzz.config.int(1),
    DATABASE_QUERY_TIMEOUT: Fuzz.config.duration({ zero: "reject" })
  },
  baseEnv: { DATABASE_URL: url },
  secrets: ["s3cr/et-AAA"],
  fieldOf: { DATABASE_URL: "url" },
  build: (provider) =>
    Layer.build(
      PgPool.layerConfig({
        name: Config.succeed("fuzz-pg-config"),
        url: Config.redacted("DATABASE_URL"),
        // Config.integer reads "" as 0 and Config.duration "-5 seconds" as 0 ms: these readers refuse them, naming the key.
        max: OptionsValidator.configInteger("DATABASE_POOL_MAX", { min: 1 }).pipe(Config.withDefault(10)),
        queryTimeout: OptionsValidator.configDuration("DATABASE_QUERY_TIMEOUT", { positive: true }).pipe(
          Config.withDefault(Duration.seconds(5))
        )
      })
    ).pipe(Effect.withConfigProvider(provider))
}

describe("option fuzzer (pool)", () => {
  it("ResourcePool.make and PgPool.make: a typed InvalidOptionsError naming field and value, or accepted", async () => {
    const result = await Fuzz.runAll(targets.flatMap(Fuzz.cases))
    console.log(
      `option fuzzer (pool constructors): ${result.cases} cases, ${result.accepted} accepted by design, ${result.rejected} rejected with InvalidOptionsError; ${result.failures.length} failing`
    )
    expect(result.failures).toEqual([])
  }, 300_000)

  it("PgPool.layerConfig: a ConfigError or InvalidOptionsError, the password never shown", async () => {
    const result = await Fuzz.runAll(Fuzz.configCases(configTarget))
    console.log(
      `option fuzzer (PgPool.layerConfig): ${result.cases} cases, ${result.accepted} accepted by design, ${result.rejected} rejected; ${result.failures.length} failing`
    )
    expect(result.failures).toEqual([])
  }, 300_000)
})
