import type { OptionsValidator } from "@effect-resilience/core/OptionsValidator"

/** The options argument itself: `undefined` (all defaults) or an object. */
export const optionsObject = <O extends object>(v: OptionsValidator, value: O | undefined): O | undefined => {
  if (value !== undefined && (typeof value !== "object" || value === null || Array.isArray(value))) {
    v.fail("options", value, "an options object")
  }
  return value
}

/** A nested object option, or `undefined`. */
export const optionalObject = <O extends object>(v: OptionsValidator, field: string, value: O | undefined) => {
  if (value !== undefined && (typeof value !== "object" || value === null || Array.isArray(value))) {
    v.fail(field, value, "an object")
  }
  return value
}

/** `true`, `false`, or `undefined` for the default. */
export const optionalBoolean = (
  v: OptionsValidator,
  field: string,
  value: boolean | undefined,
  defaultValue: boolean
): boolean => {
  if (value === undefined) return defaultValue
  if (typeof value !== "boolean") v.fail(field, value, "a boolean")
  return value
}

/** A non-empty string, or `undefined`. */
export const optionalString = (v: OptionsValidator, field: string, value: string | undefined): string | undefined =>
  value === undefined ? undefined : v.nonEmpty(field, value)

/** An array whose every element passes `each` (called with the element's path, `field[i]`), or `undefined`. */
export const optionalArray = <A>(
  v: OptionsValidator,
  field: string,
  value: ReadonlyArray<A> | undefined,
  expected: string,
  each: (field: string, element: A) => void
): ReadonlyArray<A> | undefined => {
  if (value === undefined) return undefined
  if (!Array.isArray(value)) v.fail(field, value, expected)
  value.forEach((element, i) => each(`${field}[${i}]`, element))
  return value
}
