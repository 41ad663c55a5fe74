import { Backoff, Bulkhead, Deadline, Retry, Timeout } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Exit, FastCheck, Fiber, Option, TestClock } from "effect"

describe("Timeout", () => {
  it.effect("interrupts the attempt (its finalizer runs) and fails with scope attempt", () =>
    Effect.gen(function*() {
      let finalized = false
      const fiber = yield* Effect.never.pipe(
        Effect.ensuring(Effect.sync(() => {
          finalized = true
        })),
        Timeout.timeout("1 second"),
        Effect.fork
      )
      yield* TestClock.adjust("999 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      const exit = yield* Fiber.await(fiber)
      expect(exit).toEqual(Exit.fail(new Timeout.TimeoutError({ duration: Duration.seconds(1), scope: "attempt" })))
      expect(finalized).toBe(true)
    }))

  it.effect("passes a result through unchanged", () =>
    Effect.gen(function*() {
      expect(yield* Effect.succeed(1).pipe(Timeout.timeout("1 second"))).toBe(1)
    }))

  it.effect("passes failures and defects through unchanged, and runs the attempt with the caller's services", () =>
    Effect.gen(function*() {
      expect(yield* Effect.flip(Effect.fail("boom").pipe(Timeout.timeout("1 second")))).toBe("boom")
      const died = yield* Effect.exit(Effect.die("bug").pipe(Timeout.timeout("1 second")))
      expect(died).toEqual(Exit.die("bug"))
      class Greeting extends Context.Tag("Greeting")<Greeting, string>() {}
      const fiber = yield* Effect.fork(
        Effect.zipRight(Effect.sleep("10 millis"), Greeting).pipe(
          Timeout.timeout("1 second"),
          Effect.provideService(Greeting, "hello")
        )
      )
      yield* TestClock.adjust("10 millis")
      expect(yield* Fiber.join(fiber)).toBe("hello")
    }))

  it.effect("an attempt that answers in time is not touched when the limit passes", () =>
    Effect.gen(function*() {
      let interrupted = false
      const fiber = yield* Effect.sleep("100 millis").pipe(
        Effect.as("on time"),
        Effect.onInterrupt(() =>
          Effect.sync(() => {
            interrupted = true
          })
        ),
        Timeout.timeout("1 second"),
        Effect.fork
      )
      yield* TestClock.adjust("100 millis")
      expect(yield* Fiber.join(fiber)).toBe("on time")
      yield* TestClock.adjust("5 seconds")
      expect(interrupted).toBe(false)
    }))

  it.effect("interrupting the caller interrupts the attempt first (its finalizer has run)", () =>
    Effect.gen(function*() {
      let finalized = false
      const fiber = yield* Effect.never.pipe(
        Effect.ensuring(Effect.sync(() => {
          finalized = true
        })),
        Timeout.timeout("1 second"),
        Effect.fork
      )
      yield* TestClock.adjust("10 millis")
      yield* Fiber.interrupt(fiber)
      expect(finalized).toBe(true)
    }))

  it.live("on the live clock: attempts sharing a limit share one timer; the slow ones are interrupted", () =>
    Effect.gen(function*() {
      const finalized: Array<number> = []
      const attempt = (i: number) =>
        (i % 3 === 0 ? Effect.never : Effect.promise(() => Promise.resolve(i))).pipe(
          Effect.onInterrupt(() => Effect.sync(() => finalized.push(i))),
          Timeout.timeout("1 millis"),
          Effect.either
        )
      const results = yield* Effect.forEach(Array.from({ length: 12 }, (_, i) => i), attempt, {
        concurrency: "unbounded"
      })
      expect(results.map((r) => r._tag === "Left" ? r.left._tag : r.right)).toEqual(
        Array.from({ length: 12 }, (_, i) => i % 3 === 0 ? "TimeoutError" : i)
      )
      expect(finalized.sort((a, b) => a - b)).toEqual([0, 3, 6, 9])
    }))

  it.live("leaves no timer keeping the process alive once attempts succeed (live clock)", () =>
    Effect.gen(function*() {
      const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length
      const before = timers()
      for (let i = 0; i < 200; i++) {
        yield* Effect.promise(() => Promise.resolve(i)).pipe(Timeout.timeout("1 minute"))
      }
      expect(timers()).toBeLessThanOrEqual(before)
    }))
})

describe("Deadline", () => {
  it.effect("cuts nested timeouts to what is left and fails with scope deadline and the whole budget", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.sleep("5 seconds").pipe(
        Timeout.timeout("10 seconds"),
        Deadline.within("2 seconds"),
        Effect.fork
      )
      yield* TestClock.adjust("2 seconds")
      const exit = yield* Fiber.await(fiber)
      expect(exit).toEqual(Exit.fail(new Timeout.TimeoutError({ duration: Duration.seconds(2), scope: "deadline" })))
    }))

  it.effect("remaining reads what is left, none outside a deadline", () =>
    Effect.gen(function*() {
      expect(yield* Deadline.remaining).toEqual(Option.none())
      const fiber = yield* Effect.sleep("300 millis").pipe(
        Effect.zipRight(Deadline.remaining),
        Deadline.within("1 second"),
        Effect.fork
      )
      yield* TestClock.adjust("300 millis")
      expect(yield* Fiber.join(fiber)).toEqual(Option.some(Duration.millis(700)))
    }))

  it.scoped("one deadline is shared by nested policies: a retry whose next wait would pass it gives up at once", () =>
    Effect.gen(function*() {
      let attempts = 0
      const seen: Array<Option.Option<Duration.Duration>> = []
      const bulkhead = yield* Bulkhead.make({ name: "nested", maxConcurrent: 1 })
      const attempt = Effect.gen(function*() {
        attempts++
        seen.push(yield* Deadline.remaining)
        yield* Effect.sleep("200 millis")
        return yield* Effect.fail(`attempt ${attempts}`)
      })
      const fiber = yield* attempt.pipe(
        Timeout.timeout("10 seconds"),
        Retry.retry({ schedule: Backoff.constant("300 millis"), maxAttempts: 10 }),
        Bulkhead.withBulkhead(bulkhead),
        Deadline.within("1 second"),
        Effect.fork
      )
      // Attempts at 0 and 500 ms; after the second (at 700 ms) a 300 ms wait would use up what is left.
      yield* TestClock.adjust("699 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.await(fiber)).toEqual(Exit.fail("attempt 2"))
      expect(attempts).toBe(2)
      expect(seen).toEqual([Option.some(Duration.seconds(1)), Option.some(Duration.millis(500))])
      expect(yield* bulkhead.stats).toEqual({ active: 0, queued: 0, rejected: 0 })
    }))

  it.effect.prop(
    "a call never outlives its deadline, whatever the attempts, timeouts and waits inside",
    {
      budget: FastCheck.integer({ min: 1, max: 5_000 }),
      latency: FastCheck.integer({ min: 0, max: 3_000 }),
      limit: FastCheck.integer({ min: 1, max: 3_000 }),
      wait: FastCheck.integer({ min: 0, max: 1_000 })
    },
    ({ budget, latency, limit, wait }) =>
      Effect.gen(function*() {
        const fiber = yield* Effect.sleep(Duration.millis(latency)).pipe(
          Effect.zipRight(Effect.fail("slow and failing")),
          Timeout.timeout(Duration.millis(limit)),
          Retry.retry({ schedule: Backoff.constant(Duration.millis(wait)), maxAttempts: 20 }),
          Deadline.within(Duration.millis(budget)),
          Effect.fork
        )
        yield* TestClock.adjust(Duration.millis(budget))
        expect(fiber.unsafePoll()).not.toBeNull()
      }),
    { fastCheck: { numRuns: 50 } }
  )

  it.effect("a nested deadline can only shorten the outer one", () =>
    Effect.gen(function*() {
      const fiber = yield* Deadline.remaining.pipe(
        Deadline.within("10 seconds"),
        Deadline.within("1 second"),
        Effect.fork
      )
      expect(yield* Fiber.join(fiber)).toEqual(Option.some(Duration.seconds(1)))
    }))
})

