-- A fixed offered rate from wrk (bench/gateway.py's latency runs). Script arguments: the rate in
-- requests per second across all threads, and the number of threads.
--
-- Each thread keeps one schedule of send times, a Poisson stream at its share of the rate (gaps drawn
-- from an exponential distribution), and each connection that has its answer takes the next free time
-- on it: delay() returns how long until then, or 0 when that time has passed (the stream catches up
-- after a slow answer instead of losing its place). The rate holds while some connection is free at
-- each send time, so the caller opens more connections than rate x latency; a server that cannot keep
-- up shows as an achieved rate under the offered one. wrk waits whole milliseconds, so a send goes
-- out up to 1 ms early; the schedule, not the rounding, sets the rate. Latency is counted by wrk from
-- the actual send.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "wrk_summary.lua")

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } kaimen_timespec;
  int clock_gettime(int clock_id, kaimen_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local clock = ffi.new("kaimen_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local made = 0
function setup(thread)
  thread:set("thread_index", made)
  made = made + 1
end

local mean_gap_ms, next_ms
function init(args)
  local rate, threads = tonumber(args[1]), tonumber(args[2] or "1")
  mean_gap_ms = 1000 * threads / rate
  math.randomseed(os.time() + 7919 * (thread_index or 0))
end

function delay()
  local now = now_ms()
  if next_ms == nil then
    next_ms = now
  end
  local at = next_ms
  next_ms = next_ms - math.log(1 - math.random()) * mean_gap_ms
  if at <= now then
    return 0
  end
  return math.floor(at - now)
end
