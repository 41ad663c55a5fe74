/**
 * Scenario: overload. A service in a child process (`src/overload/service.ts`: each request spends 1 ms of CPU,
 * then waits 10 ms) behind `LoadShedding` with a fixed limit and its front (`shedder.front`, which answers the
 * requests that would certainly be shed in the Node server's request event), driven by closed-loop keep-alive
 * clients on loopback (`src/overload/generator.ts`, a child process of its own, which does not honour
 * `Retry-After`) at 1×, 4× and 8× the concurrency that saturates it, 1.5 s each, in 5 rounds. Where `taskset` is
 * there the service runs on CPU 0 and the generator on CPU 1, and where allowed both run at nice -10, for every
 * multiple alike (`OVERLOAD_PIN=0`, `OVERLOAD_NICE=0` to compare without; `OVERLOAD_FRONT=0` sheds in the
 * middleware alone). The load average, the hypervisor's steal time, the service's CPU and the generator's CPU per
 * request are recorded with each phase. The figures: goodput (200s
 * per second) at 4× and 8× over goodput at 1× in the same round, median over rounds (`overload_goodput_ratio_4x`,
 * `_8x`), the p99 of the accepted requests, and what a shed request costs the service in CPU over what a served one
 * costs (`shed_cost_ratio`: all slots held, every other request shed, versus no request shed; also measured for
 * requests the front lets through, shed by the middleware alone). The same service without shedding is measured at
 * 4× for contrast.
 *
 * @since 0.1.0
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as Http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { Phase } from "../overload/generator.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface OverloadPhase extends Phase {
  /** The service's CPU time (all its threads) per second of the phase, in cores. */
  readonly serviceCpuCores: number | null
  /** The share of the machine's CPU time the hypervisor gave to other guests during the phase (Linux `steal`). */
  readonly stealShare: number | null
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
  /** CPU per request shed at the front (`shedder.front`, in the Node server's request event). */
  readonly cpuMicrosPerShed: number | null
  readonly shedCostRatio: number | null
  /** CPU per request shed by the middleware alone (requests the front lets through by its `exempt`), for contrast. */
  readonly cpuMicrosPerShedMiddleware: number | null
  /** `"server on CPU 0, generator on CPU 1"` when pinned with taskset (every multiple, the 1× peak included). */
  readonly pinning: string
  /** Whether the service and the generator ran at nice -10 (every multiple alike). */
  readonly raisedPriority: boolean
  /** `os.loadavg()` when the scenario started and when it ended. */
  readonly loadAverage: { readonly start: ReadonlyArray<number>; readonly end: ReadonlyArray<number> }
  /** The share of the machine's CPU time stolen by the hypervisor over the scenario (Linux `steal`), or null. */
  readonly stealShare: number | null
}

const here = path.dirname(fileURLToPath(import.meta.url))
const serviceFile = path.resolve(here, "../overload/service.ts")
const generatorFile = path.resolve(here, "../overload/generator.ts")

/**
 * Pin the service and the generator to a core each when taskset is there and there are two cores or more
 * (`OVERLOAD_PIN=0` to compare without).
 */
const canPin = (): boolean =>
  process.env.OVERLOAD_PIN !== "0" && os.cpus().length >= 2 && process.platform === "linux" &&
  spawnSync("taskset", ["-c", "0", "true"]).status === 0

/**
 * Run the service and the generator at a higher priority (nice -10) when allowed (root): on a shared machine the
 * other processes then take less of their cores during the phases; every multiple alike (`OVERLOAD_NICE=0` to
 * compare without).
 */
const canRaisePriority = (): boolean =>
  process.env.OVERLOAD_NICE !== "0" && process.platform === "linux" &&
  spawnSync("nice", ["-n", "-10", "true"]).status === 0 &&
  spawnSync("sh", ["-c", "nice -n -10 nice"]).stdout?.toString().trim() === "-10"

interface Placement {
  readonly cpu: number | undefined
  readonly nice: boolean
}

const spawnNode = (
  file: string,
  env: Record<string, string>,
  placement: Placement,
  stdio: ReadonlyArray<"ignore" | "pipe" | "inherit" | "ipc">
): ChildProcess => {
  const node = [process.execPath, "--conditions=source", "--import", "tsx", file]
  const pinned = placement.cpu === undefined ? node : ["taskset", "-c", String(placement.cpu), ...node]
  const command = placement.nice ? ["nice", "-n", "-10", ...pinned] : pinned
  return spawn(command[0]!, command.slice(1), { env: { ...process.env, ...env }, stdio: [...stdio] })
}

