/**
 * Scenario 6: the heap held by 100,000 idle keyed breakers (each key called once, then left alone), and the
 * timers still active afterwards. Peers (one breaker per key in a `Map`) are measured the same way for reference.
 *
 * @since 0.1.0
 */
import { circuitBreaker, ConsecutiveBreaker, handleAll } from "cockatiel"
import { Effect, type Scope } from "effect"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import OpossumBreaker from "opossum"
import { loadOurs, makeScope, opEffect, opPromise } from "../common.js"

/**
 * Our side: a keyed breaker with room for `maxKeys` keys, and how to run one call under a key.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyedBreakerAdapter {
  readonly label: string
  readonly make: (
    maxKeys: number
  ) => Effect.Effect<(key: string, op: Effect.Effect<number>) => Effect.Effect<number, unknown>, unknown, Scope.Scope>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface MemorySide {
  readonly id: string
  readonly label: string
  readonly available: boolean
  readonly reason?: string
  readonly keys: number
  readonly heapMb: number | null
  readonly bytesPerKey: number | null
  readonly timersAfter: number | null
}

/**
 * @since 0.1.0
 * @category models
 */
export interface MemoryResult {
  readonly keys: number
  readonly gcExposed: boolean
  readonly sides: ReadonlyArray<MemorySide>
}

const gc: () => void = (() => {
  const exposed = (globalThis as { gc?: () => void }).gc
  if (exposed) return exposed
  v8.setFlagsFromString("--expose-gc")
  return vm.runInNewContext("gc") as () => void
})()

const fullGc = () => {
  for (let i = 0; i < 3; i++) gc()
}

const pending = Symbol("bench/pendingTimer")
type Tracked = { [pending]?: boolean }

/**
 * Counts the timers created while it is installed that are still pending (unref'd ones included, which
 * `process.getActiveResourcesInfo` does not list), by wrapping the global timer functions. Nothing is retained
 * per timer but a flag on the timer object itself.
 */
const trackTimers = () => {
  const original = {
    setTimeout: globalThis.setTimeout,
    setInterval: globalThis.setInterval,
    clearTimeout: globalThis.clearTimeout,
    clearInterval: globalThis.clearInterval
  }
  let live = 0
  const settle = (timer: unknown) => {
    const t = timer as Tracked | undefined
    if (t !== undefined && t !== null && typeof t === "object" && t[pending] === true) {
      t[pending] = false
      live--
    }
  }
  const patched = {
    setTimeout: (fn: (...args: Array<unknown>) => void, ms?: number, ...args: Array<unknown>) => {
      const timer: NodeJS.Timeout = original.setTimeout(() => {
        settle(timer)
        fn(...args)
      }, ms)
      ;(timer as Tracked)[pending] = true
      live++
      return timer
    },
    setInterval: (fn: (...args: Array<unknown>) => void, ms?: number, ...args: Array<unknown>) => {
      const timer = original.setInterval(fn, ms, ...args)
      ;(timer as Tracked)[pending] = true
      live++
      return timer
    },
    clearTimeout: (timer: unknown) => {
      settle(timer)
      original.clearTimeout(timer as NodeJS.Timeout)
    },
    clearInterval: (timer: unknown) => {
      settle(timer)
      original.clearInterval(timer as NodeJS.Timeout)
    }
  }
  Object.assign(globalThis, patched)
  return {
    live: () => live,
    uninstall: () => {
      Object.assign(globalThis, original)
    }
  }
}

const heap = () => process.memoryUsage().heapUsed

/** Measures what `build` keeps alive: heap and pending timers before, and after it has run and GC has run. */
const held = async (build: () => Promise<unknown>) => {
  fullGc()
  const heap0 = heap()
  const timers = trackTimers()
  try {
    const kept = await build()
    fullGc()
    const heapMb = (heap() - heap0) / (1024 * 1024)
    return { kept, heapMb, timersAfter: timers.live() }
  } finally {
    timers.uninstall()
  }
}

/**
 * @since 0.1.0
 * @category scenarios
 */
export const run = async (keys: number, peerKeys: number, progress: (line: string) => void): Promise<MemoryResult> => {
  const sides: Array<MemorySide> = []
  const record = (id: string, label: string, count: number, r: { heapMb: number; timersAfter: number }) =>
    sides.push({
      id,
      label,
      available: true,
      keys: count,
      heapMb: r.heapMb,
      bytesPerKey: (r.heapMb * 1024 * 1024) / count,
      timersAfter: r.timersAfter
    })

  const ours = await loadOurs<KeyedBreakerAdapter>("keyed", "CircuitBreaker.keyed")
  if (ours._tag === "Loaded") {
    progress(`memory: ${keys} keyed breakers (ours)`)
    const scope = makeScope()
    try {
      const r = await held(async () => {
        const execute = await scope.build(ours.adapter.make(keys))
        await Effect.runPromise(Effect.gen(function*() {
          for (let i = 0; i < keys; i++) yield* execute(`key-${i}`, opEffect)
        }))
        return execute
      })
      record("ours", ours.adapter.label, keys, r)
    } finally {
      await scope.close()
    }
  } else {
    sides.push({
      id: "ours",
      label: "ours: CircuitBreaker.keyed",
      available: false,
      reason: ours.reason,
      keys,
      heapMb: null,
      bytesPerKey: null,
      timersAfter: null
    })
  }

  progress(`memory: ${peerKeys} breakers in a Map (cockatiel)`)
  const c = await held(async () => {
    const map = new Map<string, ReturnType<typeof circuitBreaker>>()
    for (let i = 0; i < peerKeys; i++) {
      const breaker = circuitBreaker(handleAll, { halfOpenAfter: 30_000, breaker: new ConsecutiveBreaker(5) })
      map.set(`key-${i}`, breaker)
      await breaker.execute(opPromise)
    }
    return map
  })
  record("cockatiel", "cockatiel `circuitBreaker` per key in a Map", peerKeys, c)

  progress(`memory: ${peerKeys} breakers in a Map (opossum)`)
  const map = new Map<string, OpossumBreaker>()
  try {
    const o = await held(async () => {
      for (let i = 0; i < peerKeys; i++) {
        const breaker = new OpossumBreaker(opPromise)
        map.set(`key-${i}`, breaker)
        await breaker.fire()
      }
      return map
    })
    record("opossum", "opossum `CircuitBreaker` per key in a Map (defaults)", peerKeys, o)
  } finally {
    for (const breaker of map.values()) breaker.shutdown()
  }
  return { keys, gcExposed: (globalThis as { gc?: unknown }).gc !== undefined, sides }
}
