import effectPlugin from "@effect/eslint-plugin"
import js from "@eslint/js"
import tseslint from "typescript-eslint"

/** Calls that read the wall clock, start raw timers or draw unseeded randomness: `src/` uses `Clock` and `Random`. */
const forbiddenInSrc = [
  {
    selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']",
    message: "Use Effect's Clock (Clock.currentTimeMillis) instead of Date.now(): TestClock must control time."
  },
  {
    selector: "NewExpression[callee.name='Date']",
    message: "Use Effect's Clock instead of new Date(): TestClock must control time."
  },
  {
    selector: "CallExpression[callee.name=/^(setTimeout|setInterval|setImmediate)$/]",
    message: "Use Effect.sleep / Schedule instead of raw timers: TestClock must control time."
  },
  {
    selector:
      "CallExpression[callee.object.name=/^(globalThis|global|window)$/][callee.property.name=/^(setTimeout|setInterval)$/]",
    message: "Use Effect.sleep / Schedule instead of raw timers: TestClock must control time."
  },
  {
    selector: "CallExpression[callee.object.name='Math'][callee.property.name='random']",
    message: "Use Effect's Random instead of Math.random(): a seeded Random must make jitter reproducible."
  },
  {
    selector: "MemberExpression[object.name=/^(Queue|PubSub|Mailbox)$/][property.name='unbounded']",
    message: "No unbounded queues in src/: use a bounded, dropping or sliding one."
  },
  {
    selector: "CallExpression[callee.object.name='performance'][callee.property.name='now']",
    message: "Use Effect's Clock (Clock.currentTimeNanos) instead of performance.now()."
  }
]

export default tseslint.config(
  {
    ignores: [
      "**/dist/**",
      "**/build/**",
      "**/node_modules/**",
      "**/coverage/**",
      "**/results/**",
      "**/*.d.ts",
      "packages/*/docs/**"
    ]
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { "@effect": effectPlugin },
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module"
    },
    rules: {
      "@effect/dprint": ["error", {
        config: {
          indentWidth: 2,
          lineWidth: 120,
          semiColons: "asi",
          quoteStyle: "alwaysDouble",
          trailingCommas: "never",
          operatorPosition: "maintain",
          "arrowFunction.useParentheses": "force"
        }
      }],
      "no-unused-vars": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-namespace": "off",
      "@typescript-eslint/no-empty-object-type": "off",
      "@typescript-eslint/no-unsafe-function-type": "off",
      "@typescript-eslint/array-type": ["error", { default: "generic", readonly: "generic" }],
      "@typescript-eslint/consistent-type-imports": "off",
      "prefer-const": "error",
      "no-console": "off"
    }
  },
  {
    files: ["**/*.js", "**/*.mjs"],
    languageOptions: {
      globals: { process: "readonly", console: "readonly", URL: "readonly" }
    }
  },
  {
    files: ["packages/*/src/**/*.ts"],
    ignores: ["packages/bench/**", "packages/testing/**"],
    rules: {
      "no-restricted-syntax": ["error", ...forbiddenInSrc],
      "@typescript-eslint/no-explicit-any": "error"
    }
  }
)
