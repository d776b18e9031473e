#!/usr/bin/env bash
# Installs what spfs needs on Debian/Ubuntu, idempotently: FUSE (fuse3, libfuse2, libfuse3-dev), npm packages, the
# TypeScript build and the libfuse3 addon. Sourced by scripts/demo.sh and scripts/test.sh; safe to run any number of times.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "spfs needs Node.js 20 or newer (found: $(node -v 2>/dev/null || echo none))" >&2
  exit 1
fi

# FUSE: fuse3 (fusermount3, and fusermount for libfuse 2), libfuse2 for the fuse-native fallback adapter, and what
# the libfuse3 adapter is built with (libfuse3-dev, pkg-config, a compiler, python3 for node-gyp).
packages=()
command -v fusermount3 >/dev/null 2>&1 || packages+=(fuse3)
ldconfig -p 2>/dev/null | grep -q 'libfuse\.so\.2' || packages+=(libfuse2)
pkg-config --exists fuse3 2>/dev/null || packages+=(libfuse3-dev pkg-config)
command -v cc >/dev/null 2>&1 && command -v make >/dev/null 2>&1 || packages+=(build-essential)
command -v python3 >/dev/null 2>&1 || packages+=(python3)
if [ "${#packages[@]}" -gt 0 ]; then
  say "installing ${packages[*]} (Debian packages)"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "missing ${packages[*]} and neither root nor sudo is available: install them" >&2; exit 1
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${packages[@]}" >/dev/null
fi
if [ ! -e /dev/fuse ]; then
  if [ "$(id -u)" -eq 0 ]; then modprobe fuse 2>/dev/null || true; else sudo modprobe fuse 2>/dev/null || true; fi
  [ -e /dev/fuse ] || { echo "/dev/fuse does not exist: this kernel/container has no FUSE (load the fuse module)" >&2; exit 1; }
fi

# Tools the end-to-end tests drive on a mount (save patterns of real programs): rsync, zip, unzip; getfattr and
# setfattr (Debian package attr) for the file-state extended attributes; fio and stress-ng for the reliability suite.
missing_tools=()
for t in rsync zip unzip fio stress-ng; do command -v "$t" >/dev/null 2>&1 || missing_tools+=("$t"); done
command -v getfattr >/dev/null 2>&1 || missing_tools+=(attr)
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
bash scripts/build-addon.sh

# mount(8) helpers (`mount -t fuse.spfs`, fstab, `umount`), pointing at this checkout; root only (docs/CONFIGURATION.md).
if [ "$(id -u)" -eq 0 ]; then bash scripts/install-mount-helper.sh; fi
