#!/usr/bin/env bash
# The demo: installs what is missing, generates a sample library (with a 256 MiB file), starts the reference
# server on 127.0.0.1 and mounts the library at .demo/mnt. Safe to run again: it reuses what is already up.
#   ./scripts/demo.sh         bring it up
#   ./scripts/demo.sh stop    unmount and stop the server
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/ensure-deps.sh

DEMO=${SPFS_DEMO_DIR:-$PWD/.demo}
PORT=${SPFS_DEMO_PORT:-47890}
SPFS="node $PWD/bin/spfs"
MNT="$DEMO/mnt"
mkdir -p "$DEMO" && chmod 700 "$DEMO"
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

server_alive() { [ -f "$DEMO/server.pid" ] && kill -0 "$(cat "$DEMO/server.pid")" 2>/dev/null; }
mounted() { awk -v m="$MNT" '$2 == m {found=1} END {exit !found}' /proc/mounts; }

if [ "${1:-}" = "stop" ]; then
  if mounted; then $SPFS unmount "$MNT"; fi
  if server_alive; then
    pid=$(cat "$DEMO/server.pid")
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$DEMO/server.pid"
    say "server stopped"
  fi
  exit 0
fi

# A generated password, kept in a 0600 file and passed through the environment (never argv).
if [ ! -s "$DEMO/password" ]; then (umask 077; head -c 18 /dev/urandom | base64 > "$DEMO/password"); fi
SPFS_DEMO_PASSWORD=$(cat "$DEMO/password")
export SPFS_DEMO_PASSWORD

if [ ! -f "$DEMO/seed.complete" ]; then
  say "generating the sample library in $DEMO/seed"
  rm -rf "$DEMO/seed"
  $SPFS sample-library "$DEMO/seed" --big-mib 256
  touch "$DEMO/seed.complete"
fi

if ! server_alive; then
  say "starting the reference server on 127.0.0.1:$PORT"
  rm -f "$DEMO/server.url"
  setsid nohup $SPFS serve --data "$DEMO/server" --seed "$DEMO/seed" --port "$PORT" --user demo \
    --password-env SPFS_DEMO_PASSWORD --request-log "$DEMO/requests.log" >"$DEMO/server.url" 2>"$DEMO/server.log" </dev/null &
  echo $! >"$DEMO/server.pid"
  for _ in $(seq 1 600); do [ -s "$DEMO/server.url" ] && break; server_alive || break; sleep 0.1; done
  if [ ! -s "$DEMO/server.url" ]; then echo "the server did not start; see $DEMO/server.log:" >&2; cat "$DEMO/server.log" >&2; exit 1; fi
fi
URL=$(head -n 1 "$DEMO/server.url")

mkdir -p "$MNT"
if mounted; then
  say "already mounted at $MNT"
else
  say "mounting $URL at $MNT"
  $SPFS mount "$URL" "$MNT" --user demo --password-env SPFS_DEMO_PASSWORD --cache-dir "$DEMO/cache"
fi
cat <<TXT

The sample library is mounted at:

    $MNT

Try:   ls -lR "$MNT"     sha256sum "$MNT"/Binaries/*     cat "$MNT/README.txt"
Write: echo hi > "$MNT/Documents/note.txt"   then   node bin/spfs status "$MNT"   /   node bin/spfs flush "$MNT"
Files download on first open (server requests: $DEMO/requests.log; daemon log: $DEMO/cache/spfs.log).
Stop:  ./scripts/demo.sh stop
TXT
