-- Cuts established connections to or from the addresses on a list, as
-- `conntrack -D -s ADDR` would, and keeps cutting the ones that start later
-- (after a firewall rule blocked an address, its connections already
-- tracked would live on). Reloaded on SIGHUP: edit the list, kill -HUP.
--
--   nurs-lua scripts/examples/ct-cut.lua /etc/nurs/cut.list [netns]
--
-- The list: one address or IPv4 network per line (192.0.2.7, 10.1.0.0/16,
-- 2001:db8::5); '#' starts a comment.
local nurs = require "nurs"

local path, netns = arg[1], arg[2]
if not path then error("usage: ct-cut.lua LIST [NETNS]", 0) end

local exact, nets = {}, {}
local function ipv4(a)
  local b1, b2, b3, b4 = a:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  return b1 and ((tonumber(b1) * 256 + tonumber(b2)) * 256 + tonumber(b3)) * 256 + tonumber(b4)
end
local list = assert(io.open(path))
for line in list:lines() do
  local entry = line:gsub("#.*", ""):match("^%s*(%S+)")
  if entry then
    local net, bits = entry:match("^([%d%.]+)/(%d+)$")
    if net and ipv4(net) then
      local size = 1 << (32 - tonumber(bits))
      nets[#nets + 1] = { first = ipv4(net) // size * size, size = size, text = entry }
    else
      exact[entry] = true
    end
  end
end
list:close()

local function listed(addr)
  if not addr then return nil end
  if exact[addr] then return addr end
  local v = ipv4(addr)
  for _, n in ipairs(nets) do
    if v and v >= n.first and v < n.first + n.size then return n.text end
  end
end

local cut = 0
local src = nurs.conntrack { events = { "new", "update" }, netns = netns, name = "ct-cut" }

local function report(what) return function(n, info)
  if n and n > 0 then
    cut = cut + n
    nurs.log.info("cut %d established connections %s", n, what)
  elseif not n then
    nurs.log.warn("cutting connections %s failed: %s", what, info.error or "?")
  end
end end

-- What is already established, once per listed address or network, in the
-- kernel where it can filter (exact addresses) and here for networks.
for addr in pairs(exact) do
  for _, dir in ipairs { "src", "dst" } do
    src:delete({ [dir] = addr, state = "ESTABLISHED" }, report(dir .. " " .. addr))
  end
end
for _, n in ipairs(nets) do
  for _, dir in ipairs { "src", "dst" } do
    src:delete({ [dir] = n.text, state = "ESTABLISHED" }, report(dir .. " " .. n.text))
  end
end

-- What gets established from now on.
src:on(function(rec)
  if rec.state ~= "ESTABLISHED" then return end
  local hit = listed(rec.orig.src) or listed(rec.orig.dst)
  if not hit then return end
  local desc = string.format("%s %s:%s -> %s:%s", rec.proto, rec.orig.src, rec.orig.sport or "",
                             rec.orig.dst, rec.orig.dport or "")
  src:delete(rec, function(ok, err)
    if ok then
      cut = cut + 1
      nurs.log.info("cut %s (listed: %s)", desc, hit)
    elseif err ~= "ENOENT" then   -- already gone: nothing to cut
      nurs.log.warn("cannot cut %s: %s", desc, err)
    end
  end)
end)

nurs.every(3600, function() nurs.log.info("%d connections cut so far", cut) end)
