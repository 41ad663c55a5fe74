import { CircuitBreaker, CircuitBreakerStore } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import {
  Duration,
  Effect,
  FastCheck as fc,
  Layer,
  Queue,
  Random,
  Schedule,
  type Scope,
  Stream,
  TestClock
} from "effect"
import { Boom, outcome } from "./utils/breaker.js"

const fail = Effect.fail(new Boom({}))
const ok = Effect.succeed("ok")

const settle = Effect.gen(function*() {
  for (let i = 0; i < 50; i++) yield* Effect.yieldNow()
})

const recordChanges = (changes: Stream.Stream<CircuitBreaker.StateChange>) =>
  Effect.gen(function*() {
    const seen: Array<string> = []
    yield* Stream.runForEach(changes, (c) => Effect.sync(() => seen.push(`${c.from}>${c.to}@${c.at}`))).pipe(
      Effect.forkScoped
    )
    yield* settle
    return seen
  })

interface DoubleRecord {
  snapshot: CircuitBreakerStore.Snapshot
  readonly window: CircuitBreakerStore.SharedWindow
  readonly inboxes: Array<Queue.Queue<CircuitBreakerStore.Snapshot>>
}

/**
 * A store that takes its time: each report is decided after a random delay (so reports are taken out of order),
 * and each decision reaches each replica after its own random delay, sometimes twice (so pushes arrive late, out
 * of order and repeated). It applies the same rule as every store (`decide`).
 */
const makeDelayingStore = (maxDelayMillis: number) =>
  Effect.sync(() => {
    const records = new Map<string, DoubleRecord>()
    const store: CircuitBreakerStore.Store = {
      storeName: "delaying",
      flushInterval: Duration.millis(10),
      connect: (config) =>
        Effect.gen(function*() {
          const scope: Scope.Scope = yield* Effect.scope
          let record = records.get(config.name)
          if (record === undefined) {
            record = {
              snapshot: CircuitBreakerStore.initialSnapshot,
              window: CircuitBreakerStore.makeSharedWindow(config),
              inboxes: []
            }
            records.set(config.name, record)
          }
          const shared = record
          const inbox = yield* Queue.sliding<CircuitBreakerStore.Snapshot>(64)
          shared.inboxes.push(inbox)
          const later = (effect: Effect.Effect<void>) =>
            Effect.flatMap(
              Random.nextIntBetween(0, maxDelayMillis + 1),
              (delay) => Effect.asVoid(Effect.forkIn(Effect.delay(effect, Duration.millis(delay)), scope))
            )
          const push = (snapshot: CircuitBreakerStore.Snapshot) =>
            Effect.forEach(shared.inboxes, (target) =>
              Effect.zipRight(
                later(Queue.offer(target, snapshot)),
                Effect.flatMap(
                  Random.nextBoolean,
                  (twice) => twice ? later(Queue.offer(target, snapshot)) : Effect.void
                )
              ), { discard: true })
          return {
            initial: shared.snapshot,
            report: (report) =>
              later(Effect.suspend(() => {
                const next = CircuitBreakerStore.decide(shared.snapshot, shared.window, report)
                if (next === shared.snapshot) return Effect.void
                shared.snapshot = next
                return push(next)
              })),
            updates: Stream.fromQueue(inbox)
          }
        })
    }
    return { store, records }
  })

/** A store that never answers: reports hang, nothing is pushed. */
const silentStore: CircuitBreakerStore.Store = {
  storeName: "silent",
  flushInterval: Duration.zero,
  connect: () =>
    Effect.succeed({
      initial: CircuitBreakerStore.initialSnapshot,
      report: () => Effect.never,
      updates: Stream.never
    })
}

