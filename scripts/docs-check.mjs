#!/usr/bin/env node
// The guides' code must be true:
//
// 1. Every ```ts block in README.md, docs/*.md and packages/*/README.md, and every `@example` in the public
//    packages' src/*.ts (the API reference's examples), is type-checked as its own module (strict,
//    exactOptionalPropertyTypes) against the built packages, as a user who copies it would: run `pnpm build`
//    first. A block that is intentionally a fragment (a signature, an interface sketch) is fenced
//    ```ts fragment and is skipped.
// 2. Every speed claim is a marker that quotes a measured figure: <!-- bench:KEY --> … <!-- /bench --> around a
//    sentence holding the figure, KEY a path into packages/bench/results/latest.json (e.g.
//    scenarios.breaker-closed.ratio.cockatiel). The figure between the markers must be the measured one (as
//    written, rounded to its decimals), and outside the markers and tables no line may name a peer (cockatiel,
//    plain Effect, node-postgres, …) beside a comparison or a cost ("faster", "fraction of", "2.3×", "adds",
//    "µs"): a claim the results do not back fails. A line that must say such a thing without a figure (a method
//    description) carries <!-- no-claim -->.
//
//   node scripts/docs-check.mjs             both
//   node scripts/docs-check.mjs --claims    only the claims (no build needed)
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..")
const claimsOnly = process.argv.includes("--claims")
const fix = process.argv.includes("--fix")
const rel = (f) => path.relative(root, f)

const documents = [
  path.join(root, "README.md"),
  ...fs.readdirSync(path.join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => path.join(root, "docs", f)),
  ...fs.readdirSync(path.join(root, "packages"))
    .map((p) => path.join(root, "packages", p, "README.md"))
    .filter((f) => fs.existsSync(f))
]

const problems = []

// ---------------------------------------------------------------------------------------------------------------
// Speed claims
// ---------------------------------------------------------------------------------------------------------------

const resultsFile = path.join(root, "packages/bench/results/latest.json")
const results = JSON.parse(fs.readFileSync(resultsFile, "utf8"))
// KEY: a dot path; a segment steps into an object's field, or picks the element of an array (or of a
// scenario's `value` / `sides` list) whose `id` it names; `/1000` at the end divides (ns -> µs).
const lookup = (key) => {
  const [p, divisor] = key.split("/")
  const step = (o, k) => {
    if (o == null) return undefined
    if (Array.isArray(o)) return o.find((e) => e && e.id === k)
    if (k in o) return o[k]
    for (const inner of ["value", "sides"]) {
      if (o[inner] != null) {
        const found = step(o[inner], k)
        if (found !== undefined) return found
      }
    }
    return undefined
  }
  const v = p.split(".").reduce(step, results)
  return typeof v === "number" && divisor ? v / Number(divisor) : v
}

// A figure as written matches a measured value rounded to the figure's decimals, or, for a whole number with
// trailing zeros (230, 1,200), to its significant digits.
const matches = (written, value) => {
  const f = written.replace(/,/g, "")
  const decimals = (f.split(".")[1] ?? "").length
  if (Number(f) === Number(value.toFixed(decimals))) return true
  if (decimals === 0 && /0$/.test(f)) {
    const digits = Math.max(2, f.replace(/0+$/, "").length)
    return Number(f) === Number(value.toPrecision(digits))
  }
  return false
}

