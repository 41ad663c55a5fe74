/**
 * The demo as a function: for each stack (naive and resilient; with `compare`, cockatiel and plain Effect too) it
 * starts a gateway on the same seeded script and a payment service calling it, drives the same load through two
 * services at a time, watches `/health/ready`, and returns what each run came to.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Gateway from "./Gateway.js"
import * as Ledger from "./Ledger.js"
import * as Load from "./Load.js"
import * as PaymentService from "./PaymentService.js"
import * as Report from "./Report.js"
import * as Stacks from "./Stacks.js"

/**
 * Capacity of the resilient service's queue of pending payments.
 *
 * @since 0.1.0
 * @category constants
 */
export const fallbackCapacity = 256

/**
 * How long the demo waits, after the load, for queued payments to be replayed.
 *
 * @since 0.1.0
 * @category constants
 */
export const replayGraceMillis = 5_000

/**
 * One run's raw record and summary.
 *
 * @since 0.1.0
 * @category models
 */
export interface Run {
  readonly stack: Stacks.Name
  readonly label: string
  readonly samples: ReadonlyArray<Load.Sample>
  /** Gateway calls, millis since the run began. */
  readonly arrivals: ReadonlyArray<number>
  readonly health: ReadonlyArray<Report.HealthProbe>
  readonly summary: Report.RunSummary
  /** Series in `/metrics` at the end of the run, and whether the client's request counter was among them. */
  readonly metrics: { readonly series: number; readonly clientRequests: boolean }
}

/**
 * Options of a demo run.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly phaseSeconds: number
  readonly rate: number
  readonly seed: number
  /** Also run cockatiel's stack and plain Effect's. */
  readonly compare?: boolean | undefined
  /** A PostgreSQL URL for the ledger instead of the embedded store. */
  readonly pg?: string | undefined
  /** Every completed request of a stack. */
  readonly onSample?: ((stack: Stacks.Name, done: number, total: number, sample: Load.Sample) => void) | undefined
  /** At the end of each phase of the script (by the clock of the first run). */
  readonly onPhase?: ((phase: Gateway.Phase, index: number) => void) | undefined
}

/**
 * The whole demo's time in seconds, roughly: the script, the last stuck calls, the replay.
 *
 * @since 0.1.0
 * @category utils
 */
export const expectedSeconds = (phaseSeconds: number, compare = false): number =>
  (4 * phaseSeconds + 2) * (compare ? 2 : 1)

