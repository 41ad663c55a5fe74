/**
 * The Redis `CircuitBreakerStore`: every breaker and key of a process attaches to one store; one fiber flushes
 * their batched reports in one EVALSHA per interval (the script decides atomically and publishes the changes), and
 * one fiber applies the published decisions. The caller's fiber only bumps local counters.
 *
 * @internal
 */
import * as CircuitBreakerStore from "@effect-resilience/core/CircuitBreakerStore"
import * as ResilienceMetrics from "@effect-resilience/core/ResilienceMetrics"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Queue from "effect/Queue"
import * as Random from "effect/Random"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Redis } from "ioredis"
import { createHash } from "node:crypto"
import { scrub } from "./connection.js"
import { decideScript } from "./script.js"

type State = CircuitBreakerStore.Snapshot["state"]

const stateCode = (state: State): number => state === "Closed" ? 0 : state === "Open" ? 1 : state === "HalfOpen" ? 2 : 3

const stateOf = (code: number): State =>
  code === 0 ? "Closed" : code === 1 ? "Open" : code === 2 ? "HalfOpen" : "Isolated"

/** The script's config of a strategy (plain JSON; `slow` -1 when slow calls are not tracked). @internal */
export const scriptConfig = (config: CircuitBreakerStore.SharedConfig) => {
  const s = config.strategy
  const slow = Number.isFinite(config.slowCallRate) ? config.slowCallRate : -1
  const probes = config.maxProbes ?? 1
  switch (s._tag) {
    case "Consecutive":
      return { t: "C", threshold: s.threshold, slow, probes }
    case "CountWindow":
      return { t: "N", size: s.size, rate: s.failureRate, min: s.minimumCalls, slow, probes }
    case "TimeWindow":
      return {
        t: "T",
        duration: s.durationMillis,
        buckets: s.buckets,
        rate: s.failureRate,
        min: s.minimumCalls,
        slow,
        probes
      }
  }
}

/** The script's form of a report, times moved by `offset` (Redis's clock minus ours). @internal */
export const scriptReport = (report: CircuitBreakerStore.Report, offset: number) => {
  const p = report.proposal
  return {
    at: Math.round(report.at + offset),
    s: report.successes,
    f: report.failures,
    w: report.slowCalls,
    ...(p === undefined ? {} : {
      p: { b: p.baseVersion, st: stateCode(p.state), at: Math.round(p.at + offset), o: p.openings }
    })
  }
}

/** The script's per-entry answer. @internal */
export interface EntryResult {
  readonly snapshot: CircuitBreakerStore.Snapshot
  readonly dropped: boolean
  readonly granted: number
  readonly leaseUntil: number
}

/** Reads the script's answer: Redis's time, then seven numbers per entry. @internal */
export const readResults = (reply: ReadonlyArray<number>, count: number) => {
  const results: Array<EntryResult> = []
  for (let i = 0; i < count; i++) {
    const at = 1 + 7 * i
    results.push({
      snapshot: { version: reply[at]!, state: stateOf(reply[at + 1]!), at: reply[at + 2]!, openings: reply[at + 3]! },
      dropped: reply[at + 4] === 1,
      granted: reply[at + 5]!,
      leaseUntil: reply[at + 6]!
    })
  }
  return { redisNow: reply[0]!, results }
}

/** SHA1 of the script, for EVALSHA. @internal */
export const scriptSha = createHash("sha1").update(decideScript).digest("hex")

/** Runs the script: EVALSHA, and on NOSCRIPT (a restarted or flushed Redis) loads it and tries once more. @internal */
export const evalDecide = async (client: Redis, keys: ReadonlyArray<string>, arg: string): Promise<Array<number>> => {
  try {
    return await client.evalsha(scriptSha, keys.length, ...keys, arg) as Array<number>
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error
    await client.script("LOAD", decideScript)
    return await client.evalsha(scriptSha, keys.length, ...keys, arg) as Array<number>
  }
}

/** A record id longer than this stays local (bounded keys and payloads). @internal */
export const maxIdLength = 512
/** Entries per EVALSHA (bounded scripts and replies); more are sent in further calls of the same flush. */
const maxEntries = 256
/** Published decisions waiting to be applied; beyond it they are dropped and every record re-synced. */
const inboxCapacity = 4096

