import { ResilienceMetrics, ResilienceRegistry } from "@effect-resilience/core"
import { ResourcePool } from "@effect-resilience/pool"
import { describe, expect, it } from "@effect/vitest"
import {
  Duration,
  Effect,
  Exit,
  FastCheck,
  Fiber,
  Logger,
  LogLevel,
  Metric,
  MetricState,
  Option,
  Random,
  Runtime,
  Scope,
  TestClock
} from "effect"
import * as pgPoolTask from "../src/internal/pgPoolTask.js"
import * as internal from "../src/internal/resourcePool.js"

interface Conn {
  readonly id: number
  closed: boolean
  broken: boolean
}

/** A resource factory that records what it created and closed. */
const factory = Effect.sync(() => {
  let next = 0
  const created: Array<Conn> = []
  const acquire = Effect.acquireRelease(
    Effect.sync(() => {
      const conn: Conn = { id: ++next, closed: false, broken: false }
      created.push(conn)
      return conn
    }),
    (conn) => Effect.sync(() => void (conn.closed = true))
  )
  return { acquire, created, open: () => created.filter((c) => !c.closed).length }
})

const counterValue = (metric: Metric.Metric.Counter<number>) =>
  Effect.map(Metric.value(metric), (state: MetricState.MetricState.Counter<number>) => state.count)

