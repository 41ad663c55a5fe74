import { RateLimiter } from "@effect-resilience/core"
import * as Experimental from "@effect/experimental/RateLimiter"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Either, FastCheck, Fiber, Layer, TestClock } from "effect"
import { BoundedStore } from "../src/internal/rateLimiterStore.js"
import { waitingBurst } from "./utils/rateLimiter.js"

describe("RateLimiter memory store", () => {
  it("forgets a fixed-window key once its window has passed", () => {
    const store = new BoundedStore(1_000_000)
    for (let i = 0; i < 10_000; i++) store.fixedWindow(`k${i}`, 1, 100, 1, i)
    // At 10,100 ms every window has passed: the next insertions sweep them all away.
    for (let i = 0; i < 10_000; i++) store.fixedWindow(`n${i}`, 1, 100, 1, 20_000)
    expect(store.size).toBeLessThanOrEqual(10_000 + 1_024)
  })

  it("keeps at most maxKeys keys, dropping the key whose window began first", () => {
    const store = new BoundedStore(100)
    for (let i = 0; i < 1_000; i++) store.fixedWindow(`k${i}`, 1, 60_000, 1, 0)
    expect(store.size).toBeLessThanOrEqual(100)
    expect(store.size).toBeGreaterThan(90)
    // The newest key still counts: its second call is over the limit.
    expect(store.fixedWindow("k999", 1, 60_000, 1, 0)[0]).toBe(2)
    // The oldest was dropped: it starts over.
    expect(store.fixedWindow("k0", 1, 60_000, 1, 0)[0]).toBe(1)
  })

  it("forgets a token bucket once it is full again, and counts as @effect/experimental's store", () => {
    const store = new BoundedStore(1_000_000)
    expect(store.tokenBucket("a", 1, 2, 500, false, 0)).toBe(1)
    expect(store.tokenBucket("a", 1, 2, 500, false, 0)).toBe(0)
    expect(store.tokenBucket("a", 1, 2, 500, false, 0)).toBe(-1)
    expect(store.tokenBucket("a", 1, 2, 500, false, 499)).toBe(-1)
    expect(store.tokenBucket("a", 1, 2, 500, false, 500)).toBe(0)
    for (let i = 0; i < 2_000; i++) store.tokenBucket(`b${i}`, 1, 2, 500, false, 10_000)
    // "a" was full again at 1,500 ms: swept.
    expect(store.size).toBeLessThanOrEqual(2_000)
  })

  it.effect.prop(
    "counts exactly as @effect/experimental's memory store (no key is dropped below the bound)",
    {
      ops: FastCheck.array(
        FastCheck.record({
          key: FastCheck.constantFrom("a", "b", "c"),
          tokens: FastCheck.integer({ min: -1, max: 3 }),
          advance: FastCheck.integer({ min: 0, max: 700 }),
          bucket: FastCheck.boolean(),
          overflow: FastCheck.boolean()
        }),
        { maxLength: 60 }
      )
    },
    ({ ops }) =>
      Effect.gen(function*() {
        const theirs = yield* Experimental.RateLimiterStore.pipe(Effect.provide(Experimental.layerStoreMemory))
        const ours = new BoundedStore(100)
        const refill = Duration.millis(250)
        for (const op of ops) {
          yield* TestClock.adjust(Duration.millis(op.advance))
          const now = yield* Clock.currentTimeMillis
          // Token buckets and fixed windows are kept apart, as @effect/experimental keeps them in two maps.
          const key = `${op.bucket ? "tb" : "fw"}:${op.key}`
          if (op.bucket) {
            const expected = yield* theirs.tokenBucket({
              key,
              tokens: op.tokens,
              limit: 4,
              refillRate: refill,
              allowOverflow: op.overflow
            })
            expect(ours.tokenBucket(key, op.tokens, 4, 250, op.overflow, now)).toBe(expected)
          } else {
            const limit = op.overflow ? undefined : 4
            const expected = yield* theirs.fixedWindow({ key, tokens: op.tokens, refillRate: refill, limit })
            expect(ours.fixedWindow(key, op.tokens, 250, limit, now)).toEqual(expected)
          }
        }
      }),
    { fastCheck: { numRuns: 50 } }
  )

  it.effect("a keyed limiter under a flood of keys stays bounded and keeps counting its live keys", () =>
    Effect.gen(function*() {
      const perKey = yield* RateLimiter.keyed<string>({ name: "flood", limit: 1, interval: "1 minute", maxKeys: 50 })
      yield* perKey.execute("victim", Effect.void)
      // The victim's limit holds until more than maxKeys keys arrive.
      expect(Either.isLeft(yield* Effect.either(perKey.execute("victim", Effect.void)))).toBe(true)
      yield* Effect.forEach(
        Array.from({ length: 49 }, (_, i) => `attacker-${i}`),
        (k) => perKey.execute(k, Effect.void)
      )
      expect(Either.isLeft(yield* Effect.either(perKey.execute("victim", Effect.void)))).toBe(true)
      // Past the bound the oldest key is forgotten: more lenient for it, never a lock-out.
      yield* Effect.forEach(Array.from({ length: 100 }, (_, i) => `more-${i}`), (k) => perKey.execute(k, Effect.void))
      expect(Either.isRight(yield* Effect.either(perKey.execute("victim", Effect.void)))).toBe(true)
      const bad = yield* Effect.flip(RateLimiter.keyed({ name: "bad", limit: 1, interval: "1 second", maxKeys: 0 }))
      expect(bad).toMatchObject({ _tag: "InvalidOptionsError", field: "maxKeys", value: 0 })
    }).pipe(Effect.scoped))

  it.effect("layerStoreMemory: shared counts; a rejected wait gives its slot back in @effect/experimental's store too", () =>
    Effect.gen(function*() {
      for (const storeLayer of [RateLimiter.layerStoreMemory({ maxKeys: 10 }), Experimental.layerStoreMemory]) {
        yield* Effect.gen(function*() {
          const { burst, limiter } = yield* waitingBurst("shared", "1 second", 20)
          yield* TestClock.adjust("1 second")
          const results = yield* Effect.forEach(burst, Fiber.join)
          expect(results.filter(Either.isRight)).toHaveLength(2)
          yield* TestClock.adjust("3 seconds")
          expect(yield* Effect.either(limiter.execute(Effect.succeed(1)))).toEqual(Either.right(1))
        }).pipe(Effect.scoped, Effect.provide(Experimental.layer.pipe(Layer.provide(storeLayer))))
      }
    }))
})
