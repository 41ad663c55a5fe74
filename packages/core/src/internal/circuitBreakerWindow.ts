/**
 * The failure-counting windows of a circuit breaker, as plain synchronous objects: the breaker records into one
 * on every call, and the memory store merges replicas' outcome batches into one of its own.
 *
 * @internal
 */

/**
 * A strategy with its defaults filled in and its durations in millis: plain data a store can keep (and a
 * Redis script can read).
 *
 * @internal
 */
export type StrategyConfig =
  | { readonly _tag: "Consecutive"; readonly threshold: number }
  | {
    readonly _tag: "CountWindow"
    readonly size: number
    readonly failureRate: number
    readonly minimumCalls: number
  }
  | {
    readonly _tag: "TimeWindow"
    readonly durationMillis: number
    readonly buckets: number
    readonly failureRate: number
    readonly minimumCalls: number
  }

/** @internal */
export interface WindowCounts {
  readonly successes: number
  readonly failures: number
  readonly slowCalls: number
}

/** @internal */
export interface Window {
  /**
   * Records `calls` outcomes of which `failures` failed and `slowCalls` were slow (a batch of one on the hot
   * path); says whether the window now asks the breaker to open.
   */
  record(failures: number, slowCalls: number, calls: number, now: number): boolean
  /** The counts of the current window at `now`. */
  counts(now: number): WindowCounts
  /** Forgets everything. */
  clear(): void
}

/**
 * Under `consecutive(n)`, `n` failures in a row open the breaker; a slow call counts as a failure. The counts
 * shown in `stats` are those since the breaker last closed.
 */
class ConsecutiveWindow implements Window {
  consecutive = 0
  successes = 0
  failures = 0
  slowCalls = 0
  constructor(readonly threshold: number) {}

  record(failures: number, slowCalls: number, calls: number): boolean {
    if (calls === 1) {
      if (failures === 0 && slowCalls === 0) {
        this.successes++
        this.consecutive = 0
        return false
      }
      this.failures++
      this.slowCalls += slowCalls
      return ++this.consecutive >= this.threshold
    }
    // A batch (from a store): its order is unknown, so its failures count as consecutive only when nothing in it
    // succeeded.
    const bad = Math.min(calls, Math.max(failures, slowCalls))
    this.failures += bad
    this.successes += calls - bad
    this.slowCalls += slowCalls
    this.consecutive = bad === calls ? this.consecutive + bad : 0
    return this.consecutive >= this.threshold
  }

  counts(): WindowCounts {
    return this
  }

  clear(): void {
    this.consecutive = 0
    this.successes = 0
    this.failures = 0
    this.slowCalls = 0
  }
}

const FAILED = 1
const SLOW = 2

/** The last `size` outcomes, in a ring allocated on first use (idle keyed breakers stay small). */
class CountWindow implements Window {
  ring: Uint8Array | undefined = undefined
  pos = 0
  calls = 0
  failures = 0
  slowCalls = 0
  constructor(
    readonly size: number,
    readonly failureRate: number,
    readonly minimumCalls: number,
    readonly slowRate: number
  ) {}

  record(failures: number, slowCalls: number, calls: number): boolean {
    const ring = this.ring ?? (this.ring = new Uint8Array(this.size))
    for (let i = 0; i < calls; i++) {
      const bits = (i < failures ? FAILED : 0) | (i < slowCalls ? SLOW : 0)
      if (this.calls === this.size) {
        const old = ring[this.pos]!
        if (old & FAILED) this.failures--
        if (old & SLOW) this.slowCalls--
      } else {
        this.calls++
      }
      ring[this.pos] = bits
      if (bits & FAILED) this.failures++
      if (bits & SLOW) this.slowCalls++
      this.pos = this.pos + 1 === this.size ? 0 : this.pos + 1
    }
    return this.calls >= this.minimumCalls &&
      (this.failures / this.calls >= this.failureRate || this.slowCalls / this.calls >= this.slowRate)
  }

