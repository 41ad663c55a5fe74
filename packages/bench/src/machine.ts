/**
 * The machine and the versions a run was measured with.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"

/**
 * @since 0.1.0
 * @category models
 */
export interface Machine {
  readonly cpu: string
  readonly cores: number
  readonly node: string
  readonly v8: string
  readonly platform: string
  readonly totalMemoryGb: number
  readonly loadAverageAtStart: ReadonlyArray<number>
  readonly versions: Record<string, string>
}

const require = createRequire(import.meta.url)

const versionOf = (name: string): string => {
  try {
    // Some packages do not export their package.json: walk up from the entry point.
    let dir = path.dirname(require.resolve(name))
    while (dir !== path.dirname(dir)) {
      const file = path.join(dir, "package.json")
      if (fs.existsSync(file)) {
        const json = JSON.parse(fs.readFileSync(file, "utf8")) as { name?: string; version?: string }
        if (json.name === name && json.version !== undefined) return json.version
      }
      dir = path.dirname(dir)
    }
  } catch {
    // not installed
  }
  return "unknown"
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const describe = (): Machine => ({
  cpu: os.cpus()[0]?.model.trim() ?? "unknown",
  cores: os.availableParallelism(),
  node: process.version,
  v8: process.versions.v8,
  platform: `${os.platform()} ${os.release()} ${os.arch()}`,
  totalMemoryGb: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
  loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
  versions: Object.fromEntries(
    ["effect", "mitata", "cockatiel", "opossum", "p-retry", "generic-pool", "tarn", "pg"].map((n) => [n, versionOf(n)])
  )
})
