/**
 * `ResilientHttpClient`'s `adaptiveThrottle` (issue 19): against a host that fails every request, the throttle
 * refuses most attempts locally once the host has refused more than 1/k of them; with no throttle every request
 * (and every retry) reaches the host.
 */
import { Backoff } from "@effect-resilience/core"
import { ResilientHttpClient } from "@effect-resilience/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Random } from "effect"
import { answer, httpServer } from "./utils/httpServer.js"

const NodeClient = NodeHttpClient.layerWithoutAgent.pipe(
  Layer.provide(NodeHttpClient.makeAgentLayer({ keepAlive: true }))
)

const run = (throttled: boolean) =>
  Effect.gen(function*() {
    const server = yield* httpServer((_req, res) => answer(res, 503))
    const client = yield* ResilientHttpClient.make({
      name: `throttle_${throttled}_${process.pid}`,
      retry: { schedule: Backoff.constant("1 millis"), maxAttempts: 2, budget: false },
      circuitBreaker: false,
      ...(throttled ? { adaptiveThrottle: { k: 2 } } : {})
    })
    const errors: Array<string> = []
    for (let i = 0; i < 100; i++) {
      const exit = yield* Effect.exit(client.get(`${server.origin}/x`))
      if (Exit.isFailure(exit) && exit.cause._tag === "Fail") errors.push(exit.cause.error._tag)
    }
    return { seen: server.requests.length, errors, stats: yield* client.stats }
  }).pipe(Effect.scoped, Effect.provide(NodeClient), Effect.withRandom(Random.make(3)))

describe("ResilientHttpClient adaptiveThrottle", () => {
  it.live("a host failing every request: the throttle keeps most attempts off it", () =>
    Effect.gen(function*() {
      const plain = yield* run(false)
      const throttled = yield* run(true)
      // 100 requests, 2 attempts each.
      assert.strictEqual(plain.seen, 200)
      assert.isBelow(throttled.seen, 20)
      assert.isTrue(throttled.errors.includes("AdaptiveThrottleError"))
      assert.isAbove(throttled.stats.rejected, 80)
      assert.strictEqual(throttled.errors.length, 100)
    }), { timeout: 30_000 })

  it.effect("a bad adaptiveThrottle option fails make naming adaptiveThrottle.k", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        ResilientHttpClient.make({ name: "bad-throttle", adaptiveThrottle: { k: 0 } }).pipe(
          Effect.scoped,
          Effect.provide(NodeClient)
        )
      )
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined
      assert.strictEqual(error?._tag, "InvalidOptionsError")
      assert.strictEqual(error?._tag === "InvalidOptionsError" ? error.field : "", "adaptiveThrottle.k")
    }))
})
