/**
 * The overload phase (`--overload`): the arrival rate jumps to twice what the payment service can serve. The
 * gateway here has a capacity (`slots` calls at `serviceMillis` each, proportionally slower past that, as a
 * saturated upstream is), so the service's capacity is the gateway's. The resilient service sheds what it cannot
 * serve in time through `LoadShedding.middleware` (a fixed limit of `slots`, 503 with `Retry-After` at once); the
 * naive one accepts every request and queues it.
 *
 * @since 0.1.0
 */
import { LoadShedding } from "@effect-resilience/platform"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpRouter from "@effect/platform/HttpRouter"
import type * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as http from "node:http"
import * as Ledger from "./Ledger.js"
import * as Load from "./Load.js"
import * as PaymentService from "./PaymentService.js"
import { percentile } from "./Report.js"
import * as Stacks from "./Stacks.js"

/**
 * Gateway calls served at full speed at once.
 *
 * @since 0.1.0
 * @category constants
 */
export const slots = 4

/**
 * A gateway call's time while at most `slots` run.
 *
 * @since 0.1.0
 * @category constants
 */
export const serviceMillis = 100

/**
 * What the service can serve: `slots` calls of `serviceMillis`, per second.
 *
 * @since 0.1.0
 * @category constants
 */
export const capacityPerSecond = (slots * 1000) / serviceMillis

/**
 * The arrival rate of the overload: twice the capacity.
 *
 * @since 0.1.0
 * @category constants
 */
export const overloadRate = 2 * capacityPerSecond

/**
 * Before the overload, one second at half the capacity measures the unloaded latency.
 *
 * @since 0.1.0
 * @category constants
 */
export const baselineSeconds = 1

/**
 * The overload's length for phases of `phaseSeconds` (at most 5 s: the naive backlog grows as long as it lasts).
 *
 * @since 0.1.0
 * @category utils
 */
export const overloadSeconds = (phaseSeconds: number): number => Math.min(5, phaseSeconds)

/**
 * The phase's time in seconds, roughly: the baseline, the overload, and the naive service's backlog draining (it
 * grows by `overloadRate - capacityPerSecond` requests a second, served `capacityPerSecond` a second).
 *
 * @since 0.1.0
 * @category utils
 */
export const expectedSeconds = (phaseSeconds: number): number =>
  Math.ceil(baselineSeconds + 2 * overloadSeconds(phaseSeconds) + 1)

/**
 * A typical caller's patience (1 s): the report counts the answers that came within it.
 *
 * @since 0.1.0
 * @category constants
 */
export const patienceMillis = 1_000

/**
 * One service's overload, summarised.
 *
 * @since 0.1.0
 * @category models
 */
export interface Summary {
  readonly stack: Stacks.Name
  readonly label: string
  /** p99 of the baseline (half the capacity), ms. */
  readonly unloadedP99Millis: number
  readonly requests: number
  /** Answered 200. */
  readonly accepted: number
  /** Answered 200 within `patienceMillis`: what a caller with a 1 s timeout would have got. */
  readonly inTime: number
  /** Answered 503 with `Retry-After` by the load shedder. */
  readonly shed: number
  /** Anything else (an error, the caller's own 10 s patience). */
  readonly failed: number
  readonly acceptedP50Millis: number
  readonly acceptedP99Millis: number
  /** `acceptedP99Millis / unloadedP99Millis`. */
  readonly p99Ratio: number
  /** p99 of the shed answers, ms: how fast a caller is told to come back. */
  readonly shedP99Millis: number | null
  /** The most gateway calls in flight at once. */
  readonly peakGatewayInFlight: number
}

/**
 * Summarises one service's overload samples against its baseline.
 *
 * @since 0.1.0
 * @category utils
 */
