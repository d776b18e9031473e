#!/usr/bin/env bash
# Builds the libfuse3 addon with AddressSanitizer (and UBSan) into native/fuse3/build-asan/, for `npm run
# reliability`: mounts then load it through SPFS_FUSE3_ADDON with libasan preloaded into node. Prints the .node path.
# Needs what scripts/build-addon.sh needs; gcc's libasan comes with build-essential.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir=native/fuse3
out="$dir/build-asan/spfs_fuse3.node"
nodedir="$(dirname "$(dirname "$(command -v node)")")"
[ -f "$nodedir/include/node/node_api.h" ] || { echo "no Node-API headers under $nodedir/include/node" >&2; exit 1; }
if [ ! -f "$out" ] || [ "$dir/spfs_fuse3.c" -nt "$out" ]; then
  mkdir -p "$dir/build-asan"
  # shellcheck disable=SC2046 # pkg-config prints several flags
  cc -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -D_FILE_OFFSET_BITS=64 -shared -fPIC -g -O1 \
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
    -I"$nodedir/include/node" $(pkg-config --cflags fuse3) "$dir/spfs_fuse3.c" -o "$out" $(pkg-config --libs fuse3)
fi
echo "$PWD/$out"
