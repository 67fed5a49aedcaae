-- conntrack events as JSON lines, like `conntrack -E -o json` would be.
--
--   nurs-lua scripts/examples/ct-json.lua                  # every event, stdout
--   nurs-lua scripts/examples/ct-json.lua /var/log/ct.json destroy
--   nurs-lua scripts/examples/ct-json.lua - destroy process   # with the process at each local end
--   (process=bpf or process=sockdiag: found only that way; see docs/lua-api.md)
--
-- SIGHUP reopens the file (for logrotate) and reloads this script.
local nurs = require "nurs"

local args, process = {}, false
for _, a in ipairs(arg) do
  local mode = a:match "^process=(%a+)$"
  if a == "process" then process = true elseif mode then process = mode else args[#args + 1] = a end
end
local path = args[1] or "-"
local events = args[2] and { args[2] } or { "new", "update", "destroy" }

local out = nurs.json { path = path }

nurs.conntrack({ events = events, process = process }, out)   -- or function(rec) out:write(rec) end
