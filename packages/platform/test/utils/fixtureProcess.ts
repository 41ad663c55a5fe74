/**
 * Fixture services run as child processes (node with tsx, from the repository root) for the shutdown and service
 * tests: each listens on a random loopback port and says so in a `{"event":"listening","port":…}` line on stdout.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..")

export interface Child {
  readonly process: ChildProcess
  readonly port: number
  readonly exited: Promise<number | null>
  /** Everything the child printed (logs go to stdout). */
  readonly output: () => string
}

/** Starts the fixture at `fixture` with tsx and waits for it to listen (at most 30 s). */
export const startFixture = (fixture: string, env: Record<string, string>): Promise<Child> =>
  new Promise<Child>((resolve, reject) => {
    const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", fixture], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)))
    const timer = setTimeout(() => reject(new Error(`the fixture did not start: ${output}`)), 30_000)
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString()
      const line = output.split("\n").find((l) => l.startsWith("{\"event\":\"listening\""))
      if (line !== undefined) {
        clearTimeout(timer)
        resolve({ process: child, port: JSON.parse(line).port, exited, output: () => output })
      }
    })
    child.once("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`the fixture exited with ${code}: ${output}`))
    })
  })
