-- Top talkers: packets per source address from NFLOG, counted on every
-- core. The kernel spreads the logged packets over several groups, one
-- worker loop per group counts what it gets in nurs.shared, and the main
-- loop reports the busiest sources every INTERVAL seconds.
--
--   nft add table inet tt
--   nft add chain inet tt g1 '{ }'; nft add rule inet tt g1 log group 1
--   nft add chain inet tt g2 '{ }'; nft add rule inet tt g2 log group 2
--   nft add chain inet tt in '{ type filter hook input priority 0; }'
--   nft add rule inet tt in numgen inc mod 2 vmap '{ 0 : jump g1, 1 : jump g2 }'
--   nurs-lua scripts/examples/nflog-top-talkers.lua 1,2 10 5   # GROUPS [INTERVAL [TOP]]
--
-- Only the headers are copied (copy_range 64). The shared table holds up
-- to 12288 addresses; beyond, new ones are not counted (the report says
-- how many packets were refused).
local nurs = require "nurs"

local groups = {}
for g in (arg[1] or "1,2"):gmatch("%d+") do groups[#groups + 1] = math.tointeger(tonumber(g)) end
local interval = tonumber(arg[2]) or 10
local top = tonumber(arg[3]) or 10

nurs.nflog({ groups = groups, workers = "auto", copy_range = 64 }, function(rec)
  local src = rec.src
  if src then nurs.shared.add("src " .. src) end
end)

if nurs.worker.id == 0 then
  local refused_before = 0
  nurs.every(interval, function()
    local rows, total = {}, 0
    for key in pairs(nurs.shared.all("src ")) do
      local n = nurs.shared.take(key)  -- atomically: what was counted since the last report
      if n > 0 then
        rows[#rows + 1] = { key:sub(5), n }
        total = total + n
      end
    end
    table.sort(rows, function(a, b) return a[2] > b[2] end)
    local refused = nurs.shared.stats().refused
    nurs.log.info("%d packets from %d sources in %gs (%d workers)%s", total, #rows, interval,
      nurs.worker.count, refused > refused_before
        and string.format(", %d not counted: the table is full", refused - refused_before) or "")
    refused_before = refused
    for i = 1, math.min(top, #rows) do
      nurs.log.info("  %-40s %10d pkts %10.1f pkt/s", rows[i][1], rows[i][2], rows[i][2] / interval)
    end
  end)
end
