import type { InvalidOptionsError } from "@effect-resilience/core/InvalidOptionsError"
import * as OptionsValidator from "@effect-resilience/core/OptionsValidator"
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
): Layer.Layer<Experimental.RateLimiter, RedisStoreError | InvalidOptionsError> =>
  Layer.unwrapEffect(Effect.map(
    OptionsValidator.validated("RedisRateLimiter.layer", (v) => {
      if (typeof options !== "object" || options === null || Array.isArray(options)) {
        v.fail("options", options, "an options object")
      }
      return {
        commandTimeout: Duration.toMillis(
          v.duration("commandTimeout", options.commandTimeout ?? "100 millis", { positive: true, finite: true })
        ),
        keyPrefix: options.keyPrefix === undefined ? "ratelimiter:" : v.nonEmpty("keyPrefix", options.keyPrefix)
      }
    }),
    (checked) => layerChecked(options, checked)
  ))

const layerChecked = (
  options: RedisRateLimiter.Options,
  checked: { readonly commandTimeout: number; readonly keyPrefix: string }
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
  const commandTimeout = checked.commandTimeout
  // Its connection is made (and closed with `quit`) by @effect/experimental: an offline queue keeps `quit` from
  // failing when Redis is away at shutdown, and `commandTimeout` bounds how long a command waits in it.
  const store = ExperimentalRedis.layerStore({
    ...redisOptions,
    ...storeDefaults,
    lazyConnect: false,
    enableOfflineQueue: true,
    commandTimeout,
    prefix: checked.keyPrefix
  })
  // Checked once with a connection of our own, so a wrong URL or password fails the layer with a typed error.
  return Layer.unwrapEffect(
    Effect.as(Effect.scoped(open(options.url)), Layer.provide(Experimental.layer, store))
  )
}
