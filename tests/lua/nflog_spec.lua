-- nurs.nflog options, and NFLOG records replayed from a kernel recording
-- (tests/c/fixtures/nflog.pcap, made by capture_nflog.sh): fields against
-- tshark's decoding of the same packets, fragments, hooks, marks,
-- sequence numbers, the lifetime rule.
local nurs = require "nurs"

local ROOT = debug.getinfo(1, "S").source:sub(2):match("(.*)/tests/lua/") or "."
local FIXTURE = ROOT .. "/tests/c/fixtures/nflog.pcap"
local COMPARE = ROOT .. "/tests/kernel/lib/pkt_compare.py"

local tmpname = dofile("tests/lua/files.lua").tmpname

-- Replays the fixture through fn; an assertion failing inside the
-- callback (where the daemon would only log it) fails the test.
local function replay(fn)
  local failure
  local r = nurs.replay({ path = FIXTURE }, function(rec)
    local ok, err = pcall(fn, rec)
    failure = failure or (not ok and tostring(err)) or nil
  end)
  nurs.run(10)
  r:close()
  assert(not failure, failure)
end

local function sh(cmd)
  local f = assert(io.popen(cmd))
  local out = f:read("a")
  local ok = f:close()
  return out, ok
end

describe("nurs.nflog options", function()
  local function err_of(opts)
    local ok, err = pcall(nurs.nflog, opts)
    assert.is_false(ok)
    return err
  end

  it("wants a group or a list of groups, not both", function()
    assert.matches("give either 'group'", err_of {})
    assert.matches("give either 'group'", err_of { group = 1, groups = { 2 } })
    assert.matches("'groups' is empty", err_of { groups = {} })
    assert.matches("group 70000 is not between 0 and 65535", err_of { group = 70000 })
    assert.matches("group 3 listed twice", err_of { groups = { 3, 3 } })
    assert.matches("groups must be integers", err_of { groups = { "x" } })
  end)

  it("checks every setting", function()
    assert.matches("unknown option 'grup'", err_of { grup = 1 })
    assert.matches("'copy' must be", err_of { group = 1, copy = "all" })
    assert.matches("copy_range", err_of { group = 1, copy_range = 70000 })
    assert.matches("nlbufsiz", err_of { group = 1, nlbufsiz = 1000 })
    assert.matches("nlbufsiz", err_of { group = 1, nlbufsiz = 200000 })
    assert.matches("qthresh", err_of { group = 1, qthresh = 0 })
    assert.matches("timeout", err_of { group = 1, timeout = -1 })
    assert.matches("'seq' must be a boolean", err_of { group = 1, seq = 1 })
    assert.matches("rcvbuf", err_of { group = 1, rcvbuf = 10 })
  end)

  it("refuses a group another socket holds", function()
    local a = nurs.nflog { group = 64999 }
    local ok, err = pcall(nurs.nflog, { group = 64999 })
    assert.is_false(ok)
    assert.matches("NFLOG group 64999 is already bound", err)
    a:close()
    -- closed: the group is free again
    local b = nurs.nflog { group = 64999, name = "again" }
    assert.equals("again", b:name())
    assert.same({ ["in"] = 0, delivered = 0, errors = 0, overruns = 0, dropped = 0, malformed = 0,
                  timeouts = 0, rcvbuf = b:counters().rcvbuf, lost = 0 }, b:counters())
    assert.is_true(b:counters().rcvbuf >= 8 << 20)
    b:close()
  end)
end)

