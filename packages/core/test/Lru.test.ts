import { describe, expect, it } from "@effect/vitest"
import { LruMap } from "../src/internal/lru.js"

describe("LruMap", () => {
  it("evicts the least recently used key past maxKeys", () => {
    const evicted: Array<string> = []
    const lru = new LruMap<string, number>(2, 1_000, undefined, (k) => evicted.push(k))
    lru.getOrCreate("a", 0, () => 1)
    lru.getOrCreate("b", 0, () => 2)
    lru.getOrCreate("a", 1, () => -1)
    lru.getOrCreate("c", 2, () => 3)
    expect(evicted).toEqual(["b"])
    expect([...lru].map(([k]) => k)).toEqual(["a", "c"])
  })

  it("evicts idle keys lazily when touched, keeping those that cannot be evicted", () => {
    const lru = new LruMap<string, { busy: boolean }>(10, 100, (v) => !v.busy)
    lru.getOrCreate("idle", 0, () => ({ busy: false }))
    lru.getOrCreate("busy", 0, () => ({ busy: true }))
    lru.getOrCreate("fresh", 50, () => ({ busy: false }))
    lru.getOrCreate("fresh", 120, () => ({ busy: false }))
    expect([...lru].map(([k]) => k)).toEqual(["busy", "fresh"])
  })
})
