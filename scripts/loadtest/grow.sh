#!/usr/bin/env bash
# Ingest as the database grows: consecutive wrk runs against ONE alertkit-server
# (Lite profile) on one database, so each run starts where the last one left
# the database. Per run: alerts/s, bytes the server wrote per alert (its
# `wchar`: journal, WAL and checkpoints), its CPU ms per 1,000 alerts, and
# the size of the directory.
#
#   scripts/loadtest/grow.sh
#
# Environment (defaults in brackets):
#   RUNS [4]        consecutive runs          DURATION [15]  seconds per run
#   THREADS [2]     wrk threads               CONNECTIONS [64]
#   ALERTS [10]     alerts per request        PORT [18080]
#   SERVER_BIN      alertkit-server binary [$CARGO_TARGET_DIR/release/alertkit-server]
#   KEEP            keep the database directory when set
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
RUNS="${RUNS:-4}"
DURATION="${DURATION:-15}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-64}"
ALERTS="${ALERTS:-10}"
PORT="${PORT:-18080}"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
SERVER_BIN="${SERVER_BIN:-$TARGET/release/alertkit-server}"
command -v wrk >/dev/null || { echo "grow.sh: wrk is missing (apt-get install -y wrk)" >&2; exit 1; }
[ -x "$SERVER_BIN" ] || { echo "grow.sh: no server binary at $SERVER_BIN" >&2; exit 1; }

DIR="$(mktemp -d /tmp/alertkit-grow.XXXXXX)"
cd "$DIR"
SERVER_HOST=127.0.0.1 SERVER_PORT="$PORT" LOG_LEVEL=warn "$SERVER_BIN" >server.log 2>&1 &
PID=$!
cleanup() {
  kill "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  [ -n "${KEEP:-}" ] && echo "database kept in $DIR" || rm -rf "$DIR"
}
trap cleanup EXIT
until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do
  kill -0 "$PID" 2>/dev/null || { cat server.log >&2; exit 1; }
  sleep 0.2
done

TICK="$(getconf CLK_TCK)"
written() { awk '/^wchar/ {print $2}' "/proc/$PID/io"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
echo "run  alerts/s  bytes/alert  CPU-ms/1k  dir"
for i in $(seq 1 "$RUNS"); do
  w0="$(written)"; c0="$(cpu_ticks)"
  out="$(LOADTEST_FORMAT=webhook LOADTEST_ALERTS="$ALERTS" LOADTEST_RUN="grow$$-$i" \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s "$HERE/alerts.lua" \
    "http://127.0.0.1:$PORT/webhook" 2>&1)"
  sleep 3 # the backlog the run left is recorded and counted with it
  w1="$(written)"; c1="$(cpu_ticks)"
  # the script's summary: "LOADTEST … alerts_ok=N duration_us=D …"
  ok="$(grep -o 'alerts_ok=[0-9]*' <<<"$out" | cut -d= -f2)"
  us="$(grep -o 'duration_us=[0-9]*' <<<"$out" | cut -d= -f2)"
  [ -n "$ok" ] && [ "$ok" -gt 0 ] || { echo "$out" >&2; exit 1; }
  awk -v i="$i" -v n="$ok" -v us="$us" -v w="$((w1 - w0))" -v c="$((c1 - c0))" \
    -v t="$TICK" -v size="$(du -sh . | cut -f1)" \
    'BEGIN { printf "%3d  %8.0f  %11.0f  %9.1f  %s\n", i, n / us * 1e6, w / n, c * 1000 / t / n * 1000, size }'
done
