import type { InvalidOptionsError } from "@effect-resilience/core/InvalidOptionsError"
import { validated, validatedSync } from "@effect-resilience/core/OptionsValidator"
import * as ResilienceMetrics from "@effect-resilience/core/ResilienceMetrics"
import * as ResilienceRegistry from "@effect-resilience/core/ResilienceRegistry"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { monitorEventLoopDelay } from "node:perf_hooks"
import type * as Api from "../Health.js"
import { describeCause } from "./errorSummary.js"
import { optionalArray, optionalBoolean, optionalObject, optionsObject } from "./options.js"

/** @internal */
export const CheckTypeId: Api.CheckTypeId = Symbol.for("@effect-resilience/platform/Health/Check") as Api.CheckTypeId

/** @internal */
export const tag = Context.GenericTag<Api.Health, Api.HealthService>("@effect-resilience/platform/Health")

const DEFAULT_TIMEOUT = Duration.seconds(2)

/** @internal */
export const check = <R>(options: Api.Health.CheckOptions<R>): Api.Check<R> =>
  validatedSync("Health.check", (v) => {
    if (optionsObject(v, options) === undefined) v.fail("options", options, "an options object")
    return {
      [CheckTypeId]: CheckTypeId,
      name: v.nonEmpty("name", options.name),
      check: Effect.isEffect(options.check) ? options.check : v.fail("check", options.check, "an Effect"),
      critical: optionalBoolean(v, "critical", options.critical, true),
      timeout: options.timeout === undefined
        ? DEFAULT_TIMEOUT
        : v.duration("timeout", options.timeout, { positive: true, finite: true })
    }
  })

/** @internal */
export const isCheck = (u: unknown): u is Api.Check<unknown> => typeof u === "object" && u !== null && CheckTypeId in u

/** The event-loop delay was above the limit. */
class EventLoopDelayError extends Data.TaggedError("EventLoopDelay")<{
  readonly p99Millis: number
  readonly maxMillis: number
}> {
  override get message(): string {
    return `p99 ${this.p99Millis.toFixed(1)} ms > ${this.maxMillis} ms`
  }
}

/** A check returned `false`. */
class CheckFailed extends Data.TaggedError("CheckFailed")<{}> {
  override get message(): string {
    return "returned false"
  }
}

interface Runnable {
  readonly name: string
  readonly critical: boolean
  readonly timeout: Duration.Duration
  readonly run: Effect.Effect<unknown, unknown>
  readonly gauge: Metric.Metric.Gauge<number>
}

const statusOf = (checks: Readonly<Record<string, Api.CheckResult>>): Api.Status => {
  let criticalFailed = false
  let optionalFailed = false
  for (const name in checks) {
    const result = checks[name]!
    if (!result.ok) {
      if (result.critical) criticalFailed = true
      else optionalFailed = true
    }
  }
  return criticalFailed ? "unhealthy" : optionalFailed ? "degraded" : "healthy"
}

