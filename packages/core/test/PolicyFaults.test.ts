/**
 * The core policies' invariants under random interruption and hostile input (issue 12's fault suite, core part):
 *
 * - a bulkhead never runs more than `maxConcurrent`, serves its queue in arrival order and frees every slot;
 * - a keyed bulkhead under a flood of keys keeps every key's limit and never has more busy keys than `maxKeys`;
 * - a keyed breaker under a flood of keys never loses a victim's open breaker, whose calls never run;
 * - half-open probes with `onStateChange` hooks that throw, fail, die or never end: never more probes than
 *   `maxProbes`, and the breaker is never wedged;
 * - a retry never makes more than `maxAttempts` attempts, and none after it was interrupted (in a backoff too).
 *
 * Each scenario runs under `TestClock`. `pnpm test` runs a short form; `pnpm test:stress` at least 1,000 runs of
 * each (the figures in docs/reliability.md).
 */
import { Bulkhead, CircuitBreaker, Retry, RetryAfter } from "@effect-resilience/core"
import { Stress } from "@effect-resilience/testing"
import { describe, expect, it } from "@effect/vitest"
import { Data, Duration, Effect, Exit, FastCheck, Fiber, Logger, LogLevel, Schedule, TestClock } from "effect"

const timeout = Stress.enabled ? 1_800_000 : 30_000

class Boom extends Data.TaggedError("Boom")<{ readonly attempt: number }> {}

class Later extends Data.TaggedError("Later")<{ readonly attempt: number; readonly hint: number }> {
  get [RetryAfter.symbol](): Duration.Duration {
    return Duration.millis(this.hint)
  }
}

const outcomeArb = FastCheck.constantFrom("ok" as const, "ok" as const, "fail" as const, "die" as const)

const callerArb = FastCheck.record({
  startAt: FastCheck.integer({ min: 0, max: 30 }),
  work: FastCheck.integer({ min: 1, max: 20 }),
  interruptAt: FastCheck.option(FastCheck.integer({ min: 0, max: 80 }), { nil: undefined }),
  outcome: outcomeArb
})

const outcomeOf = (outcome: "ok" | "fail" | "die") =>
  outcome === "ok" ? Effect.void : outcome === "fail" ? Effect.fail(new Boom({ attempt: 0 })) : Effect.die("bug")

/** Interrupts `fiber` at `at` (TestClock millis), if given. */
const interruptAt = (fiber: Fiber.RuntimeFiber<unknown, unknown>, at: number | undefined) =>
  at === undefined ? Effect.void : Effect.asVoid(Effect.fork(Effect.zipRight(Effect.sleep(at), Fiber.interrupt(fiber))))

