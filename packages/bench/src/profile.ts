/**
 * Profiles one variant of a per-call scenario with V8's CPU profiler (what `node --cpu-prof` records), to find
 * what a policy's hot path costs:
 *
 *   pnpm --filter @effect-resilience/bench profile <breaker|retry|client|pool|postgres> [variant] [seconds]
 *
 * `variant` is `ours` (default) or a baseline: `effect-floor`, `effect-retry`, `effect-native`, `effect-pool`,
 * `bare`, or for postgres `pg` (node-postgres); postgres runs batches of 1,000 `SELECT 1` at concurrency 32. It runs the variant in a loop (batches of 1,000 calls in one Effect program, as the bench does), writes
 * `results/<scenario>-<variant>.cpuprofile` (open it in Chrome DevTools or speedscope) and prints the functions
 * with the most self time and the most inclusive time.
 *
 * @since 0.1.0
 */
import { Effect, Pool } from "effect"
import * as fs from "node:fs"
import * as inspector from "node:inspector/promises"
import { findSourceMap } from "node:module"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import pg from "pg"
import { loadOurs, makeScope, opEffect, type Wrap, type WrapAdapter } from "./common.js"
import { loadEffect, loadPromise, type PgAdapter, pgOptions } from "./scenarios/postgres.js"
import { effectSchedule } from "./scenarios/retry.js"

const [scenario = "breaker", variant = "ours", secondsArg = "5"] = process.argv.slice(2).filter((a) => a !== "--")
const seconds = Number(secondsArg)

const scope = makeScope()

const baseline = async (): Promise<Wrap> => {
  switch (`${scenario}/${variant}`) {
    case "breaker/effect-floor":
      return (op) => Effect.catchAllCause(Effect.map(op, (a) => a + 1), () => Effect.succeed(0))
    case "retry/effect-retry":
      return (op) => Effect.retry(op, effectSchedule)
    case "client/effect-native": {
      const semaphore = Effect.runSync(Effect.makeSemaphore(10))
      return (op) => semaphore.withPermits(1)(Effect.retry(Effect.timeout(op, "2 seconds"), effectSchedule))
    }
    case "pool/effect-pool": {
      const pool = await scope.build(Pool.make({ acquire: Effect.sync(() => ({ id: 0 })), size: 10 }))
      return (op) => Effect.scoped(Effect.flatMap(Pool.get(pool), () => op))
    }
    default:
      if (variant === "bare") return (op) => op
      throw new Error(`unknown variant ${scenario}/${variant}`)
  }
}

const wrapOf = async (): Promise<Wrap> => {
  if (variant !== "ours") return baseline()
  const ours = await loadOurs<WrapAdapter>(scenario, scenario)
  if (ours._tag === "Missing") throw new Error(ours.reason)
  return scope.build(ours.adapter.make)
}

interface ProfileNode {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
    readonly columnNumber: number
  }
  readonly hitCount?: number
  readonly children?: ReadonlyArray<number>
}

const short = (url: string) =>
  url.replace(/^file:\/\//, "").replace(/.*\/node_modules\/\.pnpm\/[^/]+\/node_modules\//, "").replace(
    /.*\/packages\//,
    ""
  )

const report = (nodes: ReadonlyArray<ProfileNode>) => {
  const byId = new Map(nodes.map((n) => [n.id, n]))
  // Map compiled positions of our packages back to the TypeScript sources (tsc's source maps in dist/).
  const position = (f: ProfileNode["callFrame"]) => {
    if (f.url.includes("/packages/")) {
      const entry = findSourceMap(f.url)?.findEntry(f.lineNumber, f.columnNumber)
      if (entry && "originalSource" in entry) {
        return `${short(entry.originalSource)}:${entry.originalLine + 1}:${entry.originalColumn + 1}`
      }
    }
    return `${short(f.url)}:${f.lineNumber + 1}`
  }
  const key = (n: ProfileNode) => `${n.callFrame.functionName || "(anonymous)"} ${position(n.callFrame)}`
  const total = nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0)
  const self = new Map<string, number>()
  const inclusive = new Map<string, number>()
  const visit = (n: ProfileNode, onStack: Set<string>): number => {
    const k = key(n)
    let hits = n.hitCount ?? 0
    self.set(k, (self.get(k) ?? 0) + hits)
    const nextStack = new Set(onStack).add(k)
    for (const c of n.children ?? []) hits += visit(byId.get(c)!, nextStack)
    if (!onStack.has(k)) inclusive.set(k, (inclusive.get(k) ?? 0) + hits)
    return hits
  }
  visit(nodes[0]!, new Set())
  const top = (m: Map<string, number>, n: number) =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) =>
      `  ${(100 * v / total).toFixed(1).padStart(5)}%  ${k}`
    )
  console.log(`\nself time (of ${total} samples):`)
  console.log(top(self, 30).join("\n"))
  console.log("\ninclusive time:")
  console.log(top(inclusive, 40).join("\n"))
}

const calls = 1_000
const batchOf = async (): Promise<() => Promise<unknown>> => {
  if (scenario === "postgres") {
    if (variant === "pg") {
      const pool = new pg.Pool({ ...pgOptions, application_name: pgOptions.applicationName })
      return () => loadPromise(calls, 32, () => pool.query("SELECT 1"))
    }
    const ours = await loadOurs<PgAdapter>("pgpool", "PgPool")
    if (ours._tag === "Missing") throw new Error(ours.reason)
    const query = (await scope.build(ours.adapter.make(pgOptions)))("SELECT 1")
    return () => Effect.runPromise(loadEffect(calls, 32, query))
  }
  const wrap = await wrapOf()
  const program = Effect.gen(function*() {
    for (let i = 0; i < calls; i++) yield* wrap(opEffect)
  })
  return () => Effect.runPromise(program)
}
const batch = await batchOf()
// warm up
for (let i = 0; i < (scenario === "postgres" ? 5 : 200); i++) await batch()
const session = new inspector.Session()
session.connect()
await session.post("Profiler.enable")
await session.post("Profiler.setSamplingInterval", { interval: 100 })
await session.post("Profiler.start")
const end = performance.now() + seconds * 1000
let batches = 0
const start = performance.now()
while (performance.now() < end) {
  await batch()
  batches++
}
const elapsed = performance.now() - start
const { profile } = await session.post("Profiler.stop")
session.disconnect()
await scope.close()
const file = new URL(`../results/${scenario}-${variant}.cpuprofile`, import.meta.url)
fs.writeFileSync(file, JSON.stringify(profile))
console.log(
  `${scenario}/${variant}: ${batches * calls} calls in ${(elapsed / 1000).toFixed(1)} s, ` +
    `${((elapsed * 1e6) / (batches * calls)).toFixed(0)} ns per call under the profiler; wrote ${fileURLToPath(file)}`
)
report(profile.nodes as ReadonlyArray<ProfileNode>)
process.exit(0)
