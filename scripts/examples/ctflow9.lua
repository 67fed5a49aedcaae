-- conntrack -> NetFlow v9, for nfcapd, pmacct, GoFlow2 or any v9 collector.
-- A connection is exported when it ends; one that lasts is exported every
-- minute with what it did since the last export, so the records of a
-- connection add up to what conntrack counted.
--
--   nurs-lua ctflow9.lua [COLLECTOR [MARK/MASK]]
--     COLLECTOR  host:port, [v6addr]:port (default 127.0.0.1:2055)
--     MARK/MASK  export only connections whose conntrack mark matches, 0x10/0xf0
--
-- Needs: sysctl -w net.netfilter.nf_conntrack_acct=1 (counters) and
-- net.netfilter.nf_conntrack_timestamp=1 (exact start and end times).
local nurs = require "nurs"

local collector = arg[1] or "127.0.0.1:2055"
local mark, mask = (arg[2] or ""):match("^(%w+)/(%w+)$")

local exporter = nurs.netflow9 {
  collector = collector,
  templates = {   -- IANA element names; one template per address family
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
  },
}

-- Start times come from conntrack's timestamps; without them, from NEW events.
local stamped = nurs.sysctl "net.netfilter.nf_conntrack_timestamp" == 1

local conntrack = nurs.conntrack({
  events = stamped and { "destroy" } or { "new", "destroy" },
  mark = mark and tonumber(mark), mark_mask = mask and tonumber(mask),
  dump_at_exit = "zero",   -- at exit, export what live connections did since the last time
}, function(rec)
  exporter:export(rec)
end)

-- Active timeout: list the table every 60 s, resetting its counters; each
-- live connection's record carries what it did since the last listing.
nurs.every(60, function()
  if not conntrack:dumping() then conntrack:dump { zero = true } end
end)
