/**
 * The option fuzzer over every public constructor of the core and every `ResilientClient.layerConfig` key
 * (issue 12): see `@effect-resilience/testing` `Fuzz`. The figures it prints go in docs/reliability.md.
 */
import {
  AdaptiveLimit,
  AdaptiveThrottle,
  Backoff,
  Bulkhead,
  Chaos,
  CircuitBreaker,
  Deadline,
  Hedge,
  RateLimiter,
  ResilientClient,
  Retry,
  RetryBudget,
  Timeout
} from "@effect-resilience/core"
import { Fuzz } from "@effect-resilience/testing"
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Exit, Layer, Schedule } from "effect"

type Run = (effect: Effect.Effect<unknown, unknown>) => Effect.Effect<unknown, unknown>

/**
 * A few calls through what was built: a failure, then successes. A healthy value must never make them a defect; a
 * hostile one (a throwing callback) may, but they must end (the case is bounded by a timer).
 */
const exercise = (run: Run, hostile: boolean) =>
  Effect.gen(function*() {
    const exits = [
      yield* Effect.exit(run(Effect.fail("fuzz: failure"))),
      yield* Effect.exit(run(Effect.succeed(1))),
      yield* Effect.exit(run(Effect.succeed(2)))
    ]
    if (!hostile) {
      for (const exit of exits) {
        if (Exit.isFailure(exit) && exit.cause._tag !== "Fail") return yield* Effect.die(exit.cause)
      }
    }
  })

const { boolean, duration, fn, int, literal, name, number, object, optional, required } = Fuzz
const accept = (why: string): Fuzz.Expectation => ({ accept: why })
const zeroNone = accept("zero: no wait at all (documented)")
const noLimit = accept("infinity: no limit (documented)")

const breakerFields = {
  "": object(),
  name: required(name),
  strategy: optional(object()),
  "strategy.threshold": int(1),
  openDuration: optional(
    duration({ zero: accept("zero: half-open at the next call"), infinity: "reject" }),
    "default 60 seconds"
  ),
  maxOpenDuration: optional(duration({ zero: "reject", infinity: "reject" }), "default 10 minutes"),
  "halfOpen.maxProbes": optional(int(1)),
  "halfOpen.successesToClose": optional(int(1)),
  "halfOpen.probeLease": optional(duration({ zero: "reject", infinity: "reject" }), "default: until the probe ends"),
  halfOpen: optional(object()),
  healthCheck: optional(object()),
  "healthCheck.check": fn(),
  "healthCheck.interval": duration({ zero: "reject", infinity: "reject" }),
  isFailureCause: optional(fn()),
  isFailure: optional(fn()),
  slowCall: optional(object()),
  "slowCall.duration": duration({ zero: accept("zero: every call that takes time is slow"), infinity: "reject" }),
  "slowCall.rate": number({ min: 0, max: 1, exclusiveMin: true }),
  onStateChange: optional(fn())
}

const limitFields = {
  "": object(),
  minLimit: optional(int(1)),
  maxLimit: optional(int(1)),
  initialLimit: optional(int(1, 200))
}
/** An adaptive limit is used as a bulkhead's limit: a few calls through one. */
const probeLimit = (limit: AdaptiveLimit.AdaptiveLimit, hostile: boolean) =>
  Effect.flatMap(
    Bulkhead.make({ name: "fuzz-adaptive", maxConcurrent: limit }),
    (bulkhead) => exercise((e) => bulkhead.execute(e), hostile)
  )

