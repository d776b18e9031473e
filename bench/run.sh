#!/usr/bin/env bash
# `npm run bench [-- --quick]`: installs the contenders (bindfs, rclone, fio) and the project build when missing,
# compiles bench/, runs it, and tears down anything left mounted or running even on Ctrl-C or an error.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export SPFS_BENCH_DIR="${SPFS_BENCH_DIR:-/tmp/spfs-bench}"
mkdir -p "$SPFS_BENCH_DIR"

missing=()
for tool in bindfs rclone fio; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]} (apt-get)" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# SPFS_ROOT: benchmark another checkout of spfs (say a clean `git worktree add --detach DIR HEAD` while the working
# tree is mid-edit); the harness itself always comes from this folder.
(cd "${SPFS_ROOT:-.}" && bash scripts/ensure-deps.sh)
npx tsc -p bench/tsconfig.json

cleanup() {
  # Last resort after the harness's own teardown: whatever bench/dist/main.js recorded as started.
  local f="$SPFS_BENCH_DIR/started.txt"
  [ -f "$f" ] || return 0
  while read -r kind what; do
    if [ "$kind" = mount ] && grep -q " $what " /proc/mounts; then fusermount -u -z "$what" 2>/dev/null || true; fi
    if [ "$kind" = pid ]; then kill "$what" 2>/dev/null || true; fi
  done <"$f"
  rm -f "$f"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
node bench/dist/main.js "$@"
