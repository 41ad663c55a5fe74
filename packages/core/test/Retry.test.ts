import {
  Backoff,
  Deadline,
  InvalidOptionsError,
  ResilienceMetrics,
  Retry,
  RetryAfter,
  RetryBudget,
  Timeout
} from "@effect-resilience/core"
import type { TimeoutError } from "@effect-resilience/core/Timeout"
import { describe, expect, it } from "@effect/vitest"
import {
  Cause,
  Data,
  Duration,
  Effect,
  Exit,
  Fiber,
  Metric,
  MetricState,
  Random,
  Schedule,
  ScheduleDecision,
  ScheduleInterval,
  TestClock
} from "effect"

class Boom extends Data.TaggedError("Boom")<{ readonly attempt: number }> {}

class Busy extends Data.TaggedError("Busy")<{ readonly attempt: number; readonly hint: Duration.Duration }> {
  get [RetryAfter.symbol]() {
    return this.hint
  }
}

/** A call that fails `failures` times with `Boom { attempt }`, then succeeds with the attempt number. */
const flaky = (failures: number) => {
  const starts: Array<number> = []
  const effect = Effect.gen(function*() {
    starts.push(yield* TestClock.currentTimeMillis)
    const attempt = starts.length
    if (attempt <= failures) return yield* Effect.fail(new Boom({ attempt }))
    return attempt
  })
  return { effect, starts }
}

const never = Number.POSITIVE_INFINITY

class BrokenHint extends Data.TaggedError("BrokenHint")<{ readonly attempt: number }> {
  get [RetryAfter.symbol](): Duration.Duration {
    throw new Error("the hint getter threw")
  }
}

