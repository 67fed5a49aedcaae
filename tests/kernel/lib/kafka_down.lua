-- Conntrack DESTROY records to a JSON file (arg[3]) and, as protobuf flows
-- keyed by conntrack id, to Kafka (brokers arg[1], topic arg[2]) with a
-- queue of arg[4] messages; librdkafka reconnects within a second.
local nurs = require "nurs"
local file = nurs.json { path = arg[3], flush = 0.1 }
local kafka = nurs.kafka {
  brokers = arg[1], topic = arg[2], format = "proto", key = "id",
  queue = tonumber(arg[4]), message_timeout = 120,
  config = { ["reconnect.backoff.max.ms"] = 1000 },
}
nurs.conntrack({ events = { "destroy" }, rcvbuf = 32 << 20 }, function(rec)
  file:write(rec)
  kafka:write(rec)
end)
