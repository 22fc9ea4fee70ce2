-- t/bench/report.lua - wrk script: prints the exact figures of a run in one
-- machine-readable line, so that bench.py does not have to parse wrk's
-- rounded human units ("1.23GB"). Latencies are in microseconds.
--
--   BENCH requests=N bytes=N duration_us=N mean_us=N p50_us=N p99_us=N
--         max_us=N err_connect=N err_read=N err_write=N err_status=N
--         err_timeout=N
--
-- err_status counts answers other than 2xx/3xx: bench.py fails the run on
-- any error at all.

-- With BENCH_SPREAD=N in the environment (the growth case), each request
-- asks for one of the names f0000000 .. f(N-1), at random, instead of the
-- URL's path.
local spread = tonumber(os.getenv("BENCH_SPREAD") or "")
if spread then
   math.randomseed(os.time())
   request = function()
      return wrk.format(nil, string.format("/f%07d",
                                           math.random(0, spread - 1)))
   end
end

done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d bytes=%d duration_us=%d mean_us=%.1f " ..
      "p50_us=%d p99_us=%d max_us=%d err_connect=%d err_read=%d " ..
      "err_write=%d err_status=%d err_timeout=%d\n",
      summary.requests, summary.bytes, summary.duration, latency.mean,
      latency:percentile(50), latency:percentile(99), latency.max,
      e.connect, e.read, e.write, e.status, e.timeout))
end
