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
    nsx("python3 tests/kernel/lib/udp_burst.py 1 0.1 31000 >/dev/null")
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
    nsx("python3 tests/kernel/lib/udp_burst.py 3 0.1 32000 >/dev/null")
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
    nsx("python3 tests/kernel/lib/udp_burst.py 10 0.1 33000 >/dev/null")
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
    nsx("python3 tests/kernel/lib/udp_burst.py 1 0.1 34000 >/dev/null")
    assert.is_true(run_until(function() return kept ~= nil end, 5))
    local ok, err = pcall(function() return kept.orig.src end)
    assert.is_false(ok)
    assert.matches("record used after its callback; call :totable%(%) to keep it", err)
    ct:close()
  end)

  it("reads events that come one by one in batches with batch_wait, losing none", function()
    -- 40 new entries, one every 50 ms, made while the loop runs.
    local function trickle(wait, base)
      local seen, late = 0, 0
      local ct = nurs.conntrack({ netns = NS, events = { "new" }, batch_wait = wait },
        function(rec)
          local p = rec.orig.dport
          if rec.proto == "udp" and p and p >= base and p < base + 40 then
            seen = seen + 1
            -- the kernel's start time, against when the record reached us
            if nurs.now() - rec.start > wait + 0.25 then late = late + 1 end
          end
        end)
      os.execute(string.format("ip netns exec %s python3 tests/kernel/lib/udp_burst.py 40 2 %d >/dev/null &",
        NS, base))
      assert.is_true(run_until(function() return seen >= 40 end, 8))
      local reads = ct:counters().reads
      ct:close()
      return reads, late
    end
    local reads0 = trickle(0, 35000)
    local reads, late = trickle(0.4, 35100)
    assert.is_true(reads0 >= 30, "without a wait, about one read per event: " .. reads0)
    assert.is_true(reads <= 12, "with a 0.4 s wait, a read per wait or so: " .. reads)
    assert.equals(0, late)
    local ok, err = pcall(nurs.conntrack, { netns = NS, batch_wait = 2 })
    assert.is_false(ok)
    assert.matches("batch_wait", err)
  end)
end)