export const summarize = (
  stack: Stacks.Name,
  label: string,
  baseline: ReadonlyArray<Load.Sample>,
  samples: ReadonlyArray<Load.Sample>,
  peakGatewayInFlight: number
): Summary => {
  const sorted = (xs: ReadonlyArray<Load.Sample>) => xs.map((s) => s.latencyMillis).sort((a, b) => a - b)
  const unloaded = sorted(baseline.filter((s) => s.ok))
  const accepted = sorted(samples.filter((s) => s.ok))
  const shed = sorted(samples.filter((s) => s.kind === "shed"))
  const unloadedP99Millis = percentile(unloaded, 99)
  const acceptedP99Millis = percentile(accepted, 99)
  return {
    stack,
    label,
    unloadedP99Millis,
    requests: samples.length,
    accepted: accepted.length,
    inTime: accepted.filter((ms) => ms <= patienceMillis).length,
    shed: shed.length,
    failed: samples.length - accepted.length - shed.length,
    acceptedP50Millis: percentile(accepted, 50),
    acceptedP99Millis,
    p99Ratio: unloadedP99Millis > 0 ? acceptedP99Millis / unloadedP99Millis : 0,
    shedP99Millis: shed.length === 0 ? null : percentile(shed, 99),
    peakGatewayInFlight
  }
}

/**
 * The phase's result: both services, and their samples (millis since the overload began) for the chart.
 *
 * @since 0.1.0
 * @category models
 */
export interface Result {
  readonly seconds: number
  readonly rate: number
  readonly capacity: number
  readonly naive: Summary
  readonly resilient: Summary
  readonly samples: { readonly naive: ReadonlyArray<Load.Sample>; readonly resilient: ReadonlyArray<Load.Sample> }
  /** Gateway calls, millis since the overload began. */
  readonly arrivals: { readonly naive: ReadonlyArray<number>; readonly resilient: ReadonlyArray<number> }
}

/** A gateway with a capacity: `slots` calls at `serviceMillis`, each proportionally slower past that. */
const gateway = Effect.gen(function*() {
  let inFlight = 0
  let peak = 0
  let begin = yield* Clock.currentTimeMillis
  let arrivals: Array<number> = []
  const charge = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    arrivals.push(now - begin)
    inFlight++
    peak = Math.max(peak, inFlight)
    return Effect.sleep(serviceMillis * Math.max(1, inFlight / slots))
  }).pipe(
    Effect.ensuring(Effect.sync(() => inFlight--)),
    Effect.as(HttpServerResponse.unsafeJson({ status: "charged" }))
  )
  const server = yield* NodeHttpServer.make(() => http.createServer(), { host: "127.0.0.1", port: 0 }).pipe(
    Effect.orDie
  )
  yield* server.serve(HttpRouter.empty.pipe(HttpRouter.post("/charge", charge)))
  const address = server.address as HttpServer.TcpAddress
  return {
    url: `http://127.0.0.1:${address.port}`,
    peak: () => peak,
    arrivals: () => [...arrivals],
    /** Starts the count over, from now. */
    restart: Effect.map(Clock.currentTimeMillis, (now) => {
      peak = inFlight
      begin = now
      arrivals = []
    })
  }
})

const runOne = (
  stack: "naive" | "resilient",
  seconds: number
): Effect.Effect<
  { summary: Summary; samples: ReadonlyArray<Load.Sample>; arrivals: ReadonlyArray<number> },
  Ledger.LedgerError,
  HttpClient.HttpClient | Scope.Scope
> =>
  Effect.gen(function*() {
    const upstream = yield* gateway
    const caller = yield* (stack === "naive" ? Stacks.naive(upstream.url) : Stacks.resilient(upstream.url))
    const ledger = yield* Ledger.embedded(`ledger-overload-${stack}`)
    const shedding = stack === "resilient"
      ? yield* LoadShedding.make({ limit: slots, retryAfter: "1 second", name: "payments" }).pipe(Effect.orDie)
      : undefined
    const service = yield* PaymentService.start({
      caller,
      ledger,
      fallbackCapacity: Option.none(),
      healthInterval: 500,
      shedding
    })
    const http = yield* HttpClient.HttpClient
    yield* Effect.forEach(
      [0, 1],
      (i) =>
        Effect.ignore(Effect.scoped(Effect.flatMap(http.post(`${service.url}/pay?order=warmup-${i}`), (r) => r.text))),
      { concurrency: 2 }
    )
    const baseline = yield* Load.run({
      url: service.url,
      ratePerSecond: capacityPerSecond / 2,
      seconds: baselineSeconds,
      clientTimeout: "10 seconds"
    })
    yield* upstream.restart
    const samples = yield* Load.run({
      url: service.url,
      ratePerSecond: overloadRate,
      seconds,
      clientTimeout: "10 seconds"
    })
    return {
      summary: summarize(stack, caller.label, baseline, samples, upstream.peak()),
      samples,
      arrivals: upstream.arrivals()
    }
  })

