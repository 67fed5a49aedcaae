-- nurs-lua side of bench/nfqueue.sh: a trivial accepting script. A timer
-- (not the callback) measures: packets decided during WINDOW seconds from
-- the first one, printed as "packets P seconds S rate R".
--   nurs-lua bench/nfq_bench.lua QUEUE WINDOW single|batch
local nurs = require "nurs"
local window = tonumber(arg[2])
local q = nurs.nfqueue({ queue = tonumber(arg[1]), batch = arg[3] == "batch" },
  function() return "accept" end)
local t0, c0
nurs.every(0.01, function()
  local c = q:counters().accept
  if not t0 then
    if c > 0 then t0, c0 = nurs.now(), c end
    return
  end
  local dt = nurs.now() - t0
  if dt >= window then
    print(string.format("packets %d seconds %.3f rate %.0f", c - c0, dt, (c - c0) / dt))
    io.stdout:flush()
    nurs.stop()
  end
end)
