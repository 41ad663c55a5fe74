/**
 * Opening an ioredis connection for a store: typed errors at layer build, and never the password in an error, a
 * log line, a span or a metric.
 *
 * @internal
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { Redis, type RedisOptions } from "ioredis"

/** @internal */
export class RedisStoreError extends Data.TaggedError("RedisStoreError")<{
  readonly reason: "InvalidUrl" | "Unreachable" | "AuthenticationFailed" | "Unavailable"
  /** The URL with its password replaced by `***`. */
  readonly url: string
  readonly detail: string
}> {
  override get message(): string {
    return `redis store ${this.url}: ${this.reason} (${this.detail})`
  }
}

/** The URL without its password (`redis://user:***@host:port/db`). @internal */
export const redactUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") parsed.password = "***"
    return parsed.toString()
  } catch {
    // Not a URL: say so without repeating it (it may hold a password).
    return "<invalid url>"
  }
}

/** Removes every occurrence of `secret` from `text`. @internal */
export const scrub = (text: string, secret: string | undefined): string =>
  secret === undefined || secret === "" ? text : text.split(secret).join("***")

/** Parses a redis:// or rediss:// URL into ioredis options. @internal */
export const parseUrl = (url: string): RedisOptions | undefined => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return undefined
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") return undefined
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0
  if (!Number.isInteger(db) || db < 0) return undefined
  const options: RedisOptions = {
    host: parsed.hostname === "" ? "127.0.0.1" : parsed.hostname,
    port: parsed.port === "" ? 6379 : Number(parsed.port),
    db
  }
  if (parsed.username !== "") options.username = decodeURIComponent(parsed.username)
  if (parsed.password !== "") options.password = decodeURIComponent(parsed.password)
  if (parsed.protocol === "rediss:") options.tls = {}
  return options
}

/** The options a store's own connections use: fail fast, never queue a command while disconnected. @internal */
export const storeDefaults: RedisOptions = {
  lazyConnect: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  connectTimeout: 2_000,
  // Reconnect forever, at most every 1 s: the store rejoins when Redis is back.
  retryStrategy: (times) => Math.min(times * 100, 1_000)
}

const classify = (message: string): RedisStoreError["reason"] =>
  /WRONGPASS|NOAUTH|invalid password|AUTH/i.test(message) ? "AuthenticationFailed" : "Unreachable"

/**
 * Opens a connection from a URL (closed with the scope) and checks it answers; a wrong URL or password is a typed
 * error now, not on the first call.
 *
 * @internal
 */
export const open = (
  url: string,
  extra: RedisOptions = {}
): Effect.Effect<{ readonly client: Redis; readonly options: RedisOptions }, RedisStoreError, Scope.Scope> => {
  const redacted = redactUrl(url)
  const options = parseUrl(url)
  if (options === undefined) {
    return Effect.fail(
      new RedisStoreError({
        reason: "InvalidUrl",
        url: redacted,
        detail: "expected redis://[user:password@]host[:port][/db]"
      })
    )
  }
  const all: RedisOptions = { ...options, ...storeDefaults, ...extra }
  return Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => new Redis(all)),
      (client) => Effect.sync(() => client.disconnect())
    ).pipe(Effect.tap((client) => check(client, redacted, options.password))),
    (client) => ({ client, options: all })
  )
}

/** Connects (if needed) and pings, with the password scrubbed from any error. @internal */
export const check = (client: Redis, redacted: string, password: string | undefined) =>
  Effect.suspend(() => {
    // The connection's own error (e.g. WRONGPASS) says more than the rejected promise ("Connection is closed");
    // the listener also keeps ioredis from printing it.
    let last: unknown
    client.on("error", (error) => {
      last = error
    })
    return Effect.tryPromise({
      try: async () => {
        if (client.status === "wait") await client.connect()
        await client.ping()
      },
      catch: (error) => {
        const cause = last ?? error
        const message = scrub(cause instanceof Error ? cause.message : String(cause), password)
        return new RedisStoreError({ reason: classify(message), url: redacted, detail: message })
      }
    })
  })
