/**
 * Scenario: overload. A service in a child process (`src/overload/service.ts`: each request spends 1 ms of CPU,
 * then waits 10 ms) behind `LoadShedding` with a fixed limit, driven by closed-loop keep-alive clients on loopback at
 * 1×, 4× and 8× the concurrency that saturates it, 1.5 s each, in 3 rounds. The figures: goodput (200s per second)
 * at 4× and 8× over goodput at 1× in the same round, median over rounds (`overload_goodput_ratio_4x`, `_8x`), the
 * p99 of the accepted requests, and what a
 * shed request costs the service in CPU over what a served one costs (`shed_cost_ratio`: all slots held, every
 * other request shed, versus no request shed). The same service without shedding is measured at 4× for contrast.
 *
 * @since 0.1.0
 */
import { spawn } from "node:child_process"
import * as Http from "node:http"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/**
 * @since 0.1.0
 * @category models
 */
export interface OverloadPhase {
  readonly multiple: number
  readonly connections: number
  readonly seconds: number
  readonly goodputPerSecond: number
  readonly shedPerSecond: number
  readonly p50Millis: number | null
  readonly p99Millis: number | null
}

/**
 * @since 0.1.0
 * @category models
 */
export interface OverloadResult {
  readonly saturatingConcurrency: number
  readonly shedding: ReadonlyArray<OverloadPhase>
  readonly withoutShedding: ReadonlyArray<OverloadPhase>
  readonly goodputRatio4x: number | null
  readonly goodputRatio8x: number | null
  readonly cpuMicrosPerServed: number | null
  readonly cpuMicrosPerShed: number | null
  readonly shedCostRatio: number | null
}

const here = path.dirname(fileURLToPath(import.meta.url))
const serviceFile = path.resolve(here, "../overload/service.ts")

interface Service {
  readonly port: number
  readonly stop: () => void
}

const startService = (env: Record<string, string>): Promise<Service> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", serviceFile], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "inherit"]
    })
    const timer = setTimeout(() => (child.kill(), reject(new Error("the overload service did not start"))), 30_000)
    child.once("error", reject)
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => {
      output += String(chunk)
      const line = output.split("\n").find((l) => l.startsWith("{\"port\""))
      if (line !== undefined) {
        clearTimeout(timer)
        resolve({ port: JSON.parse(line).port, stop: () => child.kill() })
      }
    })
  })

const percentile = (sorted: ReadonlyArray<number>, p: number): number | null =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!

const get = (agent: Http.Agent, url: string): Promise<{ status: number; body: string }> =>
  new Promise((resolve) => {
    const request = Http.get(url, { agent }, (response) => {
      let body = ""
      response.on("data", (chunk: Buffer) => (body += String(chunk)))
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }))
    })
    request.on("error", () => resolve({ status: 0, body: "" }))
  })

/** `connections` closed loops for `seconds`: 200s per second with their latencies, 503s per second. */
const drive = async (port: number, multiple: number, connections: number, seconds: number): Promise<OverloadPhase> => {
  const agent = new Http.Agent({ keepAlive: true, maxSockets: connections })
  const url = `http://127.0.0.1:${port}/work`
  const latencies: Array<number> = []
  let shed = 0
  const until = performance.now() + seconds * 1_000
  const loop = async () => {
    while (performance.now() < until) {
      const start = performance.now()
      const { status } = await get(agent, url)
      if (status === 200) latencies.push(performance.now() - start)
      else if (status === 503) shed++
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: connections }, loop))
  const elapsed = (performance.now() - started) / 1_000
  agent.destroy()
  latencies.sort((a, b) => a - b)
  return {
    multiple,
    connections,
    seconds,
    goodputPerSecond: latencies.length / elapsed,
    shedPerSecond: shed / elapsed,
    p50Millis: percentile(latencies, 50),
    p99Millis: percentile(latencies, 99)
  }
}