/** @internal */
export const make = <R>(
  options: Api.Health.Options<R> = {}
): Effect.Effect<Api.HealthService, InvalidOptionsError, R | Scope.Scope> =>
  Effect.gen(function*() {
    const config = yield* validated("Health.layer", (v) => {
      optionsObject(v, options)
      const names = new Set<string>()
      optionalArray(v, "checks", options.checks, "an array of Health.check(...)", (field, c) => {
        if (!isCheck(c)) v.fail(field, c, "a Health.check(...)")
        if (names.has(c.name)) v.fail("checks", c.name, "unique check names")
        names.add(c.name)
      })
      const critical = optionalArray(v, "critical", options.critical, "an array of registry names", (field, name) => {
        if (typeof name !== "string") v.fail(field, name, "a registry name (string)")
      })
      const eventLoop = options.eventLoop === false
        ? undefined
        : optionalObject(v, "eventLoop", options.eventLoop) ?? {}
      return {
        interval: options.interval === undefined
          ? Duration.seconds(10)
          : v.duration("interval", options.interval, { positive: true, finite: true }),
        registryTimeout: options.registryTimeout === undefined
          ? DEFAULT_TIMEOUT
          : v.duration("registryTimeout", options.registryTimeout, { positive: true, finite: true }),
        critical: new Set(critical ?? []),
        eventLoop: eventLoop === undefined ? undefined : {
          maxDelay: eventLoop.maxDelay === undefined
            ? Duration.millis(500)
            : v.duration("eventLoop.maxDelay", eventLoop.maxDelay, { positive: true, finite: true }),
          critical: optionalBoolean(v, "eventLoop.critical", eventLoop.critical, false),
          resolutionMillis: eventLoop.resolutionMillis === undefined
            ? 20
            : v.int("eventLoop.resolutionMillis", eventLoop.resolutionMillis, 1, 10_000)
        }
      }
    })
    const context = yield* Effect.context<R>()
    const registry = yield* Effect.serviceOption(ResilienceRegistry.ResilienceRegistry)

    // the run of each check that is still going, by check name: a check is never started while its previous run
    // goes on (a check that ignores interruption would otherwise leave one fiber behind per round)
    const running = new Map<string, { readonly fiber: Fiber.RuntimeFiber<unknown, unknown>; readonly since: number }>()
    // the runs are daemons, not children of the scope: closing it must not wait on a check that ignores interruption
    yield* Effect.addFinalizer(() =>
      Effect.withFiberRuntime<void>((self) => {
        for (const { fiber } of running.values()) fiber.unsafeInterruptAsFork(self.id())
        return Effect.void
      })
    )

    const runOne = (runnable: Runnable): Effect.Effect<Api.CheckResult> =>
      Effect.gen(function*() {
        const start = yield* Clock.currentTimeMillis
        const base = { critical: runnable.critical, checkedAt: start }
        const previous = running.get(runnable.name)
        if (previous !== undefined) {
          runnable.gauge.unsafeUpdate(0, [])
          const millis = start - previous.since
          return {
            ok: false,
            ...base,
            latencyMillis: millis,
            error: `still running after ${millis} ms (timed out after ${Duration.toMillis(runnable.timeout)} ms)`
          }
        }
        const fiber = yield* runnable.run.pipe(
          Effect.flatMap((value) => value === false ? Effect.fail(new CheckFailed()) : Effect.void),
          Effect.forkDaemon
        )
        running.set(runnable.name, { fiber, since: start })
        fiber.addObserver(() => {
          if (running.get(runnable.name)?.fiber === fiber) running.delete(runnable.name)
        })
        const exit = yield* Fiber.await(fiber).pipe(
          Effect.timeout(runnable.timeout),
          Effect.catchAll(() =>
            // cut loose at its timeout: asked to stop, not waited for, and not started again until it ends
            Effect.withFiberRuntime<Exit.Exit<void, unknown>>((self) => {
              fiber.unsafeInterruptAsFork(self.id())
              return Effect.succeed(Exit.fail(`timed out after ${Duration.toMillis(runnable.timeout)} ms`))
            })
          ),
          Effect.onInterrupt(() => Effect.sync(() => fiber.unsafeInterruptAsFork(FiberId.none)))
        )
        const end = yield* Clock.currentTimeMillis
        if (Exit.isSuccess(exit)) {
          runnable.gauge.unsafeUpdate(1, [])
          return { ok: true, ...base, latencyMillis: end - start }
        }
        runnable.gauge.unsafeUpdate(0, [])
        return { ok: false, ...base, latencyMillis: end - start, error: describeCause(exit.cause) }
      })

    const gauges = new Map<string, Metric.Metric.Gauge<number>>()
    const gaugeFor = (name: string) => {
      let gauge = gauges.get(name)
      if (gauge === undefined) {
        gauge = Metric.tagged(ResilienceMetrics.healthCheckStatus, "name", name)
        gauges.set(name, gauge)
      }
      return gauge
    }

    const fixed: Array<Runnable> = (options.checks ?? []).map((c) => ({
      name: c.name,
      critical: c.critical,
      timeout: c.timeout,
      run: Effect.provide(c.check, context),
      gauge: gaugeFor(c.name)
    }))

    if (config.eventLoop !== undefined) {
      const { critical, maxDelay, resolutionMillis } = config.eventLoop
      const histogram = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const h = monitorEventLoopDelay({ resolution: resolutionMillis })
          h.enable()
          return h
        }),
        (h) => Effect.sync(() => h.disable())
      )
      const maxMillis = Duration.toMillis(maxDelay)
      const name = fixed.some((c) => c.name === "event_loop") ? "nodejs:event_loop" : "event_loop"
      fixed.push({
        name,
        critical,
        timeout: DEFAULT_TIMEOUT,
        gauge: gaugeFor(name),
        run: Effect.suspend(() => {
          // percentiles are in nanoseconds; an empty histogram (no sample yet) reads as no delay
          const p99Millis = histogram.count === 0 ? 0 : histogram.percentile(99) / 1e6
          histogram.reset()
          ResilienceMetrics.eventLoopDelaySeconds.unsafeUpdate(p99Millis / 1000, [])
          return p99Millis > maxMillis ? Effect.fail(new EventLoopDelayError({ p99Millis, maxMillis })) : Effect.void
        })
      })
    }

    const registryRunnables: Effect.Effect<ReadonlyArray<Runnable>> = Option.match(registry, {
      onNone: () => Effect.succeed([]),
      onSome: (r) =>
        Effect.map(r.entries, (entries) => {
          const out: Array<Runnable> = []
          const taken = new Set(fixed.map((c) => c.name))
          for (const entry of entries) {
            if (entry.kind !== "circuit_breaker" && entry.kind !== "pool") continue
            const name = taken.has(entry.name) ? `${entry.kind}:${entry.name}` : entry.name
            taken.add(name)
            out.push({
              name,
              critical: config.critical.has(entry.name),
              timeout: config.registryTimeout,
              gauge: gaugeFor(name),
              run: Effect.flatMap(
                entry.status,
                (s) => s.healthy ? Effect.void : Effect.fail(`${entry.kind} ${entry.name} is ${s.state}`)
              )
            })
          }
          return out
        })
    })

    const startedAt = yield* Clock.currentTimeMillis
    const pending: Record<string, Api.CheckResult> = {}
    for (const c of fixed) {
      pending[c.name] = { ok: false, critical: c.critical, latencyMillis: 0, checkedAt: startedAt, error: "pending" }
    }
    let report: Api.HealthReport = { status: statusOf(pending), draining: false, checks: pending }
    let draining = false

    const logCheck = (name: string, before: Api.CheckResult | undefined, now: Api.CheckResult) => {
      const wasPending = before === undefined || before.error === "pending"
      if (now.ok && !wasPending && !before.ok) {
        return Effect.logInfo(`health check ${name} passes again`).pipe(Effect.annotateLogs({ check: name }))
      }
      if (!now.ok && (wasPending || before.ok)) {
        return Effect.logWarning(`health check ${name} fails: ${now.error}`).pipe(
          Effect.annotateLogs({ check: name, critical: now.critical })
        )
      }
      return Effect.void
    }

    const publish = (checks: Readonly<Record<string, Api.CheckResult>>) => {
      const previous = report.status
      report = { status: statusOf(checks), draining, checks }
      if (previous === report.status) return Effect.void
      const log = report.status === "healthy" ? Effect.logInfo : Effect.logWarning
      return log(`health ${previous} -> ${report.status}`)
    }

    // each result is published as soon as its check ends, so a slow check delays no other
    const record = (name: string, result: Api.CheckResult) =>
      Effect.suspend(() => {
        const before = report.checks[name]
        return Effect.zipRight(logCheck(name, before, result), publish({ ...report.checks, [name]: result }))
      })

    const round: Effect.Effect<Api.HealthReport> = Effect.gen(function*() {
      const runnables = [...fixed, ...(yield* registryRunnables)]
      // entries that left the registry leave the report; new ones read as pending until they have run
      const checks: Record<string, Api.CheckResult> = {}
      const now = yield* Clock.currentTimeMillis
      for (const r of runnables) {
        checks[r.name] = report.checks[r.name] ??
          { ok: false, critical: r.critical, latencyMillis: 0, checkedAt: now, error: "pending" }
      }
      yield* publish(checks)
      yield* Effect.forEach(runnables, (r) => Effect.flatMap(runOne(r), (result) => record(r.name, result)), {
        concurrency: "unbounded",
        discard: true
      })
      return report
    })

    // one round at a time: the background fiber and `refresh` share a permit
    const lock = yield* Effect.makeSemaphore(1)
    const locked = lock.withPermits(1)(round)

    yield* locked.pipe(
      Effect.repeat(Schedule.spaced(config.interval)),
      Effect.forkScoped
    )

    return {
      status: Effect.sync(() => report),
      refresh: locked,
      markDraining: Effect.suspend(() => {
        if (draining) return Effect.void
        draining = true
        report = { ...report, draining: true }
        return Effect.logInfo("health: draining, readiness turns 503")
      })
    }
  })

/** @internal */
export const layer = <R>(options?: Api.Health.Options<R>) => Layer.scoped(tag, make(options))

/** @internal */
export const status: Effect.Effect<Api.HealthReport, never, Api.Health> = Effect.flatMap(tag, (h) => h.status)

const noStore = { "cache-control": "no-store" }

/** @internal */
export const makeRouter = (options: Api.Health.RouterOptions = {}): HttpRouter.HttpRouter<never, Api.Health> => {
  const details = validatedSync(
    "Health.makeRouter",
    (v) => optionalBoolean(v, "details", optionsObject(v, options)?.details, true)
  )
  return HttpRouter.empty.pipe(
    HttpRouter.get(
      "/health/live",
      Effect.succeed(HttpServerResponse.unsafeJson({ status: "ok" }, { headers: noStore }))
    ),
    HttpRouter.get(
      "/health/ready",
      Effect.map(status, (report) => {
        const ready = report.status !== "unhealthy" && !report.draining
        const body = details
          ? report
          : { status: report.status, draining: report.draining }
        return HttpServerResponse.unsafeJson(body, { status: ready ? 200 : 503, headers: noStore })
      })
    )
  )
}

/** @internal */
export const router: HttpRouter.HttpRouter<never, Api.Health> = makeRouter()
