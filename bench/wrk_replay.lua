-- Replays pre-built raw HTTP requests, each one once, so every request carries its own one-time
-- client assertion and DPoP proof (bench/token.py). Script arguments: the requests file (records of
-- "<byte length>\n<raw request>") and the number of wrk threads; thread i takes records i, i+n, ...
-- When a thread runs out it sends its last request again, which the server refuses as a replay: the
-- run then shows status errors, and bench/token.py sizes the files so that this does not happen.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "wrk_summary.lua")

local made = 0
function setup(thread)
  thread:set("thread_index", made)
  made = made + 1
end

local records, nextone = {}, 1
function init(args)
  local file = assert(io.open(args[1], "rb"))
  local data = file:read("*a")
  file:close()
  local threads, index = tonumber(args[2] or "1"), thread_index or 0
  -- Optional third argument: the mean milliseconds each connection waits between its requests (a
  -- paced run at connections / interval requests per second in all, for latency at a fixed offered
  -- rate). Each wait is drawn from an exponential distribution with that mean, so the connections'
  -- requests arrive as a Poisson stream; a fixed wait would keep every connection in step with the
  -- others (they all start together) and offer the rate as bursts of one request per connection at
  -- once, whose queueing, not the server, would set the p99. delay() is only defined then: wrk checks
  -- for it after init, and unpaced runs stay as they were.
  if args[3] then
    local interval = tonumber(args[3])
    math.randomseed(os.time() + 7919 * index)
    function delay()
      return math.floor(-interval * math.log(1 - math.random()))
    end
  end
  local pos, n = 1, 0
  while pos <= #data do
    local newline = data:find("\n", pos, true)
    local length = tonumber(data:sub(pos, newline - 1))
    if n % threads == index then
      records[#records + 1] = data:sub(newline + 1, newline + length)
    end
    pos, n = newline + 1 + length, n + 1
  end
end

function request()
  local raw = records[nextone] or records[#records]
  nextone = nextone + 1
  return raw
end
