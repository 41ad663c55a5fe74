import * as Data from "effect/Data"
import { hasProperty } from "effect/Predicate"

/** @internal */
export class PgError extends Data.TaggedError("PgError")<{
  readonly code: string
  readonly transient: boolean
  readonly message: string
  readonly severity?: string | undefined
  readonly detail?: string | undefined
  readonly hint?: string | undefined
  readonly systemCode?: string | undefined
}> {}

/** Node socket error codes that mean the server could not be reached or the link broke. */
const networkCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ENOENT"
])

/** SQLSTATEs worth retrying on another attempt (or another connection). */
const transientCodes = new Set([
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "40001", // serialization_failure
  "40P01", // deadlock_detected
  "53300", // too_many_connections
  "55P03", // lock_not_available
  "55006" // object_in_use
])

/** @internal */
export const isTransientCode = (code: string): boolean => code.startsWith("08") || transientCodes.has(code)

/** @internal */
export const isConnectionCode = (code: string): boolean =>
  code.startsWith("08") || code === "57P01" || code === "57P02" || code === "57P03"

const credentialsInUrl = /(\/\/[^:/?#@\s]*):[^@/\s]*@/g

/** @internal */
export const scrub = (text: string, secrets: ReadonlyArray<string>): string => {
  let out = text.replace(credentialsInUrl, "$1:***@")
  for (const secret of secrets) if (secret.length > 0) out = out.split(secret).join("***")
  return out
}

const stringField = (error: object, key: string): string | undefined =>
  hasProperty(error, key) && typeof error[key] === "string" && error[key] !== "" ? error[key] : undefined

/**
 * Turns whatever node-postgres threw into a `PgError`, keeping only known fields and scrubbing every secret from
 * the text. `connecting`: the failure happened while opening the connection.
 *
 * @internal
 */
export const fromUnknown = (error: unknown, secrets: ReadonlyArray<string>, connecting: boolean): PgError => {
  if (typeof error !== "object" || error === null) {
    return new PgError({ code: connecting ? "08001" : "XX000", transient: connecting, message: "unknown error" })
  }
  const rawCode = stringField(error, "code")
  const message = scrub(stringField(error, "message") ?? "unknown error", secrets)
  const severity = stringField(error, "severity")
  if (rawCode !== undefined && /^[0-9A-Z]{5}$/.test(rawCode)) {
    return new PgError({
      code: rawCode,
      transient: isTransientCode(rawCode),
      message,
      severity,
      detail: mapOpt(stringField(error, "detail"), secrets),
      hint: mapOpt(stringField(error, "hint"), secrets)
    })
  }
  const lost = rawCode !== undefined && networkCodes.has(rawCode) ||
    /Connection terminated|timeout expired|not queryable/i
      .test(message)
  if (lost || connecting) {
    // sqlclient_unable_to_establish_sqlconnection while connecting, connection_failure afterwards.
    return new PgError({ code: connecting ? "08001" : "08006", transient: true, message, systemCode: rawCode })
  }
  return new PgError({ code: "XX000", transient: false, message, systemCode: rawCode })
}

const mapOpt = (text: string | undefined, secrets: ReadonlyArray<string>) =>
  text === undefined ? undefined : scrub(text, secrets)
