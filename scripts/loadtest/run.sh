#!/usr/bin/env bash
# Ingest load test: alertkit-server (Lite profile, SQLite, every alert committed
# before its 200) against Debian's Alertmanager 0.25 (`POST /api/v2/alerts`,
# memory only), same tool and settings, same run. Prints a side-by-side table.
#
#   scripts/loadtest/run.sh                  # build what is missing, run everything
#
# Environment (defaults in brackets):
#   DURATION [20]    seconds per wrk run and per open-loop run
#   THREADS [2]      wrk threads         CONNECTIONS [64]  wrk and open-loop connections
#   ALERTS [10]      alerts per request  RATE [50000]      open-loop target, alerts/s
#   WARMUP [3]       open-loop warm-up seconds (not measured)
#   SCENARIOS        which runs ["am-max server-webhook-max server-apiv2-max am-rate server-webhook-rate"]
#   SERVER_BIN       alertkit-server binary [$CARGO_TARGET_DIR/release/alertkit-server]
#   LOADTEST_BIN     open-loop client [$CARGO_TARGET_DIR/release/alertkit-loadtest]
#   AM_BIN [prometheus-alertmanager]
#   OUT              directory for logs, metrics and top samples [a new temp dir]
#
# Every scenario starts its server fresh in an empty temp dir, so runs do not
# inherit each other's database or in-memory alerts. After each alertkit run
# the server is stopped (SIGTERM, graceful) and the rows in `alertkit_alerts`
# are compared with the alerts acknowledged with a 2xx.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
DURATION="${DURATION:-20}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-64}"
ALERTS="${ALERTS:-10}"
RATE="${RATE:-50000}"
WARMUP="${WARMUP:-3}"
SCENARIOS="${SCENARIOS:-am-max server-webhook-max server-apiv2-max am-rate server-webhook-rate}"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
SERVER_BIN="${SERVER_BIN:-$TARGET/release/alertkit-server}"
LOADTEST_BIN="${LOADTEST_BIN:-$TARGET/release/alertkit-loadtest}"
AM_BIN="${AM_BIN:-prometheus-alertmanager}"
OUT="${OUT:-$(mktemp -d /tmp/alertkit-loadtest.XXXXXX)}"
mkdir -p "$OUT"

need() { command -v "$1" >/dev/null 2>&1 || { echo "missing: $1 ($2)" >&2; exit 1; }; }
need wrk "apt-get install -y wrk"
need "$AM_BIN" "apt-get install -y prometheus-alertmanager"
need curl "apt-get install -y curl"
if [[ ! -x "$SERVER_BIN" ]]; then
  (cd "$REPO" && cargo build --release -p alertkit-server)
fi
if [[ ! -x "$LOADTEST_BIN" ]]; then
  (cd "$HERE/openloop" && cargo build --release)
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

PID=""
DIR=""
PORT=""
stop_target() {
  if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID"
    for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$PID" 2>/dev/null && kill -KILL "$PID"
    wait "$PID" 2>/dev/null || true
  fi
  PID=""
}
trap stop_target EXIT

wait_ready() { # url
  for _ in $(seq 1 200); do
    curl -fs -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "not ready: $1" >&2; exit 1
}

start_am() { # name
  DIR="$(mktemp -d "$OUT/$1.XXXX")"; PORT="$(free_port)"
  cat >"$DIR/alertmanager.yml" <<'YAML'
route:
  receiver: "null"
receivers:
  - name: "null"
YAML
  "$AM_BIN" --config.file="$DIR/alertmanager.yml" --storage.path="$DIR/data" \
    --web.listen-address="127.0.0.1:$PORT" --cluster.listen-address= \
    --log.level=warn >"$DIR/alertmanager.log" 2>&1 &
  PID=$!
  wait_ready "http://127.0.0.1:$PORT/-/ready"
}

start_server() { # name
  DIR="$(mktemp -d "$OUT/$1.XXXX")"; PORT="$(free_port)"
  (cd "$DIR" && SERVER_HOST=127.0.0.1 SERVER_PORT="$PORT" LOG_LEVEL=warn \
    exec "$SERVER_BIN" >"$DIR/server.log" 2>&1) &
  PID=$!
  wait_ready "http://127.0.0.1:$PORT/readyz"
}

# Samples per-thread CPU of the target 5 s into the run (top -H, 3 s window).
sample_top() { # name
  (sleep 5; top -H -b -d 3 -n 2 -p "$PID" 2>/dev/null | awk '/^top -/{n++} n==2' | head -30 >"$OUT/$1.top.txt"; \
   top -b -d 3 -n 2 2>/dev/null | awk '/^top -/{n++} n==2' | head -20 >"$OUT/$1.top-all.txt") &
  SAMPLER=$!
}

# CPU seconds (user+system) the target process has used so far.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{print ($14+$15)/hz}' "/proc/$PID/stat"; }

count_rows() { # db
  python3 - "$1" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(c.execute("select count(*) from alertkit_alerts").fetchone()[0])
PY
}

# Target CPU ms per 1000 acknowledged alerts since $1 (CPU seconds).
cpu_per_k() { awk -v a="$1" -v b="$(cpu_s)" -v n="$2" 'BEGIN{ printf "cpu_s=%.2f cpu_ms_per_1k=%.1f", b-a, (n>0)?(b-a)*1e6/n:0 }'; }