describe("CircuitBreakerStore", () => {
  it("decide: a compare-and-set on the version, then the merged outcomes", () => {
    const config: CircuitBreakerStore.SharedConfig = {
      name: "rule",
      strategy: { _tag: "CountWindow", size: 4, failureRate: 0.5, minimumCalls: 4 },
      slowCallRate: Infinity
    }
    const window = CircuitBreakerStore.makeSharedWindow(config)
    const v0 = CircuitBreakerStore.initialSnapshot
    const report = (
      outcomes: { successes?: number; failures?: number },
      proposal?: CircuitBreakerStore.Proposal
    ): CircuitBreakerStore.Report => ({
      at: 1000,
      successes: outcomes.successes ?? 0,
      failures: outcomes.failures ?? 0,
      slowCalls: 0,
      proposal
    })
    // Outcomes below minimumCalls change nothing: the very same snapshot comes back.
    expect(CircuitBreakerStore.decide(v0, window, report({ successes: 1, failures: 1 }))).toBe(v0)
    // Merged with another replica's, they open it.
    const v1 = CircuitBreakerStore.decide(v0, window, report({ successes: 1, failures: 1 }))
    expect(v1).toEqual({ version: 1, state: "Open", at: 1000, openings: 1 })
    // A proposal made on a stale version is dropped.
    const stale = { baseVersion: 0, state: "Closed", at: 900, openings: 0 } as const
    expect(CircuitBreakerStore.decide(v1, window, report({}, stale))).toBe(v1)
    // A proposal equal to the current state is no change.
    expect(CircuitBreakerStore.decide(v1, window, report({}, { baseVersion: 1, state: "Open", at: 1000, openings: 1 })))
      .toBe(v1)
    // A reopening (same state, a later opening) on the current version is accepted.
    const v2 = CircuitBreakerStore.decide(
      v1,
      window,
      report({}, { baseVersion: 1, state: "Open", at: 6000, openings: 2 })
    )
    expect(v2).toEqual({ version: 2, state: "Open", at: 6000, openings: 2 })
    // Closing clears the shared window: the old outcomes no longer count.
    const v3 = CircuitBreakerStore.decide(
      v2,
      window,
      report({}, { baseVersion: 2, state: "Closed", at: 9000, openings: 0 })
    )
    expect(v3).toEqual({ version: 3, state: "Closed", at: 9000, openings: 0 })
    expect(CircuitBreakerStore.decide(v3, window, report({ successes: 2, failures: 1 }))).toBe(v3)
  })

  it.scoped("layerMemory: one breaker behaves exactly as without a store", () =>
    Effect.gen(function*() {
      const run = Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "payments",
          strategy: CircuitBreaker.consecutive(3),
          openDuration: "5 seconds"
        })
        const changes = yield* recordChanges(breaker.changes)
        const start = yield* TestClock.currentTimeMillis
        const log: Array<string> = []
        const call = (effect: Effect.Effect<string, Boom>) =>
          Effect.flatMap(outcome(breaker.execute(effect)), (o) => Effect.sync(() => log.push(o)))
        for (let i = 0; i < 4; i++) yield* call(fail)
        yield* settle
        yield* TestClock.adjust("5 seconds")
        yield* call(fail)
        yield* call(ok)
        yield* TestClock.adjust("5 seconds")
        yield* call(ok)
        yield* call(ok)
        yield* settle
        return { log, changes: changes.map((c) => c.replace(/@(\d+)/, (_, at) => `@${Number(at) - start}`)) }
      }).pipe(Effect.scoped)
      const local = yield* run
      const shared = yield* Effect.provide(run, CircuitBreakerStore.layerMemory)
      expect(shared).toEqual(local)
      expect(local.log).toEqual([
        "failure",
        "failure",
        "failure",
        "rejected",
        "failure",
        "rejected",
        "success",
        "success"
      ])
    }))

  it.scoped("layerMemory: breakers of one name share transitions", () =>
    Effect.gen(function*() {
      const options = { name: "shared", strategy: CircuitBreaker.consecutive(2), openDuration: "5 seconds" } as const
      const a = yield* CircuitBreaker.make(options)
      const b = yield* CircuitBreaker.make(options)
      const bChanges = yield* recordChanges(b.changes)
      yield* outcome(a.execute(fail))
      yield* outcome(a.execute(fail))
      expect(yield* a.state).toBe("Open")
      yield* settle
      expect(yield* b.state).toBe("Open")
      let ran = false
      expect(yield* outcome(b.execute(Effect.sync(() => (ran = true))))).toBe("rejected")
      expect(ran).toBe(false)
      yield* TestClock.adjust("5 seconds")
      // B's probe closes the shared breaker; A learns it.
      expect(yield* outcome(b.execute(ok))).toBe("success")
      yield* settle
      expect(yield* a.state).toBe("Closed")
      expect(bChanges).toEqual(["Closed>Open@0", "Open>HalfOpen@5000", "HalfOpen>Closed@5000"])
    }).pipe(Effect.provide(CircuitBreakerStore.layerMemory)))

  it.scoped("the store decides on the merged outcomes of every replica", () =>
    Effect.gen(function*() {
      const options = {
        name: "merged",
        strategy: CircuitBreaker.countWindow({ size: 4, failureRate: 0.5 })
      } as const
      const a = yield* CircuitBreaker.make(options)
      const b = yield* CircuitBreaker.make(options)
      // Each replica sees 2 calls: below minimumCalls (4) locally; together 2 of 4 failed.
      for (const replica of [a, b]) {
        yield* outcome(replica.execute(fail))
        yield* outcome(replica.execute(ok))
        yield* settle
      }
      yield* settle
      expect(yield* a.state).toBe("Open")
      expect(yield* b.state).toBe("Open")
    }).pipe(Effect.provide(CircuitBreakerStore.layerMemory)))

  it.scoped("the caller never waits on the store: a store that never answers leaves a local breaker", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({
        name: "silent",
        strategy: CircuitBreaker.consecutive(2),
        openDuration: "1 second"
      })
      const results = []
      for (const effect of [fail, fail, ok]) results.push(yield* outcome(breaker.execute(effect)))
      yield* TestClock.adjust("1 second")
      results.push(yield* outcome(breaker.execute(ok)))
      expect(results).toEqual(["failure", "failure", "rejected", "success"])
      expect(yield* breaker.state).toBe("Closed")
    }).pipe(Effect.provide(Layer.succeed(CircuitBreakerStore.CircuitBreakerStore, silentStore))))

  it.effect.prop(
    "replicas converge on the store's state through late, reordered and repeated messages",
    {
      steps: fc.array(
        fc.oneof(
          fc.record({ replica: fc.integer({ min: 0, max: 2 }), fails: fc.boolean() }),
          fc.record({ advance: fc.integer({ min: 0, max: 400 }) })
        ),
        { minLength: 30, maxLength: 60 }
      ),
      seed: fc.integer()
    },
    ({ seed, steps }) =>
      Effect.gen(function*() {
        const { records, store } = yield* makeDelayingStore(2000)
        const replicas = yield* Effect.forEach([0, 1, 2], () =>
          CircuitBreaker.make({
            name: "converge",
            strategy: CircuitBreaker.countWindow({ size: 4, failureRate: 0.5, minimumCalls: 2 }),
            openDuration: Schedule.exponential("100 millis"),
            halfOpen: { maxProbes: 2 }
          }).pipe(Effect.provideService(CircuitBreakerStore.CircuitBreakerStore, store)))
        for (const step of steps) {
          if ("advance" in step) yield* TestClock.adjust(Duration.millis(step.advance))
          else yield* outcome(replicas[step.replica]!.execute(step.fails ? fail : ok))
        }
        // Let every report and push land (delays are at most 2 s each, flushes every 10 ms).
        for (let i = 0; i < 10; i++) yield* TestClock.adjust("500 millis")
        const shared = records.get("converge")!.snapshot
        for (const replica of replicas) {
          const state = yield* replica.state
          if (shared.state === "Open") expect(["Open", "HalfOpen"]).toContain(state)
          else expect(state).toBe(shared.state)
        }
      }).pipe(Effect.scoped, Effect.withRandom(Random.make(seed))),
    { fastCheck: { numRuns: 25 } }
  )
})
