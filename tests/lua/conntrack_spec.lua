-- The conntrack source against the real kernel, watched from outside a
-- private namespace through the `netns` option. Needs root.
local nurs = require "nurs"
local netns = dofile("tests/lua/netns.lua")

local run_until = netns.run_until
local NS, nsx = netns.new("nurs-spec-")

describe("conntrack source in a namespace", function()
  setup(function() netns.make(NS) end)
  teardown(function() netns.remove(NS) end)

  it("delivers new and destroy events with the fields conntrack reports", function()
    local records = {}
    local ct = nurs.conntrack({ netns = NS, events = { "new", "destroy" } }, function(rec)
      if rec.proto == "udp" and rec.orig.dport == 31000 then
        records[#records + 1] = rec:totable()
      end
    end)
    nsx("python3 tests/kernel/udp_burst.py 1 0.1 31000 >/dev/null")
    nsx("conntrack -D -p udp --dport 31000 >/dev/null 2>&1")
    assert.is_true(run_until(function() return #records >= 2 end, 5))
    local new, destroy = records[1], records[2]
    assert.equals("new", new.event)
    assert.equals("destroy", destroy.event)
    assert.equals("ipv4", destroy.family)
    assert.equals("127.0.0.1", destroy.orig.src)
    assert.equals(31000, destroy.orig.dport)
    assert.equals(31000, destroy.reply.sport)
    assert.equals(1, destroy.orig.packets)
    assert.equals(29, destroy.orig.bytes) -- 20 IP + 8 UDP + 1 payload
    assert.equals(new.id, destroy.id)
    assert.is_number(destroy.start)
    assert.is_number(destroy.stop)
    assert.is_true(destroy.stop >= destroy.start)
    assert.is_nil(destroy.state) -- udp has no protocol state
    local c = ct:counters()
    assert.is_true(c["in"] >= 2)
    assert.equals(0, c.overruns)
    ct:close()
  end)

  it("lists the table with dump, and zeroes counters with dump{zero=true}", function()
    nsx("python3 tests/kernel/udp_burst.py 3 0.1 32000 >/dev/null")
    local dumped = {}
    local ct = nurs.conntrack({ netns = NS, events = {}, dump = true }, function(rec)
      if rec.orig.dport and rec.orig.dport >= 32000 and rec.orig.dport < 32003 then
        dumped[#dumped + 1] = { event = rec.event, bytes = rec.orig.bytes }
      end
    end)
    assert.is_true(run_until(function() return not ct:dumping() end, 5))
    assert.equals(3, #dumped)
    assert.equals("dump", dumped[1].event)
    assert.equals(29, dumped[1].bytes)
    dumped = {}
    ct:dump { zero = true }
    assert.is_true(run_until(function() return not ct:dumping() end, 5))
    assert.equals(3, #dumped)
    assert.equals(29, dumped[1].bytes) -- reported, then reset
    dumped = {}
    ct:dump()
    assert.is_true(run_until(function() return not ct:dumping() end, 5))
    assert.equals(3, #dumped)
    assert.equals(0, dumped[1].bytes)
    ct:close()
  end)

  it("counts callback errors, logs them, and keeps delivering", function()
    local seen = 0
    local ct = nurs.conntrack({ netns = NS, events = { "new" } }, function(rec)
      if rec.orig.dport and rec.orig.dport >= 33000 then
        seen = seen + 1
        if seen % 2 == 0 then error("every second record fails") end
      end
    end)
    nsx("python3 tests/kernel/udp_burst.py 10 0.1 33000 >/dev/null")
    assert.is_true(run_until(function() return seen >= 10 end, 5))
    local c = ct:counters()
    assert.equals(5, c.errors)
    assert.equals(c["in"] - 5, c.delivered)
    ct:close()
  end)

  it("raises when a record is used after its callback", function()
    local kept
    local ct = nurs.conntrack({ netns = NS, events = { "new" } }, function(rec)
      if rec.orig.dport == 34000 then kept = rec end
    end)
    nsx("python3 tests/kernel/udp_burst.py 1 0.1 34000 >/dev/null")
    assert.is_true(run_until(function() return kept ~= nil end, 5))
    local ok, err = pcall(function() return kept.orig.src end)
    assert.is_false(ok)
    assert.matches("record used after its callback; call :totable%(%) to keep it", err)
    ct:close()
  end)
end)
