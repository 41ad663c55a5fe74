import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"

/**
 * The pure facts `ResilientHttpClient` reads from a request or a response: the host (the default key of the keyed
 * policies), the URL without credentials, query and fragment (the only form that may reach an error, a span or a
 * label), whether a retry is safe, and the `Retry-After` header. String scanning, no `URL` parse: these run on the
 * hot path of every request.
 */

/** Where the authority (`user:pass@host:port`) of an absolute URL starts, or -1 for a relative URL. */
const authorityStart = (url: string): number => {
  const scheme = url.indexOf("://")
  return scheme < 0 ? -1 : scheme + 3
}

/** Where the authority ends: at the first `/`, `?` or `#` after it, or at the end. */
const authorityEnd = (url: string, start: number): number => {
  for (let i = start; i < url.length; i++) {
    const c = url.charCodeAt(i)
    if (c === 47 /* / */ || c === 63 /* ? */ || c === 35 /* # */) return i
  }
  return url.length
}

/**
 * The host and port of an absolute URL, lower case and without credentials (`""` for a relative URL).
 *
 * @internal
 */
export const hostOf = (url: string): string => {
  const start = authorityStart(url)
  if (start < 0) return ""
  const end = authorityEnd(url, start)
  const at = url.lastIndexOf("@", end - 1)
  return url.slice(at >= start ? at + 1 : start, end).toLowerCase()
}

/**
 * The URL with its credentials, query string and fragment removed: `https://user:pw@api.example.com/v1/x?k=s`
 * becomes `https://api.example.com/v1/x`.
 *
 * @internal
 */
export const redactUrl = (url: string): string => {
  const start = authorityStart(url)
  let host = ""
  let rest = url
  if (start >= 0) {
    const end = authorityEnd(url, start)
    const at = url.lastIndexOf("@", end - 1)
    host = url.slice(0, start) + url.slice(at >= start ? at + 1 : start, end)
    rest = url.slice(end)
  }
  let cut = rest.length
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i)
    if (c === 63 /* ? */ || c === 35 /* # */) {
      cut = i
      break
    }
  }
  return host + rest.slice(0, cut)
}

const idempotentMethods: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"])

/**
 * Whether sending the request twice is safe: an idempotent method (GET, HEAD, OPTIONS, PUT, DELETE) or an
 * `Idempotency-Key` header.
 *
 * @internal
 */
export const isRetrySafe = (request: HttpClientRequest.HttpClientRequest): boolean =>
  idempotentMethods.has(request.method) || request.headers["idempotency-key"] !== undefined

const DELTA_SECONDS = /^\d+$/
/** An HTTP date names a day or a month: letters rule out `Date.parse` reading a bare or signed number as a year. */
const HTTP_DATE = /^[A-Za-z]{3},? /

/**
 * Reads a `Retry-After` value: delay-seconds (`"120"`) or an HTTP date (`"Wed, 21 Oct 2015 07:28:00 GMT"`, taken
 * relative to `nowMillis`, a date in the past meaning zero). Anything else (empty, negative, fractional, garbage,
 * a number too large to be finite) is `None`: ignored, never a crash.
 *
 * @internal
 */
export const parseRetryAfter = (value: string | undefined, nowMillis: number): Option.Option<Duration.Duration> => {
  if (value === undefined) return Option.none()
  const text = value.trim()
  if (DELTA_SECONDS.test(text)) {
    const seconds = Number(text)
    return Number.isFinite(seconds) ? Option.some(Duration.seconds(seconds)) : Option.none()
  }
  if (!HTTP_DATE.test(text)) return Option.none()
  const at = Date.parse(text)
  if (Number.isNaN(at)) return Option.none()
  return Option.some(Duration.millis(Math.max(0, at - nowMillis)))
}