interface MemberState {
  readonly member: CircuitBreakerStore.Member
  readonly record: RecordState
  /** The shared state has not been read since it attached (or since a reconnect). */
  needsSync: boolean
  /** Probe slots wanted at the next flush (0: none). */
  wantsLease: number
  readonly token: string
  granted: number
  /** Local Clock millis. */
  leaseUntil: number
  /** A report of it is on its way: published decisions wait for the answer (which has the newest state). */
  inFlight: boolean
  /** The newest published decision that arrived while a report was on its way. */
  deferred: CircuitBreakerStore.Snapshot | undefined
  /** A probe's verdict could not be delivered: the report given back still carries it. */
  probePending: boolean
}

interface RecordState {
  readonly id: string
  readonly key: string
  readonly config: ReturnType<typeof scriptConfig>
  readonly members: Set<MemberState>
}

/** @internal */
export interface StoreOptions {
  readonly client: Redis
  readonly subscriber: Redis
  readonly keyPrefix: string
  readonly flushInterval: Duration.Duration
  readonly idleTtl: Duration.Duration
  readonly leaseTtl: Duration.Duration
  readonly password: string | undefined
  /** How long one flush may take before it counts as failed. */
  readonly timeout: Duration.Duration
}

/** A record's id: the breaker's name, and the key for a key of a keyed breaker. */
const recordId = (config: CircuitBreakerStore.SharedConfig): string =>
  config.key === undefined ? config.name : `${config.name}\u0000${config.key}`