interface Service {
  readonly port: number
  readonly stop: () => void
}

const startService = (env: Record<string, string>, placement: Placement): Promise<Service> =>
  new Promise((resolve, reject) => {
    const child = spawnNode(serviceFile, env, placement, ["ignore", "pipe", "inherit"])
    const timer = setTimeout(() => (child.kill(), reject(new Error("the overload service did not start"))), 60_000)
    child.once("error", reject)
    let output = ""
    child.stdout!.on("data", (chunk: Buffer) => {
      output += String(chunk)
      const line = output.split("\n").find((l) => l.startsWith("{\"port\""))
      if (line !== undefined) {
        clearTimeout(timer)
        resolve({ port: JSON.parse(line).port, stop: () => child.kill() })
      }
    })
  })

interface Generator {
  readonly drive: (port: number, path: string, multiple: number, connections: number, seconds: number) => Promise<Phase>
  readonly stop: () => void
}

const isPhase = (u: unknown): u is Phase => typeof u === "object" && u !== null && "goodputPerSecond" in u

/** The generator child: one phase at a time over IPC. */
const startGenerator = (placement: Placement): Promise<Generator> =>
  new Promise((resolve, reject) => {
    const child = spawnNode(generatorFile, {}, placement, ["ignore", "inherit", "inherit", "ipc"])
    const timer = setTimeout(() => (child.kill(), reject(new Error("the load generator did not start"))), 60_000)
    child.once("error", reject)
    let pending: ((phase: Phase) => void) | undefined
    child.on("message", (message: unknown) => {
      if (isPhase(message)) {
        const resume = pending
        pending = undefined
        resume?.(message)
      } else {
        clearTimeout(timer)
        resolve({
          drive: (port, path, multiple, connections, seconds) =>
            new Promise((done) => {
              pending = done
              child.send({ port, path, multiple, connections, seconds })
            }),
          stop: () => child.kill()
        })
      }
    })
  })

const get = (agent: Http.Agent, url: string): Promise<{ status: number; body: string }> =>
  new Promise((resolve) => {
    const request = Http.get(url, { agent }, (response) => {
      let body = ""
      response.on("data", (chunk: Buffer) => (body += String(chunk)))
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }))
    })
    request.on("error", () => resolve({ status: 0, body: "" }))
  })

/** The machine's CPU time counters (`/proc/stat`): all, and stolen by the hypervisor; null off Linux. */
const machineTicks = (): { readonly total: number; readonly steal: number } | null => {
  try {
    const fields = fs.readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1, 9).map(Number)
    return { total: fields.reduce((a, b) => a + b, 0), steal: fields[7] ?? 0 }
  } catch {
    return null
  }
}

const stealBetween = (
  before: ReturnType<typeof machineTicks>,
  after: ReturnType<typeof machineTicks>
): number | null =>
  before === null || after === null || after.total === before.total
    ? null
    : (after.steal - before.steal) / (after.total - before.total)

interface Cpu {
  readonly cpuMicros: number
  readonly statuses: Record<string, number>
  readonly shed: number
  readonly at: number
}

const cpuOf = async (port: number): Promise<Cpu> => {
  const agent = new Http.Agent()
  const { body } = await get(agent, `http://127.0.0.1:${port}/health/cpu`)
  agent.destroy()
  return { ...JSON.parse(body), at: performance.now() }
}

/** One phase, with the service's CPU over it. */
const phase = async (
  generator: Generator,
  port: number,
  multiple: number,
  connections: number,
  seconds: number,
  urlPath = "/work"
): Promise<{ phase: OverloadPhase; before: Cpu; after: Cpu }> => {
  const before = await cpuOf(port)
  const ticks = machineTicks()
  const measured = await generator.drive(port, urlPath, multiple, connections, seconds)
  const stealShare = stealBetween(ticks, machineTicks())
  const after = await cpuOf(port)
  const serviceCpuCores = (after.cpuMicros - before.cpuMicros) / ((after.at - before.at) * 1_000)
  return { phase: { ...measured, serviceCpuCores, stealShare }, before, after }
}

/**
 * @since 0.1.0
 * @category scenarios
 */
