// `pnpm demo`'s launcher. Run from the compiled `dist/` when it is fresh (no `src/**/*.ts` of the demo or of the
// workspace packages it imports changed since their last `tsc -b`): about 1 s of start-up. Otherwise (a fresh clone
// before `pnpm build`, or a source edited since) run the sources under tsx, as before: about 2.5 s more.
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const demo = path.join(path.dirname(fileURLToPath(import.meta.url)), "..")
const root = path.join(demo, "..", "..")

/** The package's directory and those of the workspace packages it depends on, transitively. */
const packages = (dir, seen = new Set()) => {
  if (seen.has(dir)) return seen
  seen.add(dir)
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"))
  for (const [name, range] of Object.entries(manifest.dependencies ?? {})) {
    if (!String(range).startsWith("workspace:")) continue
    const sibling = path.join(root, "packages", name.replace(/^@[^/]+\//, ""))
    if (fs.existsSync(path.join(sibling, "package.json"))) packages(sibling, seen)
  }
  return seen
}

/** The newest modification time under `dir` of a `.ts` file, in ms. */
const newest = (dir) => {
  let max = 0
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name)
    if (entry.isDirectory()) max = Math.max(max, newest(file))
    else if (entry.name.endsWith(".ts")) max = Math.max(max, fs.statSync(file).mtimeMs)
  }
  return max
}

/**
 * Whether `dist/` was built from the current `src/`: `tsc -b` rewrites the build info on every build that found a
 * change (but leaves a `.js` alone when its text did not change, so the outputs' own times do not tell).
 */
const fresh = (dir) => {
  try {
    const built = fs.statSync(path.join(dir, "build", "tsbuildinfo", "src.tsbuildinfo")).mtimeMs
    return fs.existsSync(path.join(dir, "dist", "index.js")) && newest(path.join(dir, "src")) <= built
  } catch {
    return false
  }
}

const compiled = process.env.DEMO_FROM_SOURCE !== "1" && [...packages(demo)].every((dir) => fresh(dir))
if (compiled) {
  await import(pathToFileURL(path.join(demo, "dist", "main.js")).href)
} else {
  // One node process with tsx's loader (its CLI would add a second process between the signals and the demo).
  const args = ["--conditions=source", "--import", import.meta.resolve("tsx"), path.join(demo, "src", "main.ts")]
  const child = spawn(process.execPath, [...args, ...process.argv.slice(2)], { stdio: "inherit" })
  // Ctrl-C reaches the child from the terminal (same process group): it drains its services and exits, and so do we.
  process.on("SIGINT", () => {})
  process.on("SIGTERM", () => child.kill("SIGTERM"))
  child.on("exit", (code, signal) => {
    process.exitCode = code ?? (signal === null ? 1 : 128 + (signal === "SIGINT" ? 2 : 15))
  })
}
