-- conntrack -> Kafka: one record per flow, for the pipelines that read
-- GoFlow2's protobuf (ClickHouse, Akvorado, GoFlow2's tools) or JSON. A
-- connection is published when it ends; one that lasts is published every
-- minute with what it did since the last time, so the records of a
-- connection add up to what conntrack counted.
--
--   nurs-lua ct-kafka.lua [BROKERS [TOPIC [json|proto]]] [biflow] [process]
--     BROKERS  host:port[,host:port...] (default 127.0.0.1:9092)
--     TOPIC    default "flows"
--     proto    (default) GoFlow2's FlowMessage, length-prefixed as GoFlow2's
--              -format=bin; one message per direction of a connection
--              (`nurs-lua --schema proto` prints the .proto)
--     json     conntrack records as ct-json.lua writes them, one a message
--     biflow   proto: one message per connection, the reply's counters in
--              reverse_bytes and reverse_packets
--     process  the process, user and systemd unit or container at each
--              local end (proto fields 2000..., JSON "process" objects)
--
-- Messages are keyed by conntrack id: a connection's records stay in order
-- in one partition. Needs: sysctl -w net.netfilter.nf_conntrack_acct=1
-- (counters) and net.netfilter.nf_conntrack_timestamp=1 (exact times).
local nurs = require "nurs"

local args, biflow, process = {}, false, false
for _, a in ipairs(arg) do
  if a == "biflow" then biflow = true
  elseif a == "process" then process = true
  else args[#args + 1] = a end
end
local format = args[3] or "proto"

local kafka = nurs.kafka {
  brokers = args[1] or "127.0.0.1:9092",
  topic = args[2] or "flows",
  format = format,
  key = "id",
  biflow = biflow or nil,   -- for proto only (json says so)
  linger = 0.05,   -- batches of up to 50 ms: fewer, larger requests
  -- compression = "lz4",   -- less on the wire, some CPU more
  -- config = { ["security.protocol"] = "SASL_SSL", ... },   -- any librdkafka setting
}

-- Start times come from conntrack's timestamps; without them, from NEW events.
local stamped = nurs.sysctl "net.netfilter.nf_conntrack_timestamp" == 1

local conntrack = nurs.conntrack({
  events = stamped and { "destroy" } or { "new", "destroy" },
  rcvbuf = 32 << 20,   -- room for the burst of a table flush or mass expiry
  batch_wait = 0.002,  -- events that come one by one are read in batches (less CPU)
  dump_at_exit = "zero",   -- at exit, publish what live connections did since the last time
  process = process,
}, kafka)   -- each record straight to Kafka, in C; to filter or add a key
            -- in Lua: function(rec) kafka:write(rec) end

-- Active timeout: list the table every 60 s, resetting its counters; each
-- live connection's record carries what it did since the last listing.
nurs.every(60, function()
  if not conntrack:dumping() then conntrack:dump { zero = true } end
end)
