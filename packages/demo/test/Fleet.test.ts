/**
 * `--redis`: the resilient service as three replicas, breakers on their own and shared through Redis.
 */
import { Services } from "@effect-resilience/testing"
import { FetchHttpClient } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Cli from "../src/Cli.js"
import * as Fleet from "../src/Fleet.js"

const redis = await Services.redis()

describe("demo --redis", () => {
  it("takes a redis:// URL and refuses anything else", () => {
    const parsed = Cli.parse(["--redis", "redis://127.0.0.1:6379"])
    assert.strictEqual(parsed._tag === "Flags" ? parsed.flags.redis : undefined, "redis://127.0.0.1:6379")
    const none = Cli.parse([])
    assert.strictEqual(none._tag === "Flags" ? none.flags.redis : "set", undefined)
    const bad = Cli.parse(["--redis=http://x"])
    assert.strictEqual(bad._tag, "Invalid")
    assert.include(bad._tag === "Invalid" ? bad.message : "", "--redis needs a redis://host:port URL")
  })

  // How many calls sharing saves depends on real time (on a loaded machine even the healthy phase trips breakers):
  // the demo reports the figure; this test checks that both fleets ran and that the report says what they did.
  it.live.skipIf(!redis.available)(
    "runs the fleet twice, breakers on their own and shared, and reports both",
    () =>
      Effect.gen(function*() {
        const result = yield* Fleet.run({ phaseSeconds: 1, rate: 30, seed: 7, redisUrl: redis.url })
        assert.strictEqual(result.replicas, 3)
        for (const run of [result.unshared, result.shared]) {
          assert.strictEqual(run.requests, 4 * 3 * 10)
          assert.isAbove(run.gatewayCalls, 0)
        }
        assert.strictEqual(result.savedCalls, result.unshared.gatewayCalls - result.shared.gatewayCalls)
        const lines = Fleet.lines(result).join("\n")
        assert.include(lines, `breakers on their own:        ${result.unshared.gatewayCalls} gateway calls`)
        assert.include(lines, `sharing saved ${result.savedCallsWhileFailing} gateway calls while the gateway failed`)
      }).pipe(Effect.provide(FetchHttpClient.layer)),
    60_000
  )
})
