/**
 * Drives load through the payment service at a fixed rate (an open loop, as real traffic is: requests keep
 * coming whether or not earlier ones have finished) and records every request.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"

/**
 * One request's record.
 *
 * @since 0.1.0
 * @category models
 */
export interface Sample {
  /** Millis since the run began. */
  readonly at: number
  readonly latencyMillis: number
  readonly ok: boolean
  /**
   * `ok`, `pending` (accepted for a later charge), `shed` (a 503 with `Retry-After` from the service's load
   * shedder), or the error kind the payment service reported.
   */
  readonly kind: string
  /** For `pending`: the error that sent the payment to the queue. */
  readonly cause?: string | undefined
}

/**
 * Load options.
 *
 * @since 0.1.0
 * @category models
 */
export interface LoadOptions {
  readonly url: string
  readonly ratePerSecond: number
  readonly seconds: number
  /** The load generator gives up on a request after this long (a caller's own patience). */
  readonly clientTimeout: Duration.DurationInput
  /** Called after every completed request with the count so far (for the progress bar). */
  readonly onProgress?: (done: number, total: number, sample: Sample) => void
}

/**
 * Runs the load and returns every sample, in start order.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = (options: LoadOptions): Effect.Effect<ReadonlyArray<Sample>, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const total = Math.round(options.ratePerSecond * options.seconds)
    const interval = 1000 / options.ratePerSecond
    const begin = yield* Clock.currentTimeMillis
    const samples: Array<Sample> = []
    let done = 0
    const one = (i: number) =>
      Effect.gen(function*() {
        const at = (yield* Clock.currentTimeMillis) - begin
        const outcome = yield* client.execute(HttpClientRequest.post(`${options.url}/pay?order=${i}`)).pipe(
          Effect.flatMap((response) =>
            response.status === 200
              ? Effect.as(response.text, "ok")
              : response.status === 503 && response.headers["x-load-shed"] !== undefined &&
                  response.headers["retry-after"] !== undefined
              // Shed by the service's load shedder: answered at once, with when to come back.
              ? Effect.as(response.text, "shed")
              : Effect.map(response.text, (text) => {
                // The service's error body names the kind; anything else (an empty 500, a proxy's page) is its status.
                const kind = /"kind":"([a-z0-9_]+)"/.exec(text)?.[1]
                const named = typeof kind === "string" ? kind : `http_${response.status}`
                return response.status === 202 ? `pending:${named}` : named
              })
          ),
          Effect.scoped,
          Effect.timeoutTo({
            duration: options.clientTimeout,
            onSuccess: (kind) => kind,
            onTimeout: () => "client_timeout"
          }),
          Effect.catchAll(() => Effect.succeed("connection_error"))
        )
        const end = (yield* Clock.currentTimeMillis) - begin
        const pending = outcome.startsWith("pending:")
        const sample: Sample = {
          at,
          latencyMillis: end - at,
          ok: outcome === "ok",
          kind: pending ? "pending" : outcome,
          cause: pending ? outcome.slice("pending:".length) : undefined
        }
        samples[i] = sample
        done++
        options.onProgress?.(done, total, sample)
      })
    const fibers: Array<Fiber.RuntimeFiber<void>> = []
    for (let i = 0; i < total; i++) {
      const due = begin + i * interval
      const now = yield* Clock.currentTimeMillis
      if (due > now) yield* Effect.sleep(Duration.millis(due - now))
      fibers.push(yield* Effect.fork(one(i)))
    }
    yield* Fiber.joinAll(fibers)
    return samples
  })
