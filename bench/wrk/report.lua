-- Prints one JSON line with the run's totals and latency percentiles.
local path = os.getenv("BENCH_PATH")
local method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
wrk.headers["Accept"] = "application/vnd.github+json"
if body then wrk.headers["Content-Type"] = "application/json" end
local lo, hi = tonumber(os.getenv("BENCH_ID_LO") or "0"), tonumber(os.getenv("BENCH_ID_HI") or "0")
local counter, tag = 0, "x"
init = function(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  tag = string.format("%x", math.random(1, 2^30))
end
request = function()
  counter = counter + 1
  local p = string.gsub(path, "{id}", tostring(math.random(lo, hi)))
  local b = body and string.gsub(body, "{n}", tag .. "-" .. tostring(counter)) or nil
  return wrk.format(method, p, nil, b)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCHJSON {"requests":%d,"duration_us":%d,"non2xx":%d,"errors":%d,' ..
    '"p50_us":%d,"p99_us":%d}\n', summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
