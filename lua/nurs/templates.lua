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

-- The processes at both ends of each flow (needs process attribution on
-- the conntrack source: nurs.conntrack{ process = true }). A flow's source
-- is the socket its packets are sent from, its destination the one they go
-- to; an end that is not a local socket is empty. nurs-lua's own elements,
-- IPFIX enterprise 32473 (docs/elements.md); userName is IANA's, the local
-- process's user.
M.process = {
  "sourceProcessId", "sourceProcessName", "sourceProcessCommandLine",
  "sourceProcessUserId", "sourceProcessUserName", "sourceProcessUnit", "sourceProcessContainerId",
  "destinationProcessId", "destinationProcessName", "destinationProcessCommandLine",
  "destinationProcessUserId", "destinationProcessUserName", "destinationProcessUnit",
  "destinationProcessContainerId",
  "userName",
}

-- The same for NetFlow v9, which has no variable-length fields: strings are
-- cut to these lengths and padded with zeros (a unit fits a container
-- runtime's scope name; a record stays under 700 bytes, two to a 1500-byte
-- MTU).
M.process_netflow9 = {}
local v9_length = { Name = 16, CommandLine = 64, UserName = 32, Unit = 96, ContainerId = 64 }
for _, name in ipairs(M.process) do
  local what = name:match("^%l+Process(%u%a*)$")
  local len = name == "userName" and 32 or v9_length[what]
  M.process_netflow9[#M.process_netflow9 + 1] = len and { name, len } or name
end

-- A preset with more elements in each of its templates:
--   templates = templates.with(templates.ipfix, templates.process)
function M.with(preset, more)
  local out = {}
  for family, list in pairs(preset) do out[family] = with(list, table.unpack(more)) end
  return out
end

return M