/** @internal */
export const make = (options: StoreOptions): Effect.Effect<CircuitBreakerStore.Store, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { client, keyPrefix, subscriber } = options
    const channel = `${keyPrefix}:cb:decisions`
    const ttlMillis = Math.max(1, Math.round(Duration.toMillis(options.idleTtl)))
    const leaseTtlMillis = Math.max(1, Math.round(Duration.toMillis(options.leaseTtl)))
    const errors = Metric.tagged(ResilienceMetrics.storeErrorsTotal, "store", "redis")
    const records = new Map<string, RecordState>()
    const soon = yield* Effect.makeLatch(false)
    const dirty = new Set<MemberState>()
    let tokens = 0
    const instance = `${process.pid.toString(36)}.${(yield* Random.nextInt).toString(36)}`
    /** Whether Redis answered the last flush: when not, probes are admitted locally. */
    let coordinated = true
    let resyncAll = false
    /** Redis's clock minus ours, in millis (from the last flush's TIME). */
    let offset = 0
    const clock = yield* Effect.clock
    {
      const t0 = clock.unsafeCurrentTimeMillis()
      const time = yield* Effect.promise(() => client.time().then((t) => t, () => undefined))
      const t1 = clock.unsafeCurrentTimeMillis()
      if (time !== undefined) offset = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000) - (t0 + t1) / 2
    }

    const attach = (
      config: CircuitBreakerStore.SharedConfig,
      member: CircuitBreakerStore.Member
    ): CircuitBreakerStore.Attachment => {
      const id = recordId(config)
      if (id.length > maxIdLength) return { signal: () => {}, probes: undefined, detach: () => {} }
      let record = records.get(id)
      if (record === undefined) {
        record = {
          id,
          key: `${keyPrefix}:cb:${id}`,
          config: scriptConfig(config),
          members: new Set()
        }
        records.set(id, record)
      }
      const state: MemberState = {
        member,
        record,
        needsSync: true,
        wantsLease: 0,
        token: `${instance}:${++tokens}`,
        granted: 0,
        leaseUntil: 0,
        inFlight: false,
        deferred: undefined,
        probePending: false
      }
      record.members.add(state)
      dirty.add(state)
      return {
        signal: () => {
          dirty.add(state)
        },
        transition: () => {
          dirty.add(state)
          soon.unsafeOpen()
        },
        probes: {
          admits: (running, now) => {
            if (!coordinated) return true
            if (state.granted > running && now < state.leaseUntil) return true
            // One more slot than it runs: the fleet's slots spread over the replicas that ask.
            if (state.wantsLease < running + 1) {
              state.wantsLease = running + 1
              dirty.add(state)
              soon.unsafeOpen()
            }
            return false
          }
        },
        detach: () => {
          const r = state.record
          r.members.delete(state)
          dirty.delete(state)
          if (r.members.size === 0 && records.get(r.id) === r) records.delete(r.id)
        }
      }
    }

    let wasDown = false
    const markDown = (error: unknown) =>
      Effect.suspend(() => {
        errors.unsafeUpdate(1, [])
        coordinated = false
        if (wasDown) return Effect.void
        wasDown = true
        const message = scrub(error instanceof Error ? error.message : String(error), options.password)
        return Effect.logWarning(`redis circuit breaker store unreachable, breakers go on with local state: ${message}`)
      })
    const markUp = Effect.suspend(() => {
      coordinated = true
      if (!wasDown) return Effect.void
      wasDown = false
      resyncAll = true
      return Effect.logInfo("redis circuit breaker store reachable again, re-syncing breakers")
    })

    const clearLease = (s: MemberState) => {
      s.granted = 0
      s.leaseUntil = 0
    }

    /** A published decision kept while the member's report was on its way, applied if still newer. */
    const applyDeferred = (s: MemberState): Effect.Effect<void> => {
      const deferred = s.deferred
      s.deferred = undefined
      if (deferred === undefined || deferred.version <= s.member.version()) return Effect.void
      clearLease(s)
      return s.member.apply(deferred, false)
    }

    const applyResult = (s: MemberState, result: EntryResult, proposed: boolean): Effect.Effect<void> => {
      const snapshot: CircuitBreakerStore.Snapshot = {
        ...result.snapshot,
        at: Math.round(result.snapshot.at - offset)
      }
      if (result.granted > 0) {
        s.granted = result.granted
        s.leaseUntil = result.leaseUntil - offset
      }
      const newer = snapshot.version > s.member.version()
      if (newer) { for (const other of s.record.members) if (other !== s) clearLease(other) }
      if (newer || result.dropped) {
        if (result.granted === 0) clearLease(s)
        // Its own proposal accepted: a transition it made since is kept and proposed on top.
        return s.member.apply(snapshot, result.dropped, proposed && !result.dropped)
      }
      return Effect.void
    }

    interface Sent {
      readonly state: MemberState
      readonly report: CircuitBreakerStore.Report | undefined
    }

    const flushChunk = (chunk: ReadonlyArray<MemberState>, now: number): Effect.Effect<void> =>
      Effect.suspend(() => {
        const keys: Array<string> = []
        const keyIndex = new Map<string, number>()
        const configs: Array<unknown> = []
        const configIndex = new Map<RecordState, number>()
        const entries: Array<unknown> = []
        const sent: Array<Sent> = []
        for (const s of chunk) {
          const record = s.record
          let k = keyIndex.get(record.key)
          if (k === undefined) {
            keys.push(record.key)
            k = keys.length
            keyIndex.set(record.key, k)
          }
          let c = configIndex.get(record)
          if (c === undefined) {
            configs.push(record.config)
            c = configs.length
            configIndex.set(record, c)
          }
          const taken = s.member.take(now)
          const byProbe = taken !== undefined && taken.report.proposal !== undefined &&
            (taken.byProbe || s.probePending)
          s.probePending = byProbe
          const want = Math.min(s.wantsLease, record.config.probes)
          s.wantsLease = 0
          entries.push({
            k,
            id: record.id,
            c,
            hint: s.member.version(),
            // A probe admitted under a lease is judged by it; one admitted locally while Redis was away is not.
            ...(taken === undefined ? {} : {
              r: scriptReport(taken.report, offset),
              probe: byProbe && s.granted > 0 ? 1 : 0
            }),
            tok: s.token,
            ...(want > 0 ? { want, od: 0 } : {})
          })
          sent.push({ state: s, report: taken?.report })
          s.inFlight = true
        }
        const arg = JSON.stringify({ ttl: ttlMillis, leaseTtl: leaseTtlMillis, channel, configs, entries })
        const t0 = clock.unsafeCurrentTimeMillis()
        return Effect.tryPromise(() => evalDecide(client, keys, arg)).pipe(
          Effect.timeout(options.timeout),
          Effect.matchEffect({
            onFailure: (error) =>
              Effect.zipRight(
                Effect.sync(() => {
                  for (const { report, state } of sent) {
                    state.inFlight = false
                    if (report !== undefined) state.member.restore(report)
                    if (state.record.members.has(state)) dirty.add(state)
                  }
                }),
                Effect.zipRight(
                  markDown(error._tag === "UnknownException" ? error.error : error),
                  Effect.forEach(sent, ({ state }) => applyDeferred(state), { discard: true })
                )
              ),
            onSuccess: (reply) => {
              const t1 = clock.unsafeCurrentTimeMillis()
              const { redisNow, results } = readResults(reply, sent.length)
              offset = redisNow - (t0 + t1) / 2
              return Effect.zipRight(
                markUp,
                Effect.forEach(sent, ({ report, state }, i) => {
                  state.needsSync = false
                  state.inFlight = false
                  state.probePending = false
                  return Effect.zipRight(
                    applyResult(state, results[i]!, report?.proposal !== undefined),
                    applyDeferred(state)
                  )
                }, { discard: true })
              )
            }
          })
        )
      })

    const flush: Effect.Effect<void> = Effect.suspend(() => {
      if (resyncAll) {
        resyncAll = false
        for (const record of records.values()) {
          for (const s of record.members) {
            s.needsSync = true
            dirty.add(s)
          }
        }
      }
      if (dirty.size === 0) return Effect.void
      const now = clock.unsafeCurrentTimeMillis()
      const all = Array.from(dirty)
      dirty.clear()
      const chunks: Array<Array<MemberState>> = []
      for (let i = 0; i < all.length; i += maxEntries) chunks.push(all.slice(i, i + maxEntries))
      return Effect.forEach(chunks, (chunk) => flushChunk(chunk, now), { discard: true, concurrency: "unbounded" })
    })

    // Published decisions: parsed in the message handler (no Effect there), applied by one fiber in arrival order;
    // each member applies only versions newer than its own.
    const inbox = yield* Queue.dropping<ReadonlyArray<unknown>>(inboxCapacity)
    const onMessage = (ch: string, message: string) => {
      if (ch !== channel) return
      try {
        const parsed: unknown = JSON.parse(message)
        if (Array.isArray(parsed) && parsed.length === 5 && !inbox.unsafeOffer(parsed)) resyncAll = true
      } catch {
        // Not ours: ignore.
      }
    }
    subscriber.on("message", onMessage)
    // A subscription lost while Redis was away: ioredis renews it on reconnect; what was published meanwhile is
    // read back by a full re-sync.
    const onReady = () => {
      resyncAll = true
    }
    subscriber.on("ready", onReady)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        subscriber.off("message", onMessage)
        subscriber.off("ready", onReady)
      })
    )
    yield* Effect.tryPromise(() => subscriber.subscribe(channel)).pipe(Effect.catchAll(markDown))

    yield* Stream.fromQueue(inbox).pipe(
      Stream.runForEach((message) =>
        Effect.suspend(() => {
          const [id, version, state, at, openings] = message as [string, number, number, number, number]
          const record = records.get(id)
          if (record === undefined) return Effect.void
          const snapshot: CircuitBreakerStore.Snapshot = {
            version,
            state: stateOf(state),
            at: Math.round(at - offset),
            openings
          }
          return Effect.forEach(record.members, (s) => {
            if (version <= s.member.version()) return Effect.void
            if (s.inFlight) {
              if (s.deferred === undefined || s.deferred.version < version) s.deferred = snapshot
              return Effect.void
            }
            clearLease(s)
            return s.member.apply(snapshot, false)
          }, { discard: true })
        })
      ),
      Effect.forkScoped
    )

    // Every interval; a transition (rare) is sent at once, at most one early flush per `minGapMillis`.
    const flushMillis = Math.max(1, Duration.toMillis(options.flushInterval))
    const minGapMillis = Math.min(flushMillis, 5)
    let lastFlush = 0
    yield* Effect.forkScoped(Effect.forever(
      Effect.raceFirst(Effect.sleep(flushMillis), soon.await).pipe(
        Effect.zipRight(Effect.suspend(() => {
          soon.unsafeClose()
          const gap = lastFlush + minGapMillis - clock.unsafeCurrentTimeMillis()
          return gap > 0 ? Effect.sleep(gap) : Effect.void
        })),
        Effect.zipRight(Effect.suspend(() => {
          lastFlush = clock.unsafeCurrentTimeMillis()
          return flush
        }))
      )
    ))

    const store: CircuitBreakerStore.Store = {
      storeName: "redis",
      flushInterval: options.flushInterval,
      connect: () => Effect.dieMessage("the redis store is used through attach"),
      attach
    }
    return store
  })
