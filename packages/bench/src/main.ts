/**
 * `pnpm bench` (full, a few minutes) and `pnpm bench --quick` (a smoke run for CI, under a minute; it asserts
 * nothing about speed). `--only=breaker,retry,...` runs some scenarios. A full run of every scenario writes
 * `results/latest.json` and the tables of `docs/benchmarks.md`; other runs write `results/quick.json` or
 * `results/partial.json`. The exit code is 1 when a scenario crashed, otherwise 0.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { type Config, fullConfig, quickConfig } from "./harness.js"
import { describe } from "./machine.js"
import {
  arenaMarkdown,
  computeRatios,
  type Outcome,
  renderMarkdown,
  renderText,
  type Results,
  runLine,
  tables
} from "./report.js"
import * as arena from "./scenarios/arena.js"
import * as breaker from "./scenarios/breaker.js"
import * as client from "./scenarios/client.js"
import * as failfast from "./scenarios/failfast.js"
import * as http from "./scenarios/http.js"
import * as memory from "./scenarios/memory.js"
import * as overload from "./scenarios/overload.js"
import * as pool from "./scenarios/pool.js"
import * as postgres from "./scenarios/postgres.js"
import * as queue from "./scenarios/queue.js"
import * as redis from "./scenarios/redis.js"
import * as retry from "./scenarios/retry.js"
import * as storm from "./scenarios/storm.js"

const scenarioIds = [
  "breaker",
  "retry",
  "client",
  "pool",
  "postgres",
  "memory",
  "storm",
  "redis",
  "http",
  "arena",
  "overload",
  "failfast",
  "queue"
] as const
type ScenarioId = typeof scenarioIds[number]

const args = process.argv.slice(2).filter((a) => a !== "--")
const quick = args.includes("--quick")
const onlyArg = args.find((a) => a.startsWith("--only="))
const only = onlyArg?.slice("--only=".length).split(",").filter((x) => x.length > 0)
const unknown = only?.filter((x) => !(scenarioIds as ReadonlyArray<string>).includes(x)) ?? []
if (unknown.length > 0) {
  console.error(`unknown scenario(s): ${unknown.join(", ")}; known: ${scenarioIds.join(", ")}`)
  process.exit(2)
}
const selected = (id: ScenarioId) => only === undefined || only.includes(id)
const config: Config = quick ? quickConfig : fullConfig
const keys = 100_000

const progress = (line: string) => process.stderr.write(`  … ${line}\n`)
const errors: Array<string> = []

const attempt = async <A>(id: ScenarioId, f: () => Promise<A>): Promise<Outcome<A>> => {
  if (!selected(id)) return undefined
  try {
    return { ok: true, value: await f() }
  } catch (error) {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error)
    errors.push(`${id}: ${message}`)
    console.error(`${id} crashed: ${message}`)
    return { ok: false, error: error instanceof Error ? error.message : String(error) }
  }
}

const start = performance.now()
const machine = describe()
console.log(`effect-resilience benchmarks (${quick ? "quick" : "full"})`)
console.log(`${machine.cpu}, ${machine.cores} cores, Node ${machine.node}`)

const scenarios: Results["scenarios"] = {
  breaker: await attempt("breaker", () => breaker.run(config, progress)),
  retry: await attempt("retry", () => retry.run(config, progress)),
  client: await attempt("client", () => client.run(config, progress)),
  pool: await attempt("pool", () => pool.run(config, progress)),
  postgres: await attempt("postgres", () => postgres.run(quick, progress)),
  memory: await attempt("memory", () => memory.run(keys, quick ? 10_000 : keys, progress)),
  redis: await attempt("redis", () => redis.run(config, progress)),
  storm: await attempt("storm", () => storm.run(quick, progress)),
  http: await attempt("http", () => http.run(quick, progress)),
  arena: await attempt("arena", () => arena.run(quick, progress)),
  // Child processes and ~25 s of load: not part of --quick.
  overload: quick ? undefined : await attempt("overload", () => overload.run(false, progress)),
  failfast: await attempt("failfast", () => failfast.run(quick, progress)),
  queue: await attempt("queue", () => queue.run(quick, progress))
}

const results: Results = {
  generatedAt: new Date().toISOString(),
  mode: quick ? "quick" : "full",
  durationSeconds: (performance.now() - start) / 1000,
  machine,
  method: {
    ...config,
    library: `mitata ${machine.versions.mitata}`,
    summary: "per call = median batch time ÷ calls per batch, per round; overhead = per call − the same runtime's " +
      "bare call in the same round; figures = median over rounds (min … max)"
  },
  scenarios,
  ...computeRatios(scenarios),
  errors
}

const rendered = tables(results)
console.log("")
console.log(runLine(results))
for (const t of rendered) console.log(`\n${renderText(t)}`)

const resultsDir = new URL("../results/", import.meta.url)
fs.mkdirSync(resultsDir, { recursive: true })
const complete = only === undefined
const file = new URL(quick ? "quick.json" : complete ? "latest.json" : "partial.json", resultsDir)
fs.writeFileSync(file, JSON.stringify(results, null, 2) + "\n")
console.log(`\nwrote ${fileURLToPath(file)}`)

if (!quick && complete) {
  const doc = new URL("../../../docs/benchmarks.md", import.meta.url)
  const begin = "<!-- bench:results:begin -->"
  const end = "<!-- bench:results:end -->"
  const body = [
    begin,
    "",
    `_${runLine(results)}_`,
    "",
    // the arena's tables go to its own section (below)
    ...rendered.filter((t) => !t.title.startsWith("Arena")).map((t) => renderMarkdown(t) + "\n"),
    end
  ].join("\n")
  const current = fs.existsSync(doc) ? fs.readFileSync(doc, "utf8") : ""
  const from = current.indexOf(begin)
  const to = current.indexOf(end)
  const next = from >= 0 && to > from
    ? current.slice(0, from) + body + current.slice(to + end.length)
    : `${current}${current.length > 0 ? "\n" : ""}${body}\n`
  fs.writeFileSync(doc, next)
  console.log(`wrote ${fileURLToPath(doc)}`)
}

// The arena's section of docs/benchmarks.md and its charts: written by any full run that ran it.
if (!quick && scenarios.arena?.ok) {
  const doc = new URL("../../../docs/benchmarks.md", import.meta.url)
  const charts = arena.writeCharts(scenarios.arena.value, new URL("../../../docs/benchmarks/", import.meta.url))
  const begin = "<!-- bench:arena:begin -->"
  const end = "<!-- bench:arena:end -->"
  const a = scenarios.arena.value
  const line =
    `${results.mode} run of ${results.generatedAt}: ${results.machine.cpu}, ${results.machine.cores} cores, ` +
    `Node ${results.machine.node}; ${a.rounds} rounds of the script at ${a.ratePerSecond} requests/s, seed ${a.seed}; ` +
    `load average ${a.loadAverage.before.join(" / ")} before, ${a.loadAverage.after.join(" / ")} after.`
  const body = [begin, "", `_${line}_`, "", arenaMarkdown(a, charts), end].join("\n")
  const current = fs.readFileSync(doc, "utf8")
  const from = current.indexOf(begin)
  const to = current.indexOf(end)
  fs.writeFileSync(
    doc,
    from >= 0 && to > from
      ? current.slice(0, from) + body + current.slice(to + end.length)
      : `${current}\n${body}\n`
  )
  console.log(`wrote the arena's section and ${charts.length} charts`)
}

if (errors.length > 0) console.error(`\n${errors.length} scenario(s) crashed`)
// Peers keep timers (opossum, tarn, pg) and sockets: exit now rather than wait on them.
process.exit(errors.length > 0 ? 1 : 0)