export const run = async (quick: boolean, progress: (line: string) => void): Promise<OverloadResult> => {
  const loadAtStart = os.loadavg()
  const ticksAtStart = machineTicks()
  // 1 ms of CPU and 10 ms of waiting per request: one core is saturated at about 11 requests in flight.
  const saturating = 12
  // Short phases in rounds (1x, 4x, 8x, then again): the load of a shared machine drifts within seconds, and a
  // ratio within a round, median over rounds, is steadier than one long phase each.
  const seconds = quick ? 1 : 1.5
  const rounds = quick ? 1 : 5
  const multiples = [1, 4, 8]
  // The service's main thread is what saturates: the generator (about twice the service's CPU per request) gets a
  // core of its own, for every multiple alike, so that at 8x it does not take the service's core.
  const pinned = canPin()
  const nice = canRaisePriority()
  const serviceCpu: Placement = { cpu: pinned ? 0 : undefined, nice }
  const generatorCpu: Placement = { cpu: pinned ? 1 : undefined, nice }
  const shedding: Array<OverloadPhase> = []
  const ratios4: Array<number> = []
  const ratios8: Array<number> = []
  const withoutShedding: Array<OverloadPhase> = []
  let cpuMicrosPerServed: number | null = null
  let cpuMicrosPerShed: number | null = null
  let cpuMicrosPerShedMiddleware: number | null = null
  const generator = await startGenerator(generatorCpu)
  try {
    // OVERLOAD_FRONT=0: the middleware alone (to compare).
    const service = await startService(
      { LIMIT: String(saturating), FRONT: process.env.OVERLOAD_FRONT ?? "1" },
      serviceCpu
    )
    try {
      // Warm-up, not measured: a round of every multiple, so that the first measured 1x peak does not run on code
      // V8 has not compiled yet (a cold first peak made the first round's ratios look better than the others).
      await generator.drive(service.port, "/work", 1, saturating, 2)
      for (const multiple of multiples) {
        await generator.drive(service.port, "/work", multiple, saturating * multiple, seconds)
      }
      for (let round = 0; round < rounds; round++) {
        const phases: Array<OverloadPhase> = []
        for (const multiple of multiples) {
          progress(`overload: shedding, ${multiple}x (round ${round + 1}/${rounds})`)
          const measured = await phase(generator, service.port, multiple, saturating * multiple, seconds)
          phases.push(measured.phase)
          if (multiple === 1 && round === 0) {
            const served = (measured.after.statuses["200"] ?? 0) - (measured.before.statuses["200"] ?? 0)
            cpuMicrosPerServed = served > 0 ? (measured.after.cpuMicros - measured.before.cpuMicros) / served : null
          }
        }
        const peak = phases[0]!.goodputPerSecond
        if (peak > 0) {
          ratios4.push(phases[1]!.goodputPerSecond / peak)
          ratios8.push(phases[2]!.goodputPerSecond / peak)
        }
        shedding.push(...phases)
      }
      // Every slot held: every /work request is shed; the CPU per request is what a shed request costs. The front
      // lets /mw/* through (its exempt), so those are shed by the middleware: the cost without the front.
      progress("overload: shed cost")
      const holdAgent = new Http.Agent({ keepAlive: true, maxSockets: saturating })
      const holds = Array.from({ length: saturating }, () => get(holdAgent, `http://127.0.0.1:${service.port}/hold`))
      await new Promise((resolve) => setTimeout(resolve, 200))
      const perShed = async (urlPath: string) => {
        const { after, before } = await phase(generator, service.port, 0, saturating * 2, quick ? 1 : 2, urlPath)
        const shedCount = after.shed - before.shed
        return shedCount > 0 ? (after.cpuMicros - before.cpuMicros) / shedCount : null
      }
      cpuMicrosPerShed = await perShed("/work")
      cpuMicrosPerShedMiddleware = await perShed("/mw/work")
      holdAgent.destroy()
      void holds
    } finally {
      service.stop()
    }
    const plain = await startService({}, serviceCpu)
    try {
      await generator.drive(plain.port, "/work", 1, saturating, 1)
      for (const multiple of [1, 4]) {
        progress(`overload: without shedding, ${multiple}x`)
        withoutShedding.push((await phase(generator, plain.port, multiple, saturating * multiple, seconds * 2)).phase)
      }
    } finally {
      plain.stop()
    }
  } finally {
    generator.stop()
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
      : null,
    cpuMicrosPerShedMiddleware,
    pinning: pinned ? "server on CPU 0, generator on CPU 1" : "none",
    raisedPriority: nice,
    loadAverage: { start: loadAtStart, end: os.loadavg() },
    stealShare: stealBetween(ticksAtStart, machineTicks())
  }
}
