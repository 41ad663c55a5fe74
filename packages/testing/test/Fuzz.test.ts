import { describe, expect, it } from "@effect/vitest"
import { Data, Effect } from "effect"
import * as Fuzz from "../src/Fuzz.js"

class InvalidOptionsError extends Data.TaggedError("InvalidOptionsError")<{
  readonly constructorName: string
  readonly field: string
  readonly value: unknown
  readonly expected: string
}> {}

const refuse = (field: string, value: unknown) =>
  Effect.fail(new InvalidOptionsError({ constructorName: "Toy.make", field, value, expected: "a positive integer" }))

const target = (make: (options: { readonly size: unknown }) => Effect.Effect<unknown, unknown>): Fuzz.Target => ({
  constructorName: "Toy.make",
  base: () => ({ size: 1 }),
  fields: { size: Fuzz.required(Fuzz.int(1)) },
  build: make as (options: never) => Effect.Effect<unknown, unknown>
})

const failures = async (make: (options: { readonly size: unknown }) => Effect.Effect<unknown, unknown>) =>
  (await Fuzz.runAll(Fuzz.cases(target(make)), 200)).failures

describe("Fuzz", () => {
  it("passes a constructor that refuses every bad value naming field and value", async () => {
    const make = ({ size }: { readonly size: unknown }) =>
      typeof size === "number" && Number.isInteger(size) && size >= 1 ? Effect.succeed(size) : refuse("size", size)
    expect(await failures(make)).toEqual([])
  })

  it("flags a silent 0, a defect, a plain throw, a hang and a wrong field", async () => {
    const silent = await failures(({ size }) => Effect.succeed(Math.max(0, Number(size) || 0)))
    expect(silent.some((f) => f.includes("size = -1: expected InvalidOptionsError, got Ok"))).toBe(true)

    const defect = await failures(({ size }) =>
      Effect.sync(() => (size as { toFixed: (n: number) => string }).toFixed(0))
    )
    expect(defect.some((f) => f.includes("size = null: expected InvalidOptionsError, got defect"))).toBe(true)

    const thrown = await failures(({ size }) => {
      if (size !== 1) throw new Error("Invalid size")
      return Effect.void
    })
    expect(thrown.some((f) => f.includes("got defect Error: Invalid size"))).toBe(true)

    const hang = await failures(({ size }) => (size === 1 ? Effect.void : Effect.never))
    expect(hang.some((f) => f.includes("size = 0: expected InvalidOptionsError, got Hang"))).toBe(true)

    const wrongField = await failures(({ size }) => (size === 1 ? Effect.void : refuse("length", size)))
    expect(wrongField.some((f) => f.includes("error names field \"length\""))).toBe(true)
  })

  it("flags a credential shown in an error", async () => {
    const leaky: Fuzz.Target = {
      constructorName: "Db.make",
      base: () => ({ url: "postgres://ok" }),
      fields: { url: [{ label: "secret", value: "postgres://u:hunter2@", expect: "reject", secret: "hunter2" }] },
      build: ((options: { readonly url: string }) =>
        Effect.fail(
          new InvalidOptionsError({ constructorName: "Db.make", field: "url", value: options.url, expected: "a URL" })
        )) as (options: never) => Effect.Effect<unknown, unknown>
    }
    const result = await Fuzz.runAll(Fuzz.cases(leaky), 200)
    expect(result.failures).toEqual(["Db.make url = secret: the error shows the credential"])
  })
})
