import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import { check, median, overheads, quantile, ratio, spread } from "../src/stats.js"

describe("stats", () => {
  it("median of odd and even counts", () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(median([4, 1, 3, 2])).toBe(2.5)
    expect(Number.isNaN(median([]))).toBe(true)
  })

  it("quantile interpolates between ranks", () => {
    expect(quantile([0, 10], 0.25)).toBe(2.5)
    expect(quantile([5, 1, 3], 0)).toBe(1)
    expect(quantile([5, 1, 3], 1)).toBe(5)
  })

  it.prop(
    "a quantile lies within min and max and grows with q",
    [
      FastCheck.array(FastCheck.double({ noNaN: true, min: -1e6, max: 1e6 }), { minLength: 1 }),
      FastCheck.double({ min: 0, max: 1, noNaN: true })
    ],
    ([values, q]) => {
      const s = spread(values)
      const x = quantile(values, q)
      expect(x).toBeGreaterThanOrEqual(s.min)
      expect(x).toBeLessThanOrEqual(s.max)
      expect(quantile(values, Math.min(1, q + 0.1))).toBeGreaterThanOrEqual(x)
    }
  )

  it("overhead is per call minus the bare call of the same round", () => {
    expect(overheads([120, 130, 110], [100, 90, 100])).toEqual([20, 40, 10])
  })

  it("a ratio to a missing or non-positive overhead is null", () => {
    expect(ratio(10, 20)).toBe(0.5)
    expect(ratio(10, 0)).toBeNull()
    expect(ratio(10, -5)).toBeNull()
    expect(ratio(null, 5)).toBeNull()
    expect(ratio(5, undefined)).toBeNull()
  })

  it("targets: met, missed, or not measured", () => {
    expect(check({ key: "a", op: "<=", target: 1.2 }, 1.2).met).toBe(true)
    expect(check({ key: "a", op: "<=", target: 1.2 }, 1.3).met).toBe(false)
    expect(check({ key: "b", op: ">=", target: 0.95 }, 0.9).met).toBe(false)
    expect(check({ key: "b", op: ">=", target: 0.95 }, null)).toMatchObject({ met: null, value: null })
  })
})
