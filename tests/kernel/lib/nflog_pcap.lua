-- Used by nflog-pcap.sh: every packet of NFLOG group 7 to a raw pcap, an
-- NFLOG-link-type pcap, size-rotated files, a ring dumped when the trigger
-- datagram passes, and JSON lines of the records' fields; group 8 (copy
-- range 60) to a snapped pcap; what group 7's socket received is recorded
-- (LINKTYPE_NETLINK).   nurs-lua nflog_pcap.lua DIR TRIGGER_PORT
local nurs = require "nurs"
local dir, trigger = arg[1], tonumber(arg[2])
local raw = nurs.pcap { path = dir .. "/raw.pcap" }
local nfl = nurs.pcap { path = dir .. "/nflog.pcap", linktype = "nflog", precision = "ns" }
local rot = nurs.pcap { path = dir .. "/rot.pcap", rotate_size = 100000 }
local ring = nurs.pcap { ring_size = 300000 }
local json = nurs.json { path = dir .. "/records.json" }
nurs.nflog({ group = 7, record = dir .. "/recorded.pcap" }, function(rec)
  raw:write(rec); nfl:write(rec); rot:write(rec); ring:write(rec)
  local t = rec:totable()
  t.tcp_flags_bits = rec.tcp_flags_bits
  json:write(t)
  if rec.proto == "udp" and rec.dport == trigger then
    nurs.log.info("ring dump: %d packets", ring:dump(dir .. "/ring.pcap"))
  end
end)
local snap = nurs.pcap { path = dir .. "/snap.pcap" }
nurs.nflog({ group = 8, copy_range = 60 }, function(rec) snap:write(rec) end)
