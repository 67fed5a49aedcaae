-- require "nurs": the API scripts use. The C core (nurs.core) does the
-- work; this file adds what reads better in Lua.
local core = require "nurs.core"

local M = {}
for k, v in pairs(core) do M[k] = v end

local levels = { error = 1, warn = 2, info = 3, debug = 4 }

local function logger(level)
  return function(fmt, ...)
    if levels[level] > levels[core.log_level()] then return end
    local msg = select("#", ...) > 0 and string.format(fmt, ...) or tostring(fmt)
    local info = debug.getinfo(2, "Sl")
    if info and info.currentline > 0 then
      msg = string.format("%s:%d: %s", info.short_src, info.currentline, msg)
    end
    core.log(level, msg)
  end
end

-- nurs.log.info("format %s", x), also debug, warn, error; nurs.log("info", ...)
M.log = setmetatable({
  debug = logger("debug"),
  info = logger("info"),
  warn = logger("warn"),
  error = logger("error"),
}, {
  __call = function(self, level, fmt, ...)
    local f = self[level] or error("unknown log level '" .. tostring(level) .. "'", 2)
    return f(fmt, ...)
  end,
})

-- nurs.sysctl("net.netfilter.nf_conntrack_timestamp") -> 1: a kernel setting
-- of our network namespace, as a number when it is one; nil if unreadable.
function M.sysctl(name)
  local f = io.open("/proc/sys/" .. name:gsub("%.", "/"))
  if not f then return nil end
  local v = f:read("l")
  f:close()
  return tonumber(v) or v
end

return M