describe("ResourcePool", () => {
  describe("options", () => {
    it.scoped("rejects bad options naming the field", () =>
      Effect.gen(function*() {
        const { acquire } = yield* factory
        const cases: Array<[Partial<ResourcePool.ResourcePool.Options<Conn, never, never>>, string]> = [
          [{ max: 0 }, "max"],
          [{ min: 5, max: 2 }, "min"],
          [{ min: -1 }, "min"],
          [{ acquireTimeout: -1 }, "acquireTimeout"],
          [{ acquireTimeout: "-2 seconds" }, "acquireTimeout"],
          [{ idleTimeout: -5 }, "idleTimeout"],
          [{ maxLifetime: Duration.infinity }, "maxLifetime"],
          [{ drainTimeout: -1 }, "drainTimeout"],
          [{ leakDetection: 0 }, "leakDetection"],
          [{ name: "" }, "name"]
        ]
        for (const [bad, field] of cases) {
          const error = yield* Effect.flip(ResourcePool.make({ name: "bad", acquire, ...bad }))
          expect(error._tag).toBe("InvalidOptionsError")
          if (error._tag === "InvalidOptionsError") expect(error.field).toBe(field)
        }
      }))
  })

  describe("borrowing", () => {
    it.scoped("gives the resource back on success, failure and interruption", () =>
      Effect.gen(function*() {
        const { acquire, created } = yield* factory
        const pool = yield* ResourcePool.make({ name: "back", acquire, max: 1 })
        expect(yield* pool.use((c) => Effect.succeed(c.id))).toBe(1)
        expect(yield* Effect.flip(pool.use(() => Effect.fail("boom" as const)))).toBe("boom")
        const exit = yield* Effect.exit(pool.use(() => Effect.die("defect")))
        expect(Exit.isFailure(exit)).toBe(true)
        const fiber = yield* Effect.fork(pool.use(() => Effect.never))
        yield* TestClock.adjust(1)
        expect((yield* pool.stats).borrowed).toBe(1)
        yield* Fiber.interrupt(fiber)
        expect(yield* pool.stats).toEqual({ size: 1, idle: 1, borrowed: 0, waiting: 0 })
        // Scoped borrowing: back when the scope closes.
        const scope = yield* Scope.make()
        const conn = yield* Scope.extend(pool.get, scope)
        expect(conn.id).toBe(1)
        expect((yield* pool.stats).borrowed).toBe(1)
        yield* Scope.close(scope, Exit.void)
        expect((yield* pool.stats).borrowed).toBe(0)
        expect(created.length).toBe(1)
      }))

    it.scoped("the acquire timeout fires at the configured time when the pool is exhausted", () =>
      Effect.gen(function*() {
        const { acquire } = yield* factory
        const pool = yield* ResourcePool.make({ name: "exhausted", acquire, max: 1, acquireTimeout: "1 second" })
        const holder = yield* Effect.forkScoped(pool.use(() => Effect.never))
        yield* TestClock.adjust(1)
        const waiter = yield* Effect.fork(pool.use(() => Effect.void))
        yield* TestClock.adjust(1)
        expect((yield* pool.stats).waiting).toBe(1)
        yield* TestClock.adjust("998 millis")
        expect(Option.isNone(yield* Fiber.poll(waiter))).toBe(true)
        yield* TestClock.adjust("1 millis")
        const error = yield* Effect.flip(Fiber.join(waiter))
        expect(error._tag).toBe("PoolTimeoutError")
        if (error._tag === "PoolTimeoutError") {
          expect(error.poolName).toBe("exhausted")
          expect(Duration.toMillis(error.waited)).toBe(1000)
        }
        expect((yield* pool.stats).waiting).toBe(0)
        const timeouts = Metric.tagged(ResilienceMetrics.poolTimeoutsTotal, "name", "exhausted")
        expect(yield* counterValue(timeouts)).toBe(1)
        yield* Fiber.interrupt(holder)
      }))

    it.scoped("a waiter gets the resource as soon as it is given back, in order", () =>
      Effect.gen(function*() {
        const { acquire } = yield* factory
        const pool = yield* ResourcePool.make({ name: "fifo", acquire, max: 1, acquireTimeout: "10 seconds" })
        const order: Array<number> = []
        const holder = yield* Effect.fork(pool.use(() => Effect.sleep("1 second")))
        yield* TestClock.adjust(1)
        const a = yield* Effect.fork(pool.use(() => Effect.sync(() => order.push(1))))
        yield* TestClock.adjust(1)
        const b = yield* Effect.fork(pool.use(() => Effect.sync(() => order.push(2))))
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(holder)
        yield* Fiber.join(a)
        yield* Fiber.join(b)
        expect(order).toEqual([1, 2])
      }))

    it.scoped("a creation that never completes times out at acquireTimeout", () =>
      Effect.gen(function*() {
        const pool = yield* ResourcePool.make({ name: "hang", acquire: Effect.never, acquireTimeout: "2 seconds" })
        const waiter = yield* Effect.fork(pool.use(() => Effect.void))
        yield* TestClock.adjust("1999 millis")
        expect(Option.isNone(yield* Fiber.poll(waiter))).toBe(true)
        yield* TestClock.adjust("1 millis")
        const error = yield* Effect.flip(Fiber.join(waiter))
        expect(error._tag).toBe("PoolTimeoutError")
        yield* TestClock.adjust("1 second")
        expect(yield* pool.stats).toEqual({ size: 0, idle: 0, borrowed: 0, waiting: 0 })
      }))

    it.scoped("failed creation backs off instead of spinning, then recovers", () =>
      Effect.gen(function*() {
        let attempts = 0
        let healthy = false
        const acquire = Effect.suspend(() => {
          attempts++
          return healthy
            ? Effect.succeed(attempts)
            : Effect.fail({ _tag: "ConnectError" as const, code: "ECONNREFUSED" })
        })
        const pool = yield* ResourcePool.make({ name: "failing", acquire, acquireTimeout: "5 seconds" })
        const waiter = yield* Effect.fork(pool.use(Effect.succeed))
        yield* TestClock.adjust("5 seconds")
        const error = yield* Effect.flip(Fiber.join(waiter))
        expect(error._tag).toBe("PoolTimeoutError")
        expect(error.lastError).toEqual({ _tag: "ConnectError", code: "ECONNREFUSED" })
        expect(error.message).toContain("ConnectError(ECONNREFUSED)")
        // 50 ms doubling up to 1 s, jittered: a handful of attempts in 5 s, not thousands.
        expect(attempts).toBeGreaterThanOrEqual(5)
        expect(attempts).toBeLessThanOrEqual(12)
        const status = yield* pool.status
        expect(status.healthy).toBe(false)
        expect(status.state).toBe("failing")
        healthy = true
        const recovered = yield* Effect.fork(pool.use(Effect.succeed))
        yield* TestClock.adjust("2 seconds")
        expect(typeof (yield* Fiber.join(recovered))).toBe("number")
        expect((yield* pool.status).healthy).toBe(true)
      }).pipe(Effect.withRandom(Random.make(7))))
  })

  describe("validation", () => {
    it.scoped("evicts broken resources and reuses good ones, unseen by the caller", () =>
      Effect.gen(function*() {
        const { acquire, created } = yield* factory
        let validations = 0
        const pool = yield* ResourcePool.make({
          name: "validated",
          acquire,
          max: 2,
          validate: (c) => Effect.sync(() => (validations++, !c.broken))
        })
        const first = yield* pool.use((c) => Effect.succeed(c))
        expect(yield* pool.use((c) => Effect.succeed(c.id))).toBe(first.id)
        first.broken = true
        const next = yield* pool.use((c) => Effect.succeed(c))
        expect(next.id).not.toBe(first.id)
        expect(first.closed).toBe(true)
        expect(yield* pool.use((c) => Effect.succeed(c.id))).toBe(next.id)
        expect(created.length).toBe(2)
        // Fresh resources are not validated: the first borrow, the replacement.
        expect(validations).toBe(3)
        const invalidated = Metric.tagged(ResilienceMetrics.poolInvalidatedTotal, "name", "validated")
        expect(yield* counterValue(invalidated)).toBe(1)
      }))

    it.scoped("validates only after the idle threshold when validateOnBorrow is a duration", () =>
      Effect.gen(function*() {
        const { acquire } = yield* factory
        let validations = 0
        const pool = yield* ResourcePool.make({
          name: "cheap",
          acquire,
          validate: () => Effect.sync(() => (validations++, true)),
          validateOnBorrow: "30 seconds"
        })
        yield* pool.use(() => Effect.void)
        yield* TestClock.adjust("10 seconds")
        yield* pool.use(() => Effect.void)
        expect(validations).toBe(0)
        yield* TestClock.adjust("30 seconds")
        yield* pool.use(() => Effect.void)
        expect(validations).toBe(1)
      }))

    it.scoped("invalidate closes a borrowed resource when it is given back", () =>
      Effect.gen(function*() {
        const { acquire } = yield* factory
        const pool = yield* ResourcePool.make({ name: "invalidate", acquire })
        const conn = yield* pool.use((c) => Effect.as(pool.invalidate(c), c))
        expect(conn.closed).toBe(true)
        expect((yield* pool.use(Effect.succeed)).id).not.toBe(conn.id)
      }))
  })

  describe("lifetime and idle eviction", () => {
    it.scoped("a resource older than maxLifetime is replaced", () =>
      Effect.gen(function*() {
        const { acquire } = yield* factory
        const pool = yield* ResourcePool.make({ name: "lifetime", acquire, maxLifetime: "1 minute" })
        const first = yield* pool.use(Effect.succeed)
        yield* TestClock.adjust("59 seconds")
        expect((yield* pool.use(Effect.succeed)).id).toBe(first.id)
        // Borrowed when it expires: closed when given back.
        const fiber = yield* Effect.fork(pool.use(() => Effect.sleep("10 seconds")))
        yield* TestClock.adjust("2 seconds")
        expect(first.closed).toBe(false)
        yield* TestClock.adjust("10 seconds")
        yield* Fiber.join(fiber)
        expect(first.closed).toBe(true)
        expect((yield* pool.use(Effect.succeed)).id).not.toBe(first.id)
      }))

    it.scoped("idle resources beyond min are closed after idleTimeout", () =>
      Effect.gen(function*() {
        const { acquire, open } = yield* factory
        const pool = yield* ResourcePool.make({ name: "idle", acquire, min: 1, max: 4, idleTimeout: "1 minute" })
        yield* Effect.forEach([1, 2, 3, 4], () => pool.use(() => Effect.sleep("1 second")), { concurrency: 4 }).pipe(
          Effect.fork,
          Effect.zipLeft(TestClock.adjust("1 second")),
          Effect.flatMap(Fiber.join)
        )
        expect((yield* pool.stats).size).toBe(4)
        yield* TestClock.adjust("30 seconds")
        expect((yield* pool.stats).size).toBe(4)
        yield* TestClock.adjust("1 minute")
        expect(yield* pool.stats).toEqual({ size: 1, idle: 1, borrowed: 0, waiting: 0 })
        expect(open()).toBe(1)
      }))
  })

  describe("leak detection", () => {
    it.scoped("warns once, in the log and the metric, about a resource held too long", () =>
      Effect.gen(function*() {
        const { acquire } = yield* factory
        const lines: Array<string> = []
        const logger = Logger.make(({ message }) => lines.push(String(message)))
        const pool = yield* ResourcePool.make({ name: "leaky", acquire, leakDetection: "5 seconds" }).pipe(
          Effect.provide(Logger.replace(Logger.defaultLogger, logger))
        )
        const holder = yield* Effect.forkScoped(pool.use(() => Effect.never))
        yield* TestClock.adjust("4 seconds")
        expect(lines.filter((l) => l.includes("possible leak"))).toEqual([])
        yield* TestClock.adjust("10 seconds")
        expect(lines.filter((l) => l.includes("possible leak")).length).toBe(1)
        const leaks = Metric.tagged(ResourcePool.leakWarningsTotal, "name", "leaky")
        expect(yield* counterValue(leaks)).toBe(1)
        yield* Fiber.interrupt(holder)
      }))
  })

  describe("drain", () => {
    it.effect("closing the scope waits for borrowed resources", () =>
      Effect.gen(function*() {
        const { acquire, created } = yield* factory
        const scope = yield* Scope.make()
        const pool = yield* Scope.extend(
          ResourcePool.make({ name: "drain", acquire, drainTimeout: "10 seconds" }),
          scope
        )
        const borrower = yield* Effect.fork(pool.use(() => Effect.sleep("3 seconds")))
        yield* TestClock.adjust(1)
        const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
        yield* TestClock.adjust("2 seconds")
        expect(Option.isNone(yield* Fiber.poll(closing))).toBe(true)
        // A new borrow is refused while draining.
        expect(Exit.isInterrupted(yield* Effect.exit(pool.use(() => Effect.void)))).toBe(true)
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(closing)
        expect(Exit.isSuccess(yield* Fiber.await(borrower))).toBe(true)
        expect(created.every((c) => c.closed)).toBe(true)
      }))

    it.effect("then interrupts the borrowers after drainTimeout", () =>
      Effect.gen(function*() {
        const { acquire, created } = yield* factory
        const scope = yield* Scope.make()
        const pool = yield* Scope.extend(
          ResourcePool.make({ name: "drain-interrupt", acquire, drainTimeout: "10 seconds" }),
          scope
        )
        const borrower = yield* Effect.fork(pool.use(() => Effect.never))
        // A scope that outlives its fiber: given back for it.
        const outer = yield* Scope.make()
        yield* Effect.fork(Scope.extend(pool.get, outer)).pipe(Effect.flatMap(Fiber.join))
        yield* TestClock.adjust(1)
        const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
        yield* TestClock.adjust("9 seconds")
        expect(Option.isNone(yield* Fiber.poll(closing))).toBe(true)
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(closing)
        expect(Exit.isInterrupted(yield* Fiber.await(borrower))).toBe(true)
        expect(created.length).toBe(2)
        expect(created.every((c) => c.closed)).toBe(true)
      }))
  })

  describe("faults", () => {
    it.effect("a borrower stuck forever cannot hold the scope open past drainTimeout; a warning names the count", () =>
      Effect.gen(function*() {
        const { acquire, created } = yield* factory
        const lines: Array<string> = []
        const logger = Logger.make(({ logLevel, message }) => lines.push(`${logLevel.label} ${String(message)}`))
        const scope = yield* Scope.make()
        const pool = yield* Scope.extend(
          ResourcePool.make({ name: "drain-stuck", acquire, drainTimeout: "10 seconds" }),
          scope
        )
        yield* Effect.fork(pool.use(() => Effect.never))
        // Not even interruption ends this one.
        yield* Effect.forkDaemon(pool.use(() => Effect.uninterruptible(Effect.never)))
        yield* TestClock.adjust(1)
        expect((yield* pool.stats).borrowed).toBe(2)
        // Scopes close uninterruptibly (Effect.scoped, layers): the drain must end on its own.
        const closing = yield* Effect.fork(
          Effect.uninterruptible(Scope.close(scope, Exit.void)).pipe(
            Effect.provide(Logger.replace(Logger.defaultLogger, logger))
          )
        )
        yield* TestClock.adjust("9 seconds")
        expect(Option.isNone(yield* Fiber.poll(closing))).toBe(true)
        yield* TestClock.adjust("1 second")
        const closed = yield* Fiber.await(closing).pipe(Effect.timeout("1 second"), Effect.fork)
        yield* TestClock.adjust("1 second")
        expect(Exit.isSuccess(yield* Fiber.join(closed))).toBe(true)
        expect(lines.filter((l) => l.startsWith("WARN") && l.includes("2 resource(s) still borrowed"))).toHaveLength(1)
        expect(created.every((c) => c.closed)).toBe(true)
        expect(yield* pool.stats).toMatchObject({ borrowed: 0, waiting: 0 })
      }))

    for (
      const [label, validate] of [
        ["throws", (): Effect.Effect<boolean> => {
          throw new Error("validate threw")
        }],
        ["dies", () => Effect.die("validate died")],
        ["fails", () => Effect.fail("validate failed") as unknown as Effect.Effect<boolean>],
        ["returns no Effect", () => true as unknown as Effect.Effect<boolean>]
      ] as const
    ) {
      it.scoped(`a validate that ${label} counts as invalid: the resource is evicted and the pool stays whole`, () =>
        Effect.gen(function*() {
          const { acquire, created } = yield* factory
          const pool = yield* ResourcePool.make({
            name: `validate-${label}`,
            acquire,
            max: 1,
            acquireTimeout: "1 second",
            validate
          })
          yield* pool.use(() => Effect.void)
          for (let i = 0; i < 3; i++) {
            const exit = yield* Effect.exit(pool.use((c) => Effect.succeed(c.id)))
            expect(exit).toEqual(Exit.succeed(i + 2))
          }
          expect(created.length).toBe(4)
          expect(created.slice(0, 3).every((c) => c.closed)).toBe(true)
          expect(yield* pool.stats).toEqual({ size: 1, idle: 1, borrowed: 0, waiting: 0 })
        }))
    }

    it.scoped("an acquire that dies counts as a failed creation: retried with back-off, then a PoolTimeoutError", () =>
      Effect.gen(function*() {
        let attempts = 0
        const pool = yield* ResourcePool.make({
          name: "acquire-dies",
          acquire: Effect.suspend(() => {
            attempts++
            return attempts <= 2 ? Effect.die(new Error("acquire died")) : Effect.succeed(attempts)
          }),
          max: 1,
          acquireTimeout: "5 seconds"
        })
        const fiber = yield* Effect.fork(pool.use(Effect.succeed))
        yield* TestClock.adjust("2 seconds")
        expect(yield* Fiber.join(fiber)).toBe(3)
        expect(yield* pool.stats).toEqual({ size: 1, idle: 1, borrowed: 0, waiting: 0 })
      }).pipe(Logger.withMinimumLogLevel(LogLevel.None)))

    it.effect("a task interrupted while it waits leaves the queue at once", () =>
      Effect.gen(function*() {
        const { acquire } = yield* factory
        const scope = yield* Scope.make()
        const pool = yield* Scope.extend(internal.make({ name: "waiting", acquire, max: 1 }), scope)
        const runTask = pgPoolTask.makeRunTask(pool.lending, pool.useWith)
        const task = (hold: number): pgPoolTask.Task<Conn, number, never> => ({
          start: (conn, run) => {
            setTimeout(() => run.done(Effect.succeed(conn.id)), hold)
          },
          stop: () => Effect.void
        })
        const holder = yield* Effect.fork(runTask(() => task(50)))
        yield* TestClock.adjust(1)
        const queued = yield* Effect.forEach(
          Array.from({ length: 5 }),
          () => Effect.fork(runTask(() => task(0))),
          { concurrency: "unbounded" }
        )
        yield* Effect.yieldNow()
        expect((yield* pool.stats).waiting).toBe(5)
        yield* Fiber.interruptAll(queued.slice(0, 3))
        expect((yield* pool.stats).waiting).toBe(2)
        expect((yield* pool.status).details).toMatchObject({ waiting: 2 })
        yield* Fiber.interruptAll(queued.slice(3))
        expect(yield* pool.stats).toMatchObject({ waiting: 0, borrowed: 1 })
        expect(yield* Effect.promise(() => Effect.runPromise(Fiber.join(holder)))).toBe(1)
        expect(yield* pool.stats).toEqual({ size: 1, idle: 1, borrowed: 0, waiting: 0 })
        yield* Scope.close(scope, Exit.void)
      }))
  })

  describe("registry and metrics", () => {
    it.scoped("registers as a pool with its status, and reports its resources on flush", () =>
      Effect.gen(function*() {
        const { acquire } = yield* factory
        const pool = yield* ResourcePool.make({ name: "registered", acquire, max: 3 })
        const holder = yield* Effect.forkScoped(pool.use(() => Effect.never))
        yield* pool.use(() => Effect.void)
        yield* TestClock.adjust(1)
        const entries = yield* ResilienceRegistry.entries
        const entry = entries.find((e) => e.kind === "pool" && e.name === "registered")
        expect(entry).toBeDefined()
        const status = yield* entry!.status
        expect(status.healthy).toBe(true)
        expect(status.state).toBe("ok")
        expect(status.details).toMatchObject({ size: 2, idle: 1, borrowed: 1, max: 3 })
        const duplicate = yield* Effect.flip(ResourcePool.make({ name: "registered", acquire }))
        expect(duplicate._tag).toBe("DuplicateNameError")
        yield* ResilienceMetrics.flush
        const resources = Metric.tagged(ResilienceMetrics.poolResources, "name", "registered")
        expect((yield* Metric.value(Metric.tagged(resources, "state", "idle"))).value).toBe(1)
        expect((yield* Metric.value(Metric.tagged(resources, "state", "borrowed"))).value).toBe(1)
        yield* Fiber.interrupt(holder)
      }).pipe(Effect.provide(ResilienceRegistry.layer)))

    it.effect("the name is free again once the pool's scope has closed", () =>
      Effect.gen(function*() {
        const { acquire } = yield* factory
        const names = Effect.map(ResilienceRegistry.entries, (all) => all.map((e) => `${e.kind}:${e.name}`))
        yield* Effect.scoped(Effect.gen(function*() {
          yield* ResourcePool.make({ name: "reused", acquire, min: 1 })
          expect(yield* names).toEqual(["pool:reused"])
        }))
        expect(yield* names).toEqual([])
        yield* Effect.scoped(Effect.gen(function*() {
          yield* ResourcePool.make({ name: "reused", acquire })
          expect(yield* names).toEqual(["pool:reused"])
        }))
        expect(yield* names).toEqual([])
      }).pipe(Effect.provide(ResilienceRegistry.layer)))
  })

  describe("under random interruption", () => {
    const borrowerArb = FastCheck.record({
      hold: FastCheck.integer({ min: 0, max: 50 }),
      interruptAt: FastCheck.option(FastCheck.integer({ min: 0, max: 80 }), { nil: undefined }),
      kind: FastCheck.constantFrom("use" as const, "get" as const, "task" as const),
      fails: FastCheck.boolean()
    })
    it.effect.prop(
      "borrowed never exceeds max, returns to zero, and max resources can be taken at once afterwards",
      {
        max: FastCheck.integer({ min: 1, max: 5 }),
        createDelay: FastCheck.integer({ min: 0, max: 10 }),
        borrowers: FastCheck.array(borrowerArb, { minLength: 1, maxLength: 30 })
      },
      ({ borrowers, createDelay, max }) =>
        Effect.gen(function*() {
          const scope = yield* Scope.make()
          let next = 0
          const acquire = Effect.acquireRelease(
            Effect.sleep(createDelay).pipe(Effect.map(() => ({ id: ++next }))),
            () => Effect.void
          )
          const pool = yield* Scope.extend(
            internal.make({ name: "prop", acquire, max, acquireTimeout: "1 second" }),
            scope
          )
          const runTask = pgPoolTask.makeRunTask(pool.lending, pool.useWith)
          const runFork = Runtime.runFork(yield* Effect.runtime<never>())
          let held = 0
          let peak = 0
          let peakBorrowed = 0
          const enter = () => {
            held++
            peak = Math.max(peak, held)
            peakBorrowed = Math.max(peakBorrowed, Effect.runSync(pool.stats).borrowed)
          }
          const body = (b: typeof borrowers[number]) =>
            Effect.gen(function*() {
              yield* Effect.sync(enter)
              yield* Effect.sleep(b.hold)
              if (b.fails) return yield* Effect.fail("failed" as const)
            }).pipe(Effect.ensuring(Effect.sync(() => held--)))
          // A callback task, as PgPool runs its statements.
          const task = (b: typeof borrowers[number]): pgPoolTask.Task<{ id: number }, void, "failed"> => {
            let work: Fiber.RuntimeFiber<void> | undefined
            return {
              start: (_resource, run) => {
                enter()
                work = runFork(
                  Effect.sleep(b.hold).pipe(Effect.ensuring(Effect.sync(() => {
                    held--
                    run.done(b.fails ? Effect.fail("failed" as const) : Effect.void)
                  })))
                )
              },
              stop: () => work === undefined ? Effect.void : Fiber.interrupt(work)
            }
          }
          const fibers = yield* Effect.forEach(borrowers, (b) =>
            Effect.fork(
              b.kind === "get"
                ? Effect.scoped(Effect.flatMap(pool.get, () => body(b)))
                : b.kind === "use"
                ? pool.use(() => body(b))
                : runTask(() => task(b))
            ))
          yield* Effect.forEach(borrowers, (b, i) =>
            b.interruptAt === undefined
              ? Effect.void
              : Effect.fork(Effect.zipRight(Effect.sleep(b.interruptAt), Fiber.interrupt(fibers[i]!))))
          yield* TestClock.adjust("5 seconds")
          yield* Effect.forEach(fibers, Fiber.await)
          expect(peak).toBeLessThanOrEqual(max)
          expect(peakBorrowed).toBeLessThanOrEqual(max)
          expect(held).toBe(0)
          const stats = yield* pool.stats
          expect(stats.borrowed).toBe(0)
          expect(stats.waiting).toBe(0)
          expect(stats.size).toBeLessThanOrEqual(max)
          // All max at once, without waiting for a timeout.
          const all = yield* Effect.fork(
            Effect.scoped(Effect.all(Array.from({ length: max }, () => pool.get), { concurrency: "unbounded" }))
          )
          yield* TestClock.adjust(createDelay + 1)
          const exit = yield* Fiber.await(all)
          expect(Exit.isSuccess(exit)).toBe(true)
          if (Exit.isSuccess(exit)) expect(new Set(exit.value.map((r) => r.id)).size).toBe(max)
          yield* Scope.close(scope, Exit.void)
        }),
      { fastCheck: { numRuns: 80, seed: 42 } }
    )
  })
})
