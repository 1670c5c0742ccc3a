-- wrk's end-of-run summary as one machine-readable line, so bench/loadgen.py never parses wrk's text.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,"connect_errors":%.0f,' ..
    '"read_errors":%.0f,"write_errors":%.0f,"status_errors":%.0f,"timeout_errors":%.0f,' ..
    '"p50_us":%.0f,"p99_us":%.0f,"mean_us":%.1f,"max_us":%.0f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
