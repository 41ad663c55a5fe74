/**
 * A map bounded by a key count and an idle time, for keyed policies (one breaker or bulkhead per host, per
 * tenant). Keys may come from request data, so nothing may grow without bound; and there is no timer per key:
 * idle entries are evicted lazily, from the least recently used end, when the map is touched.
 *
 * An entry whose state still matters (a bulkhead with calls running or queued, a breaker that is open) is never
 * evicted: `canEvict` says which ones may go. When the map is full and none of them may, a new key gets no entry
 * (`getOrCreate` returns `undefined`) and the policy rejects the call: a flood of keys must neither lift a limit
 * nor erase a state that protects someone else.
 *
 * @internal
 */
export class LruMap<K, V> {
  private readonly entries = new Map<K, { value: V; lastUsed: number }>()

  constructor(
    readonly maxKeys: number,
    readonly idleTtlMillis: number,
    /**
     * Whether an entry may be evicted; `idle` says whether it has been unused for `idleTtlMillis` (a policy may
     * forget more of an idle entry than of one in use). Entries for which this says `false` are kept.
     */
    readonly canEvict: (value: V, idle: boolean, now: number) => boolean = () => true,
    readonly onEvict: (key: K, value: V) => void = () => {}
  ) {}

  get size(): number {
    return this.entries.size
  }

  /**
   * The value for `key`, created with `make` on first use; marks it most recently used. `undefined` when the key
   * is new and the map is full of entries that may not be evicted (unless `force`).
   */
  getOrCreate(key: K, now: number, make: (key: K) => V, force = false): V | undefined {
    this.evictIdle(now, 4)
    const found = this.entries.get(key)
    if (found !== undefined) {
      found.lastUsed = now
      // Re-insert to move the key to the most recently used end.
      this.entries.delete(key)
      this.entries.set(key, found)
      return found.value
    }
    // `force` (an operator's action) adds the key even when nothing can make room for it.
    if (this.entries.size >= this.maxKeys && !this.makeRoom(now) && !force) return undefined
    const value = make(key)
    this.entries.set(key, { value, lastUsed: now })
    return value
  }

  /** The value for `key` if present, without touching its recency. */
  peek(key: K): V | undefined {
    return this.entries.get(key)?.value
  }

  /** Every live value. */
  values(): IterableIterator<V> {
    const it = this.entries.values()
    return (function*() {
      for (const e of it) yield e.value
    })()
  }

  /** Every live key with its value. */
  *[Symbol.iterator](): IterableIterator<[K, V]> {
    for (const [k, e] of this.entries) yield [k, e.value]
  }

  /** Evicts idle entries from the least recently used end, at most `limit` of them (0: no limit). */
  evictIdle(now: number, limit = 0): number {
    let evicted = 0
    for (const [key, entry] of this.entries) {
      if (now - entry.lastUsed < this.idleTtlMillis) break
      if (limit > 0 && evicted >= limit) break
      if (!this.canEvict(entry.value, true, now)) continue
      this.entries.delete(key)
      this.onEvict(key, entry.value)
      evicted++
    }
    return evicted
  }

  delete(key: K): boolean {
    const entry = this.entries.get(key)
    if (entry === undefined) return false
    this.entries.delete(key)
    this.onEvict(key, entry.value)
    return true
  }

  clear(): void {
    for (const [key, entry] of this.entries) this.onEvict(key, entry.value)
    this.entries.clear()
  }

  /**
   * Evicts one entry from the least recently used end to make room for a new key; says whether it did. It looks
   * at a few entries only (a full map of busy keys must not cost a scan of `maxKeys` per call), moving each one
   * it must keep to the other end (keeping its `lastUsed`), so the next attempt looks at others.
   */
  private makeRoom(now: number): boolean {
    for (let i = 0; i < MAKE_ROOM_SCAN && i < this.entries.size; i++) {
      const next = this.entries.entries().next()
      if (next.done === true) return true
      const [key, entry] = next.value
      this.entries.delete(key)
      if (this.canEvict(entry.value, now - entry.lastUsed >= this.idleTtlMillis, now)) {
        this.onEvict(key, entry.value)
        return true
      }
      this.entries.set(key, entry)
    }
    return false
  }
}

/** How many entries `makeRoom` looks at, at most, for one new key. */
const MAKE_ROOM_SCAN = 8
