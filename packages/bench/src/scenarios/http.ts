/**
 * Scenario 8: an HTTP GET at concurrency 32, end to end, against a local server in a child process (so it does not
 * share the client's event loop): our `ResilientHttpClient` with default options around `@effect/platform-node`'s
 * client vs that plain client. Both keep connections alive and read each body. 3,000 requests per round, 15 rounds
 * alternating the sides. The figures are the time per request (wall time ÷ requests), latency percentiles, the CPU
 * time the benchmark process spends per request (the client side's cost), and the ratios paired within each round.
 *
 * @since 0.1.0
 */
import { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, type Scope } from "effect"
import { spawn } from "node:child_process"
import { loadOurs, makeScope } from "../common.js"
import { type Spread, spread } from "../stats.js"
import { type Load, loadEffect } from "./postgres.js"

/**
 * Our side: wraps the plain client and returns how to GET one URL (reading the body).
 *
 * @since 0.1.0
 * @category models
 */
export interface HttpAdapter {
  readonly label: string
  readonly make: (
    plain: HttpClient.HttpClient
  ) => Effect.Effect<(url: string) => Effect.Effect<unknown, unknown>, unknown, Scope.Scope>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface HttpSide {
  readonly id: string
  readonly label: string
  readonly available: boolean
  readonly reason?: string
  /** Wall time per request (1 / throughput), in microseconds. */
  readonly microsPerRequest: Spread | null
  readonly p50Millis: Spread | null
  readonly p99Millis: Spread | null
  /** CPU time of the benchmark process per request, in microseconds. */
  readonly cpuMicrosPerRequest: Spread | null
}

/**
 * @since 0.1.0
 * @category models
 */
export interface HttpResult {
  readonly requests: number
  readonly concurrency: number
  readonly rounds: number
  readonly sides: ReadonlyArray<HttpSide>
  /**
   * Ours ÷ plain, time per request, paired within each round (the two sides ran back to back, so the load of the
   * machine is nearly the same for both): the ratio the target is about.
   */
  readonly pairedRatio: Spread | null
  /** The same for the CPU time per request. */
  readonly pairedCpuRatio: Spread | null
}

/** A keep-alive server answering every request with a small JSON body; prints its port. */
const serverScript = `
const http = require("node:http")
const body = JSON.stringify({ ok: true, items: [1, 2, 3] })
const server = http.createServer((req, res) => {
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) })
  res.end(body)
})
server.keepAliveTimeout = 60000
server.listen(0, "127.0.0.1", () => console.log(server.address().port))
`

const startServer = (): Promise<{ readonly port: number; readonly stop: () => void }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", serverScript], { stdio: ["ignore", "pipe", "inherit"] })
    child.once("error", reject)
    child.stdout.once(
      "data",
      (chunk: Buffer) => resolve({ port: Number(String(chunk).trim()), stop: () => child.kill() })
    )
  })

/** The plain client: node:http with a keep-alive agent. */
const plainClient: Layer.Layer<HttpClient.HttpClient> = NodeHttpClient.layerWithoutAgent.pipe(
  Layer.provide(NodeHttpClient.makeAgentLayer({ keepAlive: true }))
)

/**
 * @since 0.1.0
 * @category scenarios
 */
export const run = async (quick: boolean, progress: (line: string) => void): Promise<HttpResult> => {
  // Many short rounds, alternating the sides: on a shared machine the load drifts within seconds, and a median
  // over many rounds is steadier than over a few long ones.
  const requests = quick ? 1_000 : 3_000
  const rounds = quick ? 1 : 15
  const concurrency = 32
  const server = await startServer()
  const scope = makeScope()
  try {
    const url = `http://127.0.0.1:${server.port}/items`
    const plain = await scope.build(Effect.provide(HttpClient.HttpClient, plainClient))
    const read = (client: HttpClient.HttpClient.With<unknown>) =>
      Effect.flatMap(client.get(url), (response) => response.text)
    const runners: Array<{ id: string; label: string; load: (count: number) => Promise<Load> }> = [{
      id: "plain",
      label: "@effect/platform-node `HttpClient` (keep-alive agent)",
      load: (count) => Effect.runPromise(loadEffect(count, concurrency, read(plain)))
    }]
    const ours = await loadOurs<HttpAdapter>("http", "ResilientHttpClient")
    if (ours._tag === "Loaded") {
      const get = await scope.build(ours.adapter.make(plain))
      const request = get(url)
      runners.push({
        id: "ours",
        label: ours.adapter.label,
        load: (count) => Effect.runPromise(loadEffect(count, concurrency, request))
      })
    }
    const loads = new Map<string, Array<Load>>(runners.map((r) => [r.id, []]))
    progress("http: warm-up")
    for (const r of runners) await r.load(requests / 2)
    for (let round = 0; round < rounds; round++) {
      progress(`http: round ${round + 1}/${rounds}`)
      const order = round % 2 === 0 ? runners : [...runners].reverse()
      for (const r of order) loads.get(r.id)!.push(await r.load(requests))
    }
    const sides: Array<HttpSide> = runners.map((r) => {
      const ls = loads.get(r.id)!
      return {
        id: r.id,
        label: r.label,
        available: true,
        microsPerRequest: spread(ls.map((l) => 1e6 / l.throughput)),
        p50Millis: spread(ls.map((l) => l.p50)),
        p99Millis: spread(ls.map((l) => l.p99)),
        cpuMicrosPerRequest: spread(ls.map((l) => l.cpuMicros))
      }
    })
    const plainLoads = loads.get("plain")!
    const ourLoads = loads.get("ours")
    const paired = (f: (plain: Load, ours: Load) => number) =>
      ourLoads === undefined ? null : spread(plainLoads.map((p, i) => f(p, ourLoads[i]!)))
    const pairedRatio = paired((p, o) => p.throughput / o.throughput)
    const pairedCpuRatio = paired((p, o) => o.cpuMicros / p.cpuMicros)
    if (ours._tag === "Missing") {
      sides.push({
        id: "ours",
        label: "ours: ResilientHttpClient",
        available: false,
        reason: ours.reason,
        microsPerRequest: null,
        p50Millis: null,
        p99Millis: null,
        cpuMicrosPerRequest: null
      })
    }
    return { requests, concurrency, rounds, sides, pairedRatio, pairedCpuRatio }
  } finally {
    await scope.close()
    server.stop()
  }
}
