#!/usr/bin/env bash
# Runs the built server briefly (temporary SQLite, random loopback port),
# posts one webhook, and lints the live /metrics with `promtool check metrics`.
# Usage: check-metrics.sh <path to the alertkit-server binary>
set -euo pipefail
bin=${1:?usage: check-metrics.sh <alertkit-server binary>}
command -v promtool >/dev/null || { echo "promtool not found (apt-get install prometheus)" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl not found" >&2; exit 1; }

tmp=$(mktemp -d)
pid=
cleanup() {
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# A clean environment: nothing the caller exported (DATABASE_URL, REDIS_URL…) leaks in.
env -i PATH="$PATH" SERVER_HOST=127.0.0.1 SERVER_PORT=0 \
  DATABASE_URL="sqlite://$tmp/history.db" LOG_LEVEL=info \
  "$bin" >"$tmp/log" 2>&1 &
pid=$!

addr=
for _ in $(seq 1 100); do
  addr=$(grep -o '"listen":"[^"]*"' "$tmp/log" | head -n1 | cut -d'"' -f4 || true)
  [[ -n "$addr" ]] && break
  if ! kill -0 "$pid" 2>/dev/null; then cat "$tmp/log" >&2; echo "the server exited" >&2; exit 1; fi
  sleep 0.1
done
[[ -n "$addr" ]] || { cat "$tmp/log" >&2; echo "the server did not start" >&2; exit 1; }

curl -sSf --max-time 10 -H 'Content-Type: application/json' --data-binary @- "http://$addr/webhook" >/dev/null <<'JSON'
{"version":"4","status":"firing","receiver":"ci","groupKey":"{}:{}","alerts":[
 {"status":"firing","labels":{"alertname":"PromtoolProbe","severity":"warning"},
  "annotations":{"summary":"ci"},"startsAt":"2026-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z"}]}
JSON
curl -sSf --max-time 10 "http://$addr/readyz" >/dev/null

# The hand-off (and its latency histogram) follows the commit asynchronously.
for _ in $(seq 1 50); do
  curl -sSf --max-time 10 "http://$addr/metrics" >"$tmp/metrics"
  grep -q '^alert_history_business_alert_processing_duration_seconds_count 1$' "$tmp/metrics" && break
  sleep 0.1
done
for family in alert_history_business_alerts_received_total \
  alert_history_business_alert_processing_duration_seconds \
  alert_history_technical_http_requests_total \
  alert_history_infra_db_connections_active \
  alert_history_infra_db_connections_max; do
  grep -q "^# TYPE $family " "$tmp/metrics" || { cat "$tmp/metrics" >&2; echo "missing $family" >&2; exit 1; }
done
promtool check metrics <"$tmp/metrics"
echo "promtool: $(grep -c '^# TYPE' "$tmp/metrics") metric families from the live server, lint clean"