const runOne = (
  stack: Stacks.Name,
  phases: ReadonlyArray<Gateway.Phase>,
  options: Options
): Effect.Effect<Run, Ledger.LedgerError, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    const gateway = yield* Gateway.start(phases, options.seed)
    const caller = yield* (stack === "naive"
      ? Stacks.naive(gateway.url)
      : stack === "resilient"
      ? Stacks.resilient(gateway.url)
      : stack === "cockatiel"
      ? Stacks.cockatiel(gateway.url)
      : Stacks.plainEffect(gateway.url))
    const now = yield* Clock.currentTimeMillis
    const ledger = options.pg === undefined
      ? yield* Ledger.embedded(`ledger-${stack}`)
      : yield* Ledger.postgres(`ledger-${stack}`, options.pg, `${stack}-${options.seed}-${now}`)
    const service = yield* PaymentService.start({
      caller,
      ledger,
      fallbackCapacity: stack === "resilient" ? Option.some(fallbackCapacity) : Option.none(),
      healthInterval: 200
    })
    const http = yield* HttpClient.HttpClient
    const seconds = phases.reduce((a, p) => a + p.seconds, 0)
    // Warm up (connections, JIT) on the healthy script, then start it over: the first requests are not slow ones.
    yield* Effect.forEach(
      Array.from({ length: 4 }, (_, i) => i),
      (i) =>
        Effect.ignore(Effect.scoped(Effect.flatMap(http.post(`${service.url}/pay?order=warmup-${i}`), (r) => r.text))),
      { concurrency: 4 }
    )
    yield* caller.reset
    yield* gateway.restart
    const begin = yield* Clock.currentTimeMillis
    // Watch readiness as a load balancer would, every 250 ms.
    const health: Array<Report.HealthProbe> = []
    const probe = Effect.gen(function*() {
      const at = (yield* Clock.currentTimeMillis) - begin
      const probed = yield* http.get(`${service.url}/health/ready`).pipe(
        Effect.flatMap((response) =>
          Effect.map(response.json, (body) => {
            const report = body as { status?: string; checks?: Record<string, { ok?: boolean }> }
            return {
              at,
              code: response.status,
              status: report.status ?? "unknown",
              gatewayOk: report.checks?.gateway?.ok ?? null
            }
          })
        ),
        Effect.scoped,
        Effect.timeout("1 second"),
        Effect.orElseSucceed(() => ({ at, code: 0, status: "unreachable", gatewayOk: null }))
      )
      health.push(probed)
    })
    const watcher = yield* Effect.forkScoped(Effect.forever(Effect.zipRight(probe, Effect.sleep("250 millis"))))
    if (stack === "naive" || stack === "cockatiel") {
      // The first run of each pair tells the phases.
      yield* Effect.forkScoped(Effect.gen(function*() {
        for (let i = 0; i < phases.length; i++) {
          yield* Effect.sleep(phases[i]!.seconds * 1000)
          options.onPhase?.(phases[i]!, i)
        }
      }))
    }
    const samples = yield* Load.run({
      url: service.url,
      ratePerSecond: options.rate,
      seconds,
      clientTimeout: "10 seconds",
      onProgress: (done, total, sample) => options.onSample?.(stack, done, total, sample)
    })
    // Give the queued payments their chance to be replayed once the gateway is back.
    const deadline = (yield* Clock.currentTimeMillis) + replayGraceMillis
    while ((yield* service.fallback).waiting > 0 && (yield* Clock.currentTimeMillis) < deadline) {
      yield* Effect.sleep("100 millis")
    }
    yield* Fiber.interrupt(watcher)
    const metrics = yield* http.get(`${service.url}/metrics`).pipe(
      Effect.flatMap((response) => response.text),
      Effect.scoped,
      Effect.map((text) => ({
        series: text.split("\n").filter((l) => l.length > 0 && !l.startsWith("#")).length,
        clientRequests: text.includes("http_client_requests_total")
      })),
      Effect.orElseSucceed(() => ({ series: 0, clientRequests: false }))
    )
    const fallback = yield* service.fallback
    const ledgerCounts = yield* ledger.counts
    const transitions = caller.changes().map((c) => ({ at: Math.round(c.at - begin) / 1000, from: c.from, to: c.to }))
    return {
      stack,
      label: caller.label,
      samples,
      arrivals: gateway.arrivals(),
      health,
      metrics,
      summary: Report.summarize({
        samples,
        phases,
        gatewayCallsByPhase: gateway.callsByPhase(),
        gatewayHealthChecks: gateway.healthChecks(),
        transitions,
        fallback: {
          queued: fallback.queued,
          refused: fallback.refused,
          replayedAt: fallback.replayedAt.map((at) => Math.round(at - begin) / 1000),
          stillPending: fallback.waiting
        },
        ledger: ledgerCounts,
        health
      })
    }
  })

/**
 * The demo's result.
 *
 * @since 0.1.0
 * @category models
 */
export interface Result {
  readonly phases: ReadonlyArray<Gateway.Phase>
  readonly naive: Run
  readonly resilient: Run
  /** With `compare`: cockatiel's stack and plain Effect's. */
  readonly peers: ReadonlyArray<Run>
  readonly ledger: string
}

/**
 * Runs the demo: every stack at once, each against its own gateway on the same script.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = (options: Options): Effect.Effect<Result, Ledger.LedgerError, HttpClient.HttpClient> =>
  Effect.scoped(Effect.gen(function*() {
    const phases = Gateway.script(options.phaseSeconds)
    const stacks: ReadonlyArray<Stacks.Name> = options.compare
      ? ["naive", "resilient", "cockatiel", "effect"]
      : ["naive", "resilient"]
    // Two stacks at a time: four services under load in one process would compete for the CPU and measure that.
    const runs = yield* Effect.forEach(stacks, (stack) => Effect.scoped(runOne(stack, phases, options)), {
      concurrency: 2
    })
    const [naive, resilient, ...peers] = runs
    return {
      phases,
      naive: naive!,
      resilient: resilient!,
      peers,
      ledger: options.pg === undefined ? "embedded" : options.pg.replace(/\/\/[^@/]*@/, "//***@")
    }
  }))
