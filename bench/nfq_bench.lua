-- nurs-lua side of bench/nfqueue.sh: a trivial accepting script. Timers
-- (not the callback) measure: packets decided during WINDOW seconds from
-- the first one, in each loop that owns queues; the main loop prints the
-- sum as "packets P seconds S rate R".
--   nurs-lua bench/nfq_bench.lua QUEUES WINDOW single|batch [WORKERS]
local nurs = require "nurs"
local window = tonumber(arg[2])
local workers = tonumber(arg[4]) or 1
local q = nurs.nfqueue({ queue = math.tointeger(tonumber(arg[1])) or arg[1],
                         batch = arg[3] == "batch", workers = workers },
  function() return "accept" end)
local loops = workers > 1 and workers or 1

if nurs.worker.id > 0 or loops == 1 then
  local t0, c0, timer
  timer = nurs.every(0.01, function()
    local c = q:counters().accept
    if not t0 then
      if c > 0 then t0, c0 = nurs.now(), c end
      return
    end
    local dt = nurs.now() - t0
    if dt >= window then
      nurs.shared.add("bench packets", c - c0)
      nurs.shared.add("bench rate", math.floor((c - c0) / dt))
      nurs.shared.add("bench done")
      timer:stop()
    end
  end)
end

if nurs.worker.id == 0 then
  nurs.every(0.01, function()
    if nurs.shared.get("bench done") < loops then return end
    print(string.format("packets %d seconds %.3f rate %d", nurs.shared.get("bench packets"),
      window, nurs.shared.get("bench rate")))
    io.stdout:flush()
    nurs.stop()
  end)
end
