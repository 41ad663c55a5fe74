import { CircuitBreaker, ResilienceMetrics, ResilienceRegistry } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc, Metric, Stream, TestClock } from "effect"
import { Boom, outcome } from "./utils/breaker.js"

const fail = Effect.fail(new Boom({}))
const ok = Effect.succeed("ok")

const counterValue = (metric: Metric.Metric.Counter<number>) => Effect.map(Metric.value(metric), (s) => s.count)

describe("CircuitBreaker.keyed", () => {
  it.scoped("keeps one breaker per key, created on first use", () =>
    Effect.gen(function*() {
      const keyed = yield* CircuitBreaker.keyed({
        name: "hosts",
        strategy: CircuitBreaker.consecutive(2),
        maxKeys: 10,
        idleTtl: "1 minute"
      })
      expect(yield* keyed.size).toBe(0)
      for (let i = 0; i < 2; i++) yield* outcome(keyed.execute("a", fail))
      expect(yield* keyed.state("a")).toBe("Open")
      expect(yield* outcome(keyed.execute("a", ok))).toBe("rejected")
      expect(yield* outcome(keyed.execute("b", ok))).toBe("success")
      expect(yield* keyed.state("b")).toBe("Closed")
      expect(yield* keyed.stats("a")).toMatchObject({ state: "Open", failures: 2, rejected: 1 })
      expect(yield* keyed.size).toBe(2)
      expect(CircuitBreaker.isKeyedCircuitBreaker(keyed)).toBe(true)
      const error = yield* Effect.flip(keyed.execute("a", ok))
      expect(error).toMatchObject({ _tag: "CircuitBreakerOpenError", breakerName: "hosts", state: "Open" })
    }))

  it.scoped("evicts the least recently used key past maxKeys", () =>
    Effect.gen(function*() {
      const keyed = yield* CircuitBreaker.keyed({
        name: "hosts",
        strategy: CircuitBreaker.consecutive(1),
        maxKeys: 3,
        idleTtl: "1 hour"
      })
      yield* outcome(keyed.execute("a", ok))
      yield* outcome(keyed.execute("b", ok))
      yield* outcome(keyed.execute("c", ok))
      // Touching "a" makes "b" the least recently used.
      expect(yield* outcome(keyed.execute("a", ok))).toBe("success")
      yield* outcome(keyed.execute("d", ok))
      expect(yield* keyed.size).toBe(3)
      expect([...(yield* Effect.all(["a", "b", "c", "d"].map((k) => keyed.stats(k))))].map((s) => s.successes))
        .toEqual([2, 0, 1, 1])
    }))

  it.scoped("a flood of new keys never evicts a breaker that still matters", () =>
    Effect.gen(function*() {
      const keyed = yield* CircuitBreaker.keyed({
        name: "hosts",
        strategy: CircuitBreaker.consecutive(2),
        openDuration: "1 minute",
        maxKeys: 10,
        idleTtl: "1 hour"
      })
      // The victim's breaker opens; another key holds one failure in its window.
      for (let i = 0; i < 2; i++) yield* outcome(keyed.execute("victim", fail))
      yield* outcome(keyed.execute("flaky", fail))
      // 100 new keys, each called once with success: they evict one another, never the victim or "flaky".
      for (let i = 0; i < 100; i++) expect(yield* outcome(keyed.execute(`attacker-${i}`, ok))).toBe("success")
      expect(yield* keyed.size).toBe(10)
      expect(yield* keyed.state("victim")).toBe("Open")
      expect(yield* outcome(keyed.execute("victim", ok))).toBe("rejected")
      expect((yield* keyed.stats("flaky")).failures).toBe(1)
      // The attacker opens every other breaker: no key may go, so a new key is rejected, never run unguarded.
      for (let i = 92; i < 100; i++) {
        for (let j = 0; j < 2; j++) yield* outcome(keyed.execute(`attacker-${i}`, fail))
      }
      let ran = 0
      const counted = Effect.sync(() => ran++)
      const error = yield* Effect.flip(keyed.execute("newcomer", counted))
      expect(ran).toBe(0)
      expect(error).toMatchObject({
        _tag: "CircuitBreakerOpenError",
        breakerName: "hosts",
        state: "Open",
        reason: "TooManyKeys"
      })
      expect(yield* keyed.state("victim")).toBe("Open")
      // An operator's isolation still takes.
      yield* keyed.isolate("other")
      expect(yield* keyed.state("other")).toBe("Isolated")
      // Once the open period is over and the keys have been idle for idleTtl, they may go.
      yield* TestClock.adjust("1 hour")
      expect(yield* outcome(keyed.execute("newcomer", counted))).toBe("success")
      expect(ran).toBe(1)
    }))

  it.scoped("evicts keys idle for idleTtl lazily, on the next use", () =>
    Effect.gen(function*() {
      const keyed = yield* CircuitBreaker.keyed({
        name: "hosts",
        strategy: CircuitBreaker.consecutive(1),
        openDuration: "30 seconds",
        maxKeys: 100,
        idleTtl: "1 minute"
      })
      yield* outcome(keyed.execute("a", fail))
      yield* TestClock.adjust("59999 millis")
      yield* outcome(keyed.execute("b", ok))
      expect(yield* keyed.size).toBe(2)
      expect(yield* keyed.state("a")).toBe("HalfOpen")
      yield* TestClock.adjust("1 millis")
      yield* outcome(keyed.execute("c", ok))
      expect(yield* keyed.state("a")).toBe("Closed")
      expect(yield* keyed.size).toBe(2)
    }))

  it.effect("keeps an idle key whose breaker is still open, or isolated", () =>
    Effect.gen(function*() {
      const keyed = yield* CircuitBreaker.keyed({
        name: "hosts",
        strategy: CircuitBreaker.consecutive(1),
        openDuration: "1 hour",
        maxKeys: 100,
        idleTtl: "1 minute"
      })
      yield* outcome(keyed.execute("a", fail))
      yield* keyed.isolate("i")
      yield* TestClock.adjust("2 minutes")
      expect(yield* keyed.size).toBe(2)
      expect(yield* outcome(keyed.execute("a", ok))).toBe("rejected")
      yield* TestClock.adjust("1 hour")
      // Its open period is over and it has been idle: it may go (a new breaker admits the call as a probe would).
      yield* TestClock.adjust("2 minutes")
      expect(yield* keyed.size).toBe(1)
      expect(yield* keyed.state("i")).toBe("Isolated")
    }).pipe(Effect.scoped))

  it.effect.prop(
    "stays within maxKeys whatever keys arrive",
    { keys: fc.array(fc.string({ maxLength: 3 }), { maxLength: 300 }), maxKeys: fc.integer({ min: 1, max: 20 }) },
    ({ keys, maxKeys }) =>
      Effect.gen(function*() {
        const keyed = yield* CircuitBreaker.keyed({ name: "hosts", maxKeys, idleTtl: "1 hour" })
        for (const key of keys) {
          yield* keyed.execute(key, ok)
          expect(yield* keyed.size).toBeLessThanOrEqual(maxKeys)
        }
        expect(yield* keyed.size).toBe(Math.min(maxKeys, new Set(keys).size))
      }).pipe(Effect.scoped),
    { fastCheck: { numRuns: 50 } }
  )

  it.scoped("isolate and reset act on one key; changes carry the key", () =>
    Effect.gen(function*() {
      const keyed = yield* CircuitBreaker.keyed({ name: "tenants", maxKeys: 10, idleTtl: "1 hour" })
      const seen: Array<string> = []
      yield* Stream.runForEach(keyed.changes, (c) => Effect.sync(() => seen.push(`${c.key}:${c.from}>${c.to}`))).pipe(
        Effect.forkScoped
      )
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
      yield* keyed.isolate("t1")
      expect(yield* outcome(keyed.execute("t1", ok))).toBe("rejected")
      expect(yield* outcome(keyed.execute("t2", ok))).toBe("success")
      yield* keyed.reset("t1")
      yield* keyed.reset("absent")
      expect(yield* outcome(keyed.execute("t1", ok))).toBe("success")
      for (let i = 0; i < 5; i++) yield* Effect.yieldNow()
      expect(seen).toEqual(["t1:Closed>Isolated", "t1:Isolated>Closed"])
    }))

  it.scoped("reports metrics summed over its keys, never with the key as a label", () =>
    Effect.gen(function*() {
      const name = "keyed-metrics"
      const keyed = yield* CircuitBreaker.keyed({
        name,
        strategy: CircuitBreaker.consecutive(1),
        maxKeys: 10,
        idleTtl: "1 hour"
      })
      yield* outcome(keyed.execute("k1", fail))
      yield* outcome(keyed.execute("k2", fail))
      yield* outcome(keyed.execute("k1", ok))
      yield* outcome(keyed.execute("k3", ok))
      yield* ResilienceMetrics.flush
      const calls = ResilienceMetrics.callsTotal.pipe(
        Metric.tagged("policy", "circuit_breaker"),
        Metric.tagged("name", name)
      )
      expect(yield* counterValue(Metric.tagged(calls, "outcome", "failure"))).toBe(2)
      expect(yield* counterValue(Metric.tagged(calls, "outcome", "rejected"))).toBe(1)
      expect(yield* counterValue(Metric.tagged(calls, "outcome", "success"))).toBe(1)
      const opened = ResilienceMetrics.circuitBreakerTransitionsTotal.pipe(
        Metric.tagged("name", name),
        Metric.tagged("from", "closed"),
        Metric.tagged("to", "open")
      )
      expect(yield* counterValue(opened)).toBe(2)
      const snapshot = yield* Metric.snapshot
      const labelled = snapshot.filter((pair) => pair.metricKey.tags.some((t) => t.key === "name" && t.value === name))
      expect(labelled.length).toBeGreaterThan(0)
      for (const pair of labelled) {
        expect(pair.metricKey.tags.map((t) => t.key)).not.toContain("key")
        expect(pair.metricKey.tags.map((t) => t.value)).not.toContain("k1")
      }
    }))

  it.effect("registers once under its name", () =>
    Effect.gen(function*() {
      const registry = yield* ResilienceRegistry.ResilienceRegistry
      yield* Effect.scoped(Effect.gen(function*() {
        const keyed = yield* CircuitBreaker.keyed({ name: "per-host", maxKeys: 10, idleTtl: "1 hour" })
        expect(yield* registry.breakers).toEqual([{ name: "per-host", state: "Closed" }])
        yield* keyed.isolate("h")
        expect(yield* registry.breakers).toEqual([{ name: "per-host", state: "PartlyOpen" }])
      }))
      expect(yield* registry.breakers).toEqual([])
    }).pipe(Effect.provide(ResilienceRegistry.layer)))
})
