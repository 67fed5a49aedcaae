-- An ad-hoc DNS filter: queries for blocked names (and their subdomains)
-- are dropped before they leave; everything else is accepted.
--
--   nft add rule inet filter output udp dport 53 queue num 3 bypass
--   nurs-lua scripts/examples/nfq-filter.lua 3 /etc/dns-blocklist   # one name a line
--   nurs-lua scripts/examples/nfq-filter.lua 3 ads.example tracker.example
--
-- On every core: spread the queries over several queues (nft `queue num
-- 3-6 fanout`, or iptables -j NFQUEUE --queue-balance 3:6
-- --queue-cpu-fanout) and give the range; one worker loop per CPU (at
-- most one per queue) runs this script with its own queues:
--   nurs-lua scripts/examples/nfq-filter.lua 3-6 /etc/dns-blocklist
--
-- `bypass` lets traffic through while nurs-lua is not running; a script
-- error or a callback over its 10 ms budget accepts the packet (the
-- default verdict). SIGHUP reloads the list without losing a packet.
local nurs = require "nurs"

local queue = math.tointeger(tonumber(arg[1])) or arg[1] or 3
local blocked = {}
for i = 2, #arg do
  local f = io.open(arg[i])
  if f then
    for line in f:lines() do blocked[line:lower():match("^%s*([^%s#]+)")  or ""] = true end
    f:close()
  else
    blocked[arg[i]:lower()] = true
  end
end
blocked[""] = nil

-- The question's name, from the DNS message: labels until the empty one,
-- never past the end (a malformed query yields nil).
local function qname(msg)
  local labels, pos = {}, 13          -- after the 12-byte header
  while pos <= #msg do
    local len = msg:byte(pos)
    if len == 0 then return table.concat(labels, "."):lower() end
    if len > 63 or pos + len > #msg or #labels == 127 then return nil end
    labels[#labels + 1] = msg:sub(pos + 1, pos + len)
    pos = pos + len + 1
  end
end

-- Each worker loop has its own Lua state (its own copy of `blocked`); the
-- count of drops is kept where every loop sees it.
nurs.nfqueue({ queue = queue, default = "accept", workers = "auto" }, function(rec)
  local asked = rec.dport == 53 and qname(rec:payload() or "")
  local name = asked
  while name do                        -- the name, then each parent domain
    if blocked[name] then
      nurs.shared.add("dns dropped")
      nurs.log.info("dropped a query for %s (%s) from %s", asked, name, rec.src)
      return "drop"
    end
    name = name:match("^[^.]*%.(.+)$")
  end
  return "accept"
end)

if nurs.worker.id == 0 then            -- the main loop reports for all
  nurs.every(60, function()
    nurs.log.info("%d queries dropped so far", nurs.shared.get("dns dropped"))
  end)
end