/**
 * Runs the overload phase: both services at once, each against its own gateway.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = (phaseSeconds: number): Effect.Effect<Result, Ledger.LedgerError, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const seconds = overloadSeconds(phaseSeconds)
    const [naive, resilient] = yield* Effect.all(
      [Effect.scoped(runOne("naive", seconds)), Effect.scoped(runOne("resilient", seconds))],
      { concurrency: 2 }
    )
    return {
      seconds,
      rate: overloadRate,
      capacity: capacityPerSecond,
      naive: naive.summary,
      resilient: resilient.summary,
      samples: { naive: naive.samples, resilient: resilient.samples },
      arrivals: { naive: naive.arrivals, resilient: resilient.arrivals }
    }
  })

const ms = (n: number) => `${Math.round(n).toLocaleString("en-US")} ms`
const share = (n: number, of: number) => `${of === 0 ? "0" : ((100 * n) / of).toFixed(0)}%`

/**
 * The phase's sentence, computed from the run.
 *
 * @since 0.1.0
 * @category rendering
 */
export const sentence = (result: Result): string => {
  const { naive, resilient } = result
  return `Overload (${result.rate} requests/s for ${result.seconds} s, twice the ${result.capacity}/s the gateway ` +
    `can serve): the resilient service shed ${share(resilient.shed, resilient.requests)} of the requests at once ` +
    `(503 with Retry-After, p99 ${resilient.shedP99Millis === null ? "-" : ms(resilient.shedP99Millis)}) and ` +
    `answered the ${resilient.accepted} it accepted at p99 ${ms(resilient.acceptedP99Millis)} ` +
    `(${resilient.p99Ratio.toFixed(1)}x its unloaded p99); the naive one accepted all ${naive.requests} and ` +
    `queued them at the gateway (up to ${naive.peakGatewayInFlight} calls at once): p99 ` +
    `${ms(naive.acceptedP99Millis)} (${naive.p99Ratio.toFixed(1)}x), growing as long as the overload lasts, ` +
    `and ${naive.inTime} answered within 1 s against ${resilient.inTime}.`
}

/**
 * The phase's rows, beside the report's table (same columns: naive, resilient).
 *
 * @since 0.1.0
 * @category rendering
 */
export const rows = (result: Result): Array<readonly [string, string, string]> => {
  const { naive, resilient } = result
  const cell = (s: Summary, f: (s: Summary) => string) => f(s)
  const all = (f: (s: Summary) => string) => [cell(naive, f), cell(resilient, f)] as const
  return [
    ["overload: answered 200", ...all((s) => `${s.accepted} of ${s.requests}`)],
    ["overload: answered within 1 s", ...all((s) => `${s.inTime}`)],
    ["overload: shed (503 + Retry-After)", ...all((s) => `${s.shed}`)],
    ["overload: p50 / p99 of answered", ...all((s) => `${ms(s.acceptedP50Millis)} / ${ms(s.acceptedP99Millis)}`)],
    ["overload: p99 / unloaded p99", ...all((s) => `${s.p99Ratio.toFixed(1)}x (${ms(s.unloadedP99Millis)})`)],
    ["overload: gateway calls at once, peak", ...all((s) => `${s.peakGatewayInFlight}`)]
  ]
}

/**
 * The rows as a text table.
 *
 * @since 0.1.0
 * @category rendering
 */
export const table = (result: Result): string => {
  const lines: Array<readonly [string, string, string]> = [
    ["", result.naive.label, result.resilient.label],
    ...rows(result)
  ]
  const widths = [0, 1, 2].map((i) => Math.max(...lines.map((l) => l[i]!.length)))
  return lines.map((l) => l.map((c, i) => i === 0 ? c.padEnd(widths[0]!) : c.padStart(widths[i]!)).join("  "))
    .join("\n")
}
