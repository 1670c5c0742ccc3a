-- bench/wrk_replay.lua, recording each response for bench/payments_bench.py's checks after the run:
-- one line per response, "<status> <DomesticPaymentId or -> <Data.Status or -> <ConsentId or ->", to
-- the file named by the environment variable BENCH_RESPONSES plus "." and the wrk thread's index.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "wrk_replay.lua")

local replay_init, out = init, nil
function init(args)
  replay_init(args)
  out = assert(io.open(os.getenv("BENCH_RESPONSES") .. "." .. tostring(thread_index or 0), "w"))
end

function response(status, headers, body)
  local id = body:match('"DomesticPaymentId"%s*:%s*"([^"]+)"') or "-"
  local state = body:match('"Status"%s*:%s*"([^"]+)"') or "-"
  local consent = body:match('"ConsentId"%s*:%s*"([^"]+)"') or "-"
  out:write(status, " ", id, " ", state, " ", consent, "\n")
  out:flush()
end
