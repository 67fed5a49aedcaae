-- Template presets for nurs.netflow9 and nurs.ipfix: what an exporter sends
-- when the script gives no templates. Element names are IANA's (RFC 7012);
-- each template is for one address family.
local M = {}

local function family(v)
  local ip = v == 4 and "IPv4" or "IPv6"
  return {
    "source" .. ip .. "Address", "destination" .. ip .. "Address",
    "sourceTransportPort", "destinationTransportPort", "protocolIdentifier",
    "icmpTypeCode" .. ip, "icmpType" .. ip, "icmpCode" .. ip,
    "postNATSource" .. ip .. "Address", "postNATDestination" .. ip .. "Address",
    "postNAPTSourceTransportPort", "postNAPTDestinationTransportPort",
    "ingressInterface", "egressInterface", "flowDirection",
    "octetDeltaCount", "packetDeltaCount",
  }
end

local function with(list, ...)
  local t = { table.unpack(list) }
  for _, name in ipairs { ... } do t[#t + 1] = name end
  return t
end

-- NetFlow v9: times relative to sysUptime, as v9 collectors expect them.
M.netflow9 = {
  ipv4 = with(family(4), "flowStartSysUpTime", "flowEndSysUpTime", "flowEndReason"),
  ipv6 = with(family(6), "flowStartSysUpTime", "flowEndSysUpTime", "flowEndReason"),
}

-- IPFIX: absolute times in milliseconds, and the conntrack id.
M.ipfix = {
  ipv4 = with(family(4), "flowStartMilliseconds", "flowEndMilliseconds", "flowEndReason", "flowId"),
  ipv6 = with(family(6), "flowStartMilliseconds", "flowEndMilliseconds", "flowEndReason", "flowId"),
}

-- IPFIX biflows (RFC 5103): one record per connection, the reply's counters
-- in reverse elements.
M.ipfix_biflow = {
  ipv4 = with(M.ipfix.ipv4, "reverseOctetDeltaCount", "reversePacketDeltaCount"),
  ipv6 = with(M.ipfix.ipv6, "reverseOctetDeltaCount", "reversePacketDeltaCount"),
}

return M