describe("policy invariants under random faults (stress)", () => {
  it.scoped.prop(
    "bulkhead: never more than maxConcurrent, the queue in arrival order, every slot freed",
    {
      scenario: FastCheck.record({
        max: FastCheck.integer({ min: 1, max: 4 }),
        queue: FastCheck.integer({ min: 0, max: 6 }),
        queueTimeout: FastCheck.option(FastCheck.integer({ min: 1, max: 30 }), { nil: undefined }),
        callers: FastCheck.array(callerArb, { minLength: 1, maxLength: 30 })
      })
    },
    ({ scenario }) =>
      Effect.gen(function*() {
        const { callers, max, queue, queueTimeout } = scenario
        const bulkhead = yield* Bulkhead.make({
          name: "faults",
          maxConcurrent: max,
          maxQueue: queue,
          ...(queueTimeout === undefined ? {} : { queueTimeout: Duration.millis(queueTimeout) })
        })
        const violations: Array<string> = []
        let running = 0
        let arrivals = 0
        const starts: Array<number> = []
        const fibers: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
        for (const caller of callers) {
          const body = (arrival: number) =>
            Effect.acquireUseRelease(
              Effect.sync(() => {
                if (++running > max) violations.push(`${running} running, max ${max}`)
                starts.push(arrival)
              }),
              () => Effect.zipRight(Effect.sleep(caller.work), outcomeOf(caller.outcome)),
              () => Effect.sync(() => running--)
            )
          const fiber = yield* Effect.fork(
            Effect.zipRight(
              Effect.sleep(caller.startAt),
              Effect.suspend(() => bulkhead.execute(body(arrivals++)))
            )
          )
          yield* interruptAt(fiber, caller.interruptAt)
          fibers.push(fiber)
        }
        yield* TestClock.adjust("10 seconds")
        yield* Effect.forEach(fibers, Fiber.await)
        for (let i = 1; i < starts.length; i++) {
          if (starts[i]! < starts[i - 1]!) violations.push(`started out of arrival order: ${starts.join(",")}`)
        }
        if (running !== 0) violations.push(`${running} still running`)
        const stats = yield* bulkhead.stats
        if (stats.active !== 0 || stats.queued !== 0) violations.push(`not at rest: ${JSON.stringify(stats)}`)
        // Every slot is there again: max calls run at once.
        const all = yield* Effect.fork(
          Effect.all(Array.from({ length: max }, () => bulkhead.execute(Effect.sleep(5))), { concurrency: "unbounded" })
        )
        yield* TestClock.adjust(5)
        const exit = yield* Fiber.await(all)
        if (Exit.isFailure(exit)) violations.push(`max calls at once failed: ${String(exit.cause)}`)
        expect(violations).toEqual([])
      }),
    { timeout, fastCheck: Stress.fastCheck(6, 1_000) }
  )

  it.scoped.prop(
    "keyed bulkhead under a key flood: every key's limit holds, never more busy keys than maxKeys",
    {
      scenario: FastCheck.record({
        maxKeys: FastCheck.integer({ min: 1, max: 4 }),
        max: FastCheck.integer({ min: 1, max: 2 }),
        queue: FastCheck.integer({ min: 0, max: 2 }),
        callers: FastCheck.array(
          FastCheck.record({
            key: FastCheck.integer({ min: 0, max: 8 }),
            startAt: FastCheck.integer({ min: 0, max: 40 }),
            work: FastCheck.integer({ min: 1, max: 60 }),
            interruptAt: FastCheck.option(FastCheck.integer({ min: 0, max: 100 }), { nil: undefined }),
            outcome: outcomeArb
          }),
          { minLength: 1, maxLength: 40 }
        )
      })
    },
    ({ scenario }) =>
      Effect.gen(function*() {
        const { callers, max, maxKeys, queue } = scenario
        const keyed = yield* Bulkhead.keyed<number>({
          name: "faults",
          maxConcurrent: max,
          maxQueue: queue,
          maxKeys,
          idleTtl: "20 millis"
        })
        const violations: Array<string> = []
        const running = new Map<number, number>()
        let tooManyKeys = 0
        const fibers: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
        for (const caller of callers) {
          const body = Effect.acquireUseRelease(
            Effect.sync(() => {
              const n = (running.get(caller.key) ?? 0) + 1
              running.set(caller.key, n)
              if (n > max) violations.push(`key ${caller.key}: ${n} running, max ${max}`)
              const busy = [...running.values()].filter((r) => r > 0).length
              if (busy > maxKeys) violations.push(`${busy} busy keys, maxKeys ${maxKeys}`)
            }),
            () => Effect.zipRight(Effect.sleep(caller.work), outcomeOf(caller.outcome)),
            () => Effect.sync(() => running.set(caller.key, running.get(caller.key)! - 1))
          )
          const fiber = yield* Effect.fork(
            Effect.zipRight(
              Effect.sleep(caller.startAt),
              keyed.execute(caller.key, body).pipe(
                Effect.catchIf(
                  (e): e is Bulkhead.BulkheadRejectedError =>
                    e instanceof Bulkhead.BulkheadRejectedError && e.reason === "TooManyKeys",
                  () => Effect.sync(() => tooManyKeys++)
                )
              )
            )
          )
          yield* interruptAt(fiber, caller.interruptAt)
          fibers.push(fiber)
        }
        yield* TestClock.adjust("10 seconds")
        yield* Effect.forEach(fibers, Fiber.await)
        const stats = yield* keyed.stats
        if (stats.active !== 0 || stats.queued !== 0) violations.push(`not at rest: ${JSON.stringify(stats)}`)
        if (stats.keys > maxKeys) violations.push(`${stats.keys} keys, maxKeys ${maxKeys}`)
        if (stats.rejected < tooManyKeys) violations.push(`rejected ${stats.rejected} < ${tooManyKeys} too many keys`)
        // At rest, a new key gets its bulkhead.
        const fresh = yield* Effect.exit(keyed.execute(1_000, Effect.void))
        if (Exit.isFailure(fresh)) violations.push(`a new key at rest was refused: ${String(fresh.cause)}`)
        expect(violations).toEqual([])
      }),
    { timeout, fastCheck: Stress.fastCheck(6, 1_000) }
  )

  it.scoped.prop(
    "keyed breaker under a key flood: the victim's open breaker survives, its calls never run",
    {
      scenario: FastCheck.record({
        maxKeys: FastCheck.integer({ min: 1, max: 6 }),
        threshold: FastCheck.integer({ min: 1, max: 3 }),
        flood: FastCheck.array(
          FastCheck.record({
            key: FastCheck.integer({ min: 0, max: 40 }),
            startAt: FastCheck.integer({ min: 0, max: 900 }),
            work: FastCheck.integer({ min: 0, max: 20 }),
            fails: FastCheck.boolean(),
            interruptAt: FastCheck.option(FastCheck.integer({ min: 0, max: 950 }), { nil: undefined })
          }),
          { minLength: 1, maxLength: 80 }
        ),
        victimCalls: FastCheck.array(FastCheck.integer({ min: 0, max: 990 }), { maxLength: 10 })
      })
    },
    ({ scenario }) =>
      Effect.gen(function*() {
        const { flood, maxKeys, threshold, victimCalls } = scenario
        const keyed = yield* CircuitBreaker.keyed({
          name: "faults",
          strategy: CircuitBreaker.consecutive(threshold),
          openDuration: "1 second",
          maxKeys,
          idleTtl: "50 millis"
        })
        const violations: Array<string> = []
        for (let i = 0; i < threshold; i++) yield* Effect.exit(keyed.execute("victim", Effect.fail("down")))
        if ((yield* keyed.state("victim")) !== "Open") violations.push("the victim's breaker did not open")
        let victimRan = 0
        const fibers: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
        for (const call of flood) {
          const body = Effect.zipRight(Effect.sleep(call.work), call.fails ? Effect.fail("down") : Effect.void)
          const fiber = yield* Effect.fork(
            Effect.zipRight(Effect.sleep(call.startAt), Effect.exit(keyed.execute(`attacker-${call.key}`, body)))
          )
          yield* interruptAt(fiber, call.interruptAt)
          fibers.push(fiber)
        }
        for (const at of victimCalls) {
          fibers.push(
            yield* Effect.fork(
              Effect.zipRight(
                Effect.sleep(at),
                Effect.exit(keyed.execute("victim", Effect.sync(() => victimRan++)))
              )
            )
          )
        }
        yield* TestClock.adjust(999)
        yield* Effect.forEach(fibers, Fiber.await)
        if (victimRan !== 0) violations.push(`the victim's call ran ${victimRan} times while its breaker was open`)
        const state = yield* keyed.state("victim")
        if (state !== "Open") violations.push(`the victim's breaker is ${state} before its open period ended`)
        const size = yield* keyed.size
        if (size > maxKeys) violations.push(`${size} keys, maxKeys ${maxKeys}`)
        // Its open period over, the victim's next call is admitted (as a probe).
        yield* TestClock.adjust(1)
        yield* Effect.exit(keyed.execute("victim", Effect.sync(() => victimRan++)))
        if (victimRan !== 1) violations.push("the victim was not admitted once its open period ended")
        expect(violations).toEqual([])
      }),
    { timeout, fastCheck: Stress.fastCheck(6, 1_000) }
  )

  type Hook = "ok" | "throw" | "die" | "fail" | "never" | "interrupt"
  const hookArb = FastCheck.constantFrom<Hook>("ok", "throw", "die", "fail", "never", "interrupt")

  it.scoped.prop(
    "half-open probes with misbehaving onStateChange hooks: never more than maxProbes, never wedged",
    {
      scenario: FastCheck.record({
        maxProbes: FastCheck.integer({ min: 1, max: 3 }),
        successesToClose: FastCheck.integer({ min: 1, max: 3 }),
        hooks: FastCheck.array(hookArb, { minLength: 1, maxLength: 8 }),
        rounds: FastCheck.array(
          FastCheck.array(
            FastCheck.record({
              work: FastCheck.integer({ min: 1, max: 30 }),
              fails: FastCheck.boolean(),
              interruptAt: FastCheck.option(FastCheck.integer({ min: 0, max: 40 }), { nil: undefined })
            }),
            { minLength: 1, maxLength: 8 }
          ),
          { minLength: 1, maxLength: 3 }
        )
      })
    },
    ({ scenario }) =>
      Effect.gen(function*() {
        const { hooks, maxProbes, rounds, successesToClose } = scenario
        let changes = 0
        const breaker = yield* CircuitBreaker.make({
          name: "faults",
          strategy: CircuitBreaker.consecutive(1),
          openDuration: "100 millis",
          halfOpen: { maxProbes, successesToClose },
          onStateChange: () => {
            const hook = hooks[changes++ % hooks.length]!
            switch (hook) {
              case "ok":
                return Effect.void
              case "throw":
                throw new Error("hook threw")
              case "die":
                return Effect.die("hook died")
              case "fail":
                return Effect.fail("hook failed") as unknown as Effect.Effect<void>
              case "never":
                return Effect.never
              case "interrupt":
                return Effect.interrupt
            }
          }
        })
        const violations: Array<string> = []
        let running = 0
        for (const round of rounds) {
          if ((yield* breaker.state) === "Closed") yield* Effect.exit(breaker.execute(Effect.fail("down")))
          yield* TestClock.adjust("100 millis")
          // Every caller arrives at once, while the breaker is half-open: only probes run.
          const fibers: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
          for (const probe of round) {
            const body = Effect.acquireUseRelease(
              Effect.sync(() => {
                if (++running > maxProbes) violations.push(`${running} probes running, maxProbes ${maxProbes}`)
              }),
              () => Effect.zipRight(Effect.sleep(probe.work), probe.fails ? Effect.fail("down") : Effect.void),
              () => Effect.sync(() => running--)
            )
            const fiber = yield* Effect.fork(Effect.exit(breaker.execute(body)))
            yield* interruptAt(fiber, probe.interruptAt)
            fibers.push(fiber)
          }
          yield* TestClock.adjust("50 millis")
          yield* Effect.forEach(fibers, Fiber.await)
        }
        // Never wedged: once the open period is over, successesToClose good calls close it.
        yield* TestClock.adjust("100 millis")
        for (let i = 0; i < successesToClose; i++) {
          const exit = yield* Effect.exit(breaker.execute(Effect.void))
          if (Exit.isFailure(exit)) {
            violations.push(`wedged: call ${i + 1} after the open period: ${String(exit.cause)}`)
          }
        }
        const state = yield* breaker.state
        if (state !== "Closed") violations.push(`still ${state} after ${successesToClose} good probes`)
        expect(violations).toEqual([])
      }).pipe(Logger.withMinimumLogLevel(LogLevel.None)),
    { timeout, fastCheck: Stress.fastCheck(6, 1_000) }
  )

  it.effect.prop(
    "retry: never more than maxAttempts, none after an interruption (in a backoff too), the last error unchanged",
    {
      scenario: FastCheck.record({
        maxAttempts: FastCheck.integer({ min: 1, max: 6 }),
        delay: FastCheck.integer({ min: 0, max: 50 }),
        exponential: FastCheck.boolean(),
        failures: FastCheck.integer({ min: 0, max: 8 }),
        work: FastCheck.integer({ min: 0, max: 20 }),
        hint: FastCheck.option(FastCheck.integer({ min: 0, max: 100 }), { nil: undefined }),
        maxRetryAfter: FastCheck.integer({ min: 0, max: 100 }),
        interruptAt: FastCheck.option(FastCheck.integer({ min: 0, max: 400 }), { nil: undefined })
      })
    },
    ({ scenario }) =>
      Effect.gen(function*() {
        const { delay, exponential, failures, hint, maxAttempts, maxRetryAfter, work } = scenario
        const violations: Array<string> = []
        let attempts = 0
        let retries = 0
        const attempt = Effect.zipRight(
          Effect.sleep(work),
          Effect.suspend((): Effect.Effect<number, Boom | Later> => {
            const n = ++attempts
            if (n > failures) return Effect.succeed(n)
            return hint === undefined
              ? Effect.fail(new Boom({ attempt: n }))
              : Effect.fail(new Later({ attempt: n, hint }))
          })
        )
        const schedule = exponential
          ? Schedule.exponential(Duration.millis(Math.max(1, delay)))
          : Schedule.spaced(Duration.millis(delay))
        const fiber = yield* Effect.fork(
          Retry.retry(attempt, {
            schedule,
            maxAttempts,
            maxRetryAfter: Duration.millis(maxRetryAfter),
            onRetry: () => Effect.sync(() => retries++)
          })
        )
        let attemptsAtInterrupt: number | undefined
        if (scenario.interruptAt !== undefined) {
          yield* TestClock.adjust(scenario.interruptAt)
          yield* Fiber.interrupt(fiber)
          attemptsAtInterrupt = attempts
        }
        yield* TestClock.adjust("1 hour")
        const exit = yield* Fiber.await(fiber)
        if (attempts > maxAttempts) violations.push(`${attempts} attempts, maxAttempts ${maxAttempts}`)
        if (attemptsAtInterrupt !== undefined && attempts !== attemptsAtInterrupt) {
          violations.push(`${attempts - attemptsAtInterrupt} attempts after the interruption`)
        }
        if (retries > Math.max(0, attempts - 1) + (attemptsAtInterrupt === undefined ? 0 : 1)) {
          violations.push(`${retries} onRetry for ${attempts} attempts`)
        }
        if (Exit.isSuccess(exit)) {
          if (exit.value !== failures + 1) {
            violations.push(`succeeded on attempt ${exit.value}, expected ${failures + 1}`)
          }
        } else if (attemptsAtInterrupt === undefined) {
          const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
          if (error === undefined || error.attempt !== attempts) {
            violations.push(`the last error is not the last attempt's: ${String(exit.cause)} after ${attempts}`)
          }
          const hintTooLong = hint !== undefined && hint > maxRetryAfter
          if (hintTooLong && attempts !== 1) violations.push(`retried past a hint beyond maxRetryAfter (${attempts})`)
          if (!hintTooLong && attempts !== Math.min(maxAttempts, failures + 1)) {
            violations.push(`gave up after ${attempts} attempts (maxAttempts ${maxAttempts}, failures ${failures})`)
          }
        }
        expect(violations).toEqual([])
      }),
    { timeout, fastCheck: Stress.fastCheck(15, 1_000) }
  )
})
