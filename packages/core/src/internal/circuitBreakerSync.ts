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
import type {
  Attachment,
  Connection,
  Member,
  ProbeGate,
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

/** What the sync needs of a breaker's state machine. @internal */
export interface Syncable {
  link: Link | undefined
  takeReport(now: number): Report
  restoreReport(report: Report): void
  applyRemote(snapshot: Snapshot, resync?: boolean, own?: boolean): Effect.Effect<void>
}

/** A `connect` store: two fibers of the breaker's own, in its scope. @internal */
export const connectStore = (
  m: Syncable,
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
    yield* m.applyRemote(connection.initial)
    // Pushed transitions: applied in the order of their versions, stale ones dropped.
    yield* Effect.forkScoped(Stream.runForEach(connection.updates, (snapshot) => m.applyRemote(snapshot)))
    // Reports: woken by the first outcome or transition after a report, then batched for flushInterval; idle, it
    // sleeps on the latch with no timer. The caller's fiber never waits on it.
    const flush = Effect.clockWith((clock) => {
      const report = m.takeReport(clock.unsafeCurrentTimeMillis())
      if (report.successes + report.failures === 0 && report.proposal === undefined) return Effect.void
      return Effect.catchAll(connection.report(report), (error) =>
        Effect.zipRight(
          Effect.sync(() => {
            m.restoreReport(report)
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
  m: Syncable,
  attach: (config: SharedConfig, member: Member) => Attachment,
  config: SharedConfig
): Attachment => {
  // Signalled only by calls, which come after the attachment exists.
  const link = new Link(() => attachment.signal(), () => (attachment.transition ?? attachment.signal)())
  const member: Member = {
    take: (now) => {
      link.signalled = false
      const byProbe = link.byProbe
      const report = m.takeReport(now)
      if (report.successes + report.failures === 0 && report.proposal === undefined) return undefined
      link.byProbe = false
      return { report, byProbe: byProbe && report.proposal !== undefined }
    },
    restore: (report) => m.restoreReport(report),
    version: () => link.confirmed,
    apply: (snapshot, resync, own) => m.applyRemote(snapshot, resync, own)
  }
  const attachment = attach(config, member)
  link.gate = attachment.probes
  m.link = link
  return attachment
}
