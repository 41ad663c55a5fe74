/**
 * The demo as a function: starts the gateway, runs the load once without policies and once through a
 * `ResilientClient`, and returns both runs.
 *
 * @since 0.1.0
 */
import { Backoff, CircuitBreaker, ResilientClient, RetryBudget } from "@effect-resilience/core"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Stream from "effect/Stream"
import * as Gateway from "./Gateway.js"
import * as Load from "./Load.js"
import * as PaymentService from "./PaymentService.js"
import * as Report from "./Report.js"

/**
 * The resilient side: the seed's client, scaled to a gateway that answers in ~15 ms.
 *
 * @since 0.1.0
 * @category constants
 */
export const resilientOptions = (budget: RetryBudget.RetryBudget) => ({
  name: "gateway",
  deadline: "2 seconds",
  bulkhead: { maxConcurrent: 20, maxQueue: 50, queueTimeout: "500 millis" },
  retry: {
    maxAttempts: 3,
    // An open breaker's hint is at most `openDuration`: waiting for it would hold a bulkhead slot, so fail fast.
    maxRetryAfter: "100 millis",
    schedule: Backoff.fullJitter(Backoff.exponential({ base: "50 millis", cap: "400 millis" })),
    budget
  },
  circuitBreaker: {
    strategy: CircuitBreaker.countWindow({ size: 40, failureRate: 0.6, minimumCalls: 20 }),
    openDuration: "500 millis"
  },
  timeout: "300 millis"
} as const)

const runOnce = (options: {
  readonly gateway: Gateway.Gateway
  readonly phases: ReadonlyArray<Gateway.Phase>
  readonly rate: number
  readonly onProgress: (done: number, total: number) => void
  readonly resilient: boolean
}) =>
  Effect.scoped(Effect.gen(function*() {
    const { gateway } = options
    const seconds = options.phases.reduce((a, p) => a + p.seconds, 0)
    const transitions: Array<Report.Transition> = []
    let call: (order: string) => Effect.Effect<void, unknown, never>
    let begin = 0
    const http = yield* Effect.context<HttpClient.HttpClient>()
    const naive = (order: string) => Effect.provide(PaymentService.charge(gateway.url, order), http)
    if (options.resilient) {
      const budget = yield* RetryBudget.make({ name: "gateway", ratio: 0.5, minPerSecond: 10 })
      const client = yield* ResilientClient.make(resilientOptions(budget))
      if (Option.isSome(client.circuitBreaker)) {
        yield* client.circuitBreaker.value.changes.pipe(
          Stream.runForEach((change) =>
            Effect.sync(() =>
              transitions.push({ at: Math.round(change.at - begin) / 1000, from: change.from, to: change.to })
            )
          ),
          Effect.forkScoped
        )
      }
      call = (order) => client.execute(naive(order))
    } else {
      call = naive
    }
    const service = yield* PaymentService.start(call)
    yield* gateway.restart
    begin = yield* Clock.currentTimeMillis
    const samples = yield* Load.run({
      url: service.url,
      ratePerSecond: options.rate,
      seconds,
      clientTimeout: "10 seconds",
      onProgress: options.onProgress
    })
    yield* Effect.yieldNow()
    return {
      samples,
      summary: Report.summarize({
        samples,
        phases: options.phases,
        gatewayCallsByPhase: gateway.callsByPhase(),
        transitions: [...transitions]
      })
    }
  }))

/**
 * One run's samples and summary.
 *
 * @since 0.1.0
 * @category models
 */
export interface Run {
  readonly samples: ReadonlyArray<Load.Sample>
  readonly summary: Report.RunSummary
}

/**
 * Runs the demo: the naive run, then the resilient one, against the same scripted gateway.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = (options: {
  readonly phaseSeconds: number
  readonly rate: number
  readonly seed: number
  readonly onProgress?: (label: string) => (done: number, total: number) => void
}): Effect.Effect<
  { readonly phases: ReadonlyArray<Gateway.Phase>; readonly naive: Run; readonly resilient: Run },
  never,
  HttpClient.HttpClient
> =>
  Effect.scoped(Effect.gen(function*() {
    const phases = Gateway.script(options.phaseSeconds)
    const gateway = yield* Gateway.start(phases).pipe(Effect.withRandom(Random.make(options.seed)))
    const progress = options.onProgress ?? (() => () => {})
    const common = { gateway, phases, rate: options.rate }
    const naive = yield* runOnce({ ...common, onProgress: progress("naive"), resilient: false })
    const resilient = yield* runOnce({ ...common, onProgress: progress("resilient"), resilient: true })
    return { phases, naive, resilient }
  })).pipe(Effect.orDie) // the options are fixed and valid: an InvalidOptionsError here is a bug