describe("Timeout and Deadline options", () => {
  const bad: ReadonlyArray<unknown> = [-1, Number.NaN, "-5 seconds", "banana", null, undefined, {}, [-1, 0], -1n]
  for (
    const [label, build] of [
      ["Timeout.timeout", (d: unknown) => Timeout.timeout(d as Duration.DurationInput)],
      ["Deadline.within", (d: unknown) => Deadline.within(d as Duration.DurationInput)]
    ] as const
  ) {
    it(`${label}: a bad duration throws InvalidOptionsError naming the field and the value, when the operator is built`, () => {
      for (const value of bad) {
        let thrown: unknown = undefined
        try {
          build(value)
        } catch (error) {
          thrown = error
        }
        expect(thrown).toMatchObject({ _tag: "InvalidOptionsError", constructorName: label, field: "duration" })
        expect((thrown as { value: unknown }).value).toStrictEqual(value)
      }
      // The data-first form checks the same way.
      expect(() =>
        label === "Timeout.timeout"
          ? Timeout.timeout(Effect.void, -1)
          : Deadline.within(Effect.void, "-5 seconds")
      ).toThrow(/invalid option duration/)
    })

    it.effect(`${label}: zero times out anything asynchronous at once; infinity is no limit`, () =>
      Effect.gen(function*() {
        expect(yield* Effect.succeed(1).pipe(build(0))).toBe(1)
        const zero = yield* Effect.fork(Effect.exit(Effect.sleep("1 millis").pipe(build(0))))
        yield* TestClock.adjust("0 millis")
        const exit = yield* Fiber.join(zero)
        expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error._tag).toBe("TimeoutError")
        const forever = yield* Effect.fork(Effect.sleep("1 day").pipe(build(Infinity)))
        yield* TestClock.adjust("1 day")
        expect(Option.isSome(yield* Fiber.poll(forever))).toBe(true)
      }))
  }
})
