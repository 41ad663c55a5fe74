/**
 * Pool slots under random interruption, with a `validate` and an `acquire` that misbehave (throw, die, fail, answer
 * false, take long): every borrowed resource comes back, no resource is lent twice at once, never more than `max`
 * live, the stats come back to rest, `max` resources can be had at once afterwards, and the scope closes within
 * `drainTimeout` even with borrowers that never finish. `pnpm test` runs a short form; `pnpm test:stress` runs
 * at least 1,000 runs.
 */
import { Stress } from "@effect-resilience/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, FastCheck, Fiber, Logger, LogLevel, Option, Runtime, Scope, TestClock } from "effect"
import * as pgPoolTask from "../src/internal/pgPoolTask.js"
import * as internal from "../src/internal/resourcePool.js"

type Behaviour = "ok" | "false" | "throw" | "die" | "fail" | "slow" | "slowFalse"
type Creation = "ok" | "fail" | "die" | "slow" | "slowFail" | "throw"

const behaviourArb = FastCheck.constantFrom<Behaviour>(
  "ok",
  "ok",
  "ok",
  "false",
  "throw",
  "die",
  "fail",
  "slow",
  "slowFalse"
)
const creationArb = FastCheck.constantFrom<Creation>("ok", "ok", "ok", "fail", "die", "slow", "slowFail", "throw")

const borrowerArb = FastCheck.record({
  startAt: FastCheck.integer({ min: 0, max: 40 }),
  hold: FastCheck.integer({ min: 0, max: 50 }),
  interruptAt: FastCheck.option(FastCheck.integer({ min: 0, max: 120 }), { nil: undefined }),
  kind: FastCheck.constantFrom("use" as const, "get" as const, "task" as const, "invalidate" as const),
  fails: FastCheck.boolean()
})

const scenarioArb = FastCheck.record({
  max: FastCheck.integer({ min: 1, max: 4 }),
  min: FastCheck.integer({ min: 0, max: 1 }),
  validateOnBorrow: FastCheck.constantFrom(true, 10, false),
  validations: FastCheck.array(behaviourArb, { minLength: 1, maxLength: 12 }),
  creations: FastCheck.array(creationArb, { minLength: 1, maxLength: 12 }),
  borrowers: FastCheck.array(borrowerArb, { minLength: 1, maxLength: 25 }),
  stuckBorrowers: FastCheck.integer({ min: 0, max: 2 })
})

interface Res {
  readonly id: number
  inUse: boolean
  closed: boolean
}

