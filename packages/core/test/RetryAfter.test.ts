import { RetryAfter } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Data, Duration, Option } from "effect"

class Busy extends Data.TaggedError("Busy")<{ readonly wait: Duration.Duration }> {
  get [RetryAfter.symbol](): Duration.Duration {
    return this.wait
  }
}

describe("RetryAfter", () => {
  it("reads the hint an error carries", () => {
    expect(RetryAfter.get(new Busy({ wait: Duration.seconds(2) }))).toEqual(Option.some(Duration.seconds(2)))
  })
  it("is none for errors and values without a hint", () => {
    expect(RetryAfter.get(new Error("x"))).toEqual(Option.none())
    expect(RetryAfter.get("x")).toEqual(Option.none())
    expect(RetryAfter.get({ [RetryAfter.symbol]: 5 })).toEqual(Option.none())
  })
  it("treats a hint getter that throws as no hint", () => {
    const broken = {
      get [RetryAfter.symbol](): Duration.Duration {
        throw new Error("bad hint")
      }
    }
    expect(RetryAfter.get(broken)).toEqual(Option.none())
    expect(RetryAfter.isHasRetryAfter(broken)).toBe(false)
  })
})
