-- conntrack events as JSON lines, like `conntrack -E -o json` would be.
--
--   nurs-lua scripts/examples/ct-json.lua                  # every event, stdout
--   nurs-lua scripts/examples/ct-json.lua /var/log/ct.json destroy
--
-- SIGHUP reopens the file (for logrotate) and reloads this script.
local nurs = require "nurs"

local path = arg[1] or "-"
local events = arg[2] and { arg[2] } or { "new", "update", "destroy" }

local out = nurs.json { path = path }

nurs.conntrack({ events = events }, function(rec)
  out:write(rec)
end)