describe("Retry", () => {
  it.effect("a RetryAfter hint getter that throws counts as no hint, not a defect", () =>
    Effect.gen(function*() {
      let attempts = 0
      const fiber = yield* Effect.suspend(() => Effect.fail(new BrokenHint({ attempt: ++attempts }))).pipe(
        Retry.retry({ schedule: Schedule.spaced("100 millis"), maxAttempts: 3 }),
        Effect.exit,
        Effect.fork
      )
      yield* TestClock.adjust("200 millis")
      const exit = yield* Fiber.join(fiber)
      expect(attempts).toBe(3)
      expect(exit).toEqual(Exit.fail(new BrokenHint({ attempt: 3 })))
    }))

  it.effect("the seed's example: fails twice, succeeds the third time", () =>
    Effect.gen(function*() {
      const { effect, starts } = flaky(2)
      const events: Array<[number, number, number]> = []
      const fiber = yield* effect.pipe(
        Retry.retry({
          schedule: Backoff.exponential({ base: "100 millis", cap: "1 second" }),
          maxAttempts: 4,
          onRetry: ({ attempt, delay, error }) =>
            Effect.sync(() => events.push([attempt, error.attempt, Duration.toMillis(delay)]))
        }),
        Effect.fork
      )
      yield* TestClock.adjust("99 millis")
      expect(starts).toEqual([0])
      yield* TestClock.adjust("1 millis")
      expect(starts).toEqual([0, 100])
      yield* TestClock.adjust("200 millis")
      expect(yield* Fiber.join(fiber)).toBe(3)
      expect(starts).toEqual([0, 100, 300])
      expect(events).toEqual([[1, 1, 100], [2, 2, 200]])
    }))

  it.effect("waits exactly the schedule's jittered delays under a fixed seed", () =>
    Effect.gen(function*() {
      const schedule = Backoff.exponential({ base: "100 millis", cap: "2 seconds" }).pipe(Backoff.fullJitter)
      const expected = yield* Backoff.preview(schedule, 5).pipe(Effect.withRandom(Random.make(99)))
      const { effect, starts } = flaky(never)
      const delays: Array<Duration.Duration> = []
      const fiber = yield* effect.pipe(
        Retry.retry({ schedule, maxAttempts: 6, onRetry: ({ delay }) => Effect.sync(() => delays.push(delay)) }),
        Effect.withRandom(Random.make(99)),
        Effect.fork
      )
      yield* TestClock.adjust("1 minute")
      yield* Fiber.await(fiber)
      expect(delays).toEqual(expected)
      // each attempt starts when the previous wait ends (to the millisecond the TestClock keeps)
      const gaps = starts.slice(1).map((s, i) => s - starts[i]!)
      gaps.forEach((gap, i) => expect(gap).toBeCloseTo(Duration.toMillis(expected[i]!), 5))
    }))

  it.effect("maxAttempts counts every attempt, the first included, and the last error comes back", () =>
    Effect.gen(function*() {
      for (const maxAttempts of [1, 2, 4]) {
        const { effect, starts } = flaky(never)
        const fiber = yield* effect.pipe(
          Retry.retry({ schedule: Backoff.constant("10 millis"), maxAttempts }),
          Effect.fork
        )
        yield* TestClock.adjust("1 second")
        expect(yield* Fiber.await(fiber)).toEqual(Exit.fail(new Boom({ attempt: maxAttempts })))
        expect(starts.length).toBe(maxAttempts)
      }
    }))

  it.effect("without maxAttempts the schedule decides; without a schedule 3 attempts", () =>
    Effect.gen(function*() {
      const a = flaky(never)
      const fa = yield* a.effect.pipe(Retry.retry({ schedule: Schedule.recurs(4) }), Effect.fork)
      const b = flaky(never)
      const fb = yield* b.effect.pipe(Retry.retry({}), Effect.fork)
      yield* TestClock.adjust("1 minute")
      expect(yield* Fiber.await(fa)).toEqual(Exit.fail(new Boom({ attempt: 5 })))
      expect(yield* Fiber.await(fb)).toEqual(Exit.fail(new Boom({ attempt: 3 })))
    }))

  it.effect("the final failure keeps its whole cause", () =>
    Effect.gen(function*() {
      const cause = Cause.sequential(Cause.fail("first"), Cause.fail("second"))
      const exit = yield* Effect.failCause(cause).pipe(
        Retry.retry({ schedule: Backoff.constant(0), maxAttempts: 2 }),
        Effect.exit
      )
      expect(exit).toEqual(Exit.failCause(cause))
    }))

  it.effect("stops when while(error) is false", () =>
    Effect.gen(function*() {
      const { effect, starts } = flaky(never)
      const exit = yield* effect.pipe(
        Retry.retry({ schedule: Backoff.constant(0), maxAttempts: 10, while: (e) => e.attempt < 3 }),
        Effect.exit
      )
      expect(exit).toEqual(Exit.fail(new Boom({ attempt: 3 })))
      expect(starts.length).toBe(3)
    }))

  it.effect("defects and interruption are not retried", () =>
    Effect.gen(function*() {
      let calls = 0
      const options = { schedule: Backoff.constant(0), maxAttempts: 5 }
      const died = yield* Effect.suspend(() => (calls++, Effect.die("bug"))).pipe(Retry.retry(options), Effect.exit)
      expect(died).toEqual(Exit.die("bug"))
      expect(calls).toBe(1)

      calls = 0
      const interrupted = yield* Effect.suspend(() => (calls++, Effect.interrupt)).pipe(
        Retry.retry(options),
        Effect.exit
      )
      expect(Exit.isInterrupted(interrupted)).toBe(true)
      expect(calls).toBe(1)

      calls = 0
      const mixed = Cause.parallel(Cause.fail("typed"), Cause.die("bug"))
      const exit = yield* Effect.suspend(() => (calls++, Effect.failCause(mixed))).pipe(
        Retry.retry(options),
        Effect.exit
      )
      expect(exit).toEqual(Exit.failCause(mixed))
      expect(calls).toBe(1)
    }))

  it.effect("interrupting the caller during a backoff wait stops the retries", () =>
    Effect.gen(function*() {
      const { effect, starts } = flaky(never)
      let retries = 0
      const fiber = yield* effect.pipe(
        Retry.retry({
          schedule: Backoff.constant("1 second"),
          maxAttempts: 10,
          onRetry: () => Effect.sync(() => retries++)
        }),
        Effect.fork
      )
      yield* TestClock.adjust("1500 millis")
      expect(starts).toEqual([0, 1000])
      const exit = yield* Fiber.interrupt(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
      yield* TestClock.adjust("1 minute")
      expect(starts).toEqual([0, 1000])
      expect(retries).toBe(2)
    }))

  it.effect("retries attempt timeouts (a TimeoutError is a typed failure)", () =>
    Effect.gen(function*() {
      let calls = 0
      const attempt = Effect.suspend(() => ++calls < 3 ? Effect.never : Effect.succeed(calls)).pipe(
        Timeout.timeout("1 second")
      )
      const fiber = yield* attempt.pipe(
        Retry.retry({ schedule: Backoff.constant("100 millis"), maxAttempts: 3 }),
        Effect.fork
      )
      yield* TestClock.adjust("2200 millis")
      expect(yield* Fiber.join(fiber)).toBe(3)
    }))

  describe("RetryAfter", () => {
    const busy = (hint: Duration.DurationInput, failures = never) => {
      const starts: Array<number> = []
      const effect = Effect.gen(function*() {
        starts.push(yield* TestClock.currentTimeMillis)
        if (starts.length <= failures) {
          return yield* Effect.fail(new Busy({ attempt: starts.length, hint: Duration.decode(hint) }))
        }
        return "done"
      })
      return { effect, starts }
    }

    it.effect("a hint makes the next wait at least that long", () =>
      Effect.gen(function*() {
        const { effect, starts } = busy("5 seconds", 1)
        const fiber = yield* effect.pipe(
          Retry.retry({ schedule: Backoff.constant("100 millis"), maxAttempts: 3 }),
          Effect.fork
        )
        yield* TestClock.adjust("4999 millis")
        expect(starts).toEqual([0])
        yield* TestClock.adjust("1 millis")
        expect(yield* Fiber.join(fiber)).toBe("done")
        expect(starts).toEqual([0, 5000])
      }))

    it.effect("a hint shorter than the schedule's delay changes nothing", () =>
      Effect.gen(function*() {
        const { effect, starts } = busy("10 millis", 1)
        const fiber = yield* effect.pipe(
          Retry.retry({ schedule: Backoff.constant("1 second"), maxAttempts: 3 }),
          Effect.fork
        )
        yield* TestClock.adjust("1 second")
        expect(yield* Fiber.join(fiber)).toBe("done")
        expect(starts).toEqual([0, 1000])
      }))

    it.effect("a hint beyond maxRetryAfter ends the retries at once", () =>
      Effect.gen(function*() {
        const { effect, starts } = busy("31 seconds")
        const exit = yield* effect.pipe(Retry.retry({ schedule: Backoff.constant(0), maxAttempts: 5 }), Effect.exit)
        expect(exit).toEqual(Exit.fail(new Busy({ attempt: 1, hint: Duration.seconds(31) })))
        expect(starts).toEqual([0])

        const fits = busy("2 seconds", 1)
        const fiber = yield* fits.effect.pipe(
          Retry.retry({ schedule: Backoff.constant(0), maxAttempts: 5, maxRetryAfter: "2 seconds" }),
          Effect.fork
        )
        yield* TestClock.adjust("2 seconds")
        expect(yield* Fiber.join(fiber)).toBe("done")

        const tooLong = busy("3 seconds")
        expect(
          yield* tooLong.effect.pipe(
            Retry.retry({ schedule: Backoff.constant(0), maxAttempts: 5, maxRetryAfter: "2 seconds" }),
            Effect.exit
          )
        ).toEqual(Exit.fail(new Busy({ attempt: 1, hint: Duration.seconds(3) })))
      }))

    it.effect("respectRetryAfter: false ignores hints", () =>
      Effect.gen(function*() {
        const { effect, starts } = busy("1 hour", 1)
        const fiber = yield* effect.pipe(
          Retry.retry({ schedule: Backoff.constant("100 millis"), maxAttempts: 3, respectRetryAfter: false }),
          Effect.fork
        )
        yield* TestClock.adjust("100 millis")
        expect(yield* Fiber.join(fiber)).toBe("done")
        expect(starts).toEqual([0, 100])
      }))
  })

  describe("Deadline", () => {
    it.effect("a wait that would pass the remaining deadline ends the retries at once with the last error", () =>
      Effect.gen(function*() {
        const { effect, starts } = flaky(never)
        const fiber = yield* effect.pipe(
          Retry.retry({ schedule: Backoff.constant("400 millis"), maxAttempts: 10 }),
          Deadline.within("1 second"),
          Effect.fork
        )
        yield* TestClock.adjust("800 millis")
        // attempts at 0, 400, 800; a fourth would start at 1200, past the deadline: give up now, not at 1000
        const exit = yield* Fiber.await(fiber)
        expect(exit).toEqual(Exit.fail(new Boom({ attempt: 3 })))
        expect(starts).toEqual([0, 400, 800])
      }))

    it.effect("a RetryAfter hint beyond the remaining deadline ends the retries at once", () =>
      Effect.gen(function*() {
        let calls = 0
        const error = new Busy({ attempt: 1, hint: Duration.seconds(5) })
        const exit = yield* Effect.suspend(() => (calls++, Effect.fail(error))).pipe(
          Retry.retry({ schedule: Backoff.constant(0), maxAttempts: 5 }),
          Deadline.within("2 seconds"),
          Effect.exit
        )
        expect(exit).toEqual(Exit.fail(error))
        expect(calls).toBe(1)
      }))

    it.effect("a hint that fits the deadline and maxRetryAfter is waited for (an open breaker's error)", () =>
      Effect.gen(function*() {
        let calls = 0
        const effect = Effect.suspend(() =>
          ++calls === 1 ? Effect.fail(new Busy({ attempt: 1, hint: Duration.seconds(1) })) : Effect.succeed(calls)
        )
        const fiber = yield* effect.pipe(
          Retry.retry({ schedule: Backoff.constant(0), maxAttempts: 3, maxRetryAfter: "5 seconds" }),
          Deadline.within("3 seconds"),
          Effect.fork
        )
        yield* TestClock.adjust("1 second")
        expect(yield* Fiber.join(fiber)).toBe(2)
      }))
  })

  it.effect("onRetry runs right after the failure, before the wait", () =>
    Effect.gen(function*() {
      const { effect, starts } = flaky(1)
      const seenAt: Array<number> = []
      const fiber = yield* effect.pipe(
        Retry.retry({
          schedule: Backoff.constant("1 second"),
          maxAttempts: 2,
          onRetry: () => Effect.flatMap(TestClock.currentTimeMillis, (now) => Effect.sync(() => seenAt.push(now)))
        }),
        Effect.fork
      )
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      expect([seenAt, starts]).toEqual([[0], [0, 1000]])
    }))

  it.effect("the schedule receives each error as its input", () =>
    Effect.gen(function*() {
      const { effect, starts } = flaky(never)
      const exit = yield* effect.pipe(
        Retry.retry({ schedule: Schedule.recurWhile((e: Boom) => e.attempt < 4), maxAttempts: 10 }),
        Effect.exit
      )
      expect(exit).toEqual(Exit.fail(new Boom({ attempt: 4 })))
      expect(starts.length).toBe(4)
    }))

  it.scoped("with a budget: one request per call (not per attempt); a denied retry calls no onRetry", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ name: "retry-test-budget", ratio: 0, minPerSecond: 0.2 })
      let retries = 0
      const options = {
        schedule: Backoff.constant(0),
        maxAttempts: 5,
        budget,
        onRetry: () => Effect.sync(() => retries++)
      }
      // two tokens in all (0.2 per second over 10 s): the first call spends them and succeeds
      expect(yield* flaky(2).effect.pipe(Retry.retry(options))).toBe(3)
      expect(yield* budget.stats).toEqual({ requests: 1, retries: 2, available: 0, exhausted: 0 })
      const { effect, starts } = flaky(2)
      expect(yield* Effect.exit(effect.pipe(Retry.retry(options)))).toEqual(Exit.fail(new Boom({ attempt: 1 })))
      expect([starts.length, retries]).toEqual([1, 2])
      expect(yield* budget.stats).toEqual({ requests: 2, retries: 2, available: 0, exhausted: 1 })
    }))

  it.effect("a first-attempt success never steps the schedule nor calls onRetry", () =>
    Effect.gen(function*() {
      let steps = 0
      const counting = Schedule.makeWithState(0, (now, _: unknown, n: number) =>
        Effect.sync(() => {
          steps++
          return [n + 1, n, ScheduleDecision.continueWith(ScheduleInterval.after(now))] as const
        }))
      let retries = 0
      const policy = Retry.retry({ schedule: counting, maxAttempts: 3, onRetry: () => Effect.sync(() => retries++) })
      for (let i = 0; i < 100; i++) expect(yield* policy(Effect.succeed(i))).toBe(i)
      expect([steps, retries]).toEqual([0, 0])
      yield* flaky(1).effect.pipe(policy)
      expect([steps, retries]).toEqual([1, 1])
    }))

  it.effect("counts retries (attempts after the first) in retry_attempts_total{name}", () =>
    Effect.gen(function*() {
      const name = "retry-metrics-test"
      yield* flaky(2).effect.pipe(Retry.retry({ name, schedule: Backoff.constant(0), maxAttempts: 5 }))
      yield* Effect.succeed(1).pipe(Retry.retry({ name, schedule: Backoff.constant(0), maxAttempts: 5 }))
      const state = yield* Metric.value(Metric.tagged(ResilienceMetrics.retryAttemptsTotal, "name", name))
      expect(MetricState.isCounterState(state) && state.count).toBe(2)
    }))

  it("infers the error type in a pipe and keeps Effect<A, E, R>", () => {
    const call: Effect.Effect<number, Boom | TimeoutError> = Effect.fail(new Boom({ attempt: 1 })).pipe(
      Effect.as(1),
      Timeout.timeout("1 second"),
      Retry.retry({ maxAttempts: 2, while: (e) => e._tag === "Boom", onRetry: ({ error }) => Effect.log(error._tag) })
    )
    expect(Effect.isEffect(call)).toBe(true)
  })

  it("rejects invalid options when built, naming the field and the value", () => {
    const cases: Array<[Retry.Retry.Options<unknown>, string, unknown]> = [
      [{ maxAttempts: 0 }, "maxAttempts", 0],
      [{ maxAttempts: 1.5 }, "maxAttempts", 1.5],
      [{ maxAttempts: Number.NaN }, "maxAttempts", Number.NaN],
      [{ maxRetryAfter: -1 }, "maxRetryAfter", -1],
      [{ maxRetryAfter: Number.NaN }, "maxRetryAfter", Number.NaN],
      [{ schedule: "soon" as never }, "schedule", "soon"],
      [{ budget: {} as never }, "budget", {}]
    ]
    for (const [options, field, value] of cases) {
      let caught: unknown
      try {
        Retry.retry(Effect.void, options)
      } catch (error) {
        caught = error
      }
      expect(caught).toBeInstanceOf(InvalidOptionsError.InvalidOptionsError)
      const error = caught as InvalidOptionsError.InvalidOptionsError
      expect([error.constructorName, error.field, error.value]).toEqual(["Retry.retry", field, value])
    }
  })
})
