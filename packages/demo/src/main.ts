/**
 * `pnpm demo`: a payment service under a failing gateway, run once without policies and once through a
 * `ResilientClient`, with a side-by-side report and a chart.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Demo from "./Demo.js"
import * as Report from "./Report.js"

const json = Options.boolean("json").pipe(Options.withDescription("Print one JSON object instead of the report"))
const phaseSeconds = Options.integer("phase-seconds").pipe(
  Options.withDefault(5),
  Options.withDescription("Length of each gateway phase (healthy, degraded, outage, recovery)")
)
const rate = Options.integer("rate").pipe(Options.withDefault(40), Options.withDescription("Requests per second"))
const seed = Options.integer("seed").pipe(
  Options.withDefault(7),
  Options.withDescription("Seed of the gateway's faults")
)

const progress = (label: string, quiet: boolean) => (done: number, total: number) => {
  if (quiet || !process.stderr.isTTY || (done % 20 !== 0 && done !== total)) return
  const width = 30
  const filled = Math.round((done / total) * width)
  process.stderr.write(`\r${label.padEnd(10)} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total}`)
  if (done === total) process.stderr.write("\n")
}

const demo = Command.make("demo", { json, phaseSeconds, rate, seed }, (args) =>
  Effect.gen(function*() {
    if (!args.json) {
      yield* Console.log(
        `Gateway phases of ${args.phaseSeconds} s: healthy → degraded → outage → recovery; ${args.rate} requests/s.`
      )
    }
    const { naive, phases, resilient } = yield* Demo.run({
      phaseSeconds: args.phaseSeconds,
      rate: args.rate,
      seed: args.seed,
      onProgress: (label) => progress(label, args.json)
    })
    const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "output")
    fs.mkdirSync(dir, { recursive: true })
    const chart = path.join(dir, "chart.svg")
    fs.writeFileSync(
      chart,
      Report.svg({ naive: naive.samples, resilient: resilient.samples }, phases, resilient.summary.breakerTransitions)
    )
    if (args.json) {
      yield* Console.log(
        JSON.stringify({ runs: { naive: naive.summary, resilient: resilient.summary }, chart }, null, 2)
      )
      return
    }
    const transitions = resilient.summary.breakerTransitions
      .map((t) => `${t.at.toFixed(1)}s ${t.from}→${t.to}`)
      .join(", ")
    yield* Console.log("")
    yield* Console.log(Report.table(naive.summary, resilient.summary))
    yield* Console.log("")
    yield* Console.log(`success per second, naive:     ${Report.sparkline(naive.samples)}`)
    yield* Console.log(`success per second, resilient: ${Report.sparkline(resilient.samples)}`)
    yield* Console.log(`breaker: ${transitions || "no transitions"}`)
    yield* Console.log(`chart: ${chart}`)
  }))

const cli = Command.run(demo, { name: "effect-resilience demo", version: "0.1.0" })

cli(process.argv).pipe(
  Effect.provide(Layer.mergeAll(NodeContext.layer, FetchHttpClient.layer)),
  NodeRuntime.runMain
)
