-- wrk script: every request carries ALERTS new alerts (default 10), each with
-- 10 labels (one of them, `instance`, unique per alert across all threads and
-- requests) and 2 annotations.
--
--   LOADTEST_FORMAT=webhook wrk -t2 -c64 -d20s --latency -s alerts.lua http://127.0.0.1:8080/webhook
--   LOADTEST_FORMAT=apiv2   wrk ... -s alerts.lua http://127.0.0.1:9093/api/v2/alerts
--
-- LOADTEST_FORMAT: `webhook` (Alertmanager webhook v4 object) or `apiv2`
-- (Alertmanager API v2 array). LOADTEST_ALERTS: alerts per request.
-- LOADTEST_RUN: a tag put in every `instance`, so that consecutive runs
-- against the same server never repeat an alert (default: the start time).
-- The summary prints the non-2xx count and the alerts sent.

local threads = {}
local counter = 1

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

-- `tid` is a global set by setup() in each thread's Lua state.
local format, per_request, run, starts_at, ends_at

function init(args)
   format = os.getenv("LOADTEST_FORMAT") or "webhook"
   per_request = tonumber(os.getenv("LOADTEST_ALERTS") or "10")
   run = os.getenv("LOADTEST_RUN") or tostring(os.time())
   local now = os.time()
   starts_at = os.date("!%Y-%m-%dT%H:%M:%SZ", now)
   ends_at = os.date("!%Y-%m-%dT%H:%M:%SZ", now + 3600)
   tid = tid or 0
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
end

local severities = { "critical", "warning", "info" }

local function alert(n, i)
   local id = run .. "-" .. tid .. "-" .. n .. "-" .. i
   local sev = severities[(i % 3) + 1]
   local labels = '{"alertname":"LoadTestAlert' .. (i % 7) ..
      '","severity":"' .. sev ..
      '","instance":"node-' .. id ..
      '.example.internal:9100","job":"node-exporter","namespace":"loadtest","pod":"exporter-' .. (n % 50) ..
      '","cluster":"eu-west-1a","region":"eu-west-1","team":"platform","service":"loadgen"}'
   local annotations = '{"summary":"Load test alert ' .. id ..
      ' is firing","description":"Synthetic alert from scripts/loadtest; every alert has a unique instance label so that none is a duplicate."}'
   if format == "apiv2" then
      return '{"labels":' .. labels .. ',"annotations":' .. annotations ..
         ',"startsAt":"' .. starts_at .. '","endsAt":"' .. ends_at ..
         '","generatorURL":"http://prometheus.example.internal:9090/graph"}'
   end
   return '{"status":"firing","labels":' .. labels .. ',"annotations":' .. annotations ..
      ',"startsAt":"' .. starts_at .. '","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus.example.internal:9090/graph","fingerprint":""}'
end

function request()
   local n = counter
   counter = counter + 1
   local parts = {}
   for i = 1, per_request do
      parts[i] = alert(n, i)
   end
   local alerts = "[" .. table.concat(parts, ",") .. "]"
   local body
   if format == "apiv2" then
      body = alerts
   else
      body = '{"version":"4","status":"firing","receiver":"r","groupKey":"{}:{}","truncatedAlerts":0,' ..
         '"groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://alertmanager.example.internal:9093","alerts":' ..
         alerts .. '}'
   end
   return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
   local non2xx = summary.errors.status
   local ok = summary.requests - non2xx
   local per_request = tonumber(os.getenv("LOADTEST_ALERTS") or "10")
   io.write(string.format("LOADTEST requests=%d non2xx=%d sock_errors=%d alerts_ok=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d\n",
      summary.requests, non2xx,
      summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
      ok * per_request, summary.duration,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max))
end