describe("ResourcePool slots under random faults (stress)", () => {
  it.effect.prop(
    "every borrow returns, no double lending, never above max, stats at rest, drain bounded",
    { scenario: scenarioArb },
    ({ scenario }) =>
      Effect.gen(function*() {
        const { borrowers, creations, max, min, stuckBorrowers, validateOnBorrow, validations } = scenario
        const violations: Array<string> = []
        const created: Array<Res> = []
        let creationIndex = 0
        let validationIndex = 0
        const liveCount = () => created.filter((r) => !r.closed).length
        const acquire = Effect.suspend(() => {
          const how = creations[creationIndex++ % creations.length]!
          const make = Effect.sync(() => {
            const res: Res = { id: created.length + 1, inUse: false, closed: false }
            created.push(res)
            if (liveCount() > max) violations.push(`${liveCount()} live resources > max ${max}`)
            return res
          })
          switch (how) {
            case "ok":
              return make
            case "fail":
              return Effect.fail("create failed" as const)
            case "die":
              return Effect.die(new Error("create died"))
            case "throw":
              return Effect.sync((): Res => {
                throw new Error("create threw")
              })
            case "slow":
              return Effect.zipRight(Effect.sleep(30), make)
            case "slowFail":
              return Effect.zipRight(Effect.sleep(30), Effect.fail("create failed" as const))
          }
        })
        const resource = Effect.acquireRelease(acquire, (res) => Effect.sync(() => void (res.closed = true)))
        const validate = (res: Res): Effect.Effect<boolean> => {
          if (res.closed) violations.push(`validated closed resource ${res.id}`)
          const how = validations[validationIndex++ % validations.length]!
          switch (how) {
            case "ok":
              return Effect.succeed(true)
            case "false":
              return Effect.succeed(false)
            case "throw":
              throw new Error("validate threw")
            case "die":
              return Effect.die(new Error("validate died"))
            case "fail":
              return Effect.fail("validate failed") as unknown as Effect.Effect<boolean>
            case "slow":
              return Effect.as(Effect.sleep(20), true)
            case "slowFalse":
              return Effect.as(Effect.sleep(20), false)
          }
        }
        const scope = yield* Scope.make()
        const drainTimeout = 500
        const pool = yield* Scope.extend(
          internal.make({
            name: "stress",
            acquire: resource,
            max,
            min: Math.min(min, max),
            acquireTimeout: "1 second",
            validate,
            validateOnBorrow,
            drainTimeout
          }),
          scope
        )
        const runTask = pgPoolTask.makeRunTask(pool.lending, pool.useWith)
        const runFork = Runtime.runFork(yield* Effect.runtime<never>())
        let held = 0
        const enter = (res: Res) => {
          held++
          if (res.inUse) violations.push(`resource ${res.id} lent twice at once`)
          if (res.closed) violations.push(`closed resource ${res.id} lent`)
          res.inUse = true
          const borrowed = Effect.runSync(pool.stats).borrowed
          if (borrowed > max) violations.push(`borrowed ${borrowed} > max ${max}`)
        }
        const leave = (res: Res) => {
          held--
          res.inUse = false
        }
        const body = (res: Res, b: typeof borrowers[number]) =>
          Effect.gen(function*() {
            yield* Effect.sync(() => enter(res))
            yield* Effect.sleep(b.hold)
            if (b.kind === "invalidate") yield* pool.invalidate(res)
            if (b.fails) return yield* Effect.fail("failed" as const)
          }).pipe(Effect.ensuring(Effect.sync(() => leave(res))))
        const task = (b: typeof borrowers[number]): pgPoolTask.Task<Res, void, "failed"> => {
          let work: Fiber.RuntimeFiber<void> | undefined
          return {
            start: (res, run) => {
              enter(res)
              work = runFork(
                Effect.sleep(b.hold).pipe(Effect.ensuring(Effect.sync(() => {
                  leave(res)
                  run.done(b.fails ? Effect.fail("failed" as const) : Effect.void)
                })))
              )
            },
            stop: () => work === undefined ? Effect.void : Fiber.interrupt(work)
          }
        }
        const fibers = yield* Effect.forEach(borrowers, (b) =>
          Effect.fork(Effect.zipRight(
            Effect.sleep(b.startAt),
            b.kind === "get"
              ? Effect.scoped(Effect.flatMap(pool.get, (res) => body(res, b)))
              : b.kind === "task"
              ? runTask(() => task(b))
              : pool.use((res) => body(res, b))
          )))
        yield* Effect.forEach(borrowers, (b, i) =>
          b.interruptAt === undefined
            ? Effect.void
            : Effect.fork(Effect.zipRight(Effect.sleep(b.interruptAt), Fiber.interrupt(fibers[i]!))))
        yield* TestClock.adjust("3 seconds")
        const exits = yield* Effect.forEach(fibers, Fiber.await)
        for (const exit of exits) {
          if (Exit.isFailure(exit) && !Exit.isInterrupted(exit)) {
            const failure = Exit.causeOption(exit).pipe(Option.flatMap((c) => Option.some(c)))
            const error = Option.isSome(failure) ? failure.value : undefined
            const typed = error !== undefined && error._tag === "Fail" &&
              (error.error === "failed" || (error.error as { _tag?: string })._tag === "PoolTimeoutError")
            if (!typed) violations.push(`a borrower ended with something else than a typed error: ${String(error)}`)
          }
        }
        if (held !== 0) violations.push(`${held} borrows never returned`)
        const rest = yield* pool.stats
        if (rest.borrowed !== 0 || rest.waiting !== 0) violations.push(`stats not at rest: ${JSON.stringify(rest)}`)
        if (rest.size > max || rest.idle !== rest.size) violations.push(`stats inconsistent: ${JSON.stringify(rest)}`)
        if (rest.size !== liveCount()) violations.push(`size ${rest.size} but ${liveCount()} live resources`)
        // All max at once, validations and creations still misbehaving but within the acquire timeout.
        const all = yield* Effect.fork(
          Effect.scoped(Effect.all(Array.from({ length: max }, () => pool.get), { concurrency: "unbounded" }))
        )
        yield* TestClock.adjust("1500 millis")
        const allExit = yield* Fiber.await(all)
        if (Exit.isSuccess(allExit)) {
          if (new Set(allExit.value.map((r) => r.id)).size !== max) violations.push("max at once: duplicates")
        } else if (!creations.some((c) => c !== "ok" && c !== "slow")) {
          violations.push(`max at once failed with only healthy creations: ${String(allExit.cause)}`)
        }
        // Borrowers that never finish: the scope still closes, uninterruptibly, within drainTimeout.
        for (let i = 0; i < stuckBorrowers; i++) {
          yield* Effect.fork(pool.use(() => Effect.never))
        }
        yield* TestClock.adjust(1)
        const closing = yield* Effect.fork(Effect.uninterruptible(Scope.close(scope, Exit.void)))
        yield* TestClock.adjust(drainTimeout + 1)
        const closed = yield* Fiber.poll(closing)
        if (Option.isNone(closed)) violations.push("scope still open after drainTimeout")
        else if (created.some((r) => !r.closed)) violations.push("a resource left open after the scope closed")
        expect(violations.join("; ")).toBe("")
      }).pipe(Logger.withMinimumLogLevel(LogLevel.None)),
    { timeout: Stress.enabled ? 1_800_000 : 30_000, fastCheck: Stress.fastCheck(10, 1_000) }
  )
})
