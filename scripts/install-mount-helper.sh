#!/usr/bin/env bash
# Installs the mount(8) helpers of spfs, idempotently: /sbin/mount.fuse.spfs (for `mount -t fuse.spfs` and fstab
# lines of type fuse.spfs) and /sbin/umount.fuse.spfs (for `umount DIR`), each a two-line script running this
# checkout's bin/mount.spfs or bin/umount.spfs with this Node. Needs root; run by scripts/ensure-deps.sh as root.
# A helper of the same name not written by this script is left alone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "install-mount-helper.sh: needs root (it writes /sbin/mount.fuse.spfs): sudo $0" >&2
  exit 1
fi
node_bin=$(command -v node)
marker='# written by spfs scripts/install-mount-helper.sh'
for kind in mount umount; do
  target="/sbin/$kind.fuse.spfs"
  want=$(printf '#!/bin/sh\n%s\nexec %s %s "$@"\n' "$marker" "$node_bin" "$PWD/bin/$kind.spfs")
  if [ -e "$target" ] && ! grep -qF "$marker" "$target"; then
    echo "install-mount-helper.sh: $target exists and is not ours; left alone" >&2
    continue
  fi
  if [ "$(cat "$target" 2>/dev/null || true)" != "$want" ]; then
    printf '%s\n' "$want" > "$target.tmp.$$"
    chmod 755 "$target.tmp.$$"
    mv -f "$target.tmp.$$" "$target"
    echo "installed $target -> $PWD/bin/$kind.spfs" >&2
  fi
done
