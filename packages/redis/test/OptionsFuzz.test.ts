/**
 * The option fuzzer over the redis package's layers (issue 12): see `@effect-resilience/testing` `Fuzz`. Accepted
 * values connect to the local Redis, so the file is skipped without one.
 */
import { OptionsValidator } from "@effect-resilience/core"
import { RedisCircuitBreakerStore, RedisRateLimiter } from "@effect-resilience/redis"
import { Fuzz, Services } from "@effect-resilience/testing"
import { describe, expect, it } from "@effect/vitest"
import { Config, Duration, Effect, Layer } from "effect"
import { redis } from "./utils.js"

const { duration, name, object, optional, required } = Fuzz
const accept = (why: string): Fuzz.Expectation => ({ accept: why })

/** A bad URL is the documented `RedisStoreError { reason: "InvalidUrl" }`, its password masked. */
const invalidUrl = "RedisStoreError"
const urls: Fuzz.Kind = [
  { label: "\"\"", value: "", expect: "reject", errorTag: invalidUrl },
  { label: "5", value: 5, expect: "reject", errorTag: invalidUrl },
  { label: "\"http://x\"", value: "http://x", expect: "reject", errorTag: invalidUrl },
  { label: "\"not a url\"", value: "not a url", expect: "reject", errorTag: invalidUrl },
  {
    label: "password, bad port",
    value: "redis://u:secret-RRR@127.0.0.1:notaport",
    expect: "reject",
    secret: "secret-RRR",
    errorTag: invalidUrl
  },
  { label: "healthy", value: redis.url, expect: accept("healthy") }
]

const targets = (): ReadonlyArray<Fuzz.Target> => [
  {
    constructorName: "RedisCircuitBreakerStore.layer",
    base: () => ({ url: redis.url, keyPrefix: Services.uniquePrefix("fuzz-cb") }),
    fields: {
      "": object(),
      // Neither client nor url: refused, naming client.
      url: [...urls, {
        label: "undefined",
        value: undefined,
        expect: "reject",
        field: "client",
        errorValue: "undefined"
      }],
      keyPrefix: required(name),
      flushInterval: optional(duration({ zero: "reject", infinity: "reject" })),
      idleTtl: optional(duration({ zero: "reject", infinity: "reject" })),
      leaseTtl: optional(duration({ zero: "reject", infinity: "reject" }))
    },
    build: (options: RedisCircuitBreakerStore.RedisCircuitBreakerStore.Options) =>
      Layer.build(RedisCircuitBreakerStore.layer(options))
  },
  {
    constructorName: "RedisRateLimiter.layer",
    base: () => ({ url: redis.url, keyPrefix: `${Services.uniquePrefix("fuzz-rl")}:` }),
    fields: {
      "": object(),
      url: [...urls, { label: "undefined", value: undefined, expect: "reject", errorTag: invalidUrl }],
      keyPrefix: optional(name),
      commandTimeout: optional(duration({ zero: "reject", infinity: "reject" }))
    },
    build: (options: RedisRateLimiter.RedisRateLimiter.Options) => Layer.build(RedisRateLimiter.layer(options))
  }
]

const storeConfig = (): Fuzz.ConfigTarget => ({
  name: "RedisCircuitBreakerStore.layerConfig",
  keys: {
    REDIS_URL: [
      {
        label: "password, bad port",
        value: "redis://u:secret-SSS@127.0.0.1:notaport",
        expect: "reject",
        errorTag: invalidUrl
      },
      { label: "\"not a url\"", value: "not a url", expect: "reject", errorTag: invalidUrl },
      { label: "healthy", value: redis.url, expect: accept("healthy") }
    ],
    BREAKER_FLUSH_INTERVAL: Fuzz.config.duration({ zero: "reject" })
  },
  baseEnv: { REDIS_URL: redis.url },
  secrets: ["secret-SSS"],
  build: (provider) =>
    Layer.build(
      RedisCircuitBreakerStore.layerConfig({
        url: Config.string("REDIS_URL"),
        keyPrefix: Config.succeed(Services.uniquePrefix("fuzz-cb-config")),
        // Config.duration reads "-5 seconds" as 0 ms: this reader refuses it, naming the key.
        flushInterval: OptionsValidator.configDuration("BREAKER_FLUSH_INTERVAL", { positive: true }).pipe(
          Config.withDefault(Duration.millis(100))
        )
      })
    ).pipe(Effect.withConfigProvider(provider))
})

describe.skipIf(!redis.available)("option fuzzer (redis)", () => {
  it(
    "RedisCircuitBreakerStore.layerConfig: a ConfigError or the documented RedisStoreError, no password shown",
    async () => {
      const result = await Fuzz.runAll(Fuzz.configCases(storeConfig()), 5_000)
      console.log(
        `option fuzzer (RedisCircuitBreakerStore.layerConfig): ${result.cases} cases, ${result.accepted} accepted by design, ${result.rejected} rejected; ${result.failures.length} failing`
      )
      expect(result.failures).toEqual([])
    },
    300_000
  )

  it(
    "RedisCircuitBreakerStore.layer and RedisRateLimiter.layer: a typed InvalidOptionsError, or accepted",
    async () => {
      const result = await Fuzz.runAll(targets().flatMap(Fuzz.cases), 5_000)
      console.log(
        `option fuzzer (redis layers): ${result.cases} cases, ${result.accepted} accepted by design, ${result.rejected} rejected with InvalidOptionsError; ${result.failures.length} failing`
      )
      expect(result.failures).toEqual([])
    },
    300_000
  )
})
