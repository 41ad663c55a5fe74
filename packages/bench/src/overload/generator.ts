/**
 * The overload scenario's load generator, run as a child process of its own (pinned to a core of its own when the
 * scenario pins): closed-loop keep-alive clients, each sending its next request as soon as the last one is
 * answered, whatever the answer (a 503's `Retry-After` is not honoured: the worst case for the service). It reads
 * one JSON command per IPC message, `{ port, path, multiple, connections, seconds }`, and answers the phase's
 * figures, with its own CPU time per request.
 *
 * @since 0.1.0
 */
import * as Http from "node:http"

/**
 * @since 0.1.0
 * @category models
 */
export interface Command {
  readonly port: number
  readonly path: string
  readonly multiple: number
  readonly connections: number
  readonly seconds: number
}

/**
 * What one phase of load measured at the generator.
 *
 * @since 0.1.0
 * @category models
 */
export interface Phase {
  readonly multiple: number
  readonly connections: number
  readonly seconds: number
  readonly goodputPerSecond: number
  readonly shedPerSecond: number
  readonly p50Millis: number | null
  readonly p99Millis: number | null
  /** The generator's own CPU time (user + system) per request it sent, in microseconds. */
  readonly generatorCpuMicrosPerRequest: number | null
}

const percentile = (sorted: ReadonlyArray<number>, p: number): number | null =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!

const get = (agent: Http.Agent, url: string): Promise<number> =>
  new Promise((resolve) => {
    const request = Http.get(url, { agent }, (response) => {
      response.resume()
      response.on("end", () => resolve(response.statusCode ?? 0))
    })
    request.on("error", () => resolve(0))
  })

/**
 * `connections` closed loops for `seconds`: 200s per second with their latencies, 503s per second.
 *
 * @since 0.1.0
 * @category load
 */
export const drive = async (command: Command): Promise<Phase> => {
  const { connections, multiple, port, seconds } = command
  const agent = new Http.Agent({ keepAlive: true, maxSockets: connections })
  const url = `http://127.0.0.1:${port}${command.path}`
  const latencies: Array<number> = []
  let shed = 0
  let other = 0
  const until = performance.now() + seconds * 1_000
  const loop = async () => {
    while (performance.now() < until) {
      const start = performance.now()
      const status = await get(agent, url)
      if (status === 200) latencies.push(performance.now() - start)
      else if (status === 503) shed++
      else other++
    }
  }
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  await Promise.all(Array.from({ length: connections }, loop))
  const elapsed = (performance.now() - started) / 1_000
  const cpu = process.cpuUsage(cpuBefore)
  agent.destroy()
  const requests = latencies.length + shed + other
  latencies.sort((a, b) => a - b)
  return {
    multiple,
    connections,
    seconds,
    goodputPerSecond: latencies.length / elapsed,
    shedPerSecond: shed / elapsed,
    p50Millis: percentile(latencies, 50),
    p99Millis: percentile(latencies, 99),
    generatorCpuMicrosPerRequest: requests > 0 ? (cpu.user + cpu.system) / requests : null
  }
}

const isCommand = (u: unknown): u is Command =>
  typeof u === "object" && u !== null && "port" in u && typeof u.port === "number" && "path" in u &&
  typeof u.path === "string" && "multiple" in u && typeof u.multiple === "number" && "connections" in u &&
  typeof u.connections === "number" && "seconds" in u && typeof u.seconds === "number"

// Run as a child with an IPC channel: one phase per message, one after the other.
if (process.send !== undefined) {
  let chain = Promise.resolve()
  process.on("message", (message: unknown) => {
    if (!isCommand(message)) return
    chain = chain.then(async () => {
      process.send?.(await drive(message))
    })
  })
  process.send({ ready: true })
}
