import {
  AdaptiveThrottle,
  Backoff,
  CircuitBreaker,
  InvalidOptionsError,
  ResilientClient,
  RetryAfter
} from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Option, Random, TestClock } from "effect"

const fail = Effect.fail("refused")

describe("AdaptiveThrottle", () => {
  it("the SRE rule", () => {
    expect(AdaptiveThrottle.rejectionProbability(0, 0, 2)).toBe(0)
    expect(AdaptiveThrottle.rejectionProbability(10, 5, 2)).toBe(0)
    expect(AdaptiveThrottle.rejectionProbability(10, 0, 2)).toBeCloseTo(10 / 11)
    expect(AdaptiveThrottle.rejectionProbability(100, 20, 2)).toBeCloseTo(60 / 101)
    expect(AdaptiveThrottle.rejectionProbability(100, 20, 1.5)).toBeCloseTo(70 / 101)
  })

  it.scoped("refuses with the formula's probability over scripted outcomes (seeded Random)", () =>
    Effect.gen(function*() {
      const throttle = yield* AdaptiveThrottle.make({ name: "t-formula", k: 2 })
      // A script: the backend accepts every 4th call it sees.
      let seen = 0
      const backend = Effect.suspend(() => ++seen % 4 === 0 ? Effect.succeed("ok") : fail)
      const exits = []
      for (let i = 0; i < 400; i++) exits.push(yield* Effect.exit(throttle.execute(backend)))
      // The same decisions, replayed from the same seed with the formula alone.
      const replay = Random.make(42)
      let requests = 0
      let accepts = 0
      let replaySeen = 0
      const expected: Array<string> = []
      for (let i = 0; i < 400; i++) {
        const p = AdaptiveThrottle.rejectionProbability(requests, accepts, 2)
        requests++
        if (p > 0 && (yield* replay.next) < p) {
          expected.push("refused")
          continue
        }
        if (++replaySeen % 4 === 0) {
          accepts++
          expected.push("ok")
        } else expected.push("failed")
      }
      const actual = exits.map((exit) =>
        Exit.isSuccess(exit)
          ? "ok"
          : Exit.causeOption(exit).pipe(Option.flatMap((c) => Option.fromNullable(c._tag === "Fail" ? c.error : null)))
            .pipe(
              Option.map((e) => (e instanceof AdaptiveThrottle.AdaptiveThrottleError ? "refused" : "failed")),
              Option.getOrElse(() => "other")
            )
      )
      expect(actual).toEqual(expected)
      const stats = yield* throttle.stats
      expect(stats.requests).toBe(400)
      expect(stats.accepts).toBe(accepts)
      expect(stats.rejected).toBe(expected.filter((x) => x === "refused").length)
      expect(stats.probability).toBeCloseTo(AdaptiveThrottle.rejectionProbability(400, accepts, 2))
      // The backend sees fewer calls than were made: a quarter of them are accepted, so refusals grow.
      expect(seen).toBeLessThan(400 - stats.rejected + 1)
    }).pipe(Effect.withRandom(Random.make(42))))

  it.scoped("refuses nothing while the backend accepts more than 1/k", () =>
    Effect.gen(function*() {
      const throttle = yield* AdaptiveThrottle.make({ name: "t-healthy" })
      for (let i = 0; i < 100; i++) yield* Effect.exit(throttle.execute(i % 2 === 0 ? Effect.void : fail))
      expect((yield* throttle.stats).rejected).toBe(0)
    }))

  it.scoped("outcomes leave the window bucket by bucket (TestClock); the error's RetryAfter is the next bucket", () =>
    Effect.gen(function*() {
      const throttle = yield* AdaptiveThrottle.make({ name: "t-window", window: "10 seconds", buckets: 10 })
      for (let i = 0; i < 50; i++) yield* Effect.exit(throttle.execute(fail))
      const full = yield* throttle.stats
      // Refused ones count as requests too.
      expect(full.requests).toBe(50)
      expect(full.rejected).toBeGreaterThan(30)
      expect(full.probability).toBeCloseTo(AdaptiveThrottle.rejectionProbability(50, 0, 2))
      yield* TestClock.adjust("300 millis")
      const exit = yield* Effect.exit(throttle.execute(Effect.void))
      // p = 50/51: refused with this seed.
      expect(Exit.isFailure(exit)).toBe(true)
      const error = Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined
      expect(error).toBeInstanceOf(AdaptiveThrottle.AdaptiveThrottleError)
      expect(RetryAfter.get(error)).toEqual(Option.some(Duration.millis(700)))
      yield* TestClock.adjust("9 seconds")
      expect((yield* throttle.stats).requests).toBe(51)
      yield* TestClock.adjust("1 second")
      expect(yield* throttle.stats).toEqual({ requests: 0, accepts: 0, rejected: full.rejected + 1, probability: 0 })
    }).pipe(Effect.withRandom(Random.make(1))))

  it.scoped("interruption counts as nothing; isFailure decides what is a refusal", () =>
    Effect.gen(function*() {
      const throttle = yield* AdaptiveThrottle.make({
        name: "t-classify",
        isFailure: (error) => error !== "not found"
      })
      yield* Effect.exit(throttle.execute(Effect.interrupt))
      yield* Effect.exit(throttle.execute(Effect.fail("not found")))
      yield* Effect.exit(throttle.execute(Effect.fail("overloaded")))
      yield* Effect.exit(throttle.execute(Effect.die("bug")))
      expect(yield* throttle.stats).toMatchObject({ requests: 3, accepts: 1 })
    }))

  it.scoped("a refusal by a local policy inside the throttle (an open breaker) counts as nothing", () =>
    Effect.gen(function*() {
      const throttle = yield* AdaptiveThrottle.make({ name: "t-local" })
      const breaker = yield* CircuitBreaker.make({ name: "t-local-breaker", strategy: CircuitBreaker.consecutive(1) })
      yield* Effect.exit(breaker.execute(fail))
      // Open now: the calls are refused by the breaker without reaching the backend.
      for (let i = 0; i < 20; i++) yield* Effect.exit(throttle.execute(breaker.execute(Effect.void)))
      expect(yield* throttle.stats).toEqual({ requests: 0, accepts: 0, rejected: 0, probability: 0 })
    }))

  it.effect("bad options are InvalidOptionsError naming the field", () =>
    Effect.gen(function*() {
      const field = (options: AdaptiveThrottle.AdaptiveThrottle.Options) =>
        Effect.scoped(AdaptiveThrottle.make(options)).pipe(
          Effect.match({
            onFailure: (e) => e instanceof InvalidOptionsError.InvalidOptionsError ? e.field : e._tag,
            onSuccess: () => "accepted"
          })
        )
      expect(yield* field({ name: "" })).toBe("name")
      expect(yield* field({ name: "x", k: 0.5 })).toBe("k")
      expect(yield* field({ name: "x", window: 0 })).toBe("window")
      expect(yield* field({ name: "x", buckets: 0 })).toBe("buckets")
      expect(yield* field({ name: "x", k: 1 })).toBe("accepted")
    }))
})

