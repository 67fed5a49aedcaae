-- Temporary files for the specs, and conntrack recordings made by
-- ct-synth. Loaded with dofile("tests/lua/files.lua") (busted runs from
-- the top of the tree; the name has no _spec, so it is not a spec itself).
local M = {}

-- A fresh path: nothing there yet.
function M.tmpname()
  local p = os.tmpname()
  os.remove(p)
  return p
end

-- A pcap of N DESTROY events laid out as the kernel sends them, made by
-- tools/ct-synth beside the nurs-lua the specs run under; into path, or a
-- new temporary file. Returns the path.
function M.synth(n, seed, path)
  local bin = assert(os.getenv("NURS"), "run through scripts/test-all.sh (NURS=path/to/nurs-lua)")
  local tool = bin:gsub("nurs%-lua$", "tools/ct-synth")
  path = path or os.tmpname()
  assert(os.execute(string.format("%s %d %s %d 2>/dev/null", tool, n, path, seed or 1)))
  return path
end

-- Runs a shell command: its output, and its exit status (0: success).
function M.sh(cmd)
  local f = assert(io.popen(cmd))
  local out = f:read("a")
  local ok, _, code = f:close()
  return out, ok and 0 or code
end

-- Writes text into path (made or emptied first).
function M.put(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- The whole content of a file, or nil if there is none (yet).
function M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- The whole content of a file, which must be there.
function M.slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

return M