const targets: ReadonlyArray<Fuzz.Target> = [
  {
    constructorName: "Backoff.exponential",
    base: () => ({ base: "100 millis", cap: "10 seconds" }),
    baseFor: { base: () => ({ base: "100 millis" }), cap: () => ({ base: "1 nanos" }) },
    fields: {
      "": object(),
      base: required(duration({ zero: accept("zero: retry at once"), infinity: "reject" })),
      factor: optional(number({ min: 1 })),
      cap: optional(duration({ zero: "reject", infinity: accept("infinity: no cap") }))
    },
    build: (options: Backoff.Backoff.ExponentialOptions) => Effect.sync(() => Backoff.exponential(options)),
    probe: (schedule: Schedule.Schedule<Duration.Duration>) => Backoff.preview(schedule, 3),
    throwsAtBuild: true
  },
  {
    constructorName: "Backoff.linear",
    base: () => ({ base: "100 millis", step: "100 millis", cap: "10 seconds" }),
    baseFor: { base: () => ({ base: "100 millis" }), cap: () => ({ base: "1 nanos" }) },
    fields: {
      "": object(),
      base: required(duration({ zero: accept("zero: retry at once"), infinity: "reject" })),
      step: optional(duration({ zero: accept("zero: a constant delay"), infinity: "reject" })),
      cap: optional(duration({ zero: "reject", infinity: accept("infinity: no cap") }))
    },
    build: (options: Backoff.Backoff.LinearOptions) => Effect.sync(() => Backoff.linear(options)),
    probe: (schedule: Schedule.Schedule<Duration.Duration>) => Backoff.preview(schedule, 3),
    throwsAtBuild: true
  },
  {
    constructorName: "Backoff.decorrelatedJitter",
    base: () => ({ base: "100 millis", cap: "10 seconds" }),
    baseFor: { base: () => ({ base: "100 millis", cap: Duration.infinity }), cap: () => ({ base: "1 nanos" }) },
    fields: {
      "": object(),
      base: required(duration({ zero: "reject", infinity: "reject" })),
      cap: required(duration({ zero: "reject", infinity: accept("infinity: no cap") }))
    },
    build: (options: Backoff.Backoff.DecorrelatedJitterOptions) =>
      Effect.sync(() => Backoff.decorrelatedJitter(options)),
    probe: (schedule: Schedule.Schedule<Duration.Duration>) => Backoff.preview(schedule, 3),
    throwsAtBuild: true
  },
  {
    constructorName: "Backoff.constant",
    base: () => "100 millis",
    argumentField: "delay",
    fields: { "": required(duration({ zero: accept("zero: retry at once"), infinity: accept("infinity: never") })) },
    build: (delay: Duration.DurationInput) => Effect.sync(() => Backoff.constant(delay)),
    probe: (schedule: Schedule.Schedule<Duration.Duration>) => Backoff.preview(schedule, 3),
    throwsAtBuild: true
  },
  {
    constructorName: "Backoff.preview",
    base: () => 3,
    argumentField: "n",
    // NaN or Infinity made it step a forever schedule for ever.
    fields: { "": required(int(Number.MIN_SAFE_INTEGER, 100_000)) },
    build: (n: number) => Effect.suspend(() => Backoff.preview(Backoff.constant("1 millis"), n)),
    throwsAtBuild: true
  },
  {
    constructorName: "Timeout.timeout",
    base: () => "1 second",
    argumentField: "duration",
    fields: { "": required(duration({ zero: accept("zero: only a synchronous answer"), infinity: noLimit })) },
    build: (d: Duration.DurationInput) => Effect.sync(() => Timeout.timeout(d)),
    probe: (op: (self: Effect.Effect<unknown, unknown>) => Effect.Effect<unknown, unknown>, hostile) =>
      exercise(op, hostile),
    throwsAtBuild: true
  },
  {
    constructorName: "Deadline.within",
    base: () => "1 second",
    argumentField: "duration",
    fields: {
      "": required(duration({ zero: accept("zero: a spent budget, only a synchronous answer"), infinity: noLimit }))
    },
    build: (d: Duration.DurationInput) => Effect.sync(() => Deadline.within(d)),
    probe: (op: (self: Effect.Effect<unknown, unknown>) => Effect.Effect<unknown, unknown>, hostile) =>
      exercise(op, hostile),
    throwsAtBuild: true
  },
  {
    constructorName: "Retry.retry",
    base: () => ({ schedule: Backoff.constant("1 millis"), maxAttempts: 2 }),
    fields: {
      "": object(),
      name: optional(name),
      schedule: optional(object()),
      maxAttempts: optional(int(1)),
      while: optional(fn()),
      budget: optional(object([{ label: "{}", value: {}, expect: "reject" }])),
      respectRetryAfter: optional(boolean),
      maxRetryAfter: optional(duration({ zero: accept("zero: never wait for a hint"), infinity: noLimit })),
      onRetry: optional(fn())
    },
    build: (options: Retry.Retry.Options<unknown>) => Effect.sync(() => Retry.retry(options)),
    // One failure, then a success: a large maxAttempts must not make the probe retry for ever.
    probe: (op: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>, hostile) => {
      let calls = 0
      const flaky = Effect.suspend(() => ++calls === 1 ? Effect.fail("fuzz: once") : Effect.succeed(calls))
      return exercise((e) => Effect.zipRight(op(flaky), e), hostile)
    },
    throwsAtBuild: true
  },
  {
    constructorName: "RetryBudget.make",
    base: () => ({ name: "fuzz-budget" }),
    fields: {
      "": object(),
      name: required(name),
      ratio: optional(number({ min: 0, max: 1 })),
      minPerSecond: optional(number({ min: 0 })),
      window: optional(duration({ zero: "reject", infinity: "reject" }))
    },
    build: (options: RetryBudget.RetryBudget.Options) => RetryBudget.make(options),
    probe: (budget: RetryBudget.RetryBudget) => Effect.zipRight(budget.recordRequest, budget.tryAcquire)
  },
  {
    constructorName: "CircuitBreaker.make",
    base: () => ({
      name: "fuzz-breaker",
      strategy: CircuitBreaker.consecutive(3),
      openDuration: "1 second",
      halfOpen: { maxProbes: 1, successesToClose: 1, probeLease: "100 millis" },
      healthCheck: { check: () => Effect.void, interval: "1 second" },
      slowCall: { duration: "1 second", rate: 0.5 }
    }),
    fields: breakerFields,
    build: (options: CircuitBreaker.CircuitBreaker.Options) => CircuitBreaker.make(options),
    probe: (breaker: CircuitBreaker.CircuitBreaker, hostile) => exercise(breaker.execute, hostile)
  },
  {
    constructorName: "CircuitBreaker.make",
    base: () => ({ name: "fuzz-count-window", strategy: CircuitBreaker.countWindow({ size: 10, failureRate: 0.5 }) }),
    fields: {
      "strategy.size": int(1),
      "strategy.failureRate": number({ min: 0, max: 1, exclusiveMin: true }),
      "strategy.minimumCalls": optional(int(1, 10), "default: size")
    },
    build: (options: CircuitBreaker.CircuitBreaker.Options) => CircuitBreaker.make(options),
    probe: (breaker: CircuitBreaker.CircuitBreaker, hostile) => exercise(breaker.execute, hostile)
  },
  {
    constructorName: "CircuitBreaker.make",
    base: () => ({
      name: "fuzz-time-window",
      strategy: CircuitBreaker.timeWindow({ duration: "10 seconds", buckets: 10, failureRate: 0.5 })
    }),
    // One bucket while the window is fuzzed: a bucket is at least a millisecond.
    baseFor: {
      "strategy.duration": () => ({
        name: "fuzz-time-window",
        strategy: CircuitBreaker.timeWindow({ duration: "10 seconds", buckets: 1, failureRate: 0.5 })
      })
    },
    fields: {
      "strategy.duration": duration({ zero: "reject", infinity: "reject" }),
      "strategy.buckets": int(1, 10_000),
      "strategy.failureRate": number({ min: 0, max: 1, exclusiveMin: true }),
      "strategy.minimumCalls": optional(int(1), "default 20")
    },
    build: (options: CircuitBreaker.CircuitBreaker.Options) => CircuitBreaker.make(options),
    probe: (breaker: CircuitBreaker.CircuitBreaker, hostile) => exercise(breaker.execute, hostile)
  },
  {
    constructorName: "CircuitBreaker.keyed",
    base: () => ({
      name: "fuzz-keyed-breaker",
      strategy: CircuitBreaker.consecutive(3),
      halfOpen: { maxProbes: 1, successesToClose: 1, probeLease: "100 millis" },
      healthCheck: { check: () => Effect.void, interval: "1 second" },
      slowCall: { duration: "1 second", rate: 0.5 },
      maxKeys: 10,
      idleTtl: "1 minute"
    }),
    fields: {
      ...breakerFields,
      maxKeys: required(int(1)),
      idleTtl: required(duration({ zero: "reject", infinity: accept("infinity: never idle") }))
    },
    build: (options: CircuitBreaker.CircuitBreaker.KeyedOptions) => CircuitBreaker.keyed(options),
    probe: (breaker: CircuitBreaker.KeyedCircuitBreaker, hostile) => exercise((e) => breaker.execute("a", e), hostile)
  },
  {
    constructorName: "Bulkhead.make",
    base: () => ({ name: "fuzz-bulkhead", maxConcurrent: 2 }),
    fields: {
      "": object(),
      name: required(name),
      maxConcurrent: required(int(1)),
      maxQueue: optional(int(0)),
      queueTimeout: optional(duration({ zero: zeroNone, infinity: noLimit })),
      codel: optional(object()),
      "codel.target": optional(duration({ zero: "reject", infinity: "reject" }), "default 5 ms"),
      "codel.interval": optional(duration({ zero: "reject", infinity: "reject" }), "default 100 ms"),
      metrics: optional(boolean),
      tracing: optional(boolean),
      histogram: optional(boolean)
    },
    build: (options: Bulkhead.Bulkhead.Options) => Bulkhead.make(options),
    probe: (bulkhead: Bulkhead.Bulkhead, hostile) => exercise((e) => bulkhead.execute(e), hostile)
  },
  {
    constructorName: "AdaptiveLimit.aimd",
    base: () => ({}),
    fields: {
      ...limitFields,
      backoffRatio: optional(number({ min: 0.5, max: 0.99 })),
      timeout: optional(duration({ zero: "reject", infinity: "reject" }))
    },
    build: (options: AdaptiveLimit.AdaptiveLimit.AimdOptions) => Effect.sync(() => AdaptiveLimit.aimd(options)),
    probe: probeLimit,
    throwsAtBuild: true
  },
  {
    constructorName: "AdaptiveLimit.vegas",
    base: () => ({}),
    fields: {
      ...limitFields,
      smoothing: optional(number({ min: 0, max: 1, exclusiveMin: true })),
      alpha: optional(number({ min: 0 })),
      beta: optional(number({ min: 3 })),
      probeMultiplier: optional(int(1))
    },
    build: (options: AdaptiveLimit.AdaptiveLimit.VegasOptions) => Effect.sync(() => AdaptiveLimit.vegas(options)),
    probe: probeLimit,
    throwsAtBuild: true
  },
  {
    constructorName: "AdaptiveLimit.gradient2",
    base: () => ({}),
    fields: {
      ...limitFields,
      smoothing: optional(number({ min: 0, max: 1, exclusiveMin: true })),
      rttTolerance: optional(number({ min: 1 })),
      longWindow: optional(int(1)),
      queueSize: optional(number({ min: 0 }))
    },
    build: (options: AdaptiveLimit.AdaptiveLimit.Gradient2Options) =>
      Effect.sync(() => AdaptiveLimit.gradient2(options)),
    probe: probeLimit,
    throwsAtBuild: true
  },
  {
    constructorName: "AdaptiveThrottle.make",
    base: () => ({ name: "fuzz-throttle" }),
    fields: {
      "": object(),
      name: required(name),
      k: optional(number({ min: 1 })),
      window: optional(duration({ zero: "reject", infinity: "reject" })),
      buckets: optional(int(1, 1_000)),
      isFailure: optional(fn()),
      metrics: optional(boolean)
    },
    build: (options: AdaptiveThrottle.AdaptiveThrottle.Options) => AdaptiveThrottle.make(options),
    probe: (throttle: AdaptiveThrottle.AdaptiveThrottle, hostile) => exercise((e) => throttle.execute(e), hostile)
  },
  {
    constructorName: "Bulkhead.keyed",
    base: () => ({ name: "fuzz-keyed-bulkhead", maxConcurrent: 2 }),
    fields: {
      "": object(),
      name: required(name),
      maxConcurrent: required(int(1)),
      maxQueue: optional(int(0)),
      maxKeys: optional(int(1)),
      idleTtl: optional(duration({ zero: "reject", infinity: accept("infinity: never idle") }))
    },
    build: (options: Bulkhead.Bulkhead.KeyedOptions) => Bulkhead.keyed(options),
    probe: (bulkhead: Bulkhead.KeyedBulkhead<string>, hostile) => exercise((e) => bulkhead.execute("a", e), hostile)
  },
  {
    constructorName: "RateLimiter.make",
    base: () => ({ name: "fuzz-limiter", limit: 10, interval: "1 second" }),
    fields: {
      "": object(),
      name: required(name),
      limit: required(int(1)),
      interval: required(duration({ zero: "reject", infinity: "reject" })),
      algorithm: optional(literal("fixed-window", "token-bucket")),
      onLimit: optional(literal("wait", "fail")),
      maxWait: optional(duration({ zero: accept("zero: never wait"), infinity: noLimit })),
      metrics: optional(boolean),
      tracing: optional(boolean),
      histogram: optional(boolean)
    },
    build: (options: RateLimiter.RateLimiter.Options) => RateLimiter.make(options),
    probe: (limiter: RateLimiter.RateLimiter, hostile) => exercise((e) => limiter.execute(e), hostile)
  },
  {
    constructorName: "RateLimiter.keyed",
    base: () => ({ name: "fuzz-keyed-limiter", limit: 10, interval: "1 second" }),
    fields: {
      "": object(),
      name: required(name),
      limit: required(int(1)),
      interval: required(duration({ zero: "reject", infinity: "reject" })),
      maxKeys: optional(int(1)),
      keyToString: optional(fn())
    },
    build: (options: RateLimiter.RateLimiter.KeyedOptions<string>) => RateLimiter.keyed(options),
    probe: (limiter: RateLimiter.KeyedRateLimiter<string>, hostile) => exercise((e) => limiter.execute("a", e), hostile)
  },
  {
    constructorName: "RateLimiter.layerStoreMemory",
    base: () => ({ maxKeys: 10 }),
    fields: { maxKeys: optional(int(1)) },
    build: (options: { readonly maxKeys?: number }) => Layer.build(RateLimiter.layerStoreMemory(options))
  },
  {
    constructorName: "Hedge.hedge",
    base: () => ({ delay: "10 millis", maxHedges: 1 }),
    fields: {
      "": object(),
      delay: required(duration({ zero: accept("zero: hedge at once"), infinity: "reject" })),
      maxHedges: optional(int(0)),
      budget: optional(object([{ label: "{}", value: {}, expect: "reject" }]))
    },
    build: (options: Hedge.Hedge.Options) => Effect.sync(() => Hedge.hedge(options)),
    probe: (op: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>, hostile) => exercise(op, hostile),
    throwsAtBuild: true
  },
  {
    constructorName: "Chaos.latency",
    base: () => ({ delay: 0 }),
    fields: {
      "": object(),
      delay: required(duration({ zero: accept("zero: no delay"), infinity: "reject" })),
      max: optional(duration({ zero: accept("zero: no delay"), infinity: "reject" })),
      rate: optional(number({ min: 0, max: 1 }))
    },
    build: (options: Chaos.LatencyOptions) => Effect.sync(() => Chaos.latency(options)),
    // Built only: its calls sleep on the live clock for as long as the value asks.
    throwsAtBuild: true
  },
  {
    constructorName: "Chaos.failures",
    base: () => ({ rate: 0.5 }),
    fields: { "": object(), rate: required(number({ min: 0, max: 1 })), error: optional(fn()) },
    build: (options: { readonly rate: number }) => Effect.sync(() => Chaos.failures(options)),
    probe: (fault: Chaos.Fault<unknown>, hostile) => exercise(fault, hostile),
    throwsAtBuild: true
  },
  {
    constructorName: "Chaos.outage",
    base: () => ({ duration: "1 second" }),
    fields: {
      "": object(),
      after: optional(duration({ zero: accept("zero: at once"), infinity: "reject" })),
      duration: required(duration({ zero: accept("zero: no outage"), infinity: accept("infinity: for good") })),
      error: optional(fn())
    },
    build: (options: Chaos.OutageOptions) => Chaos.outage(options),
    probe: (fault: Chaos.Fault<unknown>, hostile) => exercise(fault, hostile)
  },
  {
    constructorName: "ResilientClient.make",
    base: () => ({ name: "fuzz-client", ...ResilientClient.defaults }),
    baseFor: {
      "adaptiveThrottle.k": () => ({ name: "fuzz-client", ...ResilientClient.defaults, adaptiveThrottle: {} }),
      "adaptiveThrottle.window": () => ({ name: "fuzz-client", ...ResilientClient.defaults, adaptiveThrottle: {} })
    },
    fields: {
      "": object(),
      name: required(name),
      fallback: optional(fn()),
      deadline: optional(duration({ zero: "reject", infinity: noLimit })),
      timeout: optional(duration({ zero: "reject", infinity: noLimit })),
      rateLimiter: optional(object()),
      bulkhead: optional(object()),
      retry: optional(object()),
      circuitBreaker: optional(object()),
      hedge: optional(object()),
      adaptiveThrottle: optional(object()),
      "adaptiveThrottle.k": optional(number({ min: 1 })),
      "adaptiveThrottle.window": optional(duration({ zero: "reject", infinity: "reject" })),
      "retry.while": optional(fn()),
      "bulkhead.maxConcurrent": int(1),
      "circuitBreaker.isFailure": optional(fn()),
      "circuitBreaker.isFailureCause": optional(fn()),
      "circuitBreaker.classify": optional(fn()),
      "hedge.delay": duration({ zero: accept("zero: hedge at once"), infinity: "reject" }),
      metrics: optional(boolean),
      tracing: optional(boolean),
      histogram: optional(boolean)
    },
    build: (options: ResilientClient.ResilientClient.Options) => ResilientClient.make(options),
    probe: (client: ResilientClient.ResilientClient, hostile) => exercise((e) => client.execute(e), hostile)
  }
]