describe("AdaptiveThrottle in a ResilientClient, against a backend failing 50%", () => {
  /** 2,000 calls with 4 attempts each (no wait between them); returns backend calls per accepted one. */
  const run = (name: string, adaptiveThrottle: boolean, failureRate: number) =>
    Effect.gen(function*() {
      let seen = 0
      let accepted = 0
      const backend = Effect.flatMap(Random.next, (r) => {
        seen++
        if (r < failureRate) return fail
        accepted++
        return Effect.void
      })
      const client = yield* ResilientClient.make({
        name,
        retry: { maxAttempts: 4, schedule: Backoff.constant(0) },
        ...(adaptiveThrottle ? { adaptiveThrottle: { k: 2 } } : {})
      })
      let succeeded = 0
      for (let i = 0; i < 2_000; i++) {
        if (Exit.isSuccess(yield* Effect.exit(client.execute(backend)))) succeeded++
      }
      return { seen, accepted, succeeded, perAccepted: seen / accepted, perCall: seen / 2_000 }
    }).pipe(Effect.withRandom(Random.make(7)))

  it.scoped("the backend sees at most about k = 2 requests per accepted one; plain retries send more", () =>
    Effect.gen(function*() {
      const plain = yield* run("plain-50", false, 0.5)
      const throttled = yield* run("throttled-50", true, 0.5)
      console.log("50% failing:", JSON.stringify({ plain, throttled }))
      expect(throttled.perAccepted).toBeLessThanOrEqual(2.2)
      expect(throttled.perCall).toBeLessThan(plain.perCall * 0.7)
      // An outage (every call fails): plain retries send 4 attempts per call, the throttle almost none.
      const plainDown = yield* run("plain-100", false, 1)
      const throttledDown = yield* run("throttled-100", true, 1)
      console.log("100% failing:", JSON.stringify({ plainDown, throttledDown }))
      expect(plainDown.perCall).toBe(4)
      expect(throttledDown.perCall).toBeLessThan(0.1)
    }))
})
