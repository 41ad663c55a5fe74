/**
 * A deliberately failing payment gateway on loopback. It follows a script of phases measured from its start
 * (healthy, then errors and latency spikes, then an outage, then recovery), driven by Effect's `Clock`. What it
 * does with a call is fixed by the seed, the order and the attempt (the n-th call for that order), not by the
 * order calls arrive in: the same `--seed` gives every stack the same script, whatever its retries and timing.
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as http from "node:http"

/**
 * What the gateway does during one phase.
 *
 * @since 0.1.0
 * @category models
 */
export interface Phase {
  readonly name: "healthy" | "degraded" | "outage" | "recovery"
  readonly seconds: number
  /** Share of calls answered 503 at once. */
  readonly errorRate: number
  /** Share of calls that hang `hangMillis` before a 503 (a stuck upstream). */
  readonly hangRate: number
  readonly hangMillis: number
  /** Normal latency: uniform in [min, max] milliseconds. */
  readonly latencyMillis: readonly [number, number]
  /** Share of calls that take `spikeMillis` before answering normally. */
  readonly spikeRate: number
  readonly spikeMillis: number
}

/**
 * The demo's script: 4 phases.
 *
 * @since 0.1.0
 * @category constants
 */
export const script = (secondsPerPhase: number): ReadonlyArray<Phase> => {
  // A stuck call hangs 5 s, or less with short phases so that it ends within the next one (quick runs).
  const hangMillis = Math.min(5_000, 1_000 * secondsPerPhase)
  // Healthy and recovered: the same quiet upstream.
  const calm = (name: Phase["name"]): Phase => ({
    name,
    seconds: secondsPerPhase,
    errorRate: 0,
    hangRate: 0,
    hangMillis: 0,
    latencyMillis: [5, 25],
    spikeRate: 0.01,
    spikeMillis: 300
  })
  return [
    calm("healthy"),
    {
      name: "degraded",
      seconds: secondsPerPhase,
      errorRate: 0.2,
      hangRate: 0.03,
      hangMillis,
      latencyMillis: [10, 60],
      spikeRate: 0.1,
      spikeMillis: 1_500
    },
    {
      name: "outage",
      seconds: secondsPerPhase,
      errorRate: 0.5,
      hangRate: 0.5,
      hangMillis,
      latencyMillis: [5, 25],
      spikeRate: 0,
      spikeMillis: 0
    },
    calm("recovery")
  ]
}

/**
 * A number in [0, 1) fixed by its inputs (a 32-bit integer hash, splitmix-like): the gateway's dice.
 *
 * @since 0.1.0
 * @category utils
 */
export const roll = (seed: number, order: number, attempt: number, draw: number): number => {
  let h = (seed ^ 0x9e3779b9) >>> 0
  for (const n of [order, attempt, draw]) {
    h = Math.imul(h ^ (n >>> 0), 0x85ebca6b) >>> 0
    h = (h ^ (h >>> 13)) >>> 0
    h = Math.imul(h, 0xc2b2ae35) >>> 0
    h = (h ^ (h >>> 16)) >>> 0
  }
  return h / 0x1_0000_0000
}

/**
 * The phase in force `elapsedMillis` after the start (the last one stays in force after the script ends).
 *
 * @since 0.1.0
 * @category utils
 */
export const phaseAt = (phases: ReadonlyArray<Phase>, elapsedMillis: number): Phase => {
  let end = 0
  for (const phase of phases) {
    end += phase.seconds * 1000
    if (elapsedMillis < end) return phase
  }
  return phases[phases.length - 1]!
}

/**
 * A running gateway.
 *
 * @since 0.1.0
 * @category models
 */
export interface Gateway {
  readonly url: string
  /** Calls received so far, by the phase in force when they arrived. */
  readonly callsByPhase: () => Record<string, number>
  /** When each call arrived, in millis since the script began. */
  readonly arrivals: () => ReadonlyArray<number>
  /** `GET /health` calls so far (not counted in `callsByPhase` or `arrivals`). */
  readonly healthChecks: () => number
  /** Starts the script over, from now. */
  readonly restart: Effect.Effect<void>
}

/**
 * Starts the gateway on a random loopback port for the life of the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = (phases: ReadonlyArray<Phase>, seed: number): Effect.Effect<Gateway, never, Scope.Scope> =>
  Effect.gen(function*() {
    let startedAt = yield* Clock.currentTimeMillis
    let calls: Record<string, number> = {}
    let arrivals: Array<number> = []
    let attempts = new Map<string, number>()
    const charge = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const order = new URL(request.url, "http://localhost").searchParams.get("order") ?? "0"
      const attempt = (attempts.get(order) ?? 0) + 1
      attempts.set(order, attempt)
      const elapsed = (yield* Clock.currentTimeMillis) - startedAt
      const phase = phaseAt(phases, elapsed)
      calls[phase.name] = (calls[phase.name] ?? 0) + 1
      arrivals.push(elapsed)
      const key = Number.parseInt(order.replace(/\D/g, ""), 10) || 0
      const dice = roll(seed, key, attempt, 0)
      if (dice < phase.hangRate) {
        yield* Effect.sleep(phase.hangMillis)
        return HttpServerResponse.text("stuck", { status: 503 })
      }
      if (dice < phase.hangRate + phase.errorRate) {
        return HttpServerResponse.text("unavailable", { status: 503 })
      }
      const spike = roll(seed, key, attempt, 1) < phase.spikeRate
      const [min, max] = phase.latencyMillis
      yield* Effect.sleep(spike ? phase.spikeMillis : min + roll(seed, key, attempt, 2) * (max - min))
      return yield* HttpServerResponse.json({ status: "charged", phase: phase.name })
    })
    // `GET /health`: answers as a charge would in the phase in force (stuck, 503 or 200 after the normal latency),
    // with dice of its own (the n-th check since the script began).
    let checks = 0
    const health = Effect.gen(function*() {
      const n = ++checks
      const phase = phaseAt(phases, (yield* Clock.currentTimeMillis) - startedAt)
      const dice = roll(seed, -n, 1, 0)
      if (dice < phase.hangRate) {
        yield* Effect.sleep(phase.hangMillis)
        return HttpServerResponse.text("stuck", { status: 503 })
      }
      if (dice < phase.hangRate + phase.errorRate) return HttpServerResponse.text("unavailable", { status: 503 })
      const [min, max] = phase.latencyMillis
      yield* Effect.sleep(min + roll(seed, -n, 1, 2) * (max - min))
      return HttpServerResponse.text("ok")
    })
    const app = HttpRouter.empty.pipe(HttpRouter.post("/charge", charge), HttpRouter.get("/health", health))
    const server = yield* NodeHttpServer.make(() => http.createServer(), { host: "127.0.0.1", port: 0 }).pipe(
      Effect.orDie
    )
    yield* server.serve(app)
    const address = server.address as HttpServer.TcpAddress
    return {
      url: `http://127.0.0.1:${address.port}`,
      callsByPhase: () => ({ ...calls }),
      arrivals: () => [...arrivals],
      healthChecks: () => checks,
      restart: Effect.map(Clock.currentTimeMillis, (now) => {
        startedAt = now
        calls = {}
        arrivals = []
        checks = 0
        attempts = new Map()
      })
    }
  })
