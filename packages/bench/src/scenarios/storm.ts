/**
 * Scenario 7: a retry storm. A downstream fails every call (after 10 ms) for a few seconds while 200 callers call
 * it through a retry policy (4 attempts in all, exponential from 100 ms with full jitter) in a closed loop. The
 * figure is the amplification: downstream calls per caller request, with no budget and with a shared
 * `RetryBudget`.
 *
 * @since 0.1.0
 */
import { Data, Effect, type Scope } from "effect"
import { loadOurs, makeScope } from "../common.js"

/**
 * What the failing downstream fails with.
 *
 * @since 0.1.0
 * @category errors
 */
export class DownstreamError extends Data.TaggedError("DownstreamError")<{}> {}

/**
 * Our side: a retry policy per caller request, sharing one `RetryBudget` when `withBudget`.
 *
 * @since 0.1.0
 * @category models
 */
export interface StormAdapter {
  readonly label: string
  readonly make: (
    withBudget: boolean
  ) => Effect.Effect<
    (op: Effect.Effect<number, DownstreamError>) => Effect.Effect<number, unknown>,
    unknown,
    Scope.Scope
  >
}

/**
 * @since 0.1.0
 * @category models
 */
export interface StormSide {
  readonly id: string
  readonly label: string
  readonly available: boolean
  readonly reason?: string
  readonly requests: number | null
  readonly downstreamCalls: number | null
  readonly amplification: number | null
}

/**
 * @since 0.1.0
 * @category models
 */
export interface StormResult {
  readonly callers: number
  readonly durationMillis: number
  readonly downstreamLatencyMillis: number
  readonly sides: ReadonlyArray<StormSide>
}

const callers = 200
const latencyMillis = 10

const storm = (
  durationMillis: number,
  policy: (op: Effect.Effect<number, DownstreamError>) => Effect.Effect<number, unknown>
) =>
  Effect.suspend(() => {
    let requests = 0
    let downstreamCalls = 0
    const downstream = Effect.suspend(() => {
      downstreamCalls++
      return Effect.zipRight(Effect.sleep(latencyMillis), Effect.fail(new DownstreamError()))
    })
    const end = Date.now() + durationMillis
    const caller = Effect.gen(function*() {
      while (Date.now() < end) {
        requests++
        yield* Effect.either(policy(downstream))
      }
    })
    return Effect.all(Array.from({ length: callers }, () => caller), { concurrency: "unbounded", discard: true }).pipe(
      Effect.map(() => ({ requests, downstreamCalls, amplification: downstreamCalls / requests }))
    )
  })

/**
 * @since 0.1.0
 * @category scenarios
 */
export const run = async (quick: boolean, progress: (line: string) => void): Promise<StormResult> => {
  const durationMillis = quick ? 1_000 : 5_000
  const ours = await loadOurs<StormAdapter>("storm", "RetryBudget")
  const sides: Array<StormSide> = []
  for (const withBudget of [false, true]) {
    const id = withBudget ? "ours-budget" : "ours-no-budget"
    if (ours._tag === "Missing") {
      const label = withBudget ? "ours: Retry.retry with RetryBudget" : "ours: Retry.retry, no budget"
      sides.push({
        id,
        label,
        available: false,
        reason: ours.reason,
        requests: null,
        downstreamCalls: null,
        amplification: null
      })
      continue
    }
    progress(`storm: ${withBudget ? "with" : "without"} budget, ${durationMillis} ms`)
    const scope = makeScope()
    try {
      const policy = await scope.build(ours.adapter.make(withBudget))
      const r = await Effect.runPromise(storm(durationMillis, policy))
      sides.push({
        id,
        label: `${ours.adapter.label}${withBudget ? " with a RetryBudget (defaults)" : ", no budget"}`,
        available: true,
        ...r
      })
    } finally {
      await scope.close()
    }
  }
  return { callers, durationMillis, downstreamLatencyMillis: latencyMillis, sides }
}
