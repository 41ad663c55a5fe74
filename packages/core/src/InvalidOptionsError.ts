/**
 * The error every constructor fails with when an option is out of range: it names the policy, the field and
 * the value, so a bad configuration is caught at start-up, not at the first failure.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * An option given to a constructor is invalid.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidOptionsError extends Data.TaggedError("InvalidOptionsError")<{
  /** The constructor that refused the options, e.g. `"CircuitBreaker.make"`. */
  readonly constructorName: string
  /** The option path, e.g. `"strategy.failureRate"`. */
  readonly field: string
  /** The value given, as given. */
  readonly value: unknown
  /** What a valid value looks like, e.g. `"a number in (0, 1]"`. */
  readonly expected: string
}> {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `${this.constructorName}: invalid option ${this.field} = ${showValue(this.value)}; expected ${this.expected}`
  }
}

const showValue = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value)
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value)
  if (value === undefined) return "undefined"
  if (value === null) return "null"
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}