declare -A RESULT
kv() { sed -n "s/.*[ ]$2=\([^ ]*\).*/\1/p" <<<" $1"; }

run_wrk() { # name url format
  echo "load $(cut -d' ' -f1-3 /proc/loadavg)" >"$OUT/$1.load"
  sample_top "$1"
  local c0; c0="$(cpu_s)"
  LOADTEST_FORMAT="$3" LOADTEST_ALERTS="$ALERTS" LOADTEST_RUN="$1-$$" \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$HERE/alerts.lua" "$2" >"$OUT/$1.wrk.txt" 2>&1
  local line rps
  line="$(grep '^LOADTEST' "$OUT/$1.wrk.txt")"
  rps="$(awk -v r="$(kv "$line" requests)" -v e="$(kv "$line" non2xx)" -v d="$(kv "$line" duration_us)" \
         -v a="$ALERTS" 'BEGIN{printf "%.0f", (r-e)*a/(d/1e6)}')"
  local ok_alerts; ok_alerts="$(kv "$line" alerts_ok)"
  RESULT[$1]="$(cat "$OUT/$1.load") alerts_per_s=$rps $line $(cpu_per_k "$c0" "$ok_alerts")"
  wait "$SAMPLER" || true
}

run_open() { # name url format
  echo "load $(cut -d' ' -f1-3 /proc/loadavg)" >"$OUT/$1.load"
  sample_top "$1"
  local c0; c0="$(cpu_s)"
  "$LOADTEST_BIN" --url "$2" --format "$3" --rate "$RATE" --duration "$DURATION" \
    --warmup "$WARMUP" --alerts "$ALERTS" --connections "$CONNECTIONS" --run "$1-$$" >"$OUT/$1.open.txt" 2>&1
  local line; line="$(grep '^OPENLOOP' "$OUT/$1.open.txt")"
  RESULT[$1]="$(cat "$OUT/$1.load") $line $(cpu_per_k "$c0" "$(kv "$line" alerts_acked_total)")"
  wait "$SAMPLER" || true
}

finish_server() { # name acked
  curl -fs "http://127.0.0.1:$PORT/metrics" >"$OUT/$1.metrics.txt" || true
  stop_target
  local rows; rows="$(count_rows "$DIR/alertkit.db")"
  RESULT[$1]="${RESULT[$1]} rows=$rows"
  [[ "$rows" -ge "$2" ]] || echo "DURABILITY MISMATCH in $1: $rows rows < $2 acknowledged" >&2
}

for s in $SCENARIOS; do
  echo "== $s" >&2
  case "$s" in
    am-max) start_am "$s"; run_wrk "$s" "http://127.0.0.1:$PORT/api/v2/alerts" apiv2; stop_target ;;
    am-rate) start_am "$s"; run_open "$s" "http://127.0.0.1:$PORT/api/v2/alerts" apiv2; stop_target ;;
    server-webhook-max|server-apiv2-max)
      start_server "$s"
      if [[ $s == server-webhook-max ]]; then fmt=webhook; path=/webhook; else fmt=apiv2; path=/api/v2/alerts; fi
      run_wrk "$s" "http://127.0.0.1:$PORT$path" "$fmt"
      finish_server "$s" "$(kv "${RESULT[$s]}" alerts_ok)" ;;
    server-webhook-rate|server-apiv2-rate)
      start_server "$s"
      if [[ $s == server-webhook-rate ]]; then fmt=webhook; path=/webhook; else fmt=apiv2; path=/api/v2/alerts; fi
      run_open "$s" "http://127.0.0.1:$PORT$path" "$fmt"
      finish_server "$s" "$(kv "${RESULT[$s]}" alerts_acked_total)" ;;
    *) echo "unknown scenario $s" >&2; exit 2 ;;
  esac
  echo "${RESULT[$s]}" >"$OUT/$s.result"
done

ms() { awk -v u="$1" 'BEGIN{ if (u=="") print "-"; else printf "%.2f", u/1000 }'; }
echo
echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $ALERTS alerts/request; open loop at $RATE alerts/s, $CONNECTIONS connections; $(nproc) CPUs shared by client and server"
printf '%-22s %-6s %9s %7s %8s %8s %8s %9s %8s %9s\n' scenario load alerts/s non2xx p50_ms p90_ms p99_ms p99.9_ms cpu/1k rows
for s in $SCENARIOS; do
  r="${RESULT[$s]}"
  a="$(kv "$r" alerts_per_s)"; [[ -n "$a" ]] || a="$(kv "$r" achieved_alerts_per_s)"
  printf '%-22s %-6s %9s %7s %8s %8s %8s %9s %8s %9s\n' "$s" "$(sed -n 's/^load \([^ ]*\).*/\1/p' <<<"$r")" "$a" \
    "$(kv "$r" non2xx)" "$(ms "$(kv "$r" p50_us)")" "$(ms "$(kv "$r" p90_us)")" "$(ms "$(kv "$r" p99_us)")" \
    "$(ms "$(kv "$r" p999_us)")" "$(kv "$r" cpu_ms_per_1k)" "$(kv "$r" rows)"
done
echo "cpu/1k: CPU ms (user+system) the target used per 1000 acknowledged alerts"
echo "details (wrk/open-loop output, /metrics, top -H samples): $OUT"
