#!/usr/bin/env node
// The `exports` map of every public package lists each public module by name (src/*.ts, nothing under
// internal/), with a `typesVersions` twin for `moduleResolution: node10`, and `main`/`types` for the root.
//
//   node scripts/exports.mjs          check: fails, naming the package and the module, when a package.json
//                                     is out of step with its src/ (e.g. a new src/Module.ts not exported),
//                                     or when a public module restates an internal type under its own name
//   node scripts/exports.mjs --write  rewrites those fields of every public package.json from src/
//
// Only those four fields are generated; the rest of package.json is left as it is.
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..")
const write = process.argv.includes("--write")

const entry = (name) => ({
  source: `./src/${name}.ts`,
  types: `./dist/${name}.d.ts`,
  default: `./dist/${name}.js`
})

/** The fields a package.json must have for the modules in its src/. */
export const expectedFields = (modules) => {
  const exports = { "./package.json": "./package.json", ".": entry("index") }
  const typesVersions = {}
  for (const m of modules) {
    exports[`./${m}`] = entry(m)
    typesVersions[m] = [`./dist/${m}.d.ts`]
  }
  return {
    main: "./dist/index.js",
    types: "./dist/index.d.ts",
    exports,
    typesVersions: { "*": typesVersions }
  }
}

/** The public modules of a package: src/*.ts but index.ts and declaration files; internal/ is not looked in. */
export const publicModules = (dir) =>
  fs.readdirSync(path.join(dir, "src"), { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") && e.name !== "index.ts")
    .map((e) => e.name.slice(0, -3))
    .sort()

/** The public packages of the workspace: packages/* whose package.json is not private. */
export const publicPackages = () =>
  fs.readdirSync(path.join(root, "packages"), { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(root, "packages", e.name, "package.json")))
    .map((e) => path.join(root, "packages", e.name))
    .filter((dir) => !JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")).private)

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)

if (isMain) {
  const problems = []
  for (const dir of publicPackages()) {
    const file = path.join(dir, "package.json")
    const text = fs.readFileSync(file, "utf8")
    const pkg = JSON.parse(text)
    const modules = publicModules(dir)
    const expected = expectedFields(modules)
    const rel = path.relative(root, file)
    if (write) {
      // Re-read right before writing: another change to the file may have landed meanwhile.
      const current = JSON.parse(fs.readFileSync(file, "utf8"))
      const next = {}
      for (const [k, v] of Object.entries(current)) {
        if (k === "exports") {
          next.main = expected.main
          next.types = expected.types
          next.exports = expected.exports
          next.typesVersions = expected.typesVersions
        } else if (!(k in expected)) {
          next[k] = v
        }
      }
      for (const k of Object.keys(expected)) if (!(k in next)) next[k] = expected[k]
      const out = JSON.stringify(next, null, 2) + "\n"
      if (out !== text) {
        fs.writeFileSync(file, out)
        console.log(`exports: wrote ${rel} (${modules.length} modules)`)
      }
      continue
    }
    // A public type restated from internal/ (`export type X = internal.X`) leaves X nameable only through the
    // internal file: a user's declaration emit fails with TS2742. Re-export it by name instead.
    for (const m of modules) {
      const source = fs.readFileSync(path.join(dir, "src", `${m}.ts`), "utf8")
      for (const hit of source.matchAll(/^export type (\w+)(?:<.*>)? = (\w+)\.\1\b/gm)) {
        problems.push(
          `${path.relative(root, path.join(dir, "src", `${m}.ts`))}: export type ${hit[1]} = ${hit[2]}.${hit[1]} ` +
            `makes ${hit[1]} nameable only through internal/; write export { ${hit[1]} } from "..." ` +
            `(see docs/architecture.md, Packaging)`
        )
      }
    }
    for (const k of Object.keys(expected)) {
      if (JSON.stringify(pkg[k]) !== JSON.stringify(expected[k])) {
        const listed = Object.keys(pkg.exports ?? {}).filter((e) => e !== "." && e !== "./package.json")
        const missing = modules.filter((m) => !listed.includes(`./${m}`))
        const extra = listed.filter((e) => !modules.includes(e.slice(2)))
        problems.push(
          `${rel}: "${k}" is out of step with src/` +
            (missing.length ? `; modules not exported: ${missing.join(", ")}` : "") +
            (extra.length ? `; exports without a src/ module: ${extra.join(", ")}` : "")
        )
      }
    }
  }
  if (problems.length > 0) {
    console.error(problems.join("\n"))
    if (problems.some((p) => p.includes("out of step"))) {
      console.error("exports: run `node scripts/exports.mjs --write` to regenerate the fields from src/")
    }
    process.exit(1)
  }
  if (!write) console.log("exports: every public module of every public package is exported by name")
}
