#!/usr/bin/env bash
# Where the CPU of one cold sequential read goes: starts a reference server with one file of SIZE_MIB (default 256),
# then RUNS times (default 3) mounts it fresh, drops the page cache, reads the file with 1 MiB reads and prints the
# throughput and the CPU time (from /proc/<pid>/task/*/schedstat) of the reader, the daemon's threads and the server.
# Run as root (drop_caches) after `npm run build`:  bash bench/cold-read-cpu.sh [SIZE_MIB] [RUNS]
# docs/BENCHMARKS.md ("What limits a cold sequential read") explains the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-256}
RUNS=${2:-3}
WORK=$(mktemp -d)
MNT=$WORK/mnt
SERVER_PID=
SPFS_BENCH_PW=$(head -c 12 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
export SPFS_BENCH_PW

cleanup() {
  mountpoint -q "$MNT" 2>/dev/null && { node bin/spfs unmount "$MNT" >/dev/null 2>&1 || fusermount -uz "$MNT"; }
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# "tid ns" of every thread of a process.
thread_ns() { for t in /proc/"$1"/task/*; do echo "${t##*/} $(cut -d' ' -f1 "$t"/schedstat)"; done | sort; }
# The ns column of such a listing (a file, or stdin), summed.
sum_ns() { awk '{ s += $2 } END { printf "%.0f", s }' "$@"; }
cpu_ns() { thread_ns "$1" | sum_ns; }

mkdir -p "$WORK/seed" "$MNT"
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > "$WORK/seed/big.bin"
node bin/spfs serve --data "$WORK/server" --seed "$WORK/seed" --user bench --password-env SPFS_BENCH_PW \
  > "$WORK/url" 2> "$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 600); do [ -s "$WORK/url" ] && break; sleep 0.1; done
URL=$(head -1 "$WORK/url")
[ -n "$URL" ] || { echo "server did not start: $(cat "$WORK/server.log")" >&2; exit 1; }

cat > "$WORK/read.js" <<'EOF'
const fs = require('fs');
const buf = Buffer.allocUnsafe(1 << 20);
const c0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
const fd = fs.openSync(process.argv[2], 'r');
let total = 0;
for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) total += n;
fs.closeSync(fd);
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
const c = process.cpuUsage(c0);
console.log(`${(total / ms / 1000).toFixed(0)} ${((c.user + c.system) / 1000).toFixed(0)}`);
EOF

printf '%-6s %8s %9s %9s %9s %9s  %s\n' run 'MB/s' 'reader' 'daemon' 'server' 'total' 'daemon threads, ms (+n = tid - pid)'
for run in $(seq "$RUNS"); do
  rm -rf "$WORK/cache"
  node bin/spfs mount "$URL" "$MNT" --user bench --password-env SPFS_BENCH_PW --cache-dir "$WORK/cache" >/dev/null
  ls "$MNT" >/dev/null
  sleep 0.3
  DAEMON=$(pgrep -f -- "--notify-fd 3 --cache-dir $WORK/cache")
  sync
  echo 3 > /proc/sys/vm/drop_caches
  thread_ns "$DAEMON" > "$WORK/t0"
  s0=$(cpu_ns "$SERVER_PID")
  read -r mbps reader < <(node "$WORK/read.js" "$MNT/big.bin")
  s1=$(cpu_ns "$SERVER_PID")
  thread_ns "$DAEMON" > "$WORK/t1"
  d0=$(sum_ns "$WORK/t0")
  d1=$(sum_ns "$WORK/t1")
  threads=$(join -a 2 -e 0 -o 2.1,1.2,2.2 "$WORK/t0" "$WORK/t1" |
    awk -v p="$DAEMON" '{ d = ($3 - $2) / 1e6; if (d >= 1) printf "+%d:%.0f\n", $1 - p, d }' | sort -t: -k2 -n -r | tr '\n' ' ')
  daemon=$(((d1 - d0) / 1000000))
  server=$(((s1 - s0) / 1000000))
  printf '%-6s %8s %9s %9s %9s %9s  %s\n' "$run" "$mbps" "$reader" "$daemon" "$server" $((reader + daemon + server)) "$threads"
  node bin/spfs unmount "$MNT" >/dev/null
done
