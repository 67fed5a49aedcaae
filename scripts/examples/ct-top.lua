-- Top talkers from the conntrack table, like a tiny iftop: every few
-- seconds the table is listed and the connections that moved the most
-- bytes since the last listing are printed with their rates. Needs
-- accounting (sysctl -w net.netfilter.nf_conntrack_acct=1). Counters are
-- read, not reset: exporters and conntrack -L see them as before.
--
--   nurs-lua scripts/examples/ct-top.lua [SECONDS] [COUNT] [NETNS]
local nurs = require "nurs"

local every = tonumber(arg[1]) or 2
local count = tonumber(arg[2]) or 10
local ct = nurs.ct { netns = arg[3], name = "ct-top" }

local last = {}    -- conntrack id -> bytes at the previous listing
local function human(n)
  for _, unit in ipairs { "", "k", "M", "G" } do
    if n < 1000 then return string.format("%.1f%s", n, unit) end
    n = n / 1000
  end
  return string.format("%.1fT", n)
end

local function listing()
  local now, rows, seen, total = {}, {}, 0, 0
  ct:list(function(rec)
    local id = rec.id
    if not id then return end
    local bytes = (rec.orig.bytes or 0) + (rec.reply.bytes or 0)
    now[id] = bytes
    local moved = bytes - (last[id] or 0)
    seen = seen + 1
    if moved > 0 then
      total = total + moved
      rows[#rows + 1] = {
        moved = moved,
        what = string.format("%-5s %s:%s -> %s:%s %s", rec.proto or "?", rec.orig.src,
                             rec.orig.sport or "-", rec.orig.dst, rec.orig.dport or "-",
                             rec.state or ""),
      }
    end
  end, function(n, err)
    if not n then return nurs.log.warn("listing the table failed: %s", err) end
    last = now
    table.sort(rows, function(a, b) return a.moved > b.moved end)
    print(string.format("\n%s  %d connections, %sB/s in all", os.date("%H:%M:%S"), seen,
                        human(total / every)))
    for i = 1, math.min(count, #rows) do
      print(string.format("%9sB/s  %s", human(rows[i].moved / every), rows[i].what))
    end
    io.stdout:flush()
  end)
end

listing()
nurs.every(every, listing)
