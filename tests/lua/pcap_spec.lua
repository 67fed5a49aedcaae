-- nurs.pcap fed with NFLOG records replayed from a kernel recording
-- (tests/c/fixtures/nflog.pcap): what tcpdump and tshark read back from
-- files, rotated files, ring dumps; snap length, precision, rate limits,
-- appending, options.
local nurs = require "nurs"

local ROOT = debug.getinfo(1, "S").source:sub(2):match("(.*)/tests/lua/") or "."
local FIXTURE = ROOT .. "/tests/c/fixtures/nflog.pcap"
local TOTAL = 49

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -m 700 " .. p))
  return p
end

local function sh(cmd)
  local f = assert(io.popen(cmd))
  local out = f:read("a")
  f:close()
  return out
end

-- Replays the fixture into the sinks; returns the records as tables
-- (with their packet bytes), in order.
local function feed(sinks, each)
  local recs = {}
  local r = nurs.replay({ path = FIXTURE }, function(rec)
    local t = rec:totable()
    t.bytes = rec:packet()
    recs[#recs + 1] = t
    for _, s in ipairs(sinks) do
      local ok = s:write(rec)
      if each then each(ok) end
    end
  end)
  nurs.run(10)
  r:close()
  for _, s in ipairs(sinks) do s:flush() end
  return recs
end

-- tcpdump's view of a file: packets (header line, hex lines) in order.
local function tcpdump(path, opts)
  local text = sh(string.format("tcpdump -r %s -nn -S -t -x %s 2>/dev/null", path, opts or ""))
  local n = select(2, text:gsub("\n%S", "")) + (text:match("^%S") and 1 or 0)
  return n, text
end

local function hex_of(bytes)
  local lines = {}
  for off = 0, #bytes - 1, 16 do
    local words = {}
    for i = off + 1, math.min(off + 16, #bytes), 2 do
      words[#words + 1] = string.format(i < #bytes and "%02x%02x" or "%02x",
        bytes:byte(i), bytes:byte(i + 1))
    end
    lines[#lines + 1] = string.format("\t0x%04x:  %s", off, table.concat(words, " "))
  end
  return table.concat(lines, "\n")
end

describe("pcap sink", function()
  local dir
  before_each(function() dir = tmpdir() end)
  after_each(function() os.execute("rm -rf " .. dir) end)

  it("writes raw IP that tcpdump reads back byte for byte", function()
    local sink = nurs.pcap { path = dir .. "/raw.pcap" }
    local recs = feed { sink }
    sink:close()
    local n, text = tcpdump(dir .. "/raw.pcap")
    assert.equals(TOTAL, n)
    assert.equals(TOTAL, #recs)
    -- every packet's hex dump, in order
    local pos = 1
    for i, rec in ipairs(recs) do
      local hex = hex_of(rec.bytes)
      local s, e = text:find(hex, pos, true)
      assert(s, "packet " .. i .. " not found intact")
      pos = e
    end
  end)

  it("keeps NFLOG's attributes with the NFLOG link type", function()
    local sink = nurs.pcap { path = dir .. "/nflog.pcap", linktype = "nflog" }
    local recs = feed { sink }
    sink:close()
    local out = sh("tshark -r " .. dir .. "/nflog.pcap -T fields -e nflog.prefix -e nflog.res_id "
      .. "-e nflog.uid 2>/dev/null")
    local i = 0
    for line in out:gmatch("[^\n]+") do
      i = i + 1
      local prefix, group, uid = line:match("^([^\t]*)\t([^\t]*)\t?(.*)$")
      assert.equals(recs[i].prefix, prefix)
      assert.equals(recs[i].group, tonumber(group))
      assert.equals(recs[i].uid, tonumber(uid))
    end
    assert.equals(TOTAL, i)
    assert.equals(TOTAL, (tcpdump(dir .. "/nflog.pcap")))
  end)

  it("cuts packets to the snap length, keeping their length on the wire", function()
    local sink = nurs.pcap { path = dir .. "/snap.pcap", snaplen = 40 }
    local recs = feed { sink }
    sink:close()
    local out = sh("tshark -r " .. dir .. "/snap.pcap -T fields -e frame.cap_len -e frame.len 2>/dev/null")
    local i = 0
    for cap, len in out:gmatch("(%d+)\t(%d+)") do
      i = i + 1
      assert.equals(math.min(40, recs[i].caplen), tonumber(cap))
      assert.equals(math.max(recs[i].caplen, recs[i].ip_len or 0), tonumber(len))
    end
    assert.equals(TOTAL, i)
  end)

  it("writes nanosecond or microsecond timestamps", function()
    local ns = nurs.pcap { path = dir .. "/ns.pcap", precision = "ns" }
    local us = nurs.pcap { path = dir .. "/us.pcap" }
    local recs = feed { ns, us }
    ns:close(); us:close()
    local t_ns = sh("tcpdump -r " .. dir .. "/ns.pcap --nano -tt -n 2>/dev/null | head -1")
    local t_us = sh("tcpdump -r " .. dir .. "/us.pcap -tt -n 2>/dev/null | head -1")
    local want = recs[1].timestamp
    assert.equals(string.format("%d.%09d", want // 1000000000, want % 1000000000), t_ns:match("^%S+"))
    assert.equals(string.format("%d.%06d", want // 1000000000, want % 1000000000 // 1000),
      t_us:match("^%S+"))
  end)

  it("rotates by size like tcpdump -C, every file valid", function()
    local sink = nurs.pcap { path = dir .. "/r.pcap", rotate_size = 6000 }
    feed { sink }
    local files = sink:counters().files
    sink:close()
    assert.is_true(files >= 3, "files " .. files)
    local total = 0
    for i = 0, files - 1 do
      local name = dir .. "/r.pcap" .. (i == 0 and "" or i)
      local size = assert(io.open(name)):seek("end")
      local n = tcpdump(name)
      assert.is_true(n > 0)
      assert.is_true(size <= 6000 or n == 1, name .. " is " .. size .. " bytes")
      total = total + n
    end
    assert.equals(TOTAL, total)
  end)

  it("keeps rotate_count files, reusing path0..pathN-1 (tcpdump -C -W)", function()
    local sink = nurs.pcap { path = dir .. "/w.pcap", rotate_size = 6000, rotate_count = 2 }
    local recs = feed { sink }
    sink:close()
    assert.same({ "w.pcap0", "w.pcap1" }, (function()
      local t = {}
      for f in sh("ls " .. dir):gmatch("%S+") do t[#t + 1] = f end
      return t
    end)())
    -- the last packet is in one of them
    local last = hex_of(recs[#recs].bytes)
    local _, a = tcpdump(dir .. "/w.pcap0")
    local _, b = tcpdump(dir .. "/w.pcap1")
    assert.is_truthy(a:find(last, 1, true) or b:find(last, 1, true))
  end)

  it("rotates by time into strftime names, keeping rotate_count", function()
    local seconds = {}
    local sink = nurs.pcap { path = dir .. "/t-%s.pcap", rotate_seconds = 1 }
    local recs = feed { sink }
    sink:close()
    for _, r in ipairs(recs) do seconds[r.timestamp // 1000000000] = true end
    local want = {}
    for s in pairs(seconds) do want[#want + 1] = "t-" .. s .. ".pcap" end
    table.sort(want)
    assert.is_true(#want >= 2, "the recording spans one second only")
    local got, total = {}, 0
    for f in sh("ls " .. dir):gmatch("%S+") do
      got[#got + 1] = f
      total = total + tcpdump(dir .. "/" .. f)
    end
    -- named after their packets' second; the one opened at start (named
    -- after the time then) was left empty by these older packets: removed
    table.sort(got)
    assert.same(want, got)
    assert.equals(TOTAL, total)
    local kept = nurs.pcap { path = dir .. "/k-%s.pcap", rotate_seconds = 1, rotate_count = 1 }
    feed { kept }
    kept:close()
    assert.equals(1, select(2, sh("ls " .. dir .. " | grep '^k-'"):gsub("\n", "")))
  end)

  it("appends to a pcap of its own format, refuses another", function()
    local path = dir .. "/a.pcap"
    local a = nurs.pcap { path = path }
    feed { a }
    a:close()
    -- a crash left half a record behind: it is cut off before appending
    local f = assert(io.open(path, "ab"))
    f:write(string.pack("<I4I4I4I4", 1, 2, 500, 500), "partial")
    f:close()
    local b = nurs.pcap { path = path }
    feed { b }
    b:close()
    assert.equals(2 * TOTAL, (tcpdump(path)))
    assert.equals("", sh("tcpdump -r " .. path .. " -n 2>&1 >/dev/null | grep -i trunc"))
    local ok, err = pcall(nurs.pcap, { path = path, linktype = "nflog" })
    assert.is_false(ok)
    assert.matches("exists and is not a pcap file of this link type", err)
    f = assert(io.open(dir .. "/text", "w"))
    f:write("hello\n")
    f:close()
    ok, err = pcall(nurs.pcap, dir .. "/text")
    assert.is_false(ok)
    assert.matches("not a pcap file", err)
  end)

  it("keeps the last packets in a ring and dumps them as a valid pcap", function()
    local ring = nurs.pcap { ring_size = 300000 }
    local recs = feed { ring }
    local c = ring:counters()
    assert.equals(TOTAL, c.ring_packets) -- 25 KB of packets fit
    assert.equals(0, c.ring_evicted)
    local n = ring:dump(dir .. "/ring.pcap")
    assert.equals(TOTAL, n)
    assert.equals(TOTAL, (tcpdump(dir .. "/ring.pcap")))
    -- by age: only the packets of the last 0.05 s of the recording
    local aged = nurs.pcap { ring_seconds = 0.05 }
    feed { aged }
    local newest = recs[#recs].timestamp
    local young = 0
    for _, r in ipairs(recs) do if r.timestamp + 50000000 >= newest then young = young + 1 end end
    assert.equals(young, aged:dump(dir .. "/aged.pcap"))
    assert.is_true(young < TOTAL)
    assert.equals(young, (tcpdump(dir .. "/aged.pcap")))
    ring:clear()
    assert.equals(0, ring:dump(dir .. "/empty.pcap"))
    assert.equals(0, (tcpdump(dir .. "/empty.pcap")))
    ring:close(); aged:close()
    local file = nurs.pcap { path = dir .. "/nor.pcap" }
    local ok, err = pcall(file.dump, file, dir .. "/x.pcap")
    assert.is_false(ok)
    assert.matches("keeps no ring", err)
    file:close()
  end)

  it("limits the rate with a token bucket, counting what it drops", function()
    local sink = nurs.pcap { path = dir .. "/rl.pcap", rate = 1, burst = 5 }
    local accepted = 0
    feed({ sink }, function(ok) if ok then accepted = accepted + 1 end end)
    local c = sink:counters()
    sink:close()
    assert.is_true(accepted >= 5 and accepted <= 7, "accepted " .. accepted)
    assert.equals(TOTAL - accepted, c.ratelimited)
    assert.equals(TOTAL - accepted, c.dropped)
    assert.equals(accepted, c.delivered)
    assert.equals(accepted, (tcpdump(dir .. "/rl.pcap")))
  end)

  it("waits for a FIFO's reader without blocking, counting what nobody read", function()
    local sink = nurs.pcap { path = dir .. "/fifo", mkfifo = true }
    feed { sink }
    local c = sink:counters()
    sink:close()
    assert.equals(0, c.readers)
    assert.equals(TOTAL, c.unread)
    assert.equals(0, c.dropped)
    assert.equals("p", sh("stat -c %A " .. dir .. "/fifo"):sub(1, 1))
  end)

  it("writes only packet records, only live ones", function()
    local sink = nurs.pcap { path = dir .. "/x.pcap" }
    local ok, err = pcall(sink.write, sink, { src = "1.2.3.4" })
    assert.is_false(ok)
    assert.matches("packet record", err)
    local kept
    feed({}, nil)
    local r = nurs.replay({ path = FIXTURE }, function(rec) kept = kept or rec end)
    nurs.run(10)
    r:close()
    ok, err = pcall(sink.write, sink, kept)
    assert.is_false(ok)
    assert.matches("record used after its callback", err)
    sink:close()
  end)

  it("checks its options", function()
    local function err_of(opts)
      local ok, err = pcall(nurs.pcap, opts)
      assert.is_false(ok)
      return err
    end
    assert.matches("give a 'path'", err_of {})
    assert.matches("unknown option 'snaplne'", err_of { path = dir .. "/o", snaplne = 5 })
    assert.matches("'linktype' must be", err_of { path = dir .. "/o", linktype = "eth" })
    assert.matches("'precision' must be", err_of { path = dir .. "/o", precision = "ms" })
    assert.matches("rotation options are for files",
      err_of { path = "tcp://127.0.0.1:1", rotate_size = 100 })
    assert.matches("needs a strftime pattern", err_of { path = dir .. "/o", rotate_seconds = 60 })
    assert.matches("ring_size", err_of { ring_size = 1000 })
    assert.matches("not HOST:PORT", err_of { path = "tcp://nowhere" })
    assert.matches("snaplen", err_of { path = dir .. "/o", snaplen = 0 })
  end)
end)
