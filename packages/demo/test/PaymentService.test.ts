import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as Ledger from "../src/Ledger.js"
import * as PaymentService from "../src/PaymentService.js"
import type * as Stacks from "../src/Stacks.js"

// A caller whose gateway is down until `up` is set, with a breaker state to match.
const makeCaller = () => {
  const gateway = { up: false, calls: 0 }
  const caller: Stacks.Caller = {
    name: "resilient",
    label: "test",
    charge: () =>
      Effect.suspend(() => {
        gateway.calls++
        return gateway.up ? Effect.void : Effect.fail({ _tag: "CircuitBreakerOpenError" })
      }),
    breakerState: Option.some(Effect.sync(() => (gateway.up ? "Closed" : "Open"))),
    changes: () => [],
    reset: Effect.void
  }
  return { caller, gateway }
}

describe("PaymentService", () => {
  it.live(
    "the fallback: a payment the gateway cannot take is pending (202), replayed once the breaker closes",
    () =>
      Effect.gen(function*() {
        const { caller, gateway } = makeCaller()
        const ledger = yield* Ledger.embedded("ledger-test")
        const service = yield* PaymentService.start({
          caller,
          ledger,
          fallbackCapacity: Option.some(2),
          healthInterval: 50
        })
        const http = yield* HttpClient.HttpClient
        const pay = (order: number) =>
          http.post(`${service.url}/pay?order=${order}`).pipe(
            Effect.flatMap((r) => Effect.map(r.json, (body) => ({ status: r.status, body }))),
            Effect.scoped
          )
        const first = yield* pay(1)
        expect(first.status).toBe(202)
        expect(first.body).toMatchObject({ status: "pending", kind: "circuit_breaker_open" })
        expect((yield* pay(2)).status).toBe(202)
        // The queue holds 2 while the breaker is open: the third payment fails.
        const third = yield* pay(3)
        expect(third.status).toBe(503)
        expect(third.body).toMatchObject({ status: "failed", kind: "circuit_breaker_open" })
        const ready = yield* http.get(`${service.url}/health/ready`).pipe(
          Effect.flatMap((r) => Effect.map(r.json, (body) => ({ status: r.status, body }))),
          Effect.scoped,
          Effect.repeat({ until: (r) => (r.body as { status: string }).status === "degraded", times: 40 }),
          Effect.tap(() => Effect.sleep("25 millis"))
        )
        expect(ready.status).toBe(200)
        expect(ready.body).toMatchObject({ status: "degraded", checks: { gateway: { ok: false, critical: false } } })
        const before = yield* service.fallback
        expect(before.replayedAt).toHaveLength(0)
        gateway.up = true
        for (let i = 0; i < 50 && (yield* service.fallback).waiting > 0; i++) yield* Effect.sleep("50 millis")
        yield* Effect.sleep("100 millis") // the replayers are back waiting on the empty queue
        const after = yield* service.fallback
        expect(after).toMatchObject({ queued: 2, refused: 1, waiting: 0 })
        expect(after.replayedAt).toHaveLength(2)
        expect(yield* ledger.counts).toEqual({ paid: 2, pending: 0 })
        const metrics = yield* http.get(`${service.url}/metrics`).pipe(Effect.flatMap((r) => r.text), Effect.scoped)
        expect(metrics.length).toBeGreaterThan(0)
      }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)),
    20_000
  )
})
