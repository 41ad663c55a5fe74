/**
 * The arena's contenders: the same call to the upstream (one `node:http` request over a keep-alive agent) behind no
 * policy, ours (`ResilientClient`, and a variant with a `RetryBudget` and hedging), cockatiel, opossum with p-retry,
 * and the same stack in plain Effect, all configured from `shared` (see docs/benchmarks.md, "Arena").
 *
 * @since 0.1.0
 */
import { Backoff, CircuitBreaker, ResilientClient, RetryBudget } from "@effect-resilience/core"
import {
  BrokenCircuitError,
  bulkhead,
  BulkheadRejectedError,
  circuitBreaker,
  CircuitState,
  ExponentialBackoff,
  handleWhen,
  retry,
  SamplingBreaker,
  timeout,
  TimeoutStrategy,
  wrap
} from "cockatiel"
import { Duration, Effect, Exit, Option, Schedule, Scope } from "effect"
import * as http from "node:http"
import { performance } from "node:perf_hooks"
import OpossumBreaker from "opossum"
import pRetry, { AbortError } from "p-retry"
import { figures, UpstreamError } from "./upstream.js"

/**
 * The one configuration every contender is given (what each library can express of it is in the docs' table).
 *
 * @since 0.1.0
 * @category constants
 */
export const shared = {
  /** Attempts in all, the first included. */
  attempts: 4,
  backoffBaseMillis: 50,
  backoffCapMillis: 500,
  /**
   * The breaker: open when at least `breakerFailureRate` of the calls over the last `breakerWindowMillis` failed,
   * once `breakerMinimumCalls` calls are in it (the one breaker all three libraries express alike: ours
   * `timeWindow`, cockatiel's `SamplingBreaker`, opossum's rolling window); open for `breakerOpenMillis`.
   */
  breakerFailureRate: 0.5,
  breakerWindowMillis: 1_000,
  breakerMinimumCalls: 5,
  breakerOpenMillis: 2_000,
  bulkhead: 10,
  queue: 100,
  attemptTimeoutMillis: figures.attemptTimeout,
  /** Ours with budget and hedging: a second copy after this long without an answer. */
  hedgeDelayMillis: 100,
  /**
   * The caller's deadline, a rule of the measurement rather than a policy: an answer later than this after the
   * request arrived counts as no answer in `goodput` (its caller has gone); `successes` counts it.
   */
  callerDeadlineMillis: 2_000
}

/**
 * How early a call may come after a `Retry-After` and still count as honouring it (see `makeTransport`).
 *
 * @since 0.1.0
 * @category constants
 */
export const earlyToleranceMillis = 10

/**
 * One call to the upstream for request `order`; fails with `UpstreamError`.
 *
 * @since 0.1.0
 * @category models
 */
export type Transport = (order: number, signal?: AbortSignal) => Promise<void>

/**
 * The transport every contender uses: `onCall` counts each call as it starts (refused ones included). It also
 * counts the calls of a request made before a `Retry-After` that request received had passed (`early`): what the
 * client was told, from the moment it was told; `early` counts those more than `earlyToleranceMillis` early (a
 * Node timer is set against the event loop's time of the iteration, which can be a few ms behind the moment the
 * answer is read), `earliest` is the most any call was early.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeTransport = (
  port: number,
  onCall: () => void
): {
  call: Transport
  close: () => void
  early: () => number
  earliest: () => number
  retryAfterReceived: () => number
} => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity })
  const notBefore = new Map<number, number>()
  let early = 0
  let earliest = 0
  let received = 0
  const call: Transport = (order, signal) =>
    new Promise<void>((resolve, reject) => {
      onCall()
      const until = notBefore.get(order)
      if (until !== undefined) {
        const by = until - performance.now()
        if (by > earlyToleranceMillis) early++
        if (by > earliest) earliest = by
      }
      const req = http.request(
        { host: "127.0.0.1", port, path: `/call?order=${order}`, method: "GET", agent, signal },
        (res) => {
          res.resume()
          res.on("end", () => {
            if (res.statusCode === 200) return resolve()
            const header = res.headers["retry-after"]
            const seconds = header === undefined ? Number.NaN : Number(header)
            if (Number.isFinite(seconds)) {
              received++
              notBefore.set(order, performance.now() + seconds * 1_000)
            }
            reject(new UpstreamError(res.statusCode ?? 0, Number.isFinite(seconds) ? seconds * 1_000 : undefined))
          })
          res.on("error", () => reject(new UpstreamError(0, undefined)))
        }
      )
      req.on("error", () => reject(new UpstreamError(0, undefined)))
      req.end()
    })
  return {
    call,
    close: () => agent.destroy(),
    early: () => early,
    earliest: () => earliest,
    retryAfterReceived: () => received
  }
}

/**
 * A contender: runs one request to its end (true when it succeeded; it never rejects).
 *
 * @since 0.1.0
 * @category models
 */
