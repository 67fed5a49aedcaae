-- conntrack -> NetFlow v9, for nfcapd, pmacct, GoFlow2 or any v9 collector.
-- A connection is exported when it ends; one that lasts is exported every
-- minute with what it did since the last export, so the records of a
-- connection add up to what conntrack counted.
--
--   nurs-lua ctflow9.lua [COLLECTOR [MARK/MASK]] [process[=bpf|sockdiag]]
--     COLLECTOR  host:port, [v6addr]:port (default 127.0.0.1:2055)
--     MARK/MASK  export only connections whose conntrack mark matches, 0x10/0xf0
--     process    add the process, user and systemd unit or container at each
--                local end of a flow (v9 vendor fields 32769..., docs/elements.md)
--
-- Needs: sysctl -w net.netfilter.nf_conntrack_acct=1 (counters) and
-- net.netfilter.nf_conntrack_timestamp=1 (exact start and end times).
local nurs = require "nurs"
local presets = require "nurs.templates"

local args, process = {}, false
for _, a in ipairs(arg) do
  local mode = a:match "^process=(%a+)$"
  if a == "process" then process = true elseif mode then process = mode else args[#args + 1] = a end
end
local collector = args[1] or "127.0.0.1:2055"
local mark, mask = (args[2] or ""):match("^(%w+)/(%w+)$")

local templates = {   -- IANA element names; one template per address family
  ipv4 = { "sourceIPv4Address", "destinationIPv4Address",
           "sourceTransportPort", "destinationTransportPort", "protocolIdentifier",
           "icmpTypeCodeIPv4",
           "postNATSourceIPv4Address", "postNATDestinationIPv4Address",
           "postNAPTSourceTransportPort", "postNAPTDestinationTransportPort",
           "octetDeltaCount", "packetDeltaCount",
           "flowStartSysUpTime", "flowEndSysUpTime", "flowEndReason" },
  ipv6 = { "sourceIPv6Address", "destinationIPv6Address",
           "sourceTransportPort", "destinationTransportPort", "protocolIdentifier",
           "icmpTypeCodeIPv6", "icmpTypeIPv6", "icmpCodeIPv6",   -- nfdump reads the last two
           "postNATSourceIPv6Address", "postNATDestinationIPv6Address",
           "postNAPTSourceTransportPort", "postNAPTDestinationTransportPort",
           "octetDeltaCount", "packetDeltaCount",
           "flowStartSysUpTime", "flowEndSysUpTime", "flowEndReason" },
}
if process then templates = presets.with(templates, presets.process_netflow9) end

local exporter = nurs.netflow9 { collector = collector, templates = templates }

-- Start times come from conntrack's timestamps; without them, from NEW events.
local stamped = nurs.sysctl "net.netfilter.nf_conntrack_timestamp" == 1

local conntrack = nurs.conntrack({
  events = stamped and { "destroy" } or { "new", "destroy" },
  rcvbuf = 32 << 20,   -- room for the burst of a table flush or mass expiry
  batch_wait = 0.002,  -- events that come one by one are read in batches (less CPU)
  mark = mark and tonumber(mark), mark_mask = mask and tonumber(mask),
  dump_at_exit = "zero",   -- at exit, export what live connections did since the last time
  process = process,       -- which process owns each local end (BPF, else sock_diag and /proc)
}, exporter)   -- each record straight to the exporter, in C; to filter or add
               -- fields in Lua: function(rec) exporter:export(rec) end

-- Active timeout: list the table every 60 s, resetting its counters; each
-- live connection's record carries what it did since the last listing.
nurs.every(60, function()
  if not conntrack:dumping() then conntrack:dump { zero = true } end
end)
