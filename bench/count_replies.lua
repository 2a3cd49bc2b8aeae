-- wrk hooks: count non-200 replies and error bodies across threads, print one BENCH line.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) non200 = 0; errors = 0 end
function response(status, headers, body)
  if status ~= 200 then non200 = non200 + 1
  elseif string.find(body, '"isError":true', 1, true) or string.find(body, '"error":{', 1, true) then errors = errors + 1 end
end
function done(summary, latency, requests)
  local non, err = 0, 0
  for _, t in ipairs(threads) do non = non + t:get("non200"); err = err + t:get("errors") end
  io.write(string.format("BENCH requests=%d seconds=%.2f rps=%.1f p50_ms=%.2f p99_ms=%.2f non_200=%d error_bodies=%d socket_errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, non, err,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
