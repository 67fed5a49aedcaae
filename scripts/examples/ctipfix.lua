-- conntrack -> IPFIX, over UDP, over TCP (reconnecting, with a bounded
-- queue while the collector is away) or into an RFC 5655 file.
--
--   nurs-lua ctipfix.lua [COLLECTOR] [biflow] [process[=bpf|sockdiag]]
--     COLLECTOR  host:port or udp://host:port (default 127.0.0.1:4739),
--                tcp://[2001:db8::1]:4739, file:///var/log/flows.ipfix
--     biflow     one record per connection, the reply in reverse elements (RFC 5103)
--     process    add the process, user and systemd unit or container at each
--                local end of a flow (enterprise 32473 elements, docs/elements.md)
--
-- The templates are the presets of lua/nurs/templates.lua; copy them here to
-- change what is exported (see ctflow9.lua for templates written out).
local nurs = require "nurs"
local presets = require "nurs.templates"

local flags = {}
for i = 2, #arg do
  local mode = arg[i]:match "^process=(%a+)$"
  if mode then flags.process = mode else flags[arg[i]] = true end
end

local templates = flags.biflow and presets.ipfix_biflow or presets.ipfix
if flags.process then templates = presets.with(templates, presets.process) end

local exporter = nurs.ipfix { collector = arg[1] or "127.0.0.1:4739", templates = templates }

-- Start times come from conntrack's timestamps; without them, from NEW events.
local stamped = nurs.sysctl "net.netfilter.nf_conntrack_timestamp" == 1

local conntrack = nurs.conntrack({
  events = stamped and { "destroy" } or { "new", "destroy" },
  rcvbuf = 32 << 20,   -- room for the burst of a table flush or mass expiry
  batch_wait = 0.002,  -- events that come one by one are read in batches (less CPU)
  dump_at_exit = "zero",
  process = flags.process,
}, exporter)   -- or function(rec) ... exporter:export(rec) end to filter in Lua

-- Active timeout: every 60 s, what live connections did since the last time.
nurs.every(60, function()
  if not conntrack:dumping() then conntrack:dump { zero = true } end
end)
