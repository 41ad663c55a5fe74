/**
 * `pnpm demo`: a payment service under a failing gateway, run without policies and through
 * `ResilientHttpClient` at the same time, with a report, a chart (SVG and HTML) and `--json`.
 *
 * @since 0.1.0
 */
import { GracefulShutdown } from "@effect-resilience/platform"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Chart from "./Chart.js"
import * as Cli from "./Cli.js"
import * as Demo from "./Demo.js"
import * as Fleet from "./Fleet.js"
import * as Overload from "./Overload.js"
import * as Report from "./Report.js"
import * as Stacks from "./Stacks.js"

const parsed = Cli.parse(process.argv.slice(2))
if (parsed._tag === "Invalid") {
  process.stderr.write(`demo: ${parsed.message}\n`)
  process.exit(2)
}
const flags = parsed.flags
if (flags.help) {
  process.stdout.write(Cli.help() + "\n")
  process.exit(0)
}

const tty = process.stderr.isTTY === true
const err = (line: string) => process.stderr.write(line + "\n")
const pct = (n: number) => `${(n * 100).toFixed(0)}%`

const program = Effect.gen(function*() {
  const seconds = Demo.expectedSeconds(flags.phaseSeconds, flags.compare)
  const stacks = flags.compare
    ? "naive and resilient, then cockatiel and plain Effect,"
    : "naive and resilient services at once,"
  err(
    `demo: about ${seconds} s: ${stacks} ${flags.rate} requests/s each, gateway phases of ${flags.phaseSeconds} s (healthy, degraded, outage, recovery), seed ${flags.seed}${
      flags.pg ? ", ledger in PostgreSQL" : ""
    }`
  )
  const live: Record<string, { done: number; ok: number; total: number }> = {}
  let samples = 0
  const draw = (force: boolean) => {
    if (!tty || (!force && ++samples % 8 !== 0)) return
    const cells = Object.entries(live).map(([k, v]) =>
      `${k} ${v.done}/${v.total} ${pct(v.ok / Math.max(1, v.done))} paid`
    )
    process.stderr.write(`\r\x1b[K${cells.join("  ")}`)
  }
  const result = yield* Demo.run({
    phaseSeconds: flags.phaseSeconds,
    rate: flags.rate,
    seed: flags.seed,
    compare: flags.compare,
    pg: flags.pg,
    onSample: (stack, done, total, sample) => {
      const entry = live[stack] ?? (live[stack] = { done: 0, ok: 0, total })
      entry.done = done
      if (sample.ok) entry.ok++
      draw(false)
    },
    onPhase: (phase, index) => {
      const cells = Object.entries(live).map(([k, v]) => `${k} ${pct(v.ok / Math.max(1, v.done))} paid`)
      const line = `phase ${index + 1}/4 ${phase.name} over (${(index + 1) * flags.phaseSeconds} s): ${
        cells.join(", ")
      } so far`
      if (tty) process.stderr.write(`\r\x1b[K${line}\n`)
      else err(line)
      draw(true)
    }
  })
  if (tty) process.stderr.write("\r\x1b[K")
  const fleet = flags.redis === undefined ? undefined : yield* Effect.gen(function*() {
    err(
      `demo: the resilient service as 3 replicas, breakers on their own and shared through Redis (${
        flags.redis!.replace(/\/\/[^@/]*@/, "//***@")
      }), about ${Demo.expectedSeconds(flags.phaseSeconds)} s more`
    )
    return yield* Fleet.run({
      phaseSeconds: flags.phaseSeconds,
      rate: flags.rate,
      seed: flags.seed,
      redisUrl: flags.redis!
    })
  })
  const overload = !flags.overload ? undefined : yield* Effect.gen(function*() {
    err(
      `demo: overload phase, about ${
        Overload.expectedSeconds(flags.phaseSeconds)
      } s more: ${Overload.overloadRate} requests/s against a gateway that serves ${Overload.capacityPerSecond}/s`
    )
    const ran = yield* Overload.run(flags.phaseSeconds)
    err(
      `overload over: naive ${ran.naive.accepted}/${ran.naive.requests} answered, resilient ${ran.resilient.accepted} answered and ${ran.resilient.shed} shed`
    )
    return ran
  })
  const { naive, phases, resilient } = result
  const runs = [naive, resilient, ...result.peers]
  const headline = [
    ...Report.headline(naive.summary, resilient.summary, phases),
    ...(overload === undefined ? [] : [Overload.sentence(overload)])
  ]
  const starved = Report.starvation(naive.summary)
  const report = [
    ...headline,
    ...(starved === undefined ? [] : ["", starved]),
    "",
    Report.table(runs.map((r) => ({ label: r.label, summary: r.summary }))),
    ...(overload === undefined ? [] : ["", Overload.table(overload)]),
    "",
    Report.breakerLine(resilient.summary),
    Report.recoveryExplanation(naive.summary, resilient.summary, phases),
    `readiness: /health/ready answered 200 at ${
      resilient.summary.readiness.probes - resilient.summary.readiness.notReady
    } of ${resilient.summary.readiness.probes} probes; /metrics served ${resilient.metrics.series} series; ledger: ${resilient.summary.ledger.paid} paid, ${resilient.summary.ledger.pending} pending (${result.ledger})`,
    "",
    ...(fleet === undefined ? [] : [...Fleet.lines(fleet), ""]),
    "resilient configuration:",
    ...Stacks.resilientConfigLines.map((l) => `  ${l}`),
    "",
    Report.variation
  ].join("\n")
  const dir = flags.out ?? path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "output")
  fs.mkdirSync(dir, { recursive: true })
  const chartPath = path.resolve(dir, "chart.svg")
  const htmlPath = path.resolve(dir, "chart.html")
  const reportPath = path.resolve(dir, "report.txt")
  // The overload phase, when it ran, follows the script on the chart's time axis.
  const scriptMillis = phases.reduce((a, p) => a + p.seconds * 1000, 0)
  const after = (stack: Stacks.Name) =>
    overload === undefined || (stack !== "naive" && stack !== "resilient") ? { samples: [], arrivals: [] } : {
      samples: overload.samples[stack].map((s) => ({ ...s, at: s.at + scriptMillis })),
      arrivals: overload.arrivals[stack].map((a) => a + scriptMillis)
    }
  const svg = Chart.svg({
    series: runs.map((r) => ({
      label: r.label,
      samples: [...r.samples, ...after(r.stack).samples],
      arrivals: [...r.arrivals, ...after(r.stack).arrivals]
    })),
    phases: overload === undefined ? phases : [...phases, { name: "overload", seconds: overload.seconds }],
    transitions: resilient.summary.breakerTransitions,
    title:
      `payment service under a failing gateway: ${flags.rate} req/s, phases of ${flags.phaseSeconds} s, seed ${flags.seed}`
  })
  fs.writeFileSync(chartPath, svg)
  fs.writeFileSync(htmlPath, Chart.html({ svg, headline, report }))
  fs.writeFileSync(reportPath, report + "\n")
  if (flags.json) {
    const byStack = Object.fromEntries(runs.map((r) => [r.stack, r.summary]))
    yield* Console.log(JSON.stringify(
      {
        seed: flags.seed,
        rate: flags.rate,
        phaseSeconds: flags.phaseSeconds,
        headline,
        starved: starved ?? null,
        runs: byStack,
        metrics: Object.fromEntries(runs.map((r) => [r.stack, r.metrics])),
        ledger: result.ledger,
        ...(fleet === undefined ? {} : { fleet }),
        ...(overload === undefined ? {} : {
          overload: {
            seconds: overload.seconds,
            rate: overload.rate,
            capacity: overload.capacity,
            naive: overload.naive,
            resilient: overload.resilient
          }
        }),
        config: Stacks.resilientConfigLines,
        variation: Report.variation,
        chart: chartPath,
        html: htmlPath,
        report: reportPath
      },
      null,
      2
    ))
    return
  }
  yield* Console.log(report)
  yield* Console.log("")
  yield* Console.log(`report: ${reportPath}`)
  yield* Console.log(`chart:  ${chartPath}`)
  yield* Console.log(`page:   ${htmlPath}`)
})

program.pipe(
  // Ctrl-C interrupts the run: every service's scope closes first, and GracefulShutdown drains it.
  Effect.onInterrupt(() => Effect.sync(() => err("demo: interrupted; every service drained its requests and closed"))),
  Effect.provide(Layer.mergeAll(
    NodeHttpClient.layerUndici,
    // The services' own log lines (health changes, shutdown) would interleave with the report: errors only.
    Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger)),
    Logger.minimumLogLevel(LogLevel.Error)
  )),
  NodeRuntime.runMain({ teardown: GracefulShutdown.teardown })
)
