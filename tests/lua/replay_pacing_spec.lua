-- Replay at the recorded pace when a timestamp goes backwards (the clock
-- was stepped while recording): the record is replayed at once, logged
-- once and counted, instead of waiting for ever.
local nurs = require "nurs"
local files = dofile("tests/lua/files.lua")

-- The recording with the timestamp of record `n` moved `secs` back.
local function step_back(path, n, secs)
  local data = assert(io.open(path, "rb")):read("a")
  local off, i = 25, 1 -- after the 24-byte file header (1-based)
  while i < n do
    local caplen = string.unpack("<I4", data, off + 8)
    off = off + 16 + caplen
    i = i + 1
  end
  local sec = string.unpack("<I4", data, off)
  data = data:sub(1, off - 1) .. string.pack("<I4", sec - secs) .. data:sub(off + 4)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

describe("replay pacing", function()
  it("replays a record whose timestamp goes backwards at once, and counts it", function()
    local path = files.synth(6, 5)
    step_back(path, 3, 100)
    local seen = 0
    local r = nurs.replay({ path = path, speed = 1, at_end = "continue" }, function() seen = seen + 1 end)
    local t0 = nurs.now()
    while seen < 6 and nurs.now() - t0 < 5 do nurs.run(0.05) end
    local c = r:counters()
    r:close()
    os.remove(path)
    assert.equals(6, seen)
    assert.equals(1, c.backwards)
    assert.is_true(nurs.now() - t0 < 2)
  end)
end)