  counts(): WindowCounts {
    return { successes: this.calls - this.failures, failures: this.failures, slowCalls: this.slowCalls }
  }

  clear(): void {
    this.ring = undefined
    this.pos = 0
    this.calls = 0
    this.failures = 0
    this.slowCalls = 0
  }
}

/**
 * `buckets` buckets aligned to the clock (bucket `i` covers `[i * width, (i + 1) * width)`); a bucket is
 * forgotten once `duration` has passed since it began, so the window holds the current bucket and the
 * `buckets - 1` before it.
 */
class TimeWindow implements Window {
  readonly width: number
  /**
   * One array, allocated on first use, for every bucket: `[index, calls, failures, slowCalls]` at `4 * slot`
   * (`index` -1 when empty). One allocation keeps idle keyed breakers small.
   */
  data: Float64Array | undefined = undefined
  lastIndex = -1
  calls = 0
  failures = 0
  slowCalls = 0
  constructor(
    readonly durationMillis: number,
    readonly buckets: number,
    readonly failureRate: number,
    readonly minimumCalls: number,
    readonly slowRate: number
  ) {
    this.width = durationMillis / buckets
  }

  private advance(now: number): number {
    const current = Math.floor(now / this.width)
    if (current <= this.lastIndex) return current
    this.lastIndex = current
    const data = this.data
    if (data === undefined) return current
    const oldest = current - this.buckets
    for (let slot = 0; slot < this.buckets; slot++) {
      const begun = data[4 * slot]!
      if (begun >= 0 && begun <= oldest) this.clearSlot(data, slot)
    }
    return current
  }

  private clearSlot(data: Float64Array, slot: number): void {
    const at = 4 * slot
    this.calls -= data[at + 1]!
    this.failures -= data[at + 2]!
    this.slowCalls -= data[at + 3]!
    data[at] = -1
    data[at + 1] = 0
    data[at + 2] = 0
    data[at + 3] = 0
  }

  record(failures: number, slowCalls: number, calls: number, now: number): boolean {
    let data = this.data
    if (data === undefined) {
      data = this.data = new Float64Array(4 * this.buckets)
      for (let slot = 0; slot < this.buckets; slot++) data[4 * slot] = -1
    }
    const current = this.advance(now)
    const at = 4 * (current % this.buckets)
    if (data[at] !== current) {
      if (data[at]! >= 0) this.clearSlot(data, at / 4)
      data[at] = current
    }
    data[at + 1]! += calls
    data[at + 2]! += failures
    data[at + 3]! += slowCalls
    this.calls += calls
    this.failures += failures
    this.slowCalls += slowCalls
    return this.calls >= this.minimumCalls &&
      (this.failures / this.calls >= this.failureRate || this.slowCalls / this.calls >= this.slowRate)
  }

  counts(now: number): WindowCounts {
    this.advance(now)
    return { successes: this.calls - this.failures, failures: this.failures, slowCalls: this.slowCalls }
  }

  clear(): void {
    this.data = undefined
    this.lastIndex = -1
    this.calls = 0
    this.failures = 0
    this.slowCalls = 0
  }
}

/**
 * Makes the window of a strategy. `slowRate` is the slow-call rate that opens the breaker (`Infinity` when slow
 * calls are not tracked; unused by `consecutive`, where a slow call is a failure).
 *
 * @internal
 */
export const makeWindow = (strategy: StrategyConfig, slowRate: number): Window => {
  switch (strategy._tag) {
    case "Consecutive":
      return new ConsecutiveWindow(strategy.threshold)
    case "CountWindow":
      return new CountWindow(strategy.size, strategy.failureRate, strategy.minimumCalls, slowRate)
    case "TimeWindow":
      return new TimeWindow(
        strategy.durationMillis,
        strategy.buckets,
        strategy.failureRate,
        strategy.minimumCalls,
        slowRate
      )
  }
}
