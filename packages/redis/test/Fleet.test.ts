/**
 * Three separate OS processes (child processes through tsx) share one breaker and one rate limit through Redis.
 */
import { Services } from "@effect-resilience/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as path from "node:path"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"
import { cleanup, eventually, redis, sleep } from "./utils.js"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..")
const fixture = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "fixtures/replica.ts")

interface Child {
  readonly process: ChildProcess
  readonly ask: <A>(command: object) => Promise<A>
  readonly output: () => string
}

/** Starts a replica process and waits until it is ready (at most 30 s); killed when the scope closes. */
const startChild = (env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<Child>((resolve, reject) => {
        const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", fixture], {
          cwd: root,
          env: { ...process.env, ...env },
          stdio: ["pipe", "pipe", "pipe"]
        })
        let output = ""
        let next = 0
        const waiting = new Map<number, (value: unknown) => void>()
        const timer = setTimeout(() => reject(new Error(`the replica did not start: ${output}`)), 30_000)
        child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()))
        readline.createInterface({ input: child.stdout! }).on("line", (line) => {
          output += line + "\n"
          const message = JSON.parse(line) as { id?: number; event?: string }
          if (message.event === "ready") {
            clearTimeout(timer)
            resolve({
              process: child,
              output: () => output,
              ask: <A>(command: object) =>
                new Promise<A>((done) => {
                  const id = ++next
                  waiting.set(id, done as (value: unknown) => void)
                  child.stdin!.write(JSON.stringify({ ...command, id }) + "\n")
                })
            })
          } else if (message.id !== undefined) {
            waiting.get(message.id)?.(message)
            waiting.delete(message.id)
          }
        })
        child.once("exit", (code) => {
          clearTimeout(timer)
          reject(new Error(`the replica exited with ${code}: ${output}`))
        })
      })
    ),
    (child) => Effect.sync(() => child.process.exitCode === null && child.process.kill("SIGKILL"))
  )

const ask = <A>(child: Child, command: object) => Effect.promise(() => child.ask<A>(command))
const stateOf = (child: Child) => Effect.map(ask<{ state: string }>(child, { op: "state" }), (r) => r.state)

describe.skipIf(!redis.available)("a fleet of three processes", () => {
  it.scopedLive(
    "share one rate limit (100/s admits 100 ± 2 in a second) and one breaker (opening, fleet-wide probes, a killed prober, closing)",
    () =>
      Effect.gen(function*() {
        const prefix = Services.uniquePrefix("fleet")
        yield* cleanup(prefix)
        const env = { REDIS_URL: redis.url, PREFIX: prefix, LEASE_MS: "1000", OPEN_MS: "500", MAX_PROBES: "2" }
        const children = yield* Effect.all([startChild(env), startChild(env), startChild(env)], {
          concurrency: "unbounded"
        })
        const startAt = Date.now() + 300
        const counts = yield* Effect.forEach(
          children,
          (child) => ask<{ admitted: number; rejected: number }>(child, { op: "limit", startAt, durationMs: 1_000 }),
          { concurrency: "unbounded" }
        )
        const limited = counts.reduce((sum, c) => sum + c.admitted, 0)
        assert.isTrue(counts.every((c) => c.rejected > 0), JSON.stringify(counts))
        assert.isAtLeast(limited, 98, JSON.stringify(counts))
        assert.isAtMost(limited, 102, JSON.stringify(counts))
        // Failures in one open it in all three.
        const opened = yield* ask<{ state: string }>(children[0], { op: "fail", n: 3 })
        assert.strictEqual(opened.state, "Open")
        for (const child of children) {
          assert.isTrue(yield* eventually(Effect.map(stateOf(child), (s) => s === "Open")), child.output())
        }
        yield* sleep(600)
        // Half-open: every process keeps asking; maxProbes (2) are admitted in total.
        let probe = 0
        const holders: Array<[number, number]> = []
        const attempt = Effect.gen(function*() {
          for (let i = 0; i < 3; i++) {
            const id = ++probe
            const answer = yield* ask<{ admitted: boolean }>(children[i]!, { op: "probe", probe: id })
            if (answer.admitted) holders.push([i, id])
          }
          yield* sleep(25)
        })
        // Until two probes run (leases take a flush to come), then a few more rounds: never a third.
        const until = Date.now() + 3_000
        while (holders.length < 2 && Date.now() < until) yield* attempt
        for (let round = 0; round < 5; round++) yield* attempt
        assert.strictEqual(holders.length, 2)
        // A prober dies mid-probe: its lease lapses (1 s), and the others get probes again.
        const [killed] = holders[0]!
        children[killed]!.process.kill("SIGKILL")
        const alive = [0, 1, 2].filter((i) => i !== killed)
        let admitted: [number, number] | undefined
        const deadline = Date.now() + 5_000
        while (admitted === undefined && Date.now() < deadline) {
          for (const i of alive) {
            const id = ++probe
            const answer = yield* ask<{ admitted: boolean }>(children[i]!, { op: "probe", probe: id })
            if (answer.admitted && admitted === undefined) admitted = [i, id]
          }
          yield* sleep(50)
        }
        assert.isDefined(admitted, "no probe admitted after the killed prober's lease lapsed")
        // Its success closes the breaker in every living process.
        yield* ask(children[admitted![0]]!, { op: "release", probe: admitted![1], ok: true })
        for (const i of alive) {
          assert.isTrue(yield* eventually(Effect.map(stateOf(children[i]!), (s) => s === "Closed")))
        }
      }),
    60_000
  )
})
