/**
 * The one list of test projects: one vitest project per package. The root `vitest.config.ts` feeds it to
 * `test.projects` (vitest 3.2 deprecates picking this file up on its own).
 */
export default [
  "packages/testing",
  "packages/core",
  "packages/pool",
  "packages/redis",
  "packages/platform",
  "packages/demo",
  "packages/bench"
]
