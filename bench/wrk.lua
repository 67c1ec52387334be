-- wrk.lua - the one wrk script bench/run.sh uses; environment variables
-- choose what each connection sends:
--
--   BENCH_CITY=London   every request asks for this city (cache scenarios)
--   BENCH_UNIQUE=1      every request asks for a city never asked before:
--                       "C<nonce>x<counter>t<thread>", so that with
--                       WEATHER_CACHE_TTL_S=0 each one is a real upstream
--                       call (fake-upstream knows every non-magic name)
--   BENCH_PATH=/healthz a fixed path instead of /weather
--   BENCH_NONCE=<word>  makes names unique across runs (default: time)
--   BENCH_DELAY_MS=N    wait N ms after each response before the next
--                       request on that connection (idle keep-alives)
--
-- done() prints one machine-readable line for run.sh:
--   WRK requests=N duration_us=D rps=R p50_us=.. p90_us=.. p99_us=..
--       max_us=.. connect=.. read=.. write=.. timeout=.. status=..
-- where status counts answers >= 400 (wrk's "Non-2xx or 3xx").

local threads = {}
local counter = 0
local nonce = os.getenv("BENCH_NONCE") or tostring(os.time())
local unique = os.getenv("BENCH_UNIQUE") == "1"
local city = os.getenv("BENCH_CITY") or "London"
local fixed_path = os.getenv("BENCH_PATH")
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")

function setup(thread)
   thread:set("tid", #threads + 1)
   table.insert(threads, thread)
end

function init(args)
   if fixed_path then
      wrk.path = fixed_path
   elseif not unique then
      wrk.path = "/weather?city=" .. city
   end
end

if unique then
   function request()
      counter = counter + 1
      return wrk.format("GET", "/weather?city=C" .. nonce .. "x" .. counter
                           .. "t" .. tid)
   end
end

if delay_ms > 0 then
   function delay()
      return delay_ms
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "WRK requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d " ..
      "p99_us=%d max_us=%d connect=%d read=%d write=%d timeout=%d " ..
      "status=%d\n",
      summary.requests, summary.duration,
      summary.requests / (summary.duration / 1e6),
      latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max,
      e.connect, e.read, e.write, e.timeout, e.status))
end
