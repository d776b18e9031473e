#!/usr/bin/env bash
# Installs what spfs needs on Debian/Ubuntu, idempotently: FUSE (fuse, libfuse2), npm packages, the TypeScript
# build. Sourced by scripts/demo.sh and scripts/test.sh; safe to run any number of times.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "spfs needs Node.js 20 or newer (found: $(node -v 2>/dev/null || echo none))" >&2
  exit 1
fi

have_fuse() { command -v fusermount >/dev/null 2>&1 && ldconfig -p 2>/dev/null | grep -q 'libfuse\.so\.2'; }
if ! have_fuse; then
  say "installing FUSE (Debian packages fuse, libfuse2)"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "FUSE is missing and neither root nor sudo is available: install the packages fuse and libfuse2" >&2; exit 1
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq fuse libfuse2 >/dev/null
fi
if [ ! -e /dev/fuse ]; then
  if [ "$(id -u)" -eq 0 ]; then modprobe fuse 2>/dev/null || true; else sudo modprobe fuse 2>/dev/null || true; fi
  [ -e /dev/fuse ] || { echo "/dev/fuse does not exist: this kernel/container has no FUSE (load the fuse module)" >&2; exit 1; }
fi

# Tools the end-to-end tests drive on a mount (save patterns of real programs): rsync, zip, unzip.
missing_tools=()
for t in rsync zip unzip; do command -v "$t" >/dev/null 2>&1 || missing_tools+=("$t"); done
if [ "${#missing_tools[@]}" -gt 0 ]; then
  say "installing ${missing_tools[*]} (used by the end-to-end tests)"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "missing ${missing_tools[*]} and neither root nor sudo is available: install them" >&2; exit 1
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing_tools[@]}" >/dev/null
fi

# npm ci when node_modules is missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

say "building (tsc)"
npx tsc -p tsconfig.build.json