const cpuOf = async (port: number): Promise<{ cpuMicros: number; statuses: Record<string, number> }> => {
  const agent = new Http.Agent()
  const { body } = await get(agent, `http://127.0.0.1:${port}/health/cpu`)
  agent.destroy()
  return JSON.parse(body)
}

/**
 * @since 0.1.0
 * @category scenarios
 */
export const run = async (quick: boolean, progress: (line: string) => void): Promise<OverloadResult> => {
  // 1 ms of CPU and 10 ms of waiting per request: one core is saturated at about 11 requests in flight.
  const saturating = 12
  // Short phases in rounds (1x, 4x, 8x, then again): the load of a shared machine drifts within seconds, and a
  // ratio within a round, median over rounds, is steadier than one long phase each.
  const seconds = quick ? 1 : 1.5
  const rounds = quick ? 1 : 3
  const multiples = [1, 4, 8]
  const shedding: Array<OverloadPhase> = []
  const ratios4: Array<number> = []
  const ratios8: Array<number> = []
  const withoutShedding: Array<OverloadPhase> = []
  let cpuMicrosPerServed: number | null = null
  let cpuMicrosPerShed: number | null = null
  const service = await startService({ LIMIT: String(saturating) })
  try {
    await drive(service.port, 1, saturating, 1)
    for (let round = 0; round < rounds; round++) {
      const phases: Array<OverloadPhase> = []
      for (const multiple of multiples) {
        progress(`overload: shedding, ${multiple}x (round ${round + 1}/${rounds})`)
        const before = await cpuOf(service.port)
        phases.push(await drive(service.port, multiple, saturating * multiple, seconds))
        const after = await cpuOf(service.port)
        if (multiple === 1 && round === 0) {
          const served = (after.statuses["200"] ?? 0) - (before.statuses["200"] ?? 0)
          cpuMicrosPerServed = served > 0 ? (after.cpuMicros - before.cpuMicros) / served : null
        }
      }
      const peak = phases[0]!.goodputPerSecond
      if (peak > 0) {
        ratios4.push(phases[1]!.goodputPerSecond / peak)
        ratios8.push(phases[2]!.goodputPerSecond / peak)
      }
      shedding.push(...phases)
    }
    // Every slot held: every /work request is shed; the CPU per request is what a shed request costs.
    progress("overload: shed cost")
    const holdAgent = new Http.Agent({ keepAlive: true, maxSockets: saturating })
    const holds = Array.from({ length: saturating }, () => get(holdAgent, `http://127.0.0.1:${service.port}/hold`))
    await new Promise((resolve) => setTimeout(resolve, 200))
    const before = await cpuOf(service.port)
    await drive(service.port, 0, saturating * 2, quick ? 1 : 2)
    const after = await cpuOf(service.port)
    const shedCount = (after.statuses["503"] ?? 0) - (before.statuses["503"] ?? 0)
    cpuMicrosPerShed = shedCount > 0 ? (after.cpuMicros - before.cpuMicros) / shedCount : null
    holdAgent.destroy()
    void holds
  } finally {
    service.stop()
  }
  const plain = await startService({})
  try {
    for (const multiple of [1, 4]) {
      progress(`overload: without shedding, ${multiple}x`)
      withoutShedding.push(await drive(plain.port, multiple, saturating * multiple, seconds * 2))
    }
  } finally {
    plain.stop()
  }
  const median = (xs: ReadonlyArray<number>) =>
    xs.length === 0 ? null : [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  return {
    saturatingConcurrency: saturating,
    shedding,
    withoutShedding,
    goodputRatio4x: median(ratios4),
    goodputRatio8x: median(ratios8),
    cpuMicrosPerServed,
    cpuMicrosPerShed,
    shedCostRatio: cpuMicrosPerServed !== null && cpuMicrosPerShed !== null
      ? cpuMicrosPerShed / cpuMicrosPerServed
      : null
  }
}
