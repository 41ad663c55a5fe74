import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import { makeWindow, type Window } from "./circuitBreakerWindow.js"

// The shapes are documented in the public module; re-exported here for the breaker's implementation.
import type { State } from "../CircuitBreaker.js"
import type {
  Attachment,
  Connection,
  Member,
  ProbeGate,
  Proposal,
  Report,
  SharedConfig,
  Snapshot,
  Store
} from "../CircuitBreakerStore.js"

/** @internal */
export type { Attachment, Connection, Member, ProbeGate, Proposal, Report, SharedConfig, Snapshot, State, Store }

/** @internal */
export class CircuitBreakerStoreError extends Data.TaggedError("CircuitBreakerStoreError")<{
  readonly storeName: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `circuit breaker store ${this.storeName}: ${this.reason}`
  }
}

/** @internal */
export class CircuitBreakerStore extends Context.Tag("@effect-resilience/core/CircuitBreakerStore")<
  CircuitBreakerStore,
  Store
>() {}

/** @internal */
export const initialSnapshot: Snapshot = { version: 0, state: "Closed", at: 0, openings: 0 }

/**
 * Decides what a shared record becomes after a report, atomically: first the proposal (a compare-and-set on the
 * version: a proposal made on a stale view is dropped, the replica learns the newer state from the updates), then
 * the outcomes, merged into the shared window while the record is closed. Returns the new snapshot, or the same
 * object when nothing changed. A Redis store implements the same rule in its script.
 *
 * @internal
 */
export const decide = (
  current: Snapshot,
  window: Pick<Window, "record" | "clear">,
  report: Report
): Snapshot => {
  let next = current
  const proposal = report.proposal
  if (
    proposal !== undefined && proposal.baseVersion === current.version &&
    (proposal.state !== current.state || proposal.at !== current.at || proposal.openings !== current.openings)
  ) {
    next = { version: current.version + 1, state: proposal.state, at: proposal.at, openings: proposal.openings }
    if (next.state === "Closed") window.clear()
  }
  const calls = report.successes + report.failures
  if (next.state === "Closed" && calls > 0) {
    if (window.record(report.failures, report.slowCalls, calls, report.at)) {
      window.clear()
      next = { version: next.version + 1, state: "Open", at: report.at, openings: 1 }
    }
  }
  return next
}

interface MemoryRecord {
  snapshot: Snapshot
  readonly window: Window
  readonly pubsub: PubSub.PubSub<Snapshot>
}

/** @internal */
export const makeMemory: Effect.Effect<Store> = Effect.map(
  Ref.make(new Map<string, MemoryRecord>()),
  (ref): Store => {
    const recordFor = (config: SharedConfig) =>
      Effect.flatMap(Ref.get(ref), (records) => {
        const found = records.get(config.name)
        if (found !== undefined) return Effect.succeed(found)
        return Effect.map(PubSub.sliding<Snapshot>(16), (pubsub) => {
          // Re-read: another fiber may have created it meanwhile.
          const again = records.get(config.name)
          if (again !== undefined) return again
          const created: MemoryRecord = {
            snapshot: initialSnapshot,
            window: makeWindow(config.strategy, config.slowCallRate),
            pubsub
          }
          records.set(config.name, created)
          return created
        })
      })
    return {
      storeName: "memory",
      flushInterval: Duration.zero,
      connect: (config) =>
        Effect.flatMap(
          recordFor(config),
          (record) =>
            Effect.map(PubSub.subscribe(record.pubsub), (subscription): Connection => ({
              initial: record.snapshot,
              report: (report) =>
                Effect.suspend(() => {
                  const next = decide(record.snapshot, record.window, report)
                  if (next === record.snapshot) return Effect.void
                  record.snapshot = next
                  return PubSub.publish(record.pubsub, next)
                }),
              updates: Stream.fromQueue(subscription)
            }))
        )
    }
  }
)

/** @internal */
export const layerMemory: Layer.Layer<CircuitBreakerStore> = Layer.effect(CircuitBreakerStore, makeMemory)
