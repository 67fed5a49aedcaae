-- Benchmark body: lists the conntrack table of namespace arg[1] once and
-- reports records/s, CPU seconds and peak RSS. arg[2] picks the callback:
--   count   a trivial callback
--   fields  reads 6 fields and filters
--   json    writes every record to the JSON sink (arg[3]: path, /dev/null)
local nurs = require "nurs"
local mode, netns = arg[2] or "count", arg[1]
local n, kept = 0, 0
local out = mode == "json" and nurs.json { path = arg[3] or "/dev/null", buffer = 1 << 20 }

local callbacks = {
  count = function() n = n + 1 end,
  fields = function(rec)
    n = n + 1
    local o = rec.orig
    if rec.proto == "udp" and o.dport >= 10000 and o.src ~= o.dst and o.bytes > 0
        and rec.reply.packets >= 0 then
      kept = kept + 1
    end
  end,
  json = function(rec) n = n + 1; out:write(rec) end,
}

local function peak_rss_kib()
  for line in io.lines("/proc/self/status") do
    local v = line:match("^VmHWM:%s+(%d+)")
    if v then return tonumber(v) end
  end
end

local t0, c0
local ct = nurs.conntrack({ netns = netns, events = {}, rcvbuf = 32 << 20 }, callbacks[mode])
nurs.after(0, function()
  t0, c0 = nurs.now(), os.clock()
  ct:dump()
  local poll
  poll = nurs.every(0.001, function()
    if ct:dumping() then return end
    poll:stop()
    if out then out:flush() end
    local wall, cpu = nurs.now() - t0, os.clock() - c0
    io.stdout:write(string.format("%s records=%d wall_s=%.3f cpu_s=%.3f rate=%.0f cpu_per_M=%.2f peak_rss_kib=%d overruns=%d\n",
      mode, n, wall, cpu, n / wall, cpu / n * 1e6, peak_rss_kib(), ct:counters().overruns))
    nurs.stop()
  end)
end)