class Svc extends Context.Tag("fuzz/Svc")<Svc, ResilientClient.ResilientClient>() {}

const configTarget: Fuzz.ConfigTarget = {
  name: "ResilientClient.layerConfig",
  keys: {
    SVC_TIMEOUT: Fuzz.config.duration({ zero: "reject" }),
    SVC_DEADLINE: Fuzz.config.duration({ zero: "reject" }),
    SVC_RETRY_MAX_ATTEMPTS: Fuzz.config.int(1),
    SVC_RETRY_BASE_DELAY: Fuzz.config.duration({ zero: accept("zero: retry at once") }),
    SVC_RETRY_MAX_DELAY: Fuzz.config.duration({ zero: "reject" }).map((v) =>
      // Below the default base delay (100 ms): a ConfigError naming the key.
      v.value === "1.5 seconds" || v.value === "2 seconds" || v.value === "100000000 seconds"
        ? v
        : { ...v, expect: "reject" as const }
    ),
    SVC_RETRY_MAX_RETRY_AFTER: Fuzz.config.duration({ zero: accept("zero: never wait for a hint") }),
    SVC_BULKHEAD_MAX_CONCURRENT: Fuzz.config.int(1),
    SVC_BULKHEAD_MAX_QUEUE: Fuzz.config.int(0),
    SVC_BULKHEAD_QUEUE_TIMEOUT: Fuzz.config.duration({ zero: zeroNone }),
    SVC_BULKHEAD_CODEL_TARGET: Fuzz.config.duration({ zero: "reject" }),
    SVC_BULKHEAD_CODEL_INTERVAL: Fuzz.config.duration({ zero: "reject" }),
    SVC_CIRCUIT_BREAKER_CONSECUTIVE_FAILURES: Fuzz.config.int(1),
    SVC_CIRCUIT_BREAKER_OPEN_DURATION: Fuzz.config.duration({ zero: accept("zero: half-open at the next call") }),
    SVC_RATE_LIMITER_LIMIT: Fuzz.config.int(1),
    SVC_RATE_LIMITER_INTERVAL: Fuzz.config.duration({ zero: "reject" }),
    SVC_HEDGE_DELAY: Fuzz.config.duration({ zero: accept("zero: hedge at once") }),
    SVC_HEDGE_MAX_HEDGES: Fuzz.config.int(0)
  },
  build: (provider) =>
    Effect.flatMap(Svc, (client) => client.execute(Effect.succeed(1))).pipe(
      Effect.provide(ResilientClient.layerConfig(Svc, "SVC")),
      Effect.withConfigProvider(provider)
    )
}

describe("option fuzzer (core)", () => {
  it(
    "every public constructor: a typed InvalidOptionsError naming field and value, or documented as accepted",
    async () => {
      const all = targets.flatMap(Fuzz.cases)
      const result = await Fuzz.runAll(all)
      console.log(
        `option fuzzer (core constructors): ${result.cases} cases, ${result.accepted} accepted by design, ${result.rejected} rejected with InvalidOptionsError; ${result.failures.length} failing`
      )
      expect(result.failures).toEqual([])
    },
    300_000
  )

  it(
    "every ResilientClient.layerConfig key: a ConfigError naming the key and the value, or documented as accepted",
    async () => {
      const all = Fuzz.configCases(configTarget)
      const result = await Fuzz.runAll(all)
      console.log(
        `option fuzzer (ResilientClient.layerConfig): ${result.cases} cases, ${result.accepted} accepted by design, ${result.rejected} rejected with ConfigError; ${result.failures.length} failing`
      )
      expect(result.failures).toEqual([])
    },
    300_000
  )
})
