/**
 * The arena's scripted upstream: a plain `node:http` server on loopback that follows a script of phases measured
 * from its (re)start. What it does with a call is fixed by the seed, the request (`order`) and the attempt (the
 * n-th call the server sees for that order), through the demo gateway's dice (`roll` of
 * `@effect-resilience/demo/Gateway`): the same seed gives every contender the same script, whatever its retries
 * and timing. Only the brown-out depends on load (its latency grows with the calls in flight, as a saturated
 * dependency's does), and the hard outage closes the listening socket (connection refused). A `Retry-After` it
 * sends is enforced, as a rate limiter would: a call for that order before the time has passed is refused again.
 *
 * @since 0.1.0
 */
import { RetryAfter } from "@effect-resilience/core"
import { roll } from "@effect-resilience/demo/Gateway"
import { Duration } from "effect"
import * as http from "node:http"
import type { AddressInfo, Socket } from "node:net"
import { performance } from "node:perf_hooks"

/**
 * @since 0.1.0
 * @category models
 */
export type PhaseName =
  | "healthy"
  | "errors"
  | "spikes"
  | "brownout"
  | "outage"
  | "recovery"
  | "retry-after"
  | "healthy-again"

/**
 * @since 0.1.0
 * @category models
 */
export interface ArenaPhase {
  readonly name: PhaseName
  readonly label: string
  readonly millis: number
}

/**
 * The script's fixed figures (milliseconds), shared with the contenders' configuration: an attempt times out
 * after `attemptTimeout`; a latency spike is 10 × that.
 *
 * @since 0.1.0
 * @category constants
 */
export const figures = {
  attemptTimeout: 250,
  latency: [5, 15] as const,
  errorRate: 0.3,
  spikeRate: 0.1,
  spikeMillis: 2_500,
  /** Brown-out latency: `brownoutBase` + uniform [0, `brownoutJitter`] + `brownoutPerInFlight` per call in flight. */
  brownoutBase: 150,
  brownoutJitter: 100,
  brownoutPerInFlight: 4,
  /** In the Retry-After phase: this share of calls is answered 503 or 429 (half each) with `Retry-After: 1`. */
  retryAfterRate: 0.3,
  retryAfterSeconds: 1,
  /** A call this much before its `Retry-After` has passed is still on time (timers fire against loop time). */
  retryAfterSlackMillis: 10
}

/**
 * The script: each phase `millis` long (the slow recovery twice as long).
 *
 * @since 0.1.0
 * @category constants
 */
export const script = (phaseMillis: number): ReadonlyArray<ArenaPhase> => [
  { name: "healthy", label: "healthy", millis: phaseMillis },
  { name: "errors", label: "error bursts (30% 503)", millis: phaseMillis },
  { name: "spikes", label: "latency spikes (10% take 10 × the timeout)", millis: phaseMillis },
  { name: "brownout", label: "brown-out (every call slow, answering)", millis: phaseMillis },
  { name: "outage", label: "hard outage (connection refused)", millis: phaseMillis },
  { name: "recovery", label: "slow recovery (errors 100% → 0%)", millis: 2 * phaseMillis },
  { name: "retry-after", label: "Retry-After (30% 503/429, Retry-After: 1, enforced)", millis: phaseMillis },
  { name: "healthy-again", label: "healthy again", millis: phaseMillis }
]

/**
 * The index of the phase in force `elapsed` millis after the start (the last one after the end).
 *
 * @since 0.1.0
 * @category utils
 */
export const phaseIndexAt = (phases: ReadonlyArray<ArenaPhase>, elapsed: number): number => {
  let end = 0
  for (let i = 0; i < phases.length; i++) {
    end += phases[i]!.millis
    if (elapsed < end) return i
  }
  return phases.length - 1
}

/**
 * When phase `index` starts, in millis from the start.
 *
 * @since 0.1.0
 * @category utils
 */
export const phaseStart = (phases: ReadonlyArray<ArenaPhase>, index: number): number =>
  phases.slice(0, index).reduce((sum, p) => sum + p.millis, 0)

/**
 * A running upstream.
 *
 * @since 0.1.0
 * @category models
 */
export interface Upstream {
  readonly port: number
  /** Starts the script over at `t0` (a `performance.now()` reading). */
  readonly restart: (t0: number) => void
  /** Closes the listening socket and drops every connection (connection refused), or listens again. */
  readonly setDown: (down: boolean) => Promise<void>
  /** Answers that carried a `Retry-After`. */
  readonly retryAfterSent: () => number
  /** Calls refused because they came before the `Retry-After` their order had been given. */
  readonly refusedEarly: () => number
  readonly close: () => Promise<void>
}

