/**
 * The demo's flags: a small parser with limits, one line naming a bad flag, and the help text.
 *
 * @since 0.1.0
 */

/**
 * The parsed flags.
 *
 * @since 0.1.0
 * @category models
 */
export interface Flags {
  readonly rate: number
  readonly phaseSeconds: number
  readonly seed: number
  readonly quick: boolean
  readonly json: boolean
  readonly compare: boolean
  /** Also run the overload phase: twice the service's capacity, shed or queued. */
  readonly overload: boolean
  readonly pg: string | undefined
  /** A Redis URL: also run the resilient service as three replicas, with and without shared breaker state. */
  readonly redis: string | undefined
  readonly out: string | undefined
  readonly help: boolean
}

/**
 * What parsing came to: flags, or the one line saying what is wrong.
 *
 * @since 0.1.0
 * @category models
 */
export type Parsed =
  | { readonly _tag: "Flags"; readonly flags: Flags }
  | { readonly _tag: "Invalid"; readonly message: string }

interface Spec {
  readonly name: string
  readonly value?: string
  readonly defaultText: string
  readonly description: string
}

/**
 * The options, in `--help` order.
 *
 * @since 0.1.0
 * @category constants
 */
export const options: ReadonlyArray<Spec> = [
  { name: "rate", value: "N", defaultText: "40", description: "requests per second, an integer from 1 to 500" },
  {
    name: "phase-seconds",
    value: "N",
    defaultText: "5",
    description: "length of each gateway phase (healthy, degraded, outage, recovery), 1 to 120"
  },
  { name: "seed", value: "N", defaultText: "7", description: "seed of the gateway's script, any integer" },
  {
    name: "quick",
    defaultText: "off",
    description: "phases of 2 s at 20 requests/s (unless given): the load lasts 8 s"
  },
  { name: "json", defaultText: "off", description: "print one JSON object on stdout instead of the report" },
  {
    name: "compare",
    defaultText: "off",
    description: "also run cockatiel's stack and the same stack in plain Effect, configured alike"
  },
  {
    name: "overload",
    defaultText: "off",
    description: "also run the overload phase: twice the service's capacity, shed (resilient) or queued (naive)"
  },
  {
    name: "pg",
    value: "URL",
    defaultText: "embedded",
    description: "keep the service's ledger in PostgreSQL (postgres://...) through PgPool"
  },
  {
    name: "redis",
    value: "URL",
    defaultText: "off",
    description: "also run the resilient service as 3 replicas, breakers shared through Redis (redis://...) or not"
  },
  { name: "out", value: "DIR", defaultText: "packages/demo/output", description: "where the report and chart go" },
  { name: "help", defaultText: "", description: "this text" }
]

/**
 * The `--help` text (plain: no colour codes).
 *
 * @since 0.1.0
 * @category rendering
 */
export const help = (): string => {
  const left = options.map((o) => `  --${o.name}${o.value ? ` ${o.value}` : ""}`)
  const width = Math.max(...left.map((l) => l.length)) + 2
  return [
    "pnpm demo: a payment service under a failing payment gateway, run naive and resilient side by side.",
    "",
    "usage: pnpm -s demo [options]",
    "",
    "options:",
    ...options.map((o, i) =>
      `${left[i]!.padEnd(width)}${o.description}${o.defaultText ? ` (default: ${o.defaultText})` : ""}`
    ),
    "",
    "exit codes: 0 done, 2 bad option, 1 failure, 75 interrupted while draining"
  ].join("\n")
}

const integer = (name: string, raw: string | undefined, min: number, max: number): number | string => {
  if (raw === undefined || !/^[+-]?\d+$/.test(raw.trim())) {
    return `--${name} needs an integer from ${min} to ${max}, got ${
      raw === undefined ? "nothing" : JSON.stringify(raw)
    }`
  }
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    return `--${name} must be from ${min} to ${max}, got ${raw}`
  }
  return n
}

/**
 * Parses the arguments after the script name (`--flag value` or `--flag=value`).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (args: ReadonlyArray<string>): Parsed => {
  const invalid = (message: string): Parsed => ({ _tag: "Invalid", message })
  let rate: number | undefined
  let phaseSeconds: number | undefined
  let seed = 7
  let quick = false
  let json = false
  let compare = false
  let overload = false
  let help = false
  let pg: string | undefined
  let redis: string | undefined
  let out: string | undefined
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === "--") continue
    const eq = arg.indexOf("=")
    const name = arg.startsWith("--") ? arg.slice(2, eq === -1 ? undefined : eq) : arg === "-h" ? "help" : undefined
    if (name === undefined) return invalid(`unexpected argument ${JSON.stringify(arg)} (see --help)`)
    const spec = options.find((o) => o.name === name)
    if (spec === undefined) return invalid(`unknown option --${name} (see --help)`)
    let value: string | undefined
    if (spec.value !== undefined) {
      value = eq === -1 ? args[++i] : arg.slice(eq + 1)
    } else if (eq !== -1) {
      return invalid(`--${name} takes no value, got ${JSON.stringify(arg.slice(eq + 1))}`)
    }
    switch (name) {
      case "rate": {
        const n = integer(name, value, 1, 500)
        if (typeof n === "string") return invalid(n)
        rate = n
        break
      }
      case "phase-seconds": {
        const n = integer(name, value, 1, 120)
        if (typeof n === "string") return invalid(n)
        phaseSeconds = n
        break
      }
      case "seed": {
        const n = integer(name, value, -2_147_483_648, 2_147_483_647)
        if (typeof n === "string") return invalid(n)
        seed = n
        break
      }
      case "pg": {
        if (value === undefined || !/^postgres(ql)?:\/\/\S+$/.test(value)) {
          return invalid(
            `--pg needs a postgres://user@host:port/db URL, got ${value === undefined ? "nothing" : "another value"}`
          )
        }
        pg = value
        break
      }
      case "redis": {
        if (value === undefined || !/^rediss?:\/\/\S+$/.test(value)) {
          return invalid(
            `--redis needs a redis://host:port URL, got ${value === undefined ? "nothing" : "another value"}`
          )
        }
        redis = value
        break
      }
      case "out": {
        if (value === undefined || value.trim() === "") return invalid("--out needs a directory")
        out = value
        break
      }
      case "quick":
        quick = true
        break
      case "json":
        json = true
        break
      case "compare":
        compare = true
        break
      case "overload":
        overload = true
        break
      case "help":
        help = true
        break
    }
  }
  return {
    _tag: "Flags",
    flags: {
      rate: rate ?? (quick ? 20 : 40),
      phaseSeconds: phaseSeconds ?? (quick ? 2 : 5),
      seed,
      quick,
      json,
      compare,
      overload,
      pg,
      redis,
      out,
      help
    }
  }
}
