-- Helpers for the specs that need the real kernel: a private network
-- namespace, commands run in it, and the event loop run until something
-- happens. Loaded with dofile("tests/lua/netns.lua") (busted runs from the
-- top of the tree; the name has no _spec, so it is not a spec itself).
local nurs = require "nurs"

local M = {}

function M.sh(cmd)
  local ok = os.execute(cmd)
  assert(ok, "command failed: " .. cmd)
end

-- A namespace name of its own (made by M.setup) and a function running a
-- command inside it.
function M.new(prefix)
  local ns = prefix .. tostring(math.random(1, 1e9))
  return ns, function(cmd) M.sh("ip netns exec " .. ns .. " " .. cmd) end
end

-- Makes the namespace: loopback up, conntrack accounting and timestamps
-- on, a conntrack rule (entries exist only once a rule uses them).
function M.make(ns)
  M.sh("modprobe nf_conntrack_netlink 2>/dev/null || true")
  M.sh("ip netns add " .. ns)
  local function nsx(cmd) M.sh("ip netns exec " .. ns .. " " .. cmd) end
  nsx("ip link set lo up")
  nsx("sysctl -qw net.netfilter.nf_conntrack_acct=1 net.netfilter.nf_conntrack_timestamp=1")
  nsx("nft add table inet t")
  nsx("nft add chain inet t o '{ type filter hook output priority 0; ct state new counter; }'")
end

function M.remove(ns) os.execute("ip netns del " .. ns) end

-- Runs the loop until pred() holds or `secs` pass.
function M.run_until(pred, secs)
  local deadline = nurs.now() + secs
  local t = nurs.every(0.02, function()
    if pred() or nurs.now() > deadline then nurs.stop() end
  end)
  nurs.run(secs + 1)
  t:stop()
  return pred()
end

return M
