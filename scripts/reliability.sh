#!/usr/bin/env bash
# `npm run reliability`: the long versions of the crash and model tests (the README's test command runs a short
# fixed-seed slice of each). Seeds are random unless SPFS_CRASH_SEED is given; each part prints its counts, and the
# summary goes to reliability/results/<date>-<commit>.md. Any loss or mismatch fails the run and names the seed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/ensure-deps.sh || exit 1

cycles="${SPFS_CRASH_CYCLES:-60}"
runs="${SPFS_CRASH_RUNS:-3}"
out="reliability/results/$(date -u +%Y-%m-%d)-$(git rev-parse --short HEAD 2>/dev/null || echo nogit).md"
mkdir -p reliability/results
{
  echo "# Reliability run $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "| part | seed | counts |"
  echo "|---|---|---|"
} >"$out"

failed=0
for i in $(seq "$runs"); do
  seed="${SPFS_CRASH_SEED:-$((RANDOM * 32768 + RANDOM))}"
  log=$(mktemp)
  SPFS_CRASH_SEED="$seed" SPFS_CRASH_CYCLES="$cycles" npx jest test/e2e/crash-loop.test.ts 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  line=$(grep -o 'crash loop seed [0-9]*: .*refused' "$log" | head -1)
  echo "| crash loop ($cycles kills) | $seed | ${line#*: } |" >>"$out"
  if [ "$rc" -ne 0 ]; then
    failed=$((failed + 1))
    echo "FAILED: crash loop seed $seed; replay: SPFS_CRASH_SEED=$seed SPFS_CRASH_CYCLES=$cycles npx jest test/e2e/crash-loop.test.ts"
  fi
  rm -f "$log"
done
# The model-based test, long: more runs and steps than the suite's slice, a random seed.
mseed="${SPFS_MODEL_SEED:-$((RANDOM * 32768 + RANDOM))}"
log=$(mktemp)
SPFS_MODEL_SEED="$mseed" SPFS_MODEL_RUNS="${SPFS_MODEL_RUNS:-10}" SPFS_MODEL_STEPS="${SPFS_MODEL_STEPS:-100}" \
  npx jest test/e2e/model-based.test.ts 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
line=$(grep -o 'model-based seed [0-9]*: .*mismatches' "$log" | head -1)
[ -n "$line" ] || line="x: failed (fast-check printed the seed and path to replay)"
echo "| model-based | $mseed | ${line#*: } |" >>"$out"
if [ "$rc" -ne 0 ]; then
  failed=$((failed + 1))
  echo "FAILED: model-based seed $mseed; replay with SPFS_MODEL_SEED=$mseed and the path fast-check printed (SPFS_MODEL_PATH)"
fi
rm -f "$log"

# Two mounts: B polling what A rewrites sees only whole closed versions. Not yet true with fuse-native (libfuse 2 has
# no kernel invalidation: the kernel may keep the previous version's size for up to 1 s); kept here, out of the
# test command, as the measurement the libfuse3 adapter must turn clean.
log=$(mktemp)
npx jest --testMatch '<rootDir>/test/reliability/**/*.reliability.ts' 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
counts=$(grep -c 'close → first read on B' "$log")
bad=$(grep -o '[0-9]* not a closed version' "$log" | awk '{s += $1} END {print s + 0}')
echo "| two mounts, --write-back 0/0.2/1/3 | - | $counts write-back values, $bad reads on B that were not a closed version |" >>"$out"
[ "$rc" -eq 0 ] || { failed=$((failed + 1)); echo "FAILED: two mounts: B read a version A never closed"; }
rm -f "$log"

echo "summary: $out"
cat "$out"
[ "$failed" -eq 0 ]
