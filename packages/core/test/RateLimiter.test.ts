import { Deadline, RateLimiter, ResilienceRegistry, RetryAfter } from "@effect-resilience/core"
import * as Experimental from "@effect/experimental/RateLimiter"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Exit, FastCheck, Fiber, Layer, Option, TestClock } from "effect"
import { waitingBurst } from "./utils/rateLimiter.js"

const attempt = (limiter: RateLimiter.RateLimiter) => Effect.either(limiter.execute(Effect.succeed(1)))

describe("RateLimiter", () => {
  it.scoped("fail: admits exactly limit calls per interval, rejects the rest with a RetryAfter hint", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ name: "api", limit: 10, interval: "1 second" })
      const first = yield* Effect.forEach(Array.from({ length: 25 }), () => attempt(limiter))
      expect(first.filter(Either.isRight)).toHaveLength(10)
      const rejected = first.filter(Either.isLeft).map((e) => e.left)
      expect(rejected).toHaveLength(15)
      expect(rejected[0]!._tag).toBe("RateLimitedError")
      expect(rejected[0]!.limiterName).toBe("api")
      expect(RetryAfter.get(rejected[0]!)).toEqual(Option.some(Duration.seconds(1)))
      yield* TestClock.adjust("1 second")
      const second = yield* Effect.forEach(Array.from({ length: 12 }), () => attempt(limiter))
      expect(second.filter(Either.isRight)).toHaveLength(10)
      expect(yield* limiter.stats).toEqual({ admitted: 20, delayed: 0, rejected: 17 })
    }))

  it.scoped.prop(
    "fail: in one window, admitted = min(calls, limit)",
    { limit: FastCheck.integer({ min: 1, max: 50 }), calls: FastCheck.integer({ min: 0, max: 120 }) },
    ({ calls, limit }) =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "prop", limit, interval: "1 minute" })
        const results = yield* Effect.forEach(Array.from({ length: calls }), () => attempt(limiter))
        expect(results.filter(Either.isRight)).toHaveLength(Math.min(calls, limit))
        expect((yield* limiter.stats).rejected).toBe(Math.max(0, calls - limit))
      }),
    { fastCheck: { numRuns: 30 } }
  )

  it.scoped("wait: later calls wait for the next window", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ name: "w", limit: 2, interval: "1 second", onLimit: "wait" })
      const done: Array<number> = []
      const fibers = yield* Effect.forEach([1, 2, 3, 4, 5], (i) =>
        Effect.fork(limiter.execute(Effect.sync(() => done.push(i)))))
      yield* Effect.yieldNow()
      expect(done).toEqual([1, 2])
      yield* TestClock.adjust("999 millis")
      expect(done).toEqual([1, 2])
      yield* TestClock.adjust("1 millis")
      // The second window admits two more (in any order: they wake at the same instant).
      expect([...done].sort()).toEqual([1, 2, 3, 4])
      yield* TestClock.adjust("1 second")
      yield* Effect.forEach(fibers, Fiber.join)
      expect(done[4]).toBe(5)
      expect(yield* limiter.stats).toEqual({ admitted: 5, delayed: 3, rejected: 0 })
    }))

  it.scoped("wait: a wait beyond maxWait or the deadline fails at once", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({
        name: "mw",
        limit: 1,
        interval: "10 seconds",
        onLimit: "wait",
        maxWait: "1 second"
      })
      yield* limiter.execute(Effect.void)
      const error = yield* Effect.flip(limiter.execute(Effect.void))
      expect(error._tag).toBe("RateLimitedError")
      expect(Duration.toMillis(error.retryAfter)).toBeGreaterThan(1000)

      const patient = yield* RateLimiter.make({ name: "dl", limit: 1, interval: "10 seconds", onLimit: "wait" })
      yield* patient.execute(Effect.void)
      const exit = yield* Effect.exit(patient.execute(Effect.void).pipe(Deadline.within("2 seconds")))
      expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error._tag).toBe("RateLimitedError")
    }))

  it.scoped("wait: calls rejected for too long a wait reserve nothing (a burst does not lock the limiter out)", () =>
    Effect.gen(function*() {
      const { burst, limiter } = yield* waitingBurst("burst", "1 second", 50)
      yield* TestClock.adjust("1 second")
      const results = yield* Effect.forEach(burst, Fiber.join)
      // One at once, one after a 1 s wait; the other 48 would wait longer than maxWait.
      expect(results.filter(Either.isRight)).toHaveLength(2)
      expect(results.filter(Either.isLeft)).toHaveLength(48)
      // After 3 idle seconds the limiter is fresh again: the 48 rejections kept no slot.
      yield* TestClock.adjust("3 seconds")
      const after = yield* Effect.either(limiter.execute(Effect.succeed("ok")))
      expect(after).toEqual(Either.right("ok"))
      expect(yield* limiter.stats).toEqual({ admitted: 3, delayed: 1, rejected: 48 })
    }))

  it.scoped("wait: an interrupted waiter gives its slot back", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ name: "int", limit: 1, interval: "10 seconds", onLimit: "wait" })
      yield* limiter.execute(Effect.void)
      const waiters = yield* Effect.forEach(Array.from({ length: 5 }), () => Effect.fork(limiter.execute(Effect.void)))
      yield* Effect.yieldNow()
      yield* Effect.forEach(waiters, Fiber.interrupt)
      // Only the first call's window is left: the next call waits for it alone, not for five more windows.
      yield* TestClock.adjust("10 seconds")
      const next = yield* Effect.fork(limiter.execute(Effect.succeed("now")))
      yield* Effect.yieldNow()
      expect(yield* Fiber.poll(next)).toEqual(Option.some(Exit.succeed("now")))
    }))

  it.scoped("keyed: each key has its own limit", () =>
    Effect.gen(function*() {
      const perTenant = yield* RateLimiter.keyed<string>({ name: "tenants", limit: 2, interval: "1 second" })
      const run = (key: string) => Effect.either(perTenant.execute(key, Effect.succeed(key)))
      const results = yield* Effect.forEach(["a", "a", "a", "b", "b", "b"], run)
      expect(results.map(Either.isRight)).toEqual([true, true, false, true, true, false])
      expect(yield* perTenant.stats).toEqual({ admitted: 4, delayed: 0, rejected: 2 })
    }))

  it.scoped("uses a provided @effect/experimental RateLimiter: limiters over one store share counts", () =>
    Effect.gen(function*() {
      const a = yield* RateLimiter.make({ name: "shared", limit: 3, interval: "1 second" })
      const b = yield* RateLimiter.make({ name: "shared", limit: 3, interval: "1 second" })
      const results = yield* Effect.forEach([a, b, a, b], (l) => attempt(l))
      expect(results.map(Either.isRight)).toEqual([true, true, true, false])
    }).pipe(Effect.provide(Experimental.layer.pipe(Layer.provide(Experimental.layerStoreMemory)))))

  it.scoped("registers in the registry; bad options fail naming the field", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ name: "reg", limit: 1, interval: "1 second" })
      expect(RateLimiter.isRateLimiter(limiter)).toBe(true)
      const entries = yield* ResilienceRegistry.entries
      expect(entries.map((e) => [e.kind, e.name])).toEqual([["rate_limiter", "reg"]])
      const bad = yield* Effect.flip(RateLimiter.make({ name: "bad", limit: 0, interval: "1 second" }))
      expect(bad).toMatchObject({ _tag: "InvalidOptionsError", field: "limit", value: 0 })
      const badInterval = yield* Effect.flip(RateLimiter.make({ name: "bad", limit: 1, interval: 0 }))
      expect(badInterval).toMatchObject({ field: "interval" })
    }).pipe(Effect.provide(ResilienceRegistry.layer)))
})
