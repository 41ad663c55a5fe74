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

  it("gives no entry for a new key when every entry must be kept, and makes room once one may go", () => {
    const lru = new LruMap<string, { busy: boolean }>(2, 1_000, (v) => !v.busy)
    const a = lru.getOrCreate("a", 0, () => ({ busy: true }))!
    lru.getOrCreate("b", 0, () => ({ busy: true }))
    // Full of busy entries: the new key is refused, and stays refused however often it asks.
    for (let i = 0; i < 5; i++) expect(lru.getOrCreate("c", 1, () => ({ busy: false }))).toBeUndefined()
    expect(lru.size).toBe(2)
    // Forced (an operator's action), it is added past maxKeys.
    expect(lru.getOrCreate("forced", 1, () => ({ busy: true }), true)).toBeDefined()
    expect(lru.size).toBe(3)
    a.busy = false
    expect(lru.getOrCreate("c", 2, () => ({ busy: false }))).toEqual({ busy: false })
    expect([...lru].map(([k]) => k).sort()).toEqual(["b", "c", "forced"])
  })

  it("looks at a bounded number of entries per new key, rotating the ones it keeps", () => {
    const calls: Array<number> = []
    const lru = new LruMap<number, { busy: boolean }>(100, 1_000, (v) => {
      calls.push(0)
      return !v.busy
    })
    for (let i = 0; i < 100; i++) lru.getOrCreate(i, 0, () => ({ busy: i < 99 }))
    calls.length = 0
    // Only the last entry may go: the first attempts are refused after a few looks each, a later one finds it.
    let found = false
    for (let i = 0; i < 20 && !found; i++) found = lru.getOrCreate(1000 + i, 0, () => ({ busy: false })) !== undefined
    expect(found).toBe(true)
    expect(calls.length).toBeLessThanOrEqual(100)
  })
})
