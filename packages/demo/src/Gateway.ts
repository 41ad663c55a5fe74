/**
 * A deliberately failing payment gateway on loopback. It follows a script of phases measured from its start
 * (healthy, then errors and latency spikes, then an outage, then recovery), driven by Effect's `Clock` and
 * `Random` so a seeded run is reproducible.
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
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
export const script = (secondsPerPhase: number): ReadonlyArray<Phase> => [
  {
    name: "healthy",
    seconds: secondsPerPhase,
    errorRate: 0,
    hangRate: 0,
    hangMillis: 0,
    latencyMillis: [5, 25],
    spikeRate: 0.01,
    spikeMillis: 300
  },
  {
    name: "degraded",
    seconds: secondsPerPhase,
    errorRate: 0.2,
    hangRate: 0.03,
    hangMillis: 5_000,
    latencyMillis: [10, 60],
    spikeRate: 0.1,
    spikeMillis: 1_500
  },
  {
    name: "outage",
    seconds: secondsPerPhase,
    errorRate: 0.5,
    hangRate: 0.5,
    hangMillis: 5_000,
    latencyMillis: [5, 25],
    spikeRate: 0,
    spikeMillis: 0
  },
  {
    name: "recovery",
    seconds: secondsPerPhase,
    errorRate: 0,
    hangRate: 0,
    hangMillis: 0,
    latencyMillis: [5, 25],
    spikeRate: 0.01,
    spikeMillis: 300
  }
]

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
  /** Starts the script over, from now. */
  readonly restart: Effect.Effect<void>
}

/**
 * Starts the gateway on a random loopback port for the life of the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = (phases: ReadonlyArray<Phase>): Effect.Effect<Gateway, never, Scope.Scope> =>
  Effect.gen(function*() {
    let startedAt = yield* Clock.currentTimeMillis
    let calls: Record<string, number> = {}
    const charge = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const phase = phaseAt(phases, now - startedAt)
      calls[phase.name] = (calls[phase.name] ?? 0) + 1
      const roll = yield* Random.next
      if (roll < phase.hangRate) {
        yield* Effect.sleep(phase.hangMillis)
        return HttpServerResponse.text("stuck", { status: 503 })
      }
      if (roll < phase.hangRate + phase.errorRate) {
        return HttpServerResponse.text("unavailable", { status: 503 })
      }
      const spike = (yield* Random.next) < phase.spikeRate
      const [min, max] = phase.latencyMillis
      yield* Effect.sleep(spike ? phase.spikeMillis : min + (yield* Random.next) * (max - min))
      return yield* HttpServerResponse.json({ status: "charged", phase: phase.name })
    })
    const app = HttpRouter.empty.pipe(HttpRouter.post("/charge", charge))
    const server = yield* NodeHttpServer.make(() => http.createServer(), { host: "127.0.0.1", port: 0 }).pipe(
      Effect.orDie
    )
    yield* server.serve(app)
    const address = server.address as HttpServer.TcpAddress
    return {
      url: `http://127.0.0.1:${address.port}`,
      callsByPhase: () => ({ ...calls }),
      restart: Effect.map(Clock.currentTimeMillis, (now) => {
        startedAt = now
        calls = {}
      })
    }
  })