/**
 * Starts the upstream on a random loopback port.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = async (phases: ReadonlyArray<ArenaPhase>, seed: number): Promise<Upstream> => {
  let t0 = performance.now()
  let attempts = new Map<number, number>()
  // Retry-After is enforced, as a rate limiter would: a call for an order that comes before the time it was told
  // has passed (10 ms of timer slack allowed) is refused again, 429 with the whole seconds left
  let notBefore = new Map<number, number>()
  let refusedEarly = 0
  let sent = 0
  let inFlight = 0
  const sockets = new Set<Socket>()
  const recoveryIndex = phases.findIndex((p) => p.name === "recovery")

  const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const now = performance.now()
    const elapsed = now - t0
    const order = Number.parseInt(new URL(req.url ?? "/", "http://x").searchParams.get("order") ?? "0", 10) || 0
    const attempt = (attempts.get(order) ?? 0) + 1
    attempts.set(order, attempt)
    const index = phaseIndexAt(phases, elapsed)
    const phase = phases[index]!
    const dice = roll(seed, order, attempt, 0)
    const latency = figures.latency[0] + roll(seed, order, attempt, 2) * (figures.latency[1] - figures.latency[0])
    const until = notBefore.get(order)
    if (until !== undefined && now < until - figures.retryAfterSlackMillis) {
      refusedEarly++
      sent++
      const left = Math.max(1, Math.ceil((until - now) / 1_000))
      res.writeHead(429, { "content-type": "text/plain", "retry-after": String(left) })
      res.end("too early")
      return
    }
    inFlight++
    let done = false
    const answer = (status: number, headers: Record<string, string> = {}) => {
      if (done) return
      done = true
      inFlight--
      if (res.destroyed) return
      res.writeHead(status, { "content-type": "text/plain", ...headers })
      res.end(status === 200 ? "ok" : "unavailable")
    }
    res.on("close", () => {
      if (!done) {
        done = true
        inFlight--
      }
    })
    const later = (ms: number, status: number, headers?: Record<string, string>) =>
      setTimeout(() => answer(status, headers), ms)
    switch (phase.name) {
      case "errors":
        if (dice < figures.errorRate) return answer(503)
        return later(latency, 200)
      case "spikes":
        return later(dice < figures.spikeRate ? figures.spikeMillis : latency, 200)
      case "brownout":
        return later(
          figures.brownoutBase + roll(seed, order, attempt, 3) * figures.brownoutJitter +
            figures.brownoutPerInFlight * inFlight,
          200
        )
      case "recovery": {
        const into = elapsed - phaseStart(phases, recoveryIndex)
        const errorRate = Math.max(0, 1 - into / phase.millis)
        if (dice < errorRate) return answer(503)
        return later(latency, 200)
      }
      case "retry-after":
        if (dice < figures.retryAfterRate) {
          sent++
          notBefore.set(order, now + figures.retryAfterSeconds * 1_000)
          return answer(roll(seed, order, attempt, 1) < 0.5 ? 503 : 429, {
            "retry-after": String(figures.retryAfterSeconds)
          })
        }
        return later(latency, 200)
      default:
        // healthy, healthy-again; an outage never gets here (nothing listens)
        return later(latency, 200)
    }
  }
  // A fresh server each time the upstream comes back: the one closed for the outage may still be winding down.
  const listen = (port: number) =>
    new Promise<http.Server>((resolve, reject) => {
      const server = http.createServer(handle)
      server.keepAliveTimeout = 10_000
      server.on("connection", (socket) => {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
      })
      server.once("error", reject)
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject)
        resolve(server)
      })
    })
  let server = await listen(0)
  const port = (server.address() as AddressInfo).port
  let down = false
  const stop = () => {
    // the listening socket closes at once (connection refused from now on); connections are dropped
    server.close()
    for (const socket of sockets) socket.destroy()
  }
  return {
    port,
    restart: (at) => {
      t0 = at
      attempts = new Map()
      notBefore = new Map()
      refusedEarly = 0
      sent = 0
    },
    setDown: async (next) => {
      if (next === down) return
      down = next
      if (next) stop()
      else server = await listen(port)
    },
    retryAfterSent: () => sent,
    refusedEarly: () => refusedEarly,
    close: async () => {
      if (!down) stop()
      down = true
    }
  }
}

/**
 * What a call to the upstream fails with: the status (0 when no answer came: refused, reset, aborted) and the
 * `Retry-After` it carried. It carries the hint as `RetryAfter.symbol` (set by `transport`), which our retry
 * reads; the peers have no such protocol.
 *
 * @since 0.1.0
 * @category errors
 */
export class UpstreamError extends Error {
  readonly [RetryAfter.symbol]?: Duration.Duration
  constructor(readonly status: number, readonly retryAfterMillis: number | undefined) {
    super(`upstream ${status === 0 ? "unreachable" : `answered ${status}`}`)
    this.name = "UpstreamError"
    if (retryAfterMillis !== undefined) this[RetryAfter.symbol] = Duration.millis(retryAfterMillis)
  }
}
