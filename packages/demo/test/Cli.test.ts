import { describe, expect, it } from "@effect/vitest"
import * as Cli from "../src/Cli.js"

const invalid = (args: ReadonlyArray<string>) => {
  const parsed = Cli.parse(args)
  if (parsed._tag !== "Invalid") throw new Error(`expected ${args.join(" ")} to be refused`)
  return parsed.message
}

describe("Cli.parse", () => {
  it("defaults, --quick, and both spellings of a value", () => {
    const flags = (args: ReadonlyArray<string>) => {
      const parsed = Cli.parse(args)
      if (parsed._tag !== "Flags") throw new Error(parsed.message)
      return parsed.flags
    }
    expect(flags([])).toMatchObject({ rate: 40, phaseSeconds: 5, seed: 7, quick: false, json: false, compare: false })
    expect(flags(["--quick"])).toMatchObject({ rate: 20, phaseSeconds: 2 })
    expect(flags(["--quick", "--rate", "30"])).toMatchObject({ rate: 30, phaseSeconds: 2 })
    expect(flags(["--rate=12", "--phase-seconds", "3", "--seed", "-4", "--json", "--compare"])).toMatchObject({
      rate: 12,
      phaseSeconds: 3,
      seed: -4,
      json: true,
      compare: true
    })
    expect(flags(["--pg", "postgres://postgres@127.0.0.1:5432/test"]).pg).toBe(
      "postgres://postgres@127.0.0.1:5432/test"
    )
  })

  it("a bad flag is one line naming it", () => {
    const cases: Array<[ReadonlyArray<string>, string]> = [
      [["--rate", "-5"], "--rate"],
      [["--rate", "0"], "--rate"],
      [["--rate", "501"], "--rate"],
      [["--rate", "abc"], "--rate"],
      [["--rate"], "--rate"],
      [["--phase-seconds", "0"], "--phase-seconds"],
      [["--phase-seconds", "1.5"], "--phase-seconds"],
      [["--seed", "1e3"], "--seed"],
      [["--json=yes"], "--json"],
      [["--pg", "mysql://x"], "--pg"],
      [["--nope"], "--nope"],
      [["stray"], "stray"]
    ]
    for (const [args, name] of cases) {
      const message = invalid(args)
      expect(message).toContain(name)
      expect(message).not.toContain("\n")
    }
  })

  it("--help lists every option with its default and no colour codes", () => {
    const text = Cli.help()
    for (const option of Cli.options) {
      const line = text.split("\n").find((l) => l.startsWith(`  --${option.name}`))
      expect(line, option.name).toBeDefined()
      if (option.defaultText !== "") expect(line).toContain(`(default: ${option.defaultText})`)
    }
    expect(text.includes(String.fromCharCode(27))).toBe(false)
  })
})
