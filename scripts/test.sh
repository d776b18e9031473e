#!/usr/bin/env bash
# The whole test suite: install what is missing, then lint (ESLint + Prettier), type-check, and every jest tier
# (unit, integration over HTTP, end to end on real FUSE mounts). Ends with the line `N passed, N failed`,
# where the static checks count as one test each.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/ensure-deps.sh || { echo "0 passed, 1 failed"; exit 1; }

passed=0; failed=0
step() { # name, command...
  local name=$1; shift
  printf '\033[1m==> %s\033[0m\n' "$name"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $name"; fi
}
step "eslint" npx eslint .
step "prettier --check" npx prettier --check .
step "tsc --noEmit" npx tsc -p tsconfig.json --noEmit

results=$(mktemp)
printf '\033[1m==> %s\033[0m\n' "jest (all tiers)"
npx jest --json --outputFile="$results" "$@"
jest_rc=$?
counts=$(node -e '
  const fs = require("fs");
  try {
    const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    // Suites that failed to run (syntax error, failing hook) count as failures too.
    const broken = r.testResults.filter((t) => t.status === "failed" && t.assertionResults.length === 0).length;
    console.log(r.numPassedTests, r.numFailedTests + broken);
  } catch { console.log("0 1"); }' "$results")
rm -f "$results"
read -r jp jf <<<"$counts"
passed=$((passed + jp)); failed=$((failed + jf))
if [ "$jest_rc" -ne 0 ] && [ "$jf" -eq 0 ]; then failed=$((failed + 1)); fi

# Nothing may be left behind: a leaked FUSE mount of a test (they all live in temp folders named spfs-*) fails
# the run. The demo's own mount is not a test's.
leaked=$(awk '$3 ~ /^fuse\.spfs/ && $2 ~ /\/spfs-[^/]*\// {print $2}' /proc/mounts)
if [ -n "$leaked" ]; then echo "FAILED: tests left mounts behind: $leaked"; failed=$((failed + 1)); fi
# ... and so is a daemon or server of a test still running.
strays=$(pgrep -f "bin/spfs (mount|serve) .*/spfs-[^/ ]*/" || true)
if [ -n "$strays" ]; then echo "FAILED: tests left spfs processes behind: $(echo $strays)"; failed=$((failed + 1)); fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
