#!/usr/bin/env bash
# The consumer test: the packages as a user outside this workspace gets them.
#
# 1. `pnpm pack` every public package (workspace:^ becomes a real version range) into build/pack/.
# 2. publint and @arethetypeswrong/cli on every package and tarball.
# 3. A fresh npm project in a temp dir (outside the workspace) installs the tarballs and, as a user would from the
#    READMEs' install lines, the peer dependencies at the ranges our packages declare (so Effect 3.x, never npm's
#    `latest`); npm refuses peers that conflict.
# 4. scripts/consumer/*.ts type-check under a strict tsconfig (exactOptionalPropertyTypes, declaration emit,
#    skipLibCheck off for our .d.ts) twice, moduleResolution NodeNext and Bundler, then run with node against
#    the real PostgreSQL and Redis (CONSUMER_PG_URL, default postgres://postgres@127.0.0.1:5432/test;
#    CONSUMER_REDIS_URL, default redis://127.0.0.1:6379).
#
# Needs `pnpm build` first. A missing peer dependency, a module not exported, a type only reachable through an
# internal file or a second copy of effect/@effect/platform fails one of the steps.
#
#   scripts/consumer-test.sh            everything
#   SKIP_LINT=1 scripts/consumer-test.sh  skip step 2
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
start=$SECONDS

packdir="$root/build/pack"
rm -rf "$packdir" && mkdir -p "$packdir"
mapfile -t pkgs < <(node --input-type=module -e '
  import { publicPackages } from "./scripts/exports.mjs"
  for (const dir of publicPackages()) console.log(dir)
')
for dir in "${pkgs[@]}"; do
  if [ ! -f "$dir/dist/index.js" ]; then
    echo "consumer: $dir/dist/index.js is missing: run pnpm build first" >&2
    exit 1
  fi
  (cd "$dir" && pnpm pack --pack-destination "$packdir" >/dev/null)
done
echo "consumer: packed $(ls "$packdir" | tr '\n' ' ')"

if [ -z "${SKIP_LINT:-}" ]; then
  # One job per tarball, in parallel (each loads TypeScript): publint --strict (warnings fail too; suggestions are
  # printed and pass) and attw. ESM only by design: from CommonJS the packages load with import(), which attw
  # reports as cjs-resolves-to-esm, so that rule is ignored.
  pids=()
  for tgz in "$packdir"/*.tgz; do
    (
      log="$tgz.lint.log"
      if ! pnpm exec publint run --strict "$tgz" >"$log" 2>&1; then
        cat "$log"; echo "consumer: publint found problems in $(basename "$tgz")" >&2; exit 1
      fi
      grep -v "^Running publint\|^Linting\|^All good\|^Unpacking" "$log" || true
      if ! pnpm exec attw "$tgz" --ignore-rules cjs-resolves-to-esm --format table-flipped --no-color >"$log" 2>&1; then
        cat "$log"; echo "consumer: attw found problems in $(basename "$tgz")" >&2; exit 1
      fi
    ) &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  echo "consumer: publint and attw clean on ${#pkgs[@]} packages ($((SECONDS - start)) s)"
fi

app="$(mktemp -d "${TMPDIR:-/tmp}/effect-resilience-consumer.XXXXXX")"
trap 'rm -rf "$app"' EXIT
cp "$root"/scripts/consumer/*.ts "$app/"

# The user's package.json: our tarballs, plus every peer dependency they declare, at the declared range.
node --input-type=module - "$packdir" "$app" <<'EOF'
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
const [packdir, app] = process.argv.slice(2)
const deps = {}
const ours = new Set()
const manifests = fs.readdirSync(packdir).filter((f) => f.endsWith(".tgz")).map((f) => {
  const pkg = JSON.parse(execFileSync("tar", ["-xzOf", path.join(packdir, f), "package/package.json"], { encoding: "utf8" }))
  deps[pkg.name] = `file:${path.join(packdir, f)}`
  ours.add(pkg.name)
  return pkg
})
for (const pkg of manifests) {
  for (const [name, range] of Object.entries(pkg.peerDependencies ?? {})) {
    if (ours.has(name) || pkg.peerDependenciesMeta?.[name]?.optional) continue
    if (deps[name] && deps[name] !== range) throw new Error(`${name}: peer ranges differ between packages (${deps[name]} vs ${range})`)
    deps[name] = range
  }
}
const devDependencies = { typescript: "~5.9.3", "@types/node": "^20.19.0" }
fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module", dependencies: deps, devDependencies }, null, 2))
const common = {
  strict: true,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
  noImplicitOverride: true,
  declaration: true,
  skipLibCheck: false,
  target: "ES2022",
  lib: ["ES2022", "DOM"],
  types: ["node"]
}
fs.writeFileSync(path.join(app, "tsconfig.nodenext.json"), JSON.stringify({
  compilerOptions: { ...common, module: "NodeNext", moduleResolution: "NodeNext", outDir: "out" },
  include: ["*.ts"]
}, null, 2))
fs.writeFileSync(path.join(app, "tsconfig.bundler.json"), JSON.stringify({
  compilerOptions: { ...common, module: "ESNext", moduleResolution: "Bundler", noEmit: true, declaration: false },
  include: ["*.ts"]
}, null, 2))
console.log("consumer: dependencies " + JSON.stringify(deps, (k, v) => (typeof v === "string" && v.startsWith("file:") ? "(tarball)" : v)))
EOF

cd "$app"
# One retry: the registry is the only thing here outside this machine.
npm install --no-audit --no-fund --loglevel=error >npm-install.log 2>&1 ||
  npm install --no-audit --no-fund --loglevel=error >npm-install.log 2>&1 ||
  { cat npm-install.log; echo "consumer: npm install failed" >&2; exit 1; }
# One copy of each shared package: two would make the types of one incompatible with the other's.
for shared in effect @effect/platform @effect-resilience/core; do
  copies="$(find . -path "*/node_modules/$shared/package.json" | wc -l)"
  if [ "$copies" != "1" ]; then
    find . -path "*/node_modules/$shared/package.json"
    echo "consumer: $copies copies of $shared installed" >&2
    exit 1
  fi
done
echo "consumer: installed effect@$(node -p 'require("effect/package.json").version') ($((SECONDS - start)) s)"

# skipLibCheck is off: our .d.ts must type-check too (a PgPool.d.ts that imports `pg` types nobody brings
# fails here instead of degrading to `any`).
npx tsc -p tsconfig.bundler.json
echo "consumer: typecheck (moduleResolution Bundler) passed"
npx tsc -p tsconfig.nodenext.json
echo "consumer: typecheck (moduleResolution NodeNext) passed"
node out/main.js
echo "consumer: passed ($((SECONDS - start)) s)"
