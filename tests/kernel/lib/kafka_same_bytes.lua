-- Conntrack DESTROY records to the JSON sink (file arg[3]) and to the
-- Kafka sink in json format (brokers arg[1], topic arg[2]) from one
-- callback, both with schema_version: the lines and the messages must be
-- the same bytes. Messages are keyed "ORIG.SRC/ID".
local nurs = require "nurs"
local file = nurs.json { path = arg[3], schema_version = true, flush = 0.1 }
local kafka = nurs.kafka { brokers = arg[1], topic = arg[2], schema_version = true,
                           key = "{orig.src}/{id}" }
nurs.conntrack({ events = { "destroy" } }, function(rec)
  file:write(rec)
  kafka:write(rec)
end)
