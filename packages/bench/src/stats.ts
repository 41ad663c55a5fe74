/**
 * Small, pure statistics used by the harness: medians and ranges over rounds, percentiles over latencies,
 * overheads and their ratios, and the targets the figures are held to.
 *
 * @since 0.1.0
 */

/**
 * A median with the range it came from.
 *
 * @since 0.1.0
 * @category models
 */
export interface Spread {
  readonly median: number
  readonly min: number
  readonly max: number
}

/**
 * The q-quantile (0 ≤ q ≤ 1) of some numbers, interpolating linearly between the two nearest ranks.
 *
 * @since 0.1.0
 * @category utils
 */
export const quantile = (values: ReadonlyArray<number>, q: number): number => {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const at = (sorted.length - 1) * Math.min(1, Math.max(0, q))
  const lo = Math.floor(at)
  const hi = Math.ceil(at)
  const a = sorted[lo]!
  const b = sorted[hi]!
  return a + (b - a) * (at - lo)
}

/**
 * The median of some numbers (NaN when there are none).
 *
 * @since 0.1.0
 * @category utils
 */
export const median = (values: ReadonlyArray<number>): number => quantile(values, 0.5)

/**
 * Median, min and max of some numbers.
 *
 * @since 0.1.0
 * @category utils
 */
export const spread = (values: ReadonlyArray<number>): Spread => ({
  median: median(values),
  min: values.length === 0 ? Number.NaN : Math.min(...values),
  max: values.length === 0 ? Number.NaN : Math.max(...values)
})

/**
 * The overhead of a variant in each round: its time per call minus the bare call of the same runtime measured in
 * the same round. Rounds are paired by index.
 *
 * @since 0.1.0
 * @category utils
 */
export const overheads = (perCall: ReadonlyArray<number>, bare: ReadonlyArray<number>): Array<number> =>
  perCall.map((t, i) => t - (bare[i] ?? Number.NaN))

/**
 * The ratio of two figures, or `null` when either is missing or the denominator is not positive (a ratio to a
 * zero or negative overhead says nothing).
 *
 * @since 0.1.0
 * @category utils
 */
export const ratio = (numerator: number | null | undefined, denominator: number | null | undefined): number | null =>
  numerator === null || numerator === undefined || denominator === null || denominator === undefined ||
    !Number.isFinite(numerator) || !Number.isFinite(denominator) || denominator <= 0
    ? null
    : numerator / denominator

/**
 * A goal a figure is held to.
 *
 * @since 0.1.0
 * @category models
 */
export interface Target {
  readonly key: string
  readonly op: "<=" | ">="
  readonly target: number
}

/**
 * A target with the figure measured for it.
 *
 * @since 0.1.0
 * @category models
 */
export interface TargetResult extends Target {
  readonly value: number | null
  /** `null` when the figure could not be measured in this run. */
  readonly met: boolean | null
}

/**
 * Holds a figure to its target.
 *
 * @since 0.1.0
 * @category utils
 */
export const check = (target: Target, value: number | null | undefined): TargetResult => {
  const v = value === undefined || value === null || !Number.isFinite(value) ? null : value
  return {
    ...target,
    value: v,
    met: v === null ? null : target.op === "<=" ? v <= target.target : v >= target.target
  }
}
