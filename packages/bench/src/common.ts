/**
 * What the scenarios share: the operation every call runs, the shape of our side of a scenario (an adapter in
 * `src/ours/`), and a scope to build Effect resources in from Promise code.
 *
 * @since 0.1.0
 */
import { Effect, Exit, Scope } from "effect"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { effectBatch, type Entry, promiseBatch, type Variant } from "./harness.js"

/**
 * The operation under every policy, for Effect code: as cheap as an effect gets, so the policy's overhead is what
 * shows.
 *
 * @since 0.1.0
 * @category constants
 */
export const opEffect: Effect.Effect<number> = Effect.sync(() => 1)

/**
 * The same operation for Promise code.
 *
 * @since 0.1.0
 * @category constants
 */
export const opPromise = async (): Promise<number> => 1

/**
 * Puts a policy around one call.
 *
 * @since 0.1.0
 * @category models
 */
export type Wrap = (op: Effect.Effect<number, unknown>) => Effect.Effect<number, unknown>

/**
 * Our side of a per-call scenario: builds the policy with default options and returns how to run one call through
 * it.
 *
 * @since 0.1.0
 * @category models
 */
export interface WrapAdapter {
  /** What is measured, as it reads in user code. */
  readonly label: string
  readonly make: Effect.Effect<Wrap, unknown, Scope.Scope>
}

/**
 * An adapter of `src/ours/`, or why there is none.
 *
 * @since 0.1.0
 * @category models
 */
export type Loaded<A> =
  | { readonly _tag: "Loaded"; readonly adapter: A }
  | { readonly _tag: "Missing"; readonly reason: string }

/**
 * Loads our side of a scenario from `src/ours/<name>.ts`. The adapter is added once the module it measures has
 * landed: a missing adapter makes the scenario report "not available"; an adapter that fails to load is a crash.
 *
 * @since 0.1.0
 * @category utils
 */
export const loadOurs = async <A>(name: string, module: string): Promise<Loaded<A>> => {
  const exists = [".ts", ".js"].some((ext) =>
    fs.existsSync(fileURLToPath(new URL(`./ours/${name}${ext}`, import.meta.url)))
  )
  if (!exists) return { _tag: "Missing", reason: `not available: ${module} has not landed` }
  const mod = (await import(`./ours/${name}.js`)) as { readonly adapter: A }
  return { _tag: "Loaded", adapter: mod.adapter }
}

/**
 * A scope for Effect resources built from Promise code, closed by `close`.
 *
 * @since 0.1.0
 * @category utils
 */
export const makeScope = () => {
  const scope = Effect.runSync(Scope.make())
  return {
    build: <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Promise<A> =>
      Effect.runPromise(Scope.extend(effect, scope)),
    close: (): Promise<void> => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

/**
 * The entry of a variant whose implementation has not landed.
 *
 * @since 0.1.0
 * @category utils
 */
export const missing = (id: string, label: string, reason: string, runtime: "effect" | "promise" = "effect") => ({
  id,
  label,
  side: "ours" as const,
  runtime,
  reason
})

/**
 * The Effect runtime's bare call, `yield* op`: what Effect-side overheads are measured against.
 *
 * @since 0.1.0
 * @category entries
 */
export const bareEffect = (n: number): Variant => ({
  id: "bare-effect",
  label: "bare `yield* op`",
  side: "bare",
  runtime: "effect",
  batch: effectBatch(n, () => opEffect)
})

/**
 * The Promise runtime's bare call, `await op()`: what Promise-side overheads are measured against.
 *
 * @since 0.1.0
 * @category entries
 */
export const barePromise = (n: number): Variant => ({
  id: "bare-promise",
  label: "bare `await op()`",
  side: "bare",
  runtime: "promise",
  batch: promiseBatch(n, opPromise)
})

/**
 * Our side of a scenario whose adapter wraps the op, built in `scope`; "not available" when it has not landed.
 *
 * @since 0.1.0
 * @category entries
 */
export const oursWrapped = async (
  n: number,
  ours: Loaded<WrapAdapter>,
  scope: ReturnType<typeof makeScope>,
  missingLabel: string
): Promise<Entry> =>
  ours._tag === "Loaded"
    ? {
      id: "ours",
      label: ours.adapter.label,
      side: "ours",
      runtime: "effect",
      batch: await scope.build(ours.adapter.make).then((wrap) => effectBatch(n, () => wrap(opEffect)))
    }
    : missing("ours", missingLabel, ours.reason)
