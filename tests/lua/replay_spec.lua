-- nurs.replay against files made by ct-synth (DESTROY events laid out as
-- the kernel sends them).
local nurs = require "nurs"

local synth = dofile("tests/lua/files.lua").synth

describe("replay", function()
  local file
  setup(function() file = synth(200) end)
  teardown(function() os.remove(file) end)

  it("delivers every recorded record as the live source would", function()
    local n, v4, v6, nat, first = 0, 0, 0, 0, nil
    local r = nurs.replay({ path = file }, function(rec)
      n = n + 1
      first = first or rec:totable()
      if rec.family == "ipv4" then v4 = v4 + 1 else v6 = v6 + 1 end
      if rec.orig.src ~= rec.reply.dst then nat = nat + 1 end
      assert(rec.event == "destroy")
      assert(rec.orig.packets >= 1 and rec.stop >= rec.start)
    end)
    nurs.run(10)
    assert.equals(200, n)
    assert.is_true(r:done())
    assert.is_true(v4 > 0 and v6 > 0 and nat > 0)
    assert.equals(0x10000000, first.id)
    assert.same({ "SEEN_REPLY", "ASSURED", "CONFIRMED" }, { table.unpack(first.status, 1, 3) })
    local c = r:counters()
    assert.equals(200, c["in"])
    assert.equals(200, c.delivered)
    r:close()
  end)

  it("loops", function()
    local n = 0
    local r = nurs.replay({ path = file, loops = 3 }, function() n = n + 1 end)
    nurs.run(10)
    assert.equals(600, n)
    r:close()
  end)

  it("keeps the recorded pace, scaled", function()
    -- 200 records about 11 us apart: ~2.2 ms recorded, 2.2 s at speed 0.001
    local times = {}
    local r = nurs.replay({ path = file, speed = 0.001 }, function(rec)
      times[#times + 1] = nurs.now()
    end)
    local t0 = nurs.now()
    nurs.run(20)
    local span = times[#times] - times[1]
    assert.equals(200, #times)
    assert.is_true(span > 1.0 and span < 6, "span " .. span)
    assert.is_true(times[1] - t0 < 0.5)
    r:close()
  end)

  it("can go on after the end of the file", function()
    local n, ticks = 0, 0
    local r = nurs.replay({ path = file, at_end = "continue" }, function() n = n + 1 end)
    local t
    t = nurs.every(0.05, function()
      ticks = ticks + 1
      if ticks == 4 then t:stop(); nurs.stop() end
    end)
    nurs.run(5)
    assert.equals(200, n)
    assert.equals(4, ticks)
    r:close()
  end)

  it("parses without calling Lua, for benchmarks", function()
    local r = nurs.replay { path = file, decode_only = true }
    nurs.run(10)
    assert.equals(200, r:counters().delivered)
    r:close()
  end)

  it("says what is wrong with a bad file", function()
    local ok, err = pcall(nurs.replay, "/nonexistent/x.pcap")
    assert.is_false(ok)
    assert.matches("/nonexistent/x.pcap: No such file", err)
    local p = os.tmpname()
    local f = io.open(p, "wb"); f:write(string.rep("x", 100)); f:close()
    ok, err = pcall(nurs.replay, p)
    assert.is_false(ok)
    assert.matches("not a pcap file", err)
    os.remove(p)
    assert.has_error(function() nurs.replay { path = file, at_end = "wait" } end)
    assert.has_error(function() nurs.replay { speed = 1 } end)
  end)
end)