// A sentence that names a peer and a comparison or a cost must carry a marker.
const peer =
  /\b(cockatiel|opossum|p-retry|generic-pool|tarn|node-postgres|pg\.Pool|plain Effect|Effect\.retry|Effect's (?:own )?Pool)\b/i
const comparison =
  /(\bfaster\b|\bslower\b|fraction of|cheaper|\bcosts?\b|overhead|\badds?\b|[0-9.]+\s*[×x]\s|\btimes\b|less than|more than|as fast|queries\/s|\d\s*[µn]s\b)/i
// A measured figure: a number with a unit or a ×.
const figure = /\d[\d.,]*\s*(?:ns\b|µs|ms\b|×|queries\/s|%)/

// Writes `value` the way `written` was written: same decimals, same significant digits for 41,400-style figures.
const format = (written, value) => {
  const f = written.replace(/,/g, "")
  const decimals = (f.split(".")[1] ?? "").length
  let out = value.toFixed(decimals)
  if (decimals === 0 && /0$/.test(f)) {
    out = String(Number(value.toPrecision(Math.max(2, f.replace(/0+$/, "").length))))
  }
  return written.includes(",") ? Number(out).toLocaleString("en-US") : out
}

if (fix) {
  for (const file of documents) {
    const text = fs.readFileSync(file, "utf8")
    const next = text.replace(
      /(<!--\s*bench:([\w.\-[\]/]+)\s*-->)([\s\S]*?)(<!--\s*\/bench\s*-->)/g,
      (all, open, key, body, close) => {
        const value = lookup(key)
        if (typeof value !== "number") return all
        return open + body.replace(/[-−]?(?:\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)/, (w) =>
          format(w.replace(/^[-−]/, ""), value)) +
          close
      }
    )
    if (next !== text) {
      fs.writeFileSync(file, next)
      console.log(`docs-check: rewrote the figures of ${rel(file)} from results/latest.json`)
    }
  }
}

for (const file of documents) {
  const text = fs.readFileSync(file, "utf8")
  const withoutCode = text.replace(/```[\s\S]*?```/g, (m) => m.replace(/[^\n]/g, " "))
  const markerRe = /<!--\s*bench:([\w.\-[\]/]+)\s*-->([\s\S]*?)<!--\s*\/bench\s*-->/g
  let m
  while ((m = markerRe.exec(withoutCode)) !== null) {
    const [, key, body] = m
    const line = withoutCode.slice(0, m.index).split("\n").length
    const value = lookup(key)
    if (typeof value !== "number") {
      problems.push(`${rel(file)}:${line}: bench:${key} is not a number in results/latest.json`)
      continue
    }
    // A leading minus (or −) belongs to the figure: "-0.12" is -0.12, not 0.12.
    const figures = [...body.matchAll(/([-−]?(?:\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?))/g)].map((f) =>
      f[1].replace("−", "-")
    )
    const ok = figures.some((f) => matches(f, value))
    if (!ok) {
      problems.push(
        `${rel(file)}:${line}: bench:${key} is ${value} in results/latest.json, but the claim says "${body.trim()}"`
      )
    }
  }
  // Outside the markers (and outside tables, which are the measurements themselves), no comparative claim.
  const marked = withoutCode.split("\n")
  const unmarked = withoutCode.replace(markerRe, (s) => s.replace(/[^\n]/g, " "))
  unmarked.split("\n").forEach((lineText, i) => {
    if (lineText.trimStart().startsWith("|")) return
    if (/<!--\s*no-claim\s*-->/.test(lineText)) return
    const c = lineText.match(comparison)
    const who = lineText.match(peer)
    // a line with a peer and a comparison needs a marker, and no figure of its own outside one
    const hasMarker = /<!--\s*bench:/.test(marked[i] ?? "")
    if (c && who && (!hasMarker || figure.test(lineText))) {
      problems.push(
        `${rel(file)}:${i + 1}: "${who[0]}" and "${c[0]}": a speed claim without a <!-- bench:KEY --> marker quoting ` +
          `results/latest.json: ${lineText.trim().slice(0, 120)}`
      )
    }
  })
}

// ---------------------------------------------------------------------------------------------------------------
// Code blocks
// ---------------------------------------------------------------------------------------------------------------

let blocks = 0
if (!claimsOnly) {
  const out = path.join(root, "build/docs-check")
  fs.rmSync(out, { recursive: true, force: true })
  fs.mkdirSync(out, { recursive: true })
  const names = fs.readdirSync(path.join(root, "packages")).filter((p) =>
    fs.existsSync(path.join(root, "packages", p, "package.json"))
  )
  const paths = {}
  for (const name of names) {
    paths[`@effect-resilience/${name}`] = [`../../packages/${name}/dist/index`]
    paths[`@effect-resilience/${name}/*`] = [`../../packages/${name}/dist/*`]
  }
  const origin = {}
  for (const file of documents) {
    const text = fs.readFileSync(file, "utf8")
    const re = /^```ts([^\n]*)\n([\s\S]*?)^```/gm
    let m
    let n = 0
    while ((m = re.exec(text)) !== null) {
      n++
      if (/\bfragment\b/.test(m[1])) continue
      const line = text.slice(0, m.index).split("\n").length
      const name = `${path.basename(path.dirname(file)) === "docs" ? "docs-" : ""}${path.basename(file, ".md")}-${n}.ts`
        .replace(/[^\w.-]/g, "_")
      const target = path.join(out, name)
      fs.writeFileSync(target, m[2])
      origin[name] = `${rel(file)}:${line + 1} (block ${n})`
      blocks++
    }
  }
  // Every `@example` of the public packages' modules (the API reference's examples).
  for (const name of names) {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, "packages", name, "package.json"), "utf8"))
    if (pkg.private) continue
    const src = path.join(root, "packages", name, "src")
    for (const f of fs.readdirSync(src).filter((f) => f.endsWith(".ts"))) {
      const text = fs.readFileSync(path.join(src, f), "utf8")
      const re = /^\s*\* @example\s*\n\s*\* ```ts[^\n]*\n([\s\S]*?)^\s*\* ```/gm
      let m
      let n = 0
      while ((m = re.exec(text)) !== null) {
        n++
        const line = text.slice(0, m.index).split("\n").length + 2
        const code = m[1].split("\n").map((l) => l.replace(/^\s*\* ?/, "")).join("\n")
        const file = `api-${name}-${f.replace(/\.ts$/, "")}-${n}.ts`
        fs.writeFileSync(path.join(out, file), code)
        origin[file] = `packages/${name}/src/${f}:${line} (@example ${n})`
        blocks++
      }
    }
  }
  fs.writeFileSync(
    path.join(out, "tsconfig.json"),
    JSON.stringify(
      {
        compilerOptions: {
          noEmit: true,
          strict: true,
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          skipLibCheck: true,
          moduleDetection: "force",
          module: "ESNext",
          moduleResolution: "Bundler",
          target: "ES2022",
          lib: ["ES2022", "DOM"],
          types: ["node"],
          // the docs' snippets are read, not linted: unused names are fine
          noUnusedLocals: false,
          paths
        },
        include: ["*.ts"]
      },
      null,
      2
    )
  )
  // Resolve effect, @effect/platform, @effect/experimental, ioredis… from the public packages' own dependencies
  // (a user's project has them as dependencies or peers); vitest and the rest from the root's.
  const modules = path.join(out, "node_modules")
  fs.mkdirSync(modules)
  for (const name of ["core", "pool", "platform", "redis", "demo"]) {
    const nm = path.join(root, "packages", name, "node_modules")
    if (!fs.existsSync(nm)) continue
    for (const entry of fs.readdirSync(nm)) {
      if (entry.startsWith(".") || entry === "@effect-resilience") continue
      const entries = entry.startsWith("@") ? fs.readdirSync(path.join(nm, entry)).map((e) => `${entry}/${e}`) : [entry]
      for (const e of entries) {
        const target = path.join(modules, e)
        if (fs.existsSync(target)) continue
        fs.mkdirSync(path.dirname(target), { recursive: true })
        fs.symlinkSync(path.join(nm, e), target, "dir")
      }
    }
  }
  const r = spawnSync("pnpm", ["exec", "tsc", "-p", path.join(out, "tsconfig.json")], {
    cwd: root,
    encoding: "utf8"
  })
  if (r.status !== 0) {
    for (const l of `${r.stdout}${r.stderr}`.split("\n")) {
      const f = l.match(/^build\/docs-check\/([^(]+)\((\d+),(\d+)\): (.*)$/)
      if (f) {
        const [, name, ln, , msg] = f
        const [doc, start] = origin[name].split(":")
        problems.push(`${doc}:${Number.parseInt(start, 10) + Number(ln) - 1}: ${msg}   [${origin[name]}]`)
      } else if (l.trim() && !l.startsWith(" ")) {
        problems.push(l)
      }
    }
  }
}

if (problems.length > 0) {
  console.error(problems.join("\n"))
  console.error(`docs-check: ${problems.length} problem(s)`)
  process.exit(1)
}
console.log(`docs-check: ${blocks} code blocks type-check; every speed claim quotes results/latest.json`)