describe("NFLOG records", function()
  it("agree with tshark's decoding of the same messages, field by field", function()
    local json, pcap = tmpname(), tmpname()
    local out = nurs.json { path = json }
    local sink = nurs.pcap { path = pcap, linktype = "nflog" }
    local n = 0
    replay(function(rec)
      n = n + 1
      local t = rec:totable()
      t.tcp_flags_bits, t.hooknum = rec.tcp_flags_bits, rec.hooknum
      out:write(t)
      sink:write(rec)
    end)
    out:close()
    sink:close()
    assert.equals(49, n)
    local fields = sh("python3 " .. COMPARE .. " fields"):gsub("\n", "")
    local tsv = tmpname()
    assert(os.execute(string.format("tshark -r %s -T fields -E occurrence=f %s 2>/dev/null > %s",
      pcap, fields, tsv)))
    local report, ok = sh(string.format("python3 %s views %s %s 2>&1", COMPARE, json, tsv))
    assert.is_true(ok, report)
    assert.matches("views: 49 packets", report)
    os.remove(json); os.remove(pcap); os.remove(tsv)
  end)

  it("carry NFLOG's metadata", function()
    local seen = { prefix = {}, hooks = {}, marks = 0, frags = 0, later = 0, seq = {}, global = {}, global_of = {} }
    replay(function(rec)
      seen.prefix[rec.prefix] = (seen.prefix[rec.prefix] or 0) + 1
      seen.hooks[rec.hook] = true
      if rec.mark == 42 then
        seen.marks = seen.marks + 1
        assert.equals(20001, rec.dport)
      end
      if rec.frag_id then
        seen.frags = seen.frags + 1
        assert.equals("udp", rec.proto)
        if rec.frag_offset > 0 then
          seen.later = seen.later + 1
          assert.is_nil(rec.sport) -- a later fragment has no ports
          assert.is_nil(rec:payload())
        else
          assert.equals(20009, rec.dport)
          assert.is_true(rec.frag_more)
        end
      end
      if rec.hook == "input" then
        assert.equals(1, rec.iif)
        assert.equals(772, rec.hwtype) -- ARPHRD_LOOPBACK
        assert.equals("00:00:00:00:00:00:00:00:00:00:00:00:08:00", rec.hwheader)
      elseif rec.hook == "output" then
        assert.equals(1, rec.oif)
        assert.is_nil(rec.iif)
      end
      -- names come from this host's interfaces: none in a replay
      assert.is_nil(rec.oifname)
      local last = seen.seq[rec.group]
      if last then assert.equals(last + 1, rec.seq_local) end
      seen.seq[rec.group] = rec.seq_local
      -- one counter for every group: unique, rising within a group
      assert.is_nil(seen.global[rec.seq_global])
      seen.global[rec.seq_global] = true
      assert.is_true(rec.seq_global > (seen.global_of[rec.group] or -1))
      seen.global_of[rec.group] = rec.seq_global
      assert.is_true(rec.timestamp > 1.7e18)
      assert.equals(#rec:packet(), rec.caplen)
    end)
    assert.same({ ["out: "] = 38, ["in: "] = 5, ["frag: "] = 6 }, seen.prefix)
    assert.same({ output = true, input = true, prerouting = true }, seen.hooks)
    assert.equals(2, seen.marks)
    assert.equals(6, seen.frags)
    assert.equals(4, seen.later)
  end)

  it("live only during their callback", function()
    local kept, payload
    replay(function(rec)
      if not kept and rec.proto == "udp" and rec.dport == 20001 then
        kept = rec
        payload = rec:payload()
        assert.equals("nflog record (ipv4 udp 127.0.0.1:" .. rec.sport .. " -> 127.0.0.1:20001)",
          tostring(rec))
      end
    end)
    assert.matches("^nurs%-udp%-2%-0%-x+$", payload)
    for _, f in ipairs { function() return kept.src end, function() return kept:payload() end,
                         function() return kept:totable() end, function() return kept.prefix end } do
      local ok, err = pcall(f)
      assert.is_false(ok)
      assert.matches("record used after its callback; call :totable%(%) to keep it", err)
    end
    assert.equals("nflog record (expired)", tostring(kept))
  end)

  it("are read-only and refuse unknown names", function()
    replay(function(rec)
      local ok, err = pcall(function() return rec.prefx end)
      assert.is_false(ok)
      assert.matches("nflog record has no field 'prefx'", err)
      ok, err = pcall(function() rec.mark = 1 end)
      assert.is_false(ok)
      assert.matches("read%-only", err)
      nurs.stop()
    end)
  end)
end)
