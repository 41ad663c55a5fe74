/**
 * A map bounded by a key count and an idle time, for keyed policies (one breaker or bulkhead per host, per
 * tenant). Keys may come from request data, so nothing may grow without bound; and there is no timer per key:
 * idle entries are evicted lazily, from the least recently used end, when the map is touched.
 *
 * @internal
 */
export class LruMap<K, V> {
  private readonly entries = new Map<K, { value: V; lastUsed: number }>()

  constructor(
    readonly maxKeys: number,
    readonly idleTtlMillis: number,
    /** Entries for which this says `false` (e.g. a bulkhead with calls running) are kept. */
    readonly canEvict: (value: V) => boolean = () => true,
    readonly onEvict: (key: K, value: V) => void = () => {}
  ) {}

  get size(): number {
    return this.entries.size
  }

  /** The value for `key`, created with `make` on first use; marks it most recently used. */
  getOrCreate(key: K, now: number, make: (key: K) => V): V {
    this.evictIdle(now, 4)
    const found = this.entries.get(key)
    if (found !== undefined) {
      found.lastUsed = now
      // Re-insert to move the key to the most recently used end.
      this.entries.delete(key)
      this.entries.set(key, found)
      return found.value
    }
    const value = make(key)
    this.entries.set(key, { value, lastUsed: now })
    if (this.entries.size > this.maxKeys) this.evictOverflow()
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
      if (!this.canEvict(entry.value)) continue
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

  private evictOverflow(): void {
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.maxKeys) return
      if (!this.canEvict(entry.value)) continue
      this.entries.delete(key)
      this.onEvict(key, entry.value)
    }
  }
}
