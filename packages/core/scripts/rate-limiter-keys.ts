/**
 * Heap after a flood of distinct keys through one keyed rate limiter (issue 12, item 7): `@effect/experimental`'s
 * memory store (never forgets a key) against ours (forgets passed windows, bounded by `maxKeys`).
 *
 *   node --expose-gc --import tsx packages/core/scripts/rate-limiter-keys.ts [keys=1000000] [store=ours|experimental] [interval="1 second"]
 */
import * as Experimental from "@effect/experimental/RateLimiter"
import { Effect, Layer } from "effect"
import * as RateLimiter from "../src/RateLimiter.js"

const keys = Number(process.argv[2] ?? 1_000_000)
const which = process.argv[3] ?? "ours"
const interval = process.argv[4] ?? "1 second"
const gc = (globalThis as { gc?: () => void }).gc
const heapMB = () => {
  gc?.()
  gc?.()
  return process.memoryUsage().heapUsed / 1e6
}

const program = Effect.gen(function*() {
  const limiter = yield* RateLimiter.keyed<string>({ name: "flood", limit: 10, interval: interval as "1 second" })
  const before = heapMB()
  const started = performance.now()
  for (let i = 0; i < keys; i++) {
    yield* Effect.either(limiter.execute(`attacker-${i}`, Effect.void))
  }
  const seconds = (performance.now() - started) / 1000
  const after = heapMB()
  console.log(JSON.stringify({
    store: which,
    interval,
    keys,
    seconds: Number(seconds.toFixed(1)),
    heapBeforeMB: Number(before.toFixed(1)),
    heapAfterMB: Number(after.toFixed(1))
  }))
})

const provided = which === "experimental"
  ? Effect.provide(program, Experimental.layer.pipe(Layer.provide(Experimental.layerStoreMemory)))
  : program
Effect.runPromise(Effect.scoped(provided))
