/**
 * `--redis URL`: the resilient payment service as three replicas behind one gateway, run twice on the same seeded
 * script: once with every replica's breaker on its own, once with the breakers sharing their state through Redis
 * (`RedisCircuitBreakerStore`). The load is spread evenly over the replicas. What sharing saves is the gateway
 * calls the fleet makes while the gateway is failing: a shared breaker opens on the fleet's failures together.
 *
 * @since 0.1.0
 */
import { RedisCircuitBreakerStore } from "@effect-resilience/redis"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Gateway from "./Gateway.js"
import * as Ledger from "./Ledger.js"
import * as Load from "./Load.js"
import * as PaymentService from "./PaymentService.js"
import * as Stacks from "./Stacks.js"

/**
 * One fleet run: the gateway calls it made, by phase and in all, and how its requests went.
 *
 * @since 0.1.0
 * @category models
 */
export interface FleetRun {
  readonly requests: number
  readonly successRate: number
  readonly gatewayCalls: number
  readonly gatewayCallsByPhase: Record<string, number>
  /** Breaker transitions of every replica together. */
  readonly breakerTransitions: number
}

/**
 * Both fleet runs and what sharing saved.
 *
 * @since 0.1.0
 * @category models
 */
export interface FleetResult {
  readonly replicas: number
  readonly unshared: FleetRun
  readonly shared: FleetRun
  /** Gateway calls the shared fleet did not make, in all and in the degraded and outage phases. */
  readonly savedCalls: number
  readonly savedCallsWhileFailing: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface FleetOptions {
  readonly phaseSeconds: number
  /** Requests per second for the whole fleet. */
  readonly rate: number
  readonly seed: number
  readonly redisUrl: string
  readonly replicas?: number | undefined
}

const failing = ["degraded", "outage"]

const runFleet = (
  phases: ReadonlyArray<Gateway.Phase>,
  options: FleetOptions,
  shared: boolean
): Effect.Effect<FleetRun, RedisCircuitBreakerStore.RedisStoreError, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    const replicas = options.replicas ?? 3
    const gateway = yield* Gateway.start(phases, options.seed)
    const now = yield* Clock.currentTimeMillis
    const keyPrefix = `demo-fleet-${options.seed}-${now}`
    const scope = yield* Effect.scope
    const services = yield* Effect.forEach(
      Array.from({ length: replicas }, (_, i) => i),
      (i) =>
        Effect.gen(function*() {
          // Each replica has its own connections, as separate processes would.
          const caller = shared
            ? yield* Effect.flatMap(
              Layer.buildWithScope(
                RedisCircuitBreakerStore.layer({
                  url: options.redisUrl,
                  keyPrefix,
                  flushInterval: "100 millis",
                  // The demo's records go soon after it ends.
                  idleTtl: "1 minute"
                }),
                scope
              ),
              (context) => Effect.provide(Stacks.resilient(gateway.url), context)
            ).pipe(Effect.catchTag("InvalidOptionsError", Effect.die))
            : yield* Stacks.resilient(gateway.url)
          const ledger = yield* Ledger.embedded(`ledger-fleet-${shared ? "shared" : "unshared"}-${i}`)
          const service = yield* PaymentService.start({
            caller,
            ledger,
            fallbackCapacity: Option.none(),
            healthInterval: 1_000
          })
          return { caller, service }
        })
    )
    yield* gateway.restart
    const seconds = phases.reduce((a, p) => a + p.seconds, 0)
    const samples = yield* Effect.forEach(
      services,
      ({ service }) =>
        Load.run({
          url: service.url,
          ratePerSecond: Math.max(1, Math.round(options.rate / replicas)),
          seconds,
          clientTimeout: "10 seconds"
        }),
      { concurrency: "unbounded" }
    )
    const all = samples.flat()
    const byPhase = gateway.callsByPhase()
    return {
      requests: all.length,
      successRate: all.length === 0 ? 0 : all.filter((s) => s.ok).length / all.length,
      gatewayCalls: Object.values(byPhase).reduce((a, n) => a + n, 0),
      gatewayCallsByPhase: byPhase,
      breakerTransitions: services.reduce((a, { caller }) => a + caller.changes().length, 0)
    }
  })

/**
 * Runs the fleet twice at once (each run against its own gateway on the same script): unshared and shared.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = (
  options: FleetOptions
): Effect.Effect<FleetResult, RedisCircuitBreakerStore.RedisStoreError, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const phases = Gateway.script(options.phaseSeconds)
    const [unshared, shared] = yield* Effect.all(
      [Effect.scoped(runFleet(phases, options, false)), Effect.scoped(runFleet(phases, options, true))],
      { concurrency: "unbounded" }
    )
    const whileFailing = (r: FleetRun) => failing.reduce((a, p) => a + (r.gatewayCallsByPhase[p] ?? 0), 0)
    return {
      replicas: options.replicas ?? 3,
      unshared,
      shared,
      savedCalls: unshared.gatewayCalls - shared.gatewayCalls,
      savedCallsWhileFailing: whileFailing(unshared) - whileFailing(shared)
    }
  })

/**
 * The report's lines for a fleet result.
 *
 * @since 0.1.0
 * @category utils
 */
export const lines = (result: FleetResult): Array<string> => {
  const pct = (n: number) => `${(n * 100).toFixed(0)}%`
  const failingCalls = (r: FleetRun) => failing.reduce((a, p) => a + (r.gatewayCallsByPhase[p] ?? 0), 0)
  return [
    `fleet of ${result.replicas} replicas (--redis), the same load spread over them:`,
    `  breakers on their own:        ${result.unshared.gatewayCalls} gateway calls (${
      failingCalls(result.unshared)
    } while it failed), ${pct(result.unshared.successRate)} paid`,
    `  breakers shared through Redis: ${result.shared.gatewayCalls} gateway calls (${
      failingCalls(result.shared)
    } while it failed), ${pct(result.shared.successRate)} paid`,
    `  sharing saved ${result.savedCallsWhileFailing} gateway calls while the gateway failed (${result.savedCalls} over the whole run)`
  ]
}
