import { CircuitBreakerStore, type Store } from "@effect-resilience/core/CircuitBreakerStore"
import type { InvalidOptionsError } from "@effect-resilience/core/InvalidOptionsError"
import * as OptionsValidator from "@effect-resilience/core/OptionsValidator"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { Redis } from "ioredis"
import type { RedisCircuitBreakerStore } from "../RedisCircuitBreakerStore.js"
import { check, open, RedisStoreError } from "./connection.js"
import * as store from "./store.js"

/** @internal */
export { RedisStoreError }

/** @internal */
export type LayerError = RedisStoreError | InvalidOptionsError

/** @internal */
export interface ConfigOptions {
  readonly url: string
  readonly keyPrefix: string
  readonly flushInterval?: Duration.Duration | undefined
  readonly idleTtl?: Duration.Duration | undefined
  readonly leaseTtl?: Duration.Duration | undefined
}

/** The client's own connection options (for its subscriber) and password (to scrub from errors). */
const passwordOf = (client: Redis): string | undefined => {
  const password = client.options.password
  return typeof password === "string" ? password : undefined
}

/** @internal */
export const makeStore = (
  options: RedisCircuitBreakerStore.Options
): Effect.Effect<Store, LayerError, Scope.Scope> =>
  Effect.gen(function*() {
    const o = yield* OptionsValidator.validated("RedisCircuitBreakerStore.layer", (v) => {
      if (typeof options !== "object" || options === null || Array.isArray(options)) {
        v.fail("options", options, "an options object")
      }
      if ((options.client === undefined) === (options.url === undefined)) {
        v.fail("client", options.client === undefined ? "undefined" : "a client", "exactly one of client or url")
      }
      const flushInterval = v.duration("flushInterval", options.flushInterval ?? "100 millis", {
        positive: true,
        finite: true
      })
      return {
        keyPrefix: v.nonEmpty("keyPrefix", options.keyPrefix),
        flushInterval,
        idleTtl: v.duration("idleTtl", options.idleTtl ?? "1 hour", { positive: true, finite: true }),
        leaseTtl: v.duration("leaseTtl", options.leaseTtl ?? "10 seconds", { positive: true, finite: true }),
        // A flush slower than this counts as a failed one (and its counts go into the next).
        timeout: Duration.max(Duration.times(flushInterval, 10), Duration.seconds(1))
      }
    })
    let client: Redis
    let password: string | undefined
    if (options.url !== undefined) {
      const opened = yield* open(options.url)
      client = opened.client
      password = typeof opened.options.password === "string" ? opened.options.password : undefined
    } else {
      client = options.client!
      password = passwordOf(client)
      yield* check(client, "<client>", password)
    }
    // The subscriber: a connection of its own (a subscribed connection takes no other command).
    const subscriber = yield* Effect.acquireRelease(
      Effect.sync(() => client.duplicate({ lazyConnect: true, enableOfflineQueue: true, maxRetriesPerRequest: null })),
      (sub) => Effect.sync(() => sub.disconnect())
    )
    yield* check(subscriber, "<subscriber>", password)
    return yield* store.make({ ...o, client, subscriber, password })
  })

/** @internal */
export const layer = (
  options: RedisCircuitBreakerStore.Options
): Layer.Layer<CircuitBreakerStore, LayerError> => Layer.scoped(CircuitBreakerStore, makeStore(options))

/** @internal */
export const layerConfig = (
  options: Config.Config.Wrap<ConfigOptions>
): Layer.Layer<CircuitBreakerStore, LayerError | ConfigError.ConfigError> =>
  Layer.scoped(CircuitBreakerStore, Effect.flatMap(Config.unwrap(options), makeStore))
