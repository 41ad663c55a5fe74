#!/usr/bin/env node
// The API reference: @effect/docgen over every public package's src/ (internal/ excluded). It fails when an
// export lacks its JSDoc or `@since`, and type-checks every `@example` against the workspace sources (strict,
// exactOptionalPropertyTypes). Output: packages/<pkg>/docs/modules/*.md (not committed).
//
//   node scripts/docgen.mjs            every public package
//   node scripts/docgen.mjs core pool  some of them
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { publicPackages } from "./exports.mjs"

const only = process.argv.slice(2)
const dirs = publicPackages().filter((dir) => only.length === 0 || only.includes(path.basename(dir)))
const names = publicPackages().map((dir) => path.basename(dir))

const paths = {}
for (const name of names) {
  // relative to packages/<pkg>/docs/examples, where docgen writes the examples' tsconfig
  paths[`@effect-resilience/${name}`] = [`../../../${name}/dist/index`]
  paths[`@effect-resilience/${name}/*`] = [`../../../${name}/dist/*`]
}

let failed = 0
for (const dir of dirs) {
  const config = {
    $schema: "../../node_modules/@effect/docgen/schema.json",
    srcDir: "src",
    outDir: "docs",
    exclude: ["src/internal/**/*.ts"],
    enableSearch: false,
    parseCompilerOptions: "./tsconfig.src.json",
    examplesCompilerOptions: {
      noEmit: true,
      strict: true,
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
      skipLibCheck: true,
      moduleResolution: "Bundler",
      module: "ES2022",
      target: "ES2022",
      lib: ["ES2022", "DOM"],
      types: ["node"],
      paths
    }
  }
  const file = path.join(dir, "docgen.json")
  const text = JSON.stringify(config, null, 2) + "\n"
  if (!fs.existsSync(file) || fs.readFileSync(file, "utf8") !== text) fs.writeFileSync(file, text)
  const started = Date.now()
  // docgen 0.5 hands process.argv.slice(2) to @effect/cli, which drops two more: hence the two placeholders.
  const r = spawnSync("pnpm", ["exec", "docgen", "node", "docgen", "--no-run-examples"], { cwd: dir, encoding: "utf8" })
  const out = `${r.stdout}${r.stderr}`
  if (r.status !== 0 || !out.includes("Docs generation succeeded")) {
    failed++
    console.error(out)
    console.error(`docgen: ${path.basename(dir)} failed`)
  } else {
    console.log(`docgen: ${path.basename(dir)} ok (${((Date.now() - started) / 1000).toFixed(1)} s)`)
  }
}
if (failed > 0) process.exit(1)
