-- nurs.statsd: option checking, name and tag checking, and the exact
-- datagrams a UDP listener gets (python3, run in the background while the
-- loop turns).
local nurs = require "nurs"

local files = dofile("tests/lua/files.lua")
local tmpname = files.tmpname
local read = files.read

local LISTENER = [[
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(0.2)
out, seconds = sys.argv[1], float(sys.argv[2])
open(out + ".port", "w").write(str(s.getsockname()[1]))
got, end = [], time.time() + seconds
while time.time() < end and len(got) < 1000:
    try:
        got.append(s.recv(65536).decode())
    except socket.timeout:
        pass
open(out, "w").write("\n--\n".join(got))
]]

-- Starts a listener for `seconds`; returns its port and a function that
-- turns the loop until it is done and returns the datagrams it got.
local function listen(seconds)
  local script, out = tmpname(), tmpname()
  local f = assert(io.open(script, "w"))
  f:write(LISTENER)
  f:close()
  os.execute(string.format("python3 %s %s %s &", script, out, seconds))
  local port
  for _ = 1, 100 do
    port = tonumber(read(out .. ".port") or "")
    if port then break end
    os.execute("sleep 0.05")
  end
  assert(port, "the listener did not start")
  return port, function()
    local s
    for _ = 1, math.ceil(seconds * 20) + 40 do
      nurs.run(0.05)
      s = read(out)
      if s then break end
    end
    os.remove(script)
    os.remove(out)
    os.remove(out .. ".port")
    local datagrams = {}
    if s and s ~= "" then
      for d in (s .. "\n--\n"):gmatch("(.-)\n%-%-\n") do datagrams[#datagrams + 1] = d end
    end
    return datagrams
  end
end

describe("nurs.statsd options", function()
  it("rejects unknown options and bad values with clear messages", function()
    local cases = {
      { { prot = 1 }, "unknown option 'prot'" },
      { { port = 0 }, "port" },
      { { port = 70000 }, "port" },
      { { tags = "datadog" }, "'tags' is \"none\", \"dogstatsd\", \"graphite\" or \"influx\"" },
      { { max_packet = 100 }, "max_packet" },
      { { max_packet = 70000 }, "max_packet" },
      { { interval = 0 }, "interval" },
      { { prefix = "a b" }, "'prefix'" },
      { { prefix = "a..b" }, "'prefix'" },
      { { host = "" }, "'host'" },
      { { counters = "yes" }, "counters" },
      { { port = 1, counters = false, interval = 60, tags = "graphite", prefix = "x" }, nil },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(nurs.statsd, c[1])
      if c[2] then
        assert.is_false(ok)
        assert.matches(c[2], err, 1, true)
      else
        assert.is_true(ok, err)
        err:close()
      end
    end
  end)

  it("checks names, tags and values", function()
    local s <close> = nurs.statsd { port = 1, counters = false }
    local bad = {
      { function() s:count("a b") end, "name 'a b'" },
      { function() s:count("") end, "name ''" },
      { function() s:count("a:b", 1) end, "name 'a:b'" },
      { function() s:gauge(string.rep("x", 201), 1) end, "1 to 200" },
      { function() s:gauge("g", 0 / 0) end, "finite" },
      { function() s:gauge("g", "x") end, "number expected" },
      { function() s:timing("t", -1) end, "not negative" },
      { function() s:count("c", 1, { ["a b"] = 1 }) end, "tag name 'a b'" },
      { function() s:count("c", 1, { a = {} }) end, "string or a number" },
      { function() s:count("c", 1, { a = "" }) end, "1 to 64 bytes" },
      { function() s:count("c", 1, "x") end, "table of tags" },
      { function() s:count("c", 1, { a = 1, b = 2, c = 3, d = 4, e = 5, f = 6, g = 7, h = 8, i = 9 }) end,
        "at most 8 tags" },
      { function() s:set("s", "") end, "1 to 64 bytes" },
    }
    for _, b in ipairs(bad) do
      local ok, err = pcall(b[1])
      assert.is_false(ok)
      assert.matches(b[2], err, 1, true)
    end
    s:close()
    local ok, err = pcall(s.count, s, "c")
    assert.is_false(ok)
    assert.matches("closed", err, 1, true)
  end)
end)

describe("nurs.statsd datagrams", function()
  it("sends the script's values as exact lines, with DogStatsD tags", function()
    local port, got = listen(1.0)
    local s <close> = nurs.statsd { port = port, interval = 0.2, counters = false,
                                    tags = "dogstatsd", prefix = "t" }
    assert.is_true(s:count("hits", 3, { proto = "tcp", dir = "in" }))
    s:count("once")
    s:gauge("temp", -2)
    s:timing("lat", 12.5)
    s:set("user", "[::1]:53")
    local d = got()
    assert.same({ "t.hits:3|c|#dir:in,proto:tcp\nt.once:1|c\nt.temp:-2|g\nt.lat:12.5|ms\nt.user:___1__53|s" }, d)
    local c = s:counters()
    assert.equal(5, c["in"])
    assert.equal(5, c.delivered)
    assert.equal(1, c.datagrams)
  end)

  it("batches into datagrams of at most max_packet bytes; plain gauges below zero start at 0", function()
    local port, got = listen(1.0)
    local s <close> = nurs.statsd { port = port, interval = 0.2, counters = false,
                                    max_packet = 256, tags = "graphite" }
    s:gauge("level", -1.5, { k = "v" })
    for i = 1, 60 do s:count("n" .. i, i) end
    local d = got()
    assert.is_true(#d >= 3, #d)
    local lines = {}
    for _, x in ipairs(d) do
      assert.is_true(#x <= 256, #x)
      for l in x:gmatch("[^\n]+") do lines[#lines + 1] = l end
    end
    assert.equal(62, #lines)
    assert.equal("nurs.level;k=v:0|g", lines[1])
    assert.equal("nurs.level;k=v:-1.5|g", lines[2])
    assert.equal("nurs.n60:60|c", lines[62])
    assert.equal(#d, s:counters().datagrams)
  end)

  it("pushes its own counters: deltas as |c, levels as |g", function()
    local port, got = listen(1.0)
    local s <close> = nurs.statsd { port = port, interval = 0.3, name = "sd" }
    local d = table.concat(got(), "\n")
    assert.matches("nurs%.statsd%.sd%.pushes:1|c", d)
    assert.matches("nurs%.script%.memory_bytes:%d+|g", d)
    assert.not_matches("nurs%.statsd%.sd%.errors:", d) -- zero: not sent
  end)

  it("goes on when nothing listens, the errors counted", function()
    local port, got = listen(0.1)
    got() -- gone: its port now refuses
    local s <close> = nurs.statsd { port = port, interval = 0.1, counters = false }
    for _ = 1, 10 do
      s:count("x")
      nurs.run(0.11)
    end
    local c = s:counters()
    assert.is_true(c.refused >= 1, c.refused)
    assert.is_true(c.errors >= 1)
    assert.equal(c["in"], c.delivered + c.dropped)
  end)
end)
