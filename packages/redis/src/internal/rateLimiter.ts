import * as Experimental from "@effect/experimental/RateLimiter"
import * as ExperimentalRedis from "@effect/experimental/RateLimiter/Redis"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { RedisRateLimiter } from "../RedisRateLimiter.js"
import { open, parseUrl, redactUrl, RedisStoreError, storeDefaults } from "./connection.js"

/** @internal */
export const layer = (
  options: RedisRateLimiter.Options
): Layer.Layer<Experimental.RateLimiter, RedisStoreError> => {
  const redisOptions = parseUrl(options.url)
  if (redisOptions === undefined) {
    return Layer.fail(
      new RedisStoreError({
        reason: "InvalidUrl",
        url: redactUrl(options.url),
        detail: "expected redis://[user:password@]host[:port][/db]"
      })
    )
  }
  const commandTimeout = Duration.toMillis(Duration.decode(options.commandTimeout ?? "100 millis"))
  // Its connection is made (and closed with `quit`) by @effect/experimental: an offline queue keeps `quit` from
  // failing when Redis is away at shutdown, and `commandTimeout` bounds how long a command waits in it.
  const store = ExperimentalRedis.layerStore({
    ...redisOptions,
    ...storeDefaults,
    lazyConnect: false,
    enableOfflineQueue: true,
    commandTimeout,
    prefix: options.keyPrefix ?? "ratelimiter:"
  })
  // Checked once with a connection of our own, so a wrong URL or password fails the layer with a typed error.
  return Layer.unwrapEffect(
    Effect.as(Effect.scoped(open(options.url)), Layer.provide(Experimental.layer, store))
  )
}
