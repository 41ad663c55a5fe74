import * as Experimental from "@effect/experimental/RateLimiter"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/**
 * The count of one key. For a fixed window, `value` is the count and `time` the instant the window's reservations
 * run out; for a token bucket, `value` is the tokens left and `time` the last refill. `forgetAt` is the instant
 * from which the entry says nothing a fresh one would not: the window has passed, or the bucket is full again.
 */
interface Entry {
  value: number
  time: number
  forgetAt: number
}

/** Default key bound of the memory store. @internal */
export const defaultMaxKeys = 100_000

/** Insertions between sweeps at least: a sweep is O(keys), so it runs after as many insertions as there are keys. */
const MIN_SWEEP_INTERVAL = 1_024

/**
 * `@effect/experimental`'s memory store with a bound: the same counting, but a key whose window has passed (or
 * whose bucket is full again) is forgotten, and at most `maxKeys` keys are kept. Keys may come from request data,
 * so an attacker's million keys must not stay in memory. Forgetting costs nothing on the hot path: expired keys are
 * swept after as many insertions as there are keys (amortized O(1) per new key), and at the bound the keys whose
 * windows began first are dropped, a sixteenth of the bound at a time (entries move to the end of the map when their
 * window restarts). A dropped live key
 * only makes its own limit more lenient, never stricter: no key can lock another out.
 *
 * @internal
 */
export class BoundedStore {
  private readonly entries = new Map<string, Entry>()
  private sweepAt = MIN_SWEEP_INTERVAL

  constructor(readonly maxKeys: number) {}

  get size(): number {
    return this.entries.size
  }

  private insert(key: string, entry: Entry, now: number): void {
    const entries = this.entries
    entries.delete(key)
    if (entries.size >= this.sweepAt || entries.size >= this.maxKeys) this.sweep(now)
    if (entries.size >= this.maxKeys) {
      // Evict a batch, not one key per insertion: a Map iterates past the holes its deletions left at the front, so
      // one eviction per insertion would cost O(keys) each time.
      const keep = this.maxKeys - Math.max(1, Math.floor(this.maxKeys / 16))
      for (const oldest of entries.keys()) {
        entries.delete(oldest)
        if (entries.size <= keep) break
      }
    }
    entries.set(key, entry)
  }

  /** Drops every entry that has nothing left to say. */
  sweep(now: number): void {
    for (const [key, entry] of this.entries) {
      if (entry.forgetAt <= now) this.entries.delete(key)
    }
    this.sweepAt = this.entries.size + Math.max(MIN_SWEEP_INTERVAL, this.entries.size)
  }

  /** As `layerStoreMemory`'s `fixedWindow`: the count after taking `tokens`, and the time to live in millis. */
  fixedWindow(
    key: string,
    tokens: number,
    refillMillis: number,
    limit: number | undefined,
    now: number
  ): readonly [count: number, ttl: number] {
    let entry = this.entries.get(key)
    if (entry === undefined || entry.time <= now) {
      entry = { value: 0, time: now, forgetAt: now }
      this.insert(key, entry, now)
    }
    if (limit && entry.value + tokens > limit) return [entry.value + tokens, entry.time - now]
    entry.value += tokens
    entry.time += refillMillis * tokens
    entry.forgetAt = entry.time
    return [entry.value, entry.time - now]
  }

  /** As `layerStoreMemory`'s `tokenBucket`: the tokens left after taking `tokens` (negative when overdrawn). */
  tokenBucket(
    key: string,
    tokens: number,
    limit: number,
    refillMillis: number,
    allowOverflow: boolean,
    now: number
  ): number {
    let entry = this.entries.get(key)
    if (entry === undefined) {
      entry = { value: limit, time: now, forgetAt: now }
      this.insert(key, entry, now)
    } else {
      const refill = Math.floor((now - entry.time) / refillMillis)
      if (refill > 0) {
        entry.value = Math.min(limit, entry.value + refill)
        entry.time += refill * refillMillis
      }
    }
    const next = entry.value - tokens
    if (allowOverflow || next >= 0) entry.value = next
    entry.forgetAt = entry.time + Math.max(0, limit - entry.value) * refillMillis
    return next
  }
}

/** @internal */
export const makeStore = (maxKeys: number): Experimental.RateLimiterStore["Type"] => {
  const store = new BoundedStore(maxKeys)
  return Experimental.RateLimiterStore.of({
    fixedWindow: (options) =>
      Effect.clockWith((clock) =>
        Effect.sync(() =>
          store.fixedWindow(
            options.key,
            options.tokens,
            Duration.toMillis(options.refillRate),
            options.limit,
            clock.unsafeCurrentTimeMillis()
          )
        )
      ),
    tokenBucket: (options) =>
      Effect.clockWith((clock) =>
        Effect.sync(() =>
          store.tokenBucket(
            options.key,
            options.tokens,
            options.limit,
            Duration.toMillis(options.refillRate),
            options.allowOverflow,
            clock.unsafeCurrentTimeMillis()
          )
        )
      )
  })
}

/** @internal */
export const layerStoreMemory = (maxKeys: number): Layer.Layer<Experimental.RateLimiterStore> =>
  Layer.sync(Experimental.RateLimiterStore, () => makeStore(maxKeys))
