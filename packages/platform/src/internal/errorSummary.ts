import * as Cause from "effect/Cause"
import * as Option from "effect/Option"

const MAX_LENGTH = 120

const redactions: ReadonlyArray<readonly [RegExp, string]> = [
  // credentials in URLs: postgres://user:secret@host
  [/\/\/[^/@\s]+@/g, "//***@"],
  // key=value or key: value pairs that name a secret
  [/\b(password|passwd|pwd|secret|token|api[_-]?key|authorization|auth)(\s*[=:]\s*)("[^"]*"|'[^']*'|\S+)/gi, "$1$2***"],
  // bearer tokens
  [/\bbearer\s+\S+/gi, "Bearer ***"]
]

/**
 * A short description of an error that is safe to publish: the tag or class name and the first line of the
 * message, with credentials redacted, at most 120 characters.
 *
 * @internal
 */
export const describeError = (error: unknown): string => {
  if (typeof error === "string") return clip(redact(firstLine(error)))
  if (typeof error !== "object" || error === null) return typeof error
  const record = error as { readonly _tag?: unknown; readonly name?: unknown; readonly message?: unknown }
  const tag = typeof record._tag === "string"
    ? record._tag
    : typeof record.name === "string"
    ? record.name
    : error.constructor?.name ?? "Error"
  const message = typeof record.message === "string" ? redact(firstLine(record.message)) : ""
  return clip(message.length > 0 && message !== tag ? `${tag}: ${message}` : tag)
}

/**
 * Describes why an effect failed: its first failure, else its first defect, else the interruption.
 *
 * @internal
 */
export const describeCause = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) return describeError(failure.value)
  const defect = Cause.dieOption(cause)
  if (Option.isSome(defect)) return clip(`defect: ${describeError(defect.value)}`)
  return "interrupted"
}

const firstLine = (text: string): string => {
  const index = text.indexOf("\n")
  return (index === -1 ? text : text.slice(0, index)).trim()
}

const redact = (text: string): string => {
  let out = text
  for (const [pattern, replacement] of redactions) out = out.replace(pattern, replacement)
  return out
}

const clip = (text: string): string => text.length > MAX_LENGTH ? `${text.slice(0, MAX_LENGTH - 1)}…` : text
