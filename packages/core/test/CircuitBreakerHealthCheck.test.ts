import { CircuitBreaker, InvalidOptionsError, ResilientClient } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope, TestClock } from "effect"
import { Boom, outcome, recordChanges } from "./utils/breaker.js"

const fail = Effect.fail(new Boom({}))
const ok = Effect.succeed("ok")

/** A dependency's health as the checks see it: down until `up` is set; counts the checks. */
const dependency = () => {
  const state = { up: false, checks: 0, keys: [] as Array<string | undefined> }
  const check = (key: string | undefined) =>
    Effect.suspend(() => {
      state.checks++
      state.keys.push(key)
      return state.up ? Effect.void : Effect.fail("down")
    })
  return { state, check }
}

describe("CircuitBreaker healthCheck", () => {
  it.scoped("while open, a check every interval; the first success turns it half-open before openDuration", () =>
    Effect.gen(function*() {
      const dep = dependency()
      const breaker = yield* CircuitBreaker.make({
        name: "checked",
        strategy: CircuitBreaker.consecutive(1),
        openDuration: "10 seconds",
        healthCheck: { check: dep.check, interval: "100 millis" }
      })
      const changes = yield* recordChanges(breaker.changes)
      // No checks while closed.
      yield* TestClock.adjust("1 second")
      expect(dep.state.checks).toBe(0)
      expect(yield* outcome(breaker.execute(fail))).toBe("failure")
      yield* TestClock.adjust("299 millis")
      expect(dep.state.checks).toBe(2)
      expect(yield* breaker.state).toBe("Open")
      dep.state.up = true
      yield* TestClock.adjust("1 millis")
      expect(dep.state.checks).toBe(3)
      expect(dep.state.keys).toEqual([undefined, undefined, undefined])
      expect(yield* breaker.state).toBe("HalfOpen")
      // The next call probes and closes it; no more checks.
      expect(yield* outcome(breaker.execute(ok))).toBe("success")
      expect(yield* breaker.state).toBe("Closed")
      yield* TestClock.adjust("1 second")
      expect(dep.state.checks).toBe(3)
      yield* Effect.yieldNow()
      expect(changes).toEqual(["Closed>Open@1000", "Open>HalfOpen@1300", "HalfOpen>Closed@1300"])
    }))

  it.scoped("a failed probe reopens the breaker and the checks start over for the new open period", () =>
    Effect.gen(function*() {
      const dep = dependency()
      const breaker = yield* CircuitBreaker.make({
        name: "checked",
        strategy: CircuitBreaker.consecutive(1),
        openDuration: "10 seconds",
        healthCheck: { check: dep.check, interval: "100 millis" }
      })
      yield* outcome(breaker.execute(fail))
      dep.state.up = true
      yield* TestClock.adjust("100 millis")
      expect(yield* breaker.state).toBe("HalfOpen")
      // The health endpoint answers, the calls still fail: the probe reopens it.
      dep.state.up = false
      expect(yield* outcome(breaker.execute(fail))).toBe("failure")
      expect(yield* breaker.state).toBe("Open")
      const before = dep.state.checks
      yield* TestClock.adjust("250 millis")
      expect(dep.state.checks).toBe(before + 2)
      dep.state.up = true
      yield* TestClock.adjust("50 millis")
      expect(yield* breaker.state).toBe("HalfOpen")
    }))

  it.scoped("the checks end with the open period: none after openDuration, a reset or an isolation", () =>
    Effect.gen(function*() {
      const dep = dependency()
      const breaker = yield* CircuitBreaker.make({
        name: "checked",
        strategy: CircuitBreaker.consecutive(1),
        openDuration: "1 second",
        healthCheck: { check: dep.check, interval: "300 millis" }
      })
      yield* outcome(breaker.execute(fail))
      yield* TestClock.adjust("5 seconds")
      // At 300, 600 and 900 ms; at 1,200 ms probes are due anyway.
      expect(dep.state.checks).toBe(3)
      expect(yield* breaker.state).toBe("HalfOpen")
      expect(yield* outcome(breaker.execute(fail))).toBe("failure")
      yield* breaker.reset
      yield* TestClock.adjust("5 seconds")
      expect(dep.state.checks).toBe(3)
      yield* outcome(breaker.execute(fail))
      yield* breaker.isolate
      yield* TestClock.adjust("5 seconds")
      expect(dep.state.checks).toBe(3)
      expect(yield* breaker.state).toBe("Isolated")
    }))

  it.scoped("a check that hangs is cut after interval, the next starts then; a defect changes nothing", () =>
    Effect.gen(function*() {
      let calls = 0
      const breaker = yield* CircuitBreaker.make({
        name: "checked",
        strategy: CircuitBreaker.consecutive(1),
        openDuration: "10 seconds",
        healthCheck: {
          check: () =>
            Effect.suspend(() => {
              calls++
              if (calls === 1) return Effect.never
              if (calls === 2) throw new Error("a check that throws")
              return Effect.void
            }),
          interval: "100 millis"
        }
      })
      yield* outcome(breaker.execute(fail))
      // 100: the first check hangs, cut at 200, when the second starts and throws; 300: the third succeeds.
      yield* TestClock.adjust("250 millis")
      expect(calls).toBe(2)
      expect(yield* breaker.state).toBe("Open")
      yield* TestClock.adjust("50 millis")
      expect(calls).toBe(3)
      expect(yield* breaker.state).toBe("HalfOpen")
    }))

  it.effect("closing the breaker's scope stops its checks", () =>
    Effect.gen(function*() {
      const dep = dependency()
      const scope = yield* Scope.make()
      const breaker = yield* Scope.extend(
        CircuitBreaker.make({
          name: "checked",
          strategy: CircuitBreaker.consecutive(1),
          openDuration: "10 seconds",
          healthCheck: { check: dep.check, interval: "100 millis" }
        }),
        scope
      )
      yield* outcome(breaker.execute(fail))
      yield* TestClock.adjust("200 millis")
      expect(dep.state.checks).toBe(2)
      yield* Scope.close(scope, Exit.void)
      yield* TestClock.adjust("1 second")
      expect(dep.state.checks).toBe(2)
    }))

  it.scoped("keyed: each open key is checked with its key, apart from the others", () =>
    Effect.gen(function*() {
      const dep = dependency()
      const breaker = yield* CircuitBreaker.keyed({
        name: "checked-keyed",
        strategy: CircuitBreaker.consecutive(1),
        openDuration: "10 seconds",
        healthCheck: { check: dep.check, interval: "100 millis" },
        maxKeys: 10,
        idleTtl: "1 minute"
      })
      const changes = yield* recordChanges(breaker.changes)
      expect(yield* outcome(breaker.execute("a", fail))).toBe("failure")
      expect(yield* outcome(breaker.execute("b", ok))).toBe("success")
      yield* TestClock.adjust("100 millis")
      expect(dep.state.keys).toEqual(["a"])
      dep.state.up = true
      yield* TestClock.adjust("100 millis")
      expect(yield* breaker.state("a")).toBe("HalfOpen")
      expect(yield* breaker.state("b")).toBe("Closed")
      expect(dep.state.keys).toEqual(["a", "a"])
      yield* Effect.yieldNow()
      expect(changes).toEqual(["Closed>Open@0", "Open>HalfOpen@200"])
    }))

  it.scoped("through ResilientClient: the client's own breaker is checked while open, its next call closes it", () =>
    Effect.gen(function*() {
      const dep = dependency()
      const client = yield* ResilientClient.make({
        name: "checked-client",
        circuitBreaker: {
          strategy: CircuitBreaker.consecutive(1),
          openDuration: "10 seconds",
          halfOpen: { probeLease: "100 millis" },
          healthCheck: { check: dep.check, interval: "100 millis" }
        }
      })
      expect(yield* outcome(client.execute(fail))).toBe("failure")
      expect(yield* outcome(client.execute(ok))).toBe("rejected")
      yield* TestClock.adjust("100 millis")
      expect(dep.state.checks).toBe(1)
      expect(yield* outcome(client.execute(ok))).toBe("rejected")
      dep.state.up = true
      yield* TestClock.adjust("100 millis")
      expect(yield* outcome(client.execute(ok))).toBe("success")
      expect(yield* client.stats).toMatchObject({ succeeded: 1, failed: 1, rejected: { CircuitOpen: 2 } })
    }))

  it.scoped("healthCheck is validated: a function and a positive, finite interval, named in the error", () =>
    Effect.gen(function*() {
      const cases: Array<[unknown, string]> = [
        [{ check: "ping", interval: "1 second" }, "healthCheck.check"],
        [{ check: () => Effect.void, interval: 0 }, "healthCheck.interval"],
        [{ check: () => Effect.void, interval: "-1 second" }, "healthCheck.interval"],
        [{ check: () => Effect.void, interval: Number.POSITIVE_INFINITY }, "healthCheck.interval"],
        [42, "healthCheck"]
      ]
      for (const [healthCheck, field] of cases) {
        const error = yield* Effect.flip(
          CircuitBreaker.make({
            name: "x",
            healthCheck: healthCheck as CircuitBreaker.CircuitBreaker.Options["healthCheck"]
          })
        )
        expect(error).toBeInstanceOf(InvalidOptionsError.InvalidOptionsError)
        expect(error).toMatchObject({ constructorName: "CircuitBreaker.make", field })
      }
    }))
})