export interface Contender {
  readonly id: string
  readonly label: string
  readonly side: "none" | "ours" | "peer"
  readonly call: (order: number) => Promise<boolean>
  /** Whether its breaker is open now (`null`: it has none). */
  readonly breakerOpen: (() => boolean) | null
  readonly close: () => Promise<void>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ContenderSpec {
  readonly id: string
  readonly label: string
  readonly make: (transport: Transport) => Promise<Contender>
}

const asUpstreamError = (e: unknown) => (e instanceof UpstreamError ? e : new UpstreamError(0, undefined))

const attemptEffect = (transport: Transport, order: number) =>
  Effect.tryPromise({ try: (signal) => transport(order, signal), catch: asUpstreamError })

const oursOptions = {
  ...ResilientClient.defaults,
  bulkhead: { ...ResilientClient.defaults.bulkhead, maxConcurrent: shared.bulkhead, maxQueue: shared.queue },
  timeout: Duration.millis(shared.attemptTimeoutMillis),
  retry: {
    maxAttempts: shared.attempts,
    schedule: Backoff.fullJitter(
      Backoff.exponential({
        base: Duration.millis(shared.backoffBaseMillis),
        cap: Duration.millis(shared.backoffCapMillis)
      })
    )
  },
  circuitBreaker: {
    strategy: CircuitBreaker.timeWindow({
      duration: Duration.millis(shared.breakerWindowMillis),
      buckets: 10,
      failureRate: shared.breakerFailureRate,
      minimumCalls: shared.breakerMinimumCalls
    }),
    openDuration: Duration.millis(shared.breakerOpenMillis)
  }
}

const ours = (id: string, label: string, budgetAndHedge: boolean): ContenderSpec => ({
  id,
  label,
  make: async (transport) => {
    const scope = Effect.runSync(Scope.make())
    const client = await Effect.runPromise(Scope.extend(
      Effect.gen(function*() {
        if (!budgetAndHedge) return yield* ResilientClient.make({ name: `arena-${id}`, ...oursOptions })
        const budget = yield* RetryBudget.make({ name: `arena-${id}-budget` })
        return yield* ResilientClient.make({
          name: `arena-${id}`,
          ...oursOptions,
          retry: { ...oursOptions.retry, budget },
          hedge: { delay: Duration.millis(shared.hedgeDelayMillis), budget }
        })
      }),
      scope
    ))
    const breaker = Option.getOrThrow(client.circuitBreaker)
    return {
      id,
      label,
      side: "ours",
      call: (order) => Effect.runPromiseExit(client.execute(attemptEffect(transport, order))).then(Exit.isSuccess),
      breakerOpen: () => Effect.runSync(breaker.state) === "Open",
      close: () => Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }
})

/**
 * Every contender, in the order of the tables.
 *
 * @since 0.1.0
 * @category constants
 */
export const contenders: ReadonlyArray<ContenderSpec> = [
  {
    id: "none",
    label: "no policy",
    make: async (transport) => ({
      id: "none",
      label: "no policy",
      side: "none",
      call: (order) => transport(order).then(() => true, () => false),
      breakerOpen: null,
      close: async () => {}
    })
  },
  ours("ours", "ours: ResilientClient (the defaults' parts, the shared figures)", false),
  ours("ours-budget-hedge", "ours: + RetryBudget + hedge", true),
  {
    id: "cockatiel",
    label: "cockatiel 3.2.1 wrap(bulkhead, retry, breaker, timeout)",
    make: async (transport) => {
      const breaker = circuitBreaker(handleWhen((e) => !(e instanceof BrokenCircuitError)), {
        halfOpenAfter: shared.breakerOpenMillis,
        breaker: new SamplingBreaker({
          threshold: shared.breakerFailureRate,
          duration: shared.breakerWindowMillis,
          // per second: with a 1 s window, the same minimum number of calls
          minimumRps: shared.breakerMinimumCalls * 1_000 / shared.breakerWindowMillis
        })
      })
      const policy = wrap(
        bulkhead(shared.bulkhead, shared.queue),
        retry(
          handleWhen((e) => !(e instanceof BrokenCircuitError) && !(e instanceof BulkheadRejectedError)),
          {
            maxAttempts: shared.attempts - 1,
            backoff: new ExponentialBackoff({
              initialDelay: shared.backoffBaseMillis,
              maxDelay: shared.backoffCapMillis
            })
          }
        ),
        breaker,
        timeout(shared.attemptTimeoutMillis, TimeoutStrategy.Aggressive)
      )
      return {
        id: "cockatiel",
        label: "cockatiel 3.2.1 wrap(bulkhead, retry, breaker, timeout)",
        side: "peer",
        call: (order) => policy.execute(({ signal }) => transport(order, signal)).then(() => true, () => false),
        breakerOpen: () => breaker.state === CircuitState.Open,
        close: async () => {}
      }
    }
  },
  {
    id: "opossum",
    label: "opossum 9.0.0 + p-retry 7.1.1",
    make: async (transport) => {
      // The same rolling window. Its `capacity` is a bulkhead without a queue; its timeout does not abort the
      // request (it lets it run and rejects the caller).
      const breaker = new OpossumBreaker((order: number) => transport(order), {
        timeout: shared.attemptTimeoutMillis,
        resetTimeout: shared.breakerOpenMillis,
        errorThresholdPercentage: shared.breakerFailureRate * 100,
        volumeThreshold: shared.breakerMinimumCalls,
        rollingCountTimeout: shared.breakerWindowMillis,
        rollingCountBuckets: 10,
        capacity: shared.bulkhead
      })
      const rejected = (e: unknown) =>
        e instanceof Error && "code" in e && (e.code === "EOPENBREAKER" || e.code === "ESEMLOCKED")
      return {
        id: "opossum",
        label: "opossum 9.0.0 + p-retry 7.1.1",
        side: "peer",
        call: (order) =>
          pRetry(
            () =>
              breaker.fire(order).catch((e: unknown) => {
                throw rejected(e) ? new AbortError(e instanceof Error ? e : String(e)) : e
              }),
            {
              retries: shared.attempts - 1,
              factor: 2,
              minTimeout: shared.backoffBaseMillis,
              maxTimeout: shared.backoffCapMillis,
              randomize: true
            }
          ).then(() => true, () => false),
        breakerOpen: () => breaker.opened,
        close: async () => breaker.shutdown()
      }
    }
  },
  {
    id: "effect",
    label: "plain Effect (semaphore + queue bound, retry, timeout; no breaker)",
    make: async (transport) => {
      const semaphore = Effect.runSync(Effect.makeSemaphore(shared.bulkhead))
      const schedule = Schedule.exponential(Duration.millis(shared.backoffBaseMillis)).pipe(
        Schedule.jittered,
        Schedule.modifyDelay((d) => Duration.min(d, Duration.millis(shared.backoffCapMillis))),
        Schedule.intersect(Schedule.recurs(shared.attempts - 1))
      )
      // Effect's semaphore queues without bound: the queue of `shared.queue` is a count of the calls inside,
      // as a user of plain Effect would write it
      let inside = 0
      const limit = shared.bulkhead + shared.queue
      return {
        id: "effect",
        label: "plain Effect (semaphore + queue bound, retry, timeout; no breaker)",
        side: "peer",
        call: (order) => {
          if (inside >= limit) return Promise.resolve(false)
          inside++
          return Effect.runPromiseExit(
            attemptEffect(transport, order).pipe(
              Effect.timeout(Duration.millis(shared.attemptTimeoutMillis)),
              Effect.retry(schedule),
              semaphore.withPermits(1)
            )
          ).then((exit) => {
            inside--
            return Exit.isSuccess(exit)
          })
        },
        breakerOpen: null,
        close: async () => {}
      }
    }
  }
]
