-- The Lua API as scripts see it, run inside nurs-lua itself (busted is
-- started by nurs-lua: `nurs-lua /usr/bin/busted tests/lua`), so these
-- specs exercise the real module, not a mock.
local nurs = require "nurs"

local tmpname = dofile("tests/lua/files.lua").tmpname

local function read_lines(path)
  local lines = {}
  local f = io.open(path)
  if not f then return lines end
  for l in f:lines() do lines[#lines + 1] = l end
  f:close()
  return lines
end

describe("nurs module", function()
  it("has a version", function()
    assert.is_string(nurs.version)
    assert.matches("^%d+%.%d+%.%d+", nurs.version)
  end)

  it("rejects unknown options with the option's name", function()
    local ok, err = pcall(nurs.conntrack, { evnts = { "new" } })
    assert.is_false(ok)
    assert.matches("unknown option 'evnts'", err)
  end)

  it("rejects unknown events", function()
    local ok, err = pcall(nurs.conntrack, { events = { "created" } })
    assert.is_false(ok)
    assert.matches("unknown event 'created'", err)
  end)

  it("checks option types", function()
    assert.has_error(function() nurs.conntrack { dump = "yes" } end,
      nil)
    local ok, err = pcall(nurs.conntrack, { rcvbuf = 1 })
    assert.is_false(ok)
    assert.matches("rcvbuf", err)
  end)

  it("gives sources a name, counters, and a clear error once closed", function()
    local a = nurs.conntrack { events = {}, name = "mine" }
    local b = nurs.conntrack { events = {}, name = "mine" }
    assert.equals("mine", a:name())
    assert.equals("mine#2", b:name())
    assert.equals("nurs.conntrack (mine)", tostring(a))
    assert.same({ ["in"] = 0, delivered = 0, errors = 0, overruns = 0, dropped = 0,
                  malformed = 0, timeouts = 0, rcvbuf = 0, filtered = 0, reads = 0 }, a:counters())
    assert.is_table(nurs.counters().mine)
    a:close()
    b:close()
    assert.equals("nurs.conntrack (closed)", tostring(a))
    assert.has_error(function() a:on(print) end, "conntrack source is closed")
    assert.is_nil(nurs.counters().mine)
  end)

  it("reports a missing network namespace clearly", function()
    local ok, err = pcall(nurs.conntrack, { netns = "no-such-namespace-nurs" })
    assert.is_false(ok)
    assert.matches("/run/netns/no%-such%-namespace%-nurs", err)
  end)
end)

describe("timers", function()
  it("after fires once, every repeats until stopped", function()
    local once, ticks = 0, 0
    nurs.after(0.01, function() once = once + 1 end)
    local t
    t = nurs.every(0.01, function()
      ticks = ticks + 1
      if ticks == 3 then t:stop() end
    end)
    nurs.after(0.2, nurs.stop)
    nurs.run(2)
    assert.equals(1, once)
    assert.equals(3, ticks)
    assert.matches("stopped", tostring(t))
  end)

  it("counts errors in timer callbacks and goes on", function()
    local before = nurs.counters().script.errors
    local after_error = false
    nurs.after(0.01, function() error("boom") end)
    nurs.after(0.05, function() after_error = true; nurs.stop() end)
    nurs.run(2)
    assert.is_true(after_error)
    assert.equals(before + 1, nurs.counters().script.errors)
  end)

  it("validates its arguments", function()
    assert.has_error(function() nurs.every(0, function() end) end)
    assert.has_error(function() nurs.after(-1, function() end) end)
    assert.has_error(function() nurs.after(1, "not a function") end)
  end)
end)

describe("json sink", function()
  it("writes tables as JSON lines with escaping and sorted keys", function()
    local path = tmpname()
    local out = nurs.json { path = path }
    out:write { b = 1, a = "x\"y\n", list = { 1, 2.5, true }, nested = { k = {} } }
    out:write { utf8 = "h\195\169", bad = "\255" }
    assert.is_true(out:flush())
    local lines = read_lines(path)
    assert.equals(2, #lines)
    assert.equals('{"a":"x\\"y\\n","b":1,"list":[1,2.5,true],"nested":{"k":{}}}', lines[1])
    assert.equals('{"bad":"\\ufffd","utf8":"h\195\169"}', lines[2])
    local c = out:counters()
    assert.equals(2, c["in"])
    assert.equals(2, c.delivered)
    out:close()
    os.remove(path)
  end)

  it("refuses values JSON cannot hold, and keeps going", function()
    local path = tmpname()
    local out = nurs.json(path)
    local ok, err = pcall(out.write, out, { f = print })
    assert.is_false(ok)
    assert.matches("function", err)
    local cyc = {}
    cyc.self = cyc
    ok, err = pcall(out.write, out, cyc)
    assert.is_false(ok)
    assert.matches("cycle", err)
    out:write { fine = true }
    out:flush()
    assert.same({ '{"fine":true}' }, read_lines(path))
    assert.equals(2, out:counters().dropped)
    out:close()
    os.remove(path)
  end)

  it("flushes on its timer", function()
    local path = tmpname()
    local out = nurs.json { path = path, flush = 0.05 }
    out:write { n = 1 }
    assert.same({}, read_lines(path))
    nurs.after(0.2, nurs.stop)
    nurs.run(2)
    assert.same({ '{"n":1}' }, read_lines(path))
    out:close()
    os.remove(path)
  end)

  it("errors on use after close", function()
    local out = nurs.json(tmpname())
    out:close()
    assert.has_error(function() out:write {} end, "json sink is closed")
  end)

  it("closes, flushed, at the end of a <close> variable's scope", function()
    local path = tmpname()
    local kept
    do
      local out <close> = nurs.json { path = path, flush = 3600 }
      out:write { scoped = true }
      kept = out
    end
    assert.same({ '{"scoped":true}' }, read_lines(path))
    assert.has_error(function() kept:write {} end, "json sink is closed")
    local fired = false
    do
      local t <close> = nurs.after(0.05, function() fired = true end)
    end
    nurs.after(0.2, nurs.stop)
    nurs.run(2)
    assert.is_false(fired)
    os.remove(path)
  end)
end)

describe("logging", function()
  it("has levels and rejects unknown ones", function()
    assert.equals("info", nurs.log_level())
    assert.has_no_error(function() nurs.log.debug("not shown %d", 1) end)
    assert.has_error(function() nurs.log("loud", "x") end)
    nurs.log_level("warn")
    assert.equals("warn", nurs.log_level())
    nurs.log_level("info")
  end)
end)
