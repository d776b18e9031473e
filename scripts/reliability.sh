#!/usr/bin/env bash
# `npm run reliability`: the long versions of the reliability suite (docs/RELIABILITY.md). The README's test command
# runs a short fixed-seed slice of each part; here every part runs long (SPFS_RELIABILITY=long) with random seeds
# unless SPFS_RELIABILITY_SEED / SPFS_CRASH_SEED / SPFS_MODEL_SEED are given. Each part prints one line of counts
# (`reliability-counts …`, test/helpers/reliability-counts.ts); the table of them goes to
# reliability/results/<date>-<commit>.md. Any mismatch, loss or errno surprise fails the run and prints what to replay.
#   SPFS_SOAK_SECONDS (default 3600), SPFS_STORM_SECONDS (600), SPFS_CONCURRENCY_SECONDS (600), SPFS_CRASH_CYCLES (60),
#   SPFS_CRASH_RUNS (3), SPFS_RELIABILITY_ONLY=<part,...>
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/ensure-deps.sh || exit 1

export SPFS_RELIABILITY=long
export SPFS_SOAK_SECONDS="${SPFS_SOAK_SECONDS:-3600}"
cycles="${SPFS_CRASH_CYCLES:-60}"
runs="${SPFS_CRASH_RUNS:-3}"
only="${SPFS_RELIABILITY_ONLY:-}"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo nogit)
out="reliability/results/$(date -u +%Y-%m-%d)-$commit.md"
mkdir -p reliability/results
{
  echo "# Reliability run $(date -u +%Y-%m-%dT%H:%MZ), $commit"
  echo
  echo "| part | seed | operations | faults | crashes survived | verified | mismatches | lost | errno surprises | max RSS | notes |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
} >"$out"

failed=0
wanted() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }

# One table row per `reliability-counts` line of a jest log; a part that printed none gets a row saying it failed.
rows_from() { # log, part-name-for-failure
  local n
  # Only the lines the tests print (indented by jest); jest's expected/received diff repeats them after "- "/"+ ".
  n=$(grep -E '^[[:space:]]*reliability-counts ' "$1" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//; s/ [|]$//' | awk -F' [|] ' '
    {
      split($1, head, " "); part = head[2]; seed = head[3]; sub(/^seed=/, "", seed)
      row = "| " part " | " seed
      for (i = 2; i <= 9; i++) {
        cell = $i
        if (i == 5) sub(/ verified$/, "", cell)
        else if (i == 9) sub(/^max RSS /, "", cell)
        else sub(/ [a-z ]+$/, "", cell)
        row = row " | " cell
      }
      print row " | " (NF >= 10 ? $10 : "") " |"
    }' | tee -a "$out" | wc -l)
  [ "$n" -gt 0 ] || echo "| $2 | - | - | - | - | - | - | - | - | - | failed before printing its counts |" >>"$out"
}

run_part() { # name, jest args...
  local name=$1; shift
  local log
  log=$(mktemp)
  npx jest "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  rows_from "$log" "$name"
  if [ "$rc" -ne 0 ]; then
    failed=$((failed + 1))
    echo "FAILED: $name (the test printed its seed and how to replay it)"
    grep -o 'replay: .*' "$log" | sort -u
  fi
  rm -f "$log"
}

# The parts of the suite: test/reliability/<part>.test.ts.
for f in test/reliability/*.test.ts; do
  part=$(basename "$f" .test.ts)
  wanted "$part" && run_part "$part" "$f"
done

if wanted crash-loop; then
  for i in $(seq "$runs"); do
    seed="${SPFS_CRASH_SEED:-$((RANDOM * 32768 + RANDOM))}"
    SPFS_CRASH_SEED="$seed" SPFS_CRASH_CYCLES="$cycles" run_part crash-loop test/e2e/crash-loop.test.ts
    [ "$failed" -eq 0 ] || echo "replay: SPFS_CRASH_SEED=$seed SPFS_CRASH_CYCLES=$cycles npx jest test/e2e/crash-loop.test.ts"
  done
fi

if wanted model-based; then
  mseed="${SPFS_MODEL_SEED:-$((RANDOM * 32768 + RANDOM))}"
  SPFS_MODEL_SEED="$mseed" SPFS_MODEL_RUNS="${SPFS_MODEL_RUNS:-10}" SPFS_MODEL_STEPS="${SPFS_MODEL_STEPS:-100}" \
    run_part model-based test/e2e/model-based.test.ts
fi

# Two mounts: B polling what A rewrites sees only whole closed versions (on the default adapter); also in the test
# command, here with its latency lines in the table.
if wanted two-mounts; then
  log=$(mktemp)
  npx jest test/e2e/two-mounts-write-back.test.ts 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  counts=$(grep -c 'close → first read on B' "$log")
  bad=$(grep -o '[0-9]* not a closed version' "$log" | awk '{s += $1} END {print s + 0}')
  echo "| two-mounts | - | - | - | - | - | $bad | - | - | - | B polling A's rewrites at $counts --write-back values; mismatches = reads of a version A never closed |" >>"$out"
  [ "$rc" -eq 0 ] || { failed=$((failed + 1)); echo "FAILED: two mounts: B read a version A never closed"; }
  rm -f "$log"
fi

# The libfuse3 addon under AddressSanitizer + UBSan: the adapter's end-to-end tests, the core cases on both adapters
# and a crash loop, with every daemon loading the instrumented build (libasan preloaded into node; leak checks off,
# node itself is not built for them). A report from either sanitizer fails the run.
if wanted asan; then
  if asan_addon=$(bash scripts/build-addon-asan.sh); then
    asan_logs=$(mktemp -d)
    log=$(mktemp)
    LD_PRELOAD="$(cc -print-file-name=libasan.so)" SPFS_FUSE3_ADDON="$asan_addon" \
      ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:log_path=$asan_logs/asan" \
      UBSAN_OPTIONS="print_stacktrace=1:log_path=$asan_logs/ubsan" SPFS_CRASH_CYCLES=10 SPFS_RELIABILITY=short \
      npx jest test/fuse/fuse3-addon-writes.test.ts test/e2e/fuse3-adapter.test.ts test/e2e/core-cases.test.ts \
        test/e2e/crash-loop.test.ts 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    reports=$(find "$asan_logs" -type f | wc -l)
    tests=$(grep -o 'Tests: .*' "$log" | tail -1)
    echo "| asan | - | - | - | - | - | $reports | - | - | - | libfuse3 addon under ASan + UBSan (its write buffers, adapter e2e, core cases, 10-kill crash loop): ${tests:-no jest summary}; mismatches = sanitizer reports |" >>"$out"
    if [ "$rc" -ne 0 ] || [ "$reports" -gt 0 ]; then
      failed=$((failed + 1))
      echo "FAILED: the addon under AddressSanitizer (reports: $asan_logs)"
      find "$asan_logs" -type f -exec cat {} +
    else
      rm -rf "$asan_logs"
    fi
    rm -f "$log"
  else
    failed=$((failed + 1))
    echo "| asan | - | - | - | - | - | - | - | - | - | the instrumented addon could not be built |" >>"$out"
  fi
fi

echo "summary: $out"
cat "$out"
[ "$failed" -eq 0 ]
