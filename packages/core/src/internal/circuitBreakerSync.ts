/**
 * A breaker's sync with a `CircuitBreakerStore`: what it saw since its last report (the `Link`), and the two ways
 * of reaching a store. With `connect`, the breaker runs two fibers of its own (reports and pushed decisions); with
 * `attach` (a store that drives the sync, such as Redis), the store's one fiber does both for every breaker and
 * every key, and the breaker owns no fiber and no timer.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as ResilienceMetrics from "../ResilienceMetrics.js"
import { drain, type Machine } from "./circuitBreakerMachine.js"
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
} from "./circuitBreakerStore.js"

/** The link to a store: what this replica saw since its last report. @internal */
export class Link {
  successes = 0
  failures = 0
  slowCalls = 0
  /** A local transition the store has not been told about. */
  proposal = false
  /** The pending transition was made by a half-open probe. */
  byProbe = false
  /** The newest store version applied here. */
  confirmed = 0
  signalled = false
  /** Fleet-wide probe admission, when the store grants probe leases. */
  gate: ProbeGate | undefined = undefined
  constructor(readonly wake: () => void, readonly urgent: () => void = wake) {}

  /** Something to report (an outcome): the store hears of it once per flush. */
  signal(): void {
    if (!this.signalled) {
      this.signalled = true
      this.wake()
    }
  }

  /** A local transition: a store that batches may send it at once instead of at the end of the interval. */
  transition(): void {
    this.signalled = true
    this.urgent()
  }
}

// --- what a replica tells the store, and applies from it ------------------------

/** What the breaker saw since its last report, taken (the link starts counting over). @internal */
export const takeReport = (m: Machine, now: number): Report => {
  const link = m.link!
  let proposal: Proposal | undefined
  if (link.proposal) {
    // Half-open is derived from time on every replica: what is proposed is the opening.
    proposal = m.state === "HalfOpen"
      ? {
        baseVersion: link.confirmed,
        state: "Open",
        at: m.openUntil - m.openDelay(m.openings),
        openings: m.openings
      }
      : { baseVersion: link.confirmed, state: m.state, at: m.since, openings: m.openings }
  }
  const report: Report = {
    at: now,
    successes: link.successes,
    failures: link.failures,
    slowCalls: link.slowCalls,
    proposal
  }
  link.successes = 0
  link.failures = 0
  link.slowCalls = 0
  link.proposal = false
  return report
}

/** Gives back a report the store did not take, for the next one. @internal */
export const restoreReport = (m: Machine, report: Report): void => {
  const link = m.link!
  link.successes += report.successes
  link.failures += report.failures
  link.slowCalls += report.slowCalls
  if (report.proposal !== undefined) link.proposal = true
}

/**
 * Applies a snapshot pushed by the store: only a newer version than any applied counts, or with `resync` the
 * store's current state at the same version (the store dropped this replica's proposal). With `own` (the store
 * accepted this replica's proposal) and a newer local transition pending, the version is taken as the base of
 * that transition's proposal and the local state is kept: the store's answer to an older step must not undo it.
 *
 * @internal
 */
export const applyRemote = (m: Machine, snapshot: Snapshot, resync = false, own = false): Effect.Effect<void> => {
  const link = m.link!
  if (resync ? snapshot.version < link.confirmed : snapshot.version <= link.confirmed) return Effect.void
  if (own && link.proposal) {
    link.confirmed = snapshot.version
    return Effect.void
  }
  return Effect.flatMap(
    snapshot.state === "Open" ? m.ensureDelay(snapshot.openings, snapshot.at) : Effect.void,
    () =>
      Effect.suspend(() => {
        if (resync ? snapshot.version < link.confirmed : snapshot.version <= link.confirmed) return Effect.void
        link.confirmed = snapshot.version
        link.proposal = false
        switch (snapshot.state) {
          case "Closed":
            if (m.state !== "Closed") m.close(snapshot.at, true)
            break
          case "Open":
            if (m.state === "Open" || m.state === "HalfOpen") {
              const openedAt = m.openUntil - m.openDelay(m.openings)
              if (openedAt !== snapshot.at || m.openings !== snapshot.openings) {
                if (m.state === "HalfOpen") m.open(snapshot.at, snapshot.openings, true)
                else {
                  m.openings = snapshot.openings
                  m.openUntil = snapshot.at + m.openDelay(snapshot.openings)
                }
              }
            } else {
              m.open(snapshot.at, snapshot.openings, true)
            }
            break
          case "HalfOpen":
            if (m.state !== "HalfOpen") {
              m.openings = Math.max(1, snapshot.openings)
              m.change(m.state, "HalfOpen", snapshot.at, true)
            }
            break
          case "Isolated":
            if (m.state !== "Isolated") m.isolate(snapshot.at, true)
            break
        }
        return drain(m)
      })
  )
}

// --- the two ways of reaching a store -------------------------------------------

/** A `connect` store: two fibers of the breaker's own, in its scope. @internal */
export const connectStore = (
  m: Machine,
  store: Store,
  config: SharedConfig
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const connection: Connection = yield* store.connect(config)
    const latch = yield* Effect.makeLatch(false)
    const link = new Link(() => latch.unsafeOpen())
    m.link = link
    const errors = Metric.tagged(ResilienceMetrics.storeErrorsTotal, "store", store.storeName)
    const flushMillis = Duration.toMillis(store.flushInterval)
    yield* applyRemote(m, connection.initial)
    // Pushed transitions: applied in the order of their versions, stale ones dropped.
    yield* Effect.forkScoped(Stream.runForEach(connection.updates, (snapshot) => applyRemote(m, snapshot)))
    // Reports: woken by the first outcome or transition after a report, then batched for flushInterval; idle, it
    // sleeps on the latch with no timer. The caller's fiber never waits on it.
    const flush = Effect.clockWith((clock) => {
      const report = takeReport(m, clock.unsafeCurrentTimeMillis())
      if (report.successes + report.failures === 0 && report.proposal === undefined) return Effect.void
      return Effect.catchAll(connection.report(report), (error) =>
        Effect.zipRight(
          Effect.sync(() => {
            restoreReport(m, report)
            errors.unsafeUpdate(1, [])
          }),
          Effect.logDebug("circuit breaker store report failed", error)
        ))
    })
    yield* Effect.forkScoped(Effect.forever(
      Effect.gen(function*() {
        yield* latch.await
        latch.unsafeClose()
        if (flushMillis > 0) yield* Effect.sleep(flushMillis)
        else yield* Effect.yieldNow()
        link.signalled = false
        yield* flush
      })
    ))
  })

/**
 * An `attach` store: synchronous, no fiber; the store's flush takes the reports and applies the decisions.
 * Returns the attachment (its `detach` ends the tie).
 *
 * @internal
 */
export const attachStore = (
  m: Machine,
  attach: (config: SharedConfig, member: Member) => Attachment,
  config: SharedConfig
): Attachment => {
  // Signalled only by calls, which come after the attachment exists.
  const link = new Link(() => attachment.signal(), () => (attachment.transition ?? attachment.signal)())
  const member: Member = {
    take: (now) => {
      link.signalled = false
      const byProbe = link.byProbe
      const report = takeReport(m, now)
      if (report.successes + report.failures === 0 && report.proposal === undefined) return undefined
      link.byProbe = false
      return { report, byProbe: byProbe && report.proposal !== undefined }
    },
    restore: (report) => restoreReport(m, report),
    version: () => link.confirmed,
    apply: (snapshot, resync, own) => applyRemote(m, snapshot, resync, own)
  }
  const attachment = attach(config, member)
  link.gate = attachment.probes
  m.link = link
  return attachment
}
