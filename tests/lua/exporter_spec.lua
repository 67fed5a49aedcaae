-- nurs.netflow9 / nurs.ipfix as scripts use them: option and template
-- checks, and what an RFC 5655 file holds, read back by tshark (not by us).
local nurs = require "nurs"

local files = dofile("tests/lua/files.lua")
local tmpname = files.tmpname

-- tshark's values of some cflow fields, each field a list over the file.
local function tshark(path, fields)
  local args = {}
  for _, f in ipairs(fields) do args[#args + 1] = "-e " .. f end
  local cmd = string.format("timeout 60 tshark -r %s -T fields -E separator=/t -E 'aggregator=|' %s 2>/dev/null | head -c 4000000",
    path, table.concat(args, " "))
  local out = { }
  for _, f in ipairs(fields) do out[f] = {} end
  local p = assert(io.popen(cmd))
  for line in p:lines() do
    local i = 0
    for col in (line .. "\t"):gmatch("([^\t]*)\t") do
      i = i + 1
      local f = fields[i]
      if f then
        for v in col:gmatch("[^|]+") do table.insert(out[f], v) end
      end
    end
  end
  p:close()
  return out
end

local function expert(path)
  local p = assert(io.popen("timeout 60 tshark -r " .. path .. " -q -z expert,warn 2>/dev/null | head -c 100000"))
  local s = p:read("a")
  p:close()
  return s
end

local function sum(list)
  local n = 0
  for _, v in ipairs(list) do n = n + tonumber(v) end
  return n
end

describe("exporter options", function()
  local function fails(pattern, f, ...)
    local ok, err = pcall(f, ...)
    assert.is_false(ok)
    assert.matches(pattern, err)
  end

  it("name unknown elements, impossible lengths and mixed families at load", function()
    fails("unknown information element 'sourceIPv5Address'", nurs.ipfix,
      { collector = "127.0.0.1:4739", templates = { t = { "sourceIPv5Address" } } })
    fails("sourceIPv4Address %(ipv4Address%) cannot be 3 bytes long", nurs.ipfix,
      { collector = "127.0.0.1:4739", templates = { t = { { "sourceIPv4Address", 3 } } } })
    fails("mixes IPv4 and IPv6", nurs.ipfix,
      { collector = "127.0.0.1:4739",
        templates = { t = { "sourceIPv4Address", "destinationIPv6Address" } } })
    fails("both take IPv4 flows", nurs.ipfix,
      { collector = "127.0.0.1:4739",
        templates = { a = { "sourceIPv4Address" }, b = { "destinationIPv4Address" } } })
    fails("unknown option 'colector'", nurs.netflow9, { colector = "127.0.0.1" })
    fails("either 'collector'", nurs.netflow9, { templates = {} })
  end)

  it("refuse what NetFlow v9 cannot do", function()
    fails("enterprise element, which NetFlow v9 cannot carry", nurs.netflow9,
      { collector = "127.0.0.1:2055", templates = { t = { "reverseOctetDeltaCount" } } })
    fails("no variable%-length fields", nurs.netflow9,
      { collector = "127.0.0.1:2055", templates = { t = { "interfaceName" } } })
    fails("use IPFIX for TCP", nurs.netflow9, "tcp://127.0.0.1:2055")
    fails("files are IPFIX", nurs.netflow9, "file:///tmp/x")
    fails("write IPv6 addresses in brackets", nurs.ipfix, "2001:db8::1:4739")
    fails("unknown transport", nurs.ipfix, "sctp://127.0.0.1:4739")
    fails("bad port", nurs.ipfix, "127.0.0.1:99999")
  end)

  it("take the process elements: variable length in IPFIX, given lengths in v9", function()
    local presets = require "nurs.templates"
    assert.is_not_nil(nurs.ipfix { collector = "127.0.0.1:4739",
      templates = presets.with(presets.ipfix_biflow, presets.process), process_enterprise = 4242 })
    assert.is_not_nil(nurs.netflow9 { collector = "127.0.0.1:2055",
      templates = presets.with(presets.netflow9, presets.process_netflow9) })
    fails("give sourceProcessName a length", nurs.netflow9,
      { collector = "127.0.0.1:2055", templates = { t = { "sourceProcessName" } } })
    fails("'process_enterprise' must be between 1 and", nurs.ipfix,
      { collector = "127.0.0.1:4739", process_enterprise = 0 })
    -- Another enterprise's element still has no place in v9.
    fails("enterprise element, which NetFlow v9 cannot carry", nurs.netflow9,
      { collector = "127.0.0.1:2055", templates = { t = { "netfilterMark" } } })
  end)

  it("give templates ids in name order and keep the default presets", function()
    local e = nurs.ipfix { collector = "127.0.0.1:4739",
      templates = { zeta = { "octetDeltaCount" }, alpha = { "packetDeltaCount" } } }
    assert.same({ alpha = 258, zeta = 259 }, e:templates())
    e:close()
    local v9 = nurs.netflow9 "127.0.0.1:2055"
    assert.same({ ipv4 = 258, ipv6 = 259 }, v9:templates())
    assert.equals("udp", v9:collectors()[1].transport)
    v9:close()
  end)
end)

describe("IPFIX file", function()
  it("holds plain records of every kind of element, as tshark reads them", function()
    local path = tmpname()
    local e = nurs.ipfix { collector = "file://" .. path, domain = 7, templates = {
      v4 = { "sourceIPv4Address", "destinationIPv4Address", "protocolIdentifier",
             "octetDeltaCount", { "packetDeltaCount", 4 }, "flowStartMilliseconds",
             "userName", "flowEndReason" },
      v6 = { "sourceIPv6Address", "destinationIPv6Address", "octetDeltaCount" },
    } }
    assert.equals(1, e:export { sourceIPv4Address = "192.0.2.1", destinationIPv4Address = "198.51.100.7",
      protocolIdentifier = 17, octetDeltaCount = 1234, packetDeltaCount = 5,
      flowStartMilliseconds = 1700000000.25, userName = "alice", flowEndReason = 3 })
    e:export { sourceIPv6Address = "2001:db8::1", destinationIPv6Address = "2001:db8::2",
      octetDeltaCount = 99 }
    assert.has_error(function() e:export { sourceIPv4Address = "300.1.2.3" } end,
      "export: sourceIPv4Address must be an IPv4 address")
    assert.has_error(function() e:export({ octetDeltaCount = -1 }, "v6") end,
      "export: octetDeltaCount must be an integer >= 0")
    assert.has_error(function() e:export({}, "nope") end, "export: no template named 'nope'")
    local c = e:counters()
    assert.equals(2, c.records)
    e:close()

    local got = tshark(path, { "cflow.srcaddr", "cflow.dstaddrv6", "cflow.octets",
      "cflow.packets", "cflow.user_name", "cflow.abstimestart", "cflow.od_id" })
    assert.same({ "192.0.2.1" }, got["cflow.srcaddr"])
    assert.same({ "2001:db8::2" }, got["cflow.dstaddrv6"])
    assert.same({ "1234", "99" }, got["cflow.octets"])
    assert.same({ "5" }, got["cflow.packets"])
    assert.same({ "alice" }, got["cflow.user_name"])
    assert.matches("2023 22:13:20.250", got["cflow.abstimestart"][1])
    assert.equals("7", got["cflow.od_id"][1])
    assert.equals("", expert(path):match("Warns?%s*%((%d+)%)") and "warnings" or "")
    os.remove(path)
  end)

  describe("from conntrack records", function()
    local synth
    setup(function()
      synth = files.synth(300, 3)
    end)
    teardown(function() os.remove(synth) end)

    -- Replays the synthetic records through an exporter to a file; returns
    -- what Lua saw of them and the file.
    local function replay(opts, fields_of)
      local path = tmpname()
      opts.collector = "file://" .. path
      local e = nurs.ipfix(opts)
      local seen = {}
      local r = nurs.replay({ path = synth }, function(rec)
        local t = rec:totable()
        seen[#seen + 1] = t
        e:export(rec, fields_of and fields_of(rec))
      end)
      nurs.run(20)
      r:close()
      local counters = e:counters()
      e:close()
      return seen, path, counters
    end

    it("makes a record per direction with traffic, counters intact", function()
      local seen, path, c = replay { templates = require("nurs.templates").ipfix }
      local flows, octets, packets = 0, 0, 0
      for _, t in ipairs(seen) do
        for _, d in ipairs { t.orig, t.reply } do
          if d.packets > 0 then
            flows, octets, packets = flows + 1, octets + d.bytes, packets + d.packets
          end
        end
      end
      assert.equals(300, #seen)
      assert.equals(flows, c.records)
      local got = tshark(path, { "cflow.srcaddr", "cflow.srcaddrv6", "cflow.octets", "cflow.packets",
        "cflow.flow_end_reason", "cflow.flow_id" })
      assert.equals(flows, #got["cflow.srcaddr"] + #got["cflow.srcaddrv6"])
      assert.equals(octets, sum(got["cflow.octets"]))
      assert.equals(packets, sum(got["cflow.packets"]))
      assert.equals(flows, #got["cflow.flow_id"])
      assert.equals("", expert(path):match("Warns?%s*%((%d+)%)") and "warnings" or "")
      os.remove(path)
    end)

    it("makes one biflow record per connection with the reply in reverse elements", function()
      local seen, path, c = replay { templates = require("nurs.templates").ipfix_biflow }
      assert.equals(#seen, c.records)
      local reply_octets = 0
      for _, t in ipairs(seen) do reply_octets = reply_octets + t.reply.bytes end
      local p = assert(io.popen("timeout 60 tshark -r " .. path ..
        " -V 2>/dev/null | grep -c 'Reverse Type 1 BYTES'"))
      local n = tonumber(p:read("a"))
      p:close()
      assert.equals(#seen, n)
      os.remove(path)
      assert.is_true(reply_octets > 0)
    end)

    it("swaps interfaces and turns the direction for the reply", function()
      local markif = require("nurs.markif").new { ingress = 0xff, egress = "0xff00 >> 8",
        direction = 0x10000 }
      local fake = { mark = 0x10302 }   -- in 2, out 3, egress
      local _, path = replay({ templates = { t = { "sourceIPv4Address", "ingressInterface",
        "egressInterface", "flowDirection", "octetDeltaCount" } } },
        function() return markif(fake) end)
      local got = tshark(path, { "cflow.inputint", "cflow.outputint", "cflow.direction" })
      local orig, reply = 0, 0
      for i, v in ipairs(got["cflow.inputint"]) do
        if v == "2" then
          assert.equals("3", got["cflow.outputint"][i])
          orig = orig + 1
        else
          assert.equals("3", v)
          assert.equals("2", got["cflow.outputint"][i])
          reply = reply + 1
        end
      end
      assert.is_true(orig > 0 and reply > 0)
      os.remove(path)
    end)
  end)
end)

describe("nurs.markif", function()
  it("reads interfaces and direction from mark bits", function()
    local f = require("nurs.markif").new { ingress = "0xff", egress = { mask = 0xff00, shift = 8 },
      direction = 0x10000 }
    assert.same({ ingressInterface = 1, egressInterface = 2, flowDirection = 0 },
      f { mark = 0x0201 })
    assert.same({ ingressInterface = 0, egressInterface = 0, flowDirection = 1 },
      f { mark = 0x10000 })
    assert.same({ ingressInterface = 0, egressInterface = 0, flowDirection = 0 }, f {})
    assert.has_error(function() require("nurs.markif").new { ingress = "0xff >> 40" } end)
  end)
end)
