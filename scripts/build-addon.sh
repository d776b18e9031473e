#!/usr/bin/env bash
# Builds spfs's libfuse3 binding (native/fuse3) with node-gyp against Debian's libfuse3-dev and the Node-API headers
# of the installed Node (npm's nodedir, else /usr/include/node): nothing is downloaded. Skips when the addon is up to
# date. Without a compiler or libfuse3-dev it says so once and exits 0: mounts then run on fuse-native (libfuse 2).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

dir=native/fuse3
out="$dir/build/Release/spfs_fuse3.node"
if [ -f "$out" ] && [ "$out" -nt "$dir/spfs_fuse3.c" ] && [ "$out" -nt "$dir/binding.gyp" ]; then exit 0; fi

why=""
command -v cc >/dev/null 2>&1 && command -v make >/dev/null 2>&1 || why="no C compiler (Debian package build-essential)"
[ -n "$why" ] || command -v python3 >/dev/null 2>&1 || why="no python3 (node-gyp needs it)"
[ -n "$why" ] || pkg-config --exists fuse3 2>/dev/null || why="no libfuse3 headers (Debian packages libfuse3-dev, pkg-config)"
nodedir="$(npm config get nodedir 2>/dev/null || true)"
if [ -z "$nodedir" ] || [ "$nodedir" = "undefined" ] || [ ! -f "$nodedir/include/node/node_api.h" ]; then
  nodedir="$(dirname "$(dirname "$(command -v node)")")"
fi
[ -n "$why" ] || [ -f "$nodedir/include/node/node_api.h" ] || why="no Node-API headers under $nodedir/include/node"
gyp="$(npm root -g 2>/dev/null)/npm/node_modules/node-gyp/bin/node-gyp.js"
[ -n "$why" ] || [ -f "$gyp" ] || why="npm's bundled node-gyp not found at $gyp"
if [ -n "$why" ]; then
  printf '\033[1m==> not building the libfuse3 adapter: %s; mounts use fuse-native (libfuse 2)\033[0m\n' "$why" >&2
  exit 0
fi
printf '\033[1m==> building the libfuse3 adapter (node-gyp, libfuse3 %s)\033[0m\n' "$(pkg-config --modversion fuse3)" >&2
if ! (cd "$dir" && node "$gyp" rebuild --nodedir="$nodedir" --loglevel=warn >/dev/null); then
  echo "the libfuse3 adapter failed to build (output above); mounts use fuse-native (libfuse 2)" >&2
  exit 0
fi
