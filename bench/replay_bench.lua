-- Benchmark body: replays arg[1] (loops arg[3]) through case arg[2]:
--   decode  no Lua: each message parsed as for a callback (the C floor)
--   trivial a Lua callback that counts
--   fields  a callback reading 6 fields and filtering
--   json    the JSON sink to /dev/null, from a Lua callback (out:write(rec))
--   jsonc   the JSON sink to /dev/null as the callback itself (in C, no Lua call)
--   ctflow9 scripts/examples/ctflow9.lua itself (path arg[4]), exporting NetFlow
--           v9 to the collector arg[5], the replay standing in for nurs.conntrack;
--           any other case with a script path arg[4] runs that script the same
--           way, with arguments arg[5...] (bench/kafka.sh: ctipfix.lua,
--           ct-kafka.lua); messages still on their way to Kafka at the end
--           of the replay are waited for (at most 60 s, or until 2 s pass
--           without a delivery) and count in the time
--   process a Lua callback that counts, with process attribution on (give a
--           file of local connections: ct-synth N FILE SEED local)
-- and prints one line of figures.
local nurs = require "nurs"
local path, case, loops = arg[1], arg[2], tonumber(arg[3] or "1")
local n, kept = 0, 0
local out = (case == "json" or case == "jsonc") and nurs.json { path = "/dev/null", buffer = 1 << 20 }

local callbacks = {
  trivial = function() n = n + 1 end,
  fields = function(rec)
    n = n + 1
    local o = rec.orig
    if rec.proto == "tcp" and o.dport == 443 and o.bytes > 1000 and rec.reply.packets > 0
        and o.src ~= rec.reply.dst then
      kept = kept + 1
    end
  end,
  json = function(rec) n = n + 1; out:write(rec) end,
}
callbacks.process = callbacks.trivial
callbacks.jsonc = out

local r
if arg[4] then
  local conntrack = nurs.conntrack
  nurs.conntrack = function(_, callback)
    r = nurs.replay({ path = path, loops = loops }, callback)
    return { dumping = function() return true end } -- no active timeout within the run
  end
  arg = { [0] = arg[4], table.unpack(arg, 5) }
  dofile(arg[0])
  nurs.conntrack = conntrack
else
  r = nurs.replay({ path = path, loops = loops, decode_only = case == "decode",
                    process = case == "process" }, callbacks[case])
end
local t0, c0 = nurs.now(), os.clock()
nurs.run()
if nurs.counters().kafka then
  local last, still = -1, 0
  for _ = 1, 1200 do
    local n = nurs.counters().kafka.in_flight
    if n == 0 or still == 40 then break end -- all delivered, or 2 s without progress
    still = n == last and still + 1 or 0
    last = n
    nurs.run(0.05)
  end
  nurs.stop() -- the replay had stopped the loop; running it again forgot that
end
local wall, cpu = nurs.now() - t0, os.clock() - c0
if out then out:flush() end
local records = r:counters().delivered
local rss
for line in io.lines("/proc/self/status") do rss = rss or tonumber(line:match("^VmHWM:%s+(%d+)")) end
local all = nurs.counters()
local flows = ((all.netflow9 or all.ipfix or all.kafka) or {}).records or 0
local kafka = all.kafka or {}
local c = r:counters()
local lookups = (c.process_no_socket or 0) + (c.process_attributed or 0) + (c.process_gone or 0)
print(string.format("case=%s records=%d wall_s=%.3f cpu_s=%.3f rate=%.0f cpu_per_M=%.3f peak_rss_kib=%d flows=%d lookups=%d kafka_produced=%d kafka_delivered=%d kafka_dropped=%d",
  case, records, wall, cpu, records / wall, cpu / records * 1e6, rss, flows, lookups,
  kafka.produced or 0, kafka.delivered or 0, kafka.dropped or 0))
