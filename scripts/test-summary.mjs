// Prints vitest's JSON report as one plain closing line, "tests: N passed, N failed, N skipped", so a CI reader
// that knows no vitest output still sees the counts. Exits non-zero when the report is missing or has failures.
import { readFileSync } from "node:fs"

const file = process.argv[2]
let report
try {
  report = JSON.parse(readFileSync(file, "utf8"))
} catch (error) {
  console.error(`test-summary: cannot read ${file}: ${error.message}`)
  process.exit(1)
}
const passed = report.numPassedTests ?? 0
const failed = report.numFailedTests ?? 0
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0)
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`)
process.exit(failed > 0 || passed === 0 ? 1 : 0)
