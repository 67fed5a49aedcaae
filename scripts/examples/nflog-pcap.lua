-- NFLOG packets to pcap: a file (rotated), a FIFO for snort/suricata/tcpdump
-- -r, standard output, or TCP readers (wireshark -k -i TCP@127.0.0.1:19000).
--
--   nft add rule inet filter output tcp dport 80 log group 5 snaplen 65535
--   nurs-lua nflog-pcap.lua 5 /var/log/web.pcap rotate_size=100M rotate_count=10
--   nurs-lua nflog-pcap.lua 5 /run/snort.pcap        # an existing FIFO (mkfifo)
--   nurs-lua nflog-pcap.lua 5 - | tcpdump -nr -
--   nurs-lua nflog-pcap.lua 5,6 tcp://127.0.0.1:19000 linktype=nflog
--
-- Options (NAME=VALUE after the target): linktype=raw|nflog, snaplen=BYTES,
-- precision=us|ns, rotate_size=BYTES, rotate_seconds=N, rotate_count=N,
-- rate=PACKETS_PER_SECOND, copy_range=BYTES, netns=NAME; sizes take k, M, G.
-- Streaming over TCP on the logged interface? Keep its port out of the log
-- rule, or every packet sent to the reader is logged again.
local nurs = require "nurs"

local groups_arg, target = arg[1], arg[2]
if not groups_arg or not target then
  error("usage: nflog-pcap.lua GROUP[,GROUP...] TARGET [NAME=VALUE...]", 0)
end

local function size(v)
  local n, unit = tostring(v):match("^(%d+)([kMG]?)$")
  if not n then return tonumber(v) or v end
  return math.tointeger(tonumber(n) * ({ [""] = 1, k = 1 << 10, M = 1 << 20, G = 1 << 30 })[unit])
end

local sink_opts, source_opts = { path = target }, {}
local for_source = { copy_range = true, netns = true }
for i = 3, #arg do
  local k, v = arg[i]:match("^([%w_]+)=(.*)$")
  if not k then error("not NAME=VALUE: " .. arg[i], 0) end
  if for_source[k] then source_opts[k] = size(v) else sink_opts[k] = size(v) end
end

local groups = {}
for g in groups_arg:gmatch("%d+") do groups[#groups + 1] = math.tointeger(tonumber(g)) end
source_opts.groups = groups

local out = nurs.pcap(sink_opts)
nurs.nflog(source_opts, function(rec) out:write(rec) end)
