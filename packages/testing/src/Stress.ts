/**
 * How many runs a property test makes: a short form in `pnpm test`, at least 1,000 in `pnpm test:stress`
 * (`STRESS=1`), where the figures for `docs/reliability.md` come from.
 *
 * @since 0.1.0
 */

/**
 * `true` under `pnpm test:stress` (`STRESS=1`).
 *
 * @since 0.1.0
 * @category constants
 */
export const enabled: boolean = process.env.STRESS === "1" || process.env.STRESS === "true"

/**
 * The number of runs for a property test: `short` in a normal run, `max(long, 1000)` under stress.
 *
 * @since 0.1.0
 * @category utils
 */
export const runs = (short: number, long = 1_000): number => (enabled ? Math.max(long, 1_000) : short)

/**
 * fast-check parameters for `it.prop` / `FastCheck.assert`: `{ numRuns: runs(short, long) }`.
 *
 * @since 0.1.0
 * @category utils
 */
export const fastCheck = (short: number, long = 1_000): { readonly numRuns: number } => ({
  numRuns: runs(short, long)
})
