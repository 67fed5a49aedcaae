-- Body of bench/process-churn.sh: the attribution of the TCP connections of
-- its namespace, written to arg[1] as JSON lines: at the answer ({sport,
-- why, pid, ms}: time from the NEW event) and at DESTROY ({sport,
-- destroy_pid}). arg[2]: "off" (no attribution: the CPU reference), or the
-- process mode ("bpf", "sockdiag", "auto").
local nurs = require "nurs"
local out = nurs.json { path = arg[1], buffer = 1 << 20 }
local on = arg[2] ~= "off"
local mode = on and (arg[2] or "auto")
local ct
ct = nurs.conntrack({ events = { "new", "destroy" }, process = mode }, function(rec)
  if rec.proto ~= "tcp" then return end
  local sport = rec.orig.sport
  if rec.event == "new" and on then
    local t0 = nurs.now()
    ct:attribute(rec, function(t)
      local p = t.orig.process
      out:write { sport = sport, why = t.orig.why, pid = p and p.pid, ms = (nurs.now() - t0) * 1000 }
    end)
  elseif rec.event == "destroy" then
    local p = rec.orig.process
    out:write { sport = sport, destroy_pid = p and p.pid or false }
  end
end)
