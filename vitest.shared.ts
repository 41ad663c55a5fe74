import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { ViteUserConfig } from "vitest/config"

const root = path.dirname(fileURLToPath(import.meta.url))
const typesOnly = process.env.VITEST_TYPES_ONLY === "1"

/**
 * Settings every package's vitest project shares: workspace packages resolve to their sources, so tests
 * need no build and never see a stale `dist/`.
 */
export const shared: ViteUserConfig = {
  resolve: {
    alias: [
      {
        find: /^@effect-resilience\/([a-z-]+)$/,
        replacement: path.join(root, "packages/$1/src/index.ts")
      },
      {
        find: /^@effect-resilience\/([a-z-]+)\/(.+)$/,
        replacement: path.join(root, "packages/$1/src/$2.ts")
      }
    ]
  },
  test: {
    include: ["test/**/*.test.ts"],
    // Type-level tests (`pnpm test:types`): `*.test-d.ts`, checked by tsc against the package's test project.
    // Projects do not inherit --typecheck.* flags from the root CLI, hence the variable.
    typecheck: {
      enabled: typesOnly,
      only: typesOnly,
      include: ["test/**/*.test-d.ts"],
      tsconfig: "./tsconfig.test.json"
    },
    sequence: { concurrent: false },
    testTimeout: 30_000,
    hookTimeout: 30_000
  }
}
