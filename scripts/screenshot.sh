#!/usr/bin/env bash
# Takes the README's screenshot from a real run: a reference server with the sample library, a real mount, files
# put into different states (pinned, hydrated, partial, modified, online-only), a real file manager (PCManFM) on
# the mount and a terminal showing `user.spfs.state` of the same files, all on a virtual X display (Xvfb).
#   ./scripts/screenshot.sh [OUT.png]     (default docs/images/file-manager.png)
# Installs xvfb, pcmanfm, xterm and imagemagick (Debian) when missing. Not part of the test command.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
OUT=$(realpath -m "${1:-docs/images/file-manager.png}")
bash scripts/ensure-deps.sh

missing=()
for t in Xvfb:xvfb pcmanfm:pcmanfm xterm:xterm import:imagemagick getfattr:attr; do
  command -v "${t%%:*}" >/dev/null 2>&1 || missing+=("${t##*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

WORK=$(mktemp -d /tmp/spfs-shot.XXXXXX)
chmod 700 "$WORK"
SPFS="node $ROOT/bin/spfs"
MNT="$WORK/SharePoint"
pids=()
cleanup() {
  if awk -v m="$MNT" '$2 == m {f=1} END {exit !f}' /proc/mounts; then $SPFS unmount --force "$MNT" || true; fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

SPFS_SHOT_PASSWORD=$(head -c 18 /dev/urandom | base64)
export SPFS_SHOT_PASSWORD
$SPFS sample-library "$WORK/seed" --big-mib 64 >/dev/null
$SPFS serve --data "$WORK/server" --seed "$WORK/seed" --user demo --password-env SPFS_SHOT_PASSWORD \
  >"$WORK/server.url" 2>"$WORK/server.log" &
pids+=($!)
for _ in $(seq 1 300); do [ -s "$WORK/server.url" ] && break; sleep 0.1; done
URL=$(head -n 1 "$WORK/server.url")
mkdir -p "$MNT"
# A long write-back keeps the edited file "modified" while the picture is taken.
$SPFS mount "$URL" "$MNT" --user demo --password-env SPFS_SHOT_PASSWORD --cache-dir "$WORK/cache" --write-back 600

# The states: Documents pinned (hydrated in the background), README read whole, the large file read in part, a
# note written here and not yet uploaded; Pictures and Shared Folder never opened (online-only).
$SPFS pin "$MNT/Documents" >/dev/null 2>&1
cat "$MNT/README.txt" >/dev/null
head -c 3000000 "$MNT/Binaries/large-64MiB.bin" >/dev/null
echo "written on this machine, upload pending" >"$MNT/Draft.txt"

export DISPLAY=:97
Xvfb "$DISPLAY" -screen 0 1280x720x24 -nolisten tcp >"$WORK/xvfb.log" 2>&1 &
pids+=($!)
sleep 1
# PCManFM in its detailed list view, left half; no window manager, so geometry comes from its own settings.
mkdir -p "$WORK/xdg/pcmanfm/default" "$WORK/home"
cat >"$WORK/xdg/pcmanfm/default/pcmanfm.conf" <<CONF
[ui]
win_width=700
win_height=720
view_mode=list
show_hidden=0
side_pane_mode=places
CONF
# Its own settings folder and home (no trace in the user's); spfs itself keeps the real HOME (its mount records).
XDG_CONFIG_HOME="$WORK/xdg" HOME="$WORK/home" pcmanfm --no-desktop "$MNT" >"$WORK/pcmanfm.log" 2>&1 &
pids+=($!)
# A terminal on the right half: the same files' states, read with getfattr (no download).
cat >"$WORK/states.sh" <<'SH'
cd "$1"
printf '$ getfattr -n user.spfs.state ...\n\n'
for f in * Documents/* Binaries/*; do
  printf '%-44s %s\n' "$f" "$(getfattr --only-values -n user.spfs.state "$f" 2>/dev/null)"
done
printf '\n$ spfs status .\n'
node "$2/bin/spfs" status . | fold -w 62 | head -n 20
sleep 600
SH
xterm -geometry 63x44+702+0 -fa Monospace -fs 9 -bg white -fg black -T "spfs" \
  -e bash "$WORK/states.sh" "$MNT" "$ROOT" &
pids+=($!)
sleep 5
mkdir -p "$(dirname "$OUT")"
import -window root "$OUT"
echo "screenshot: $OUT"
