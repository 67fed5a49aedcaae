-- nurs.kafka as scripts use it: options checked at load (--check too), and
-- what reaches the broker (librdkafka's mock cluster on loopback,
-- tools/kafka-mock), read back with kcat and protoc, not with our code.
local nurs = require "nurs"

local files = dofile("tests/lua/files.lua")
local tmpname, slurp = files.tmpname, files.slurp
local NURS = assert(os.getenv("NURS"), "run through scripts/test-all.sh (NURS=path/to/nurs-lua)")

local function fails(pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok)
  assert.matches(pattern, err)
end

-- A mock cluster with topics; returns its bootstrap address and pid. It
-- ends when killed, or after 120 s at most.
local function start_mock(...)
  local args = {}
  for _, t in ipairs { ... } do args[#args + 1] = "-t " .. t end
  local out = tmpname()
  local p = assert(io.popen(string.format("(sleep 120 | %s %s >%s 2>/dev/null) & echo $!",
    NURS:gsub("nurs%-lua$", "tools/kafka-mock"), table.concat(args, " "), out)))
  local pid = p:read("l")
  p:close()
  for _ = 1, 100 do
    local f = io.open(out)
    local line = f and f:read("l")
    if f then f:close() end
    if line then
      os.remove(out)
      return line, pid
    end
    os.execute("sleep 0.05")
  end
  error("kafka-mock did not start")
end

local function stop_mock(pid)
  os.execute("pkill -P " .. pid .. " 2>/dev/null; kill " .. pid .. " 2>/dev/null")
end

-- What kcat reads from topic, with its format (-f).
local function consume(brokers, topic, format)
  local path = tmpname()
  assert(os.execute(string.format("timeout 30 kcat -C -b %s -t %s -o beginning -e -q -f '%s' >%s 2>/dev/null",
    brokers, topic, format, path)))
  local s = slurp(path)
  os.remove(path)
  return s
end

-- Runs the loop until sink delivered n messages (at most 10 s; a replay
-- that ends stops the loop, so it is run in short turns).
local function until_delivered(sink, n)
  for _ = 1, 200 do
    if sink:counters().delivered >= n then break end
    nurs.run(0.05)
  end
  assert.equals(n, sink:counters().delivered)
end

-- Runs the loop until the replay r is done and sink delivered every flow
-- record it made.
local function until_replayed(r, sink)
  for _ = 1, 200 do
    if r:done() then break end
    nurs.run(0.05)
  end
  assert.is_true(r:done())
  until_delivered(sink, sink:counters().records)
end

-- protoc --decode of each length-prefixed (or not) message of a kcat
-- '%R%s' dump: a list of tables of field = text value.
local function decode(dump, prefixed)
  local dir = tmpname()
  assert(os.execute("mkdir " .. dir))
  assert(os.execute(string.format("%s --schema proto >%s/nurs_flow.proto", NURS, dir)))
  local out, i = {}, 1
  while i <= #dump do
    local n = string.unpack(">i4", dump, i)
    local msg = dump:sub(i + 4, i + 3 + n)
    i = i + 4 + n
    if prefixed then
      local len, shift, j = 0, 0, 1
      repeat
        local b = msg:byte(j)
        len, shift, j = len | ((b & 0x7f) << shift), shift + 7, j + 1
      until b < 0x80
      assert.equals(#msg - j + 1, len)
      msg = msg:sub(j)
    end
    local f = assert(io.open(dir .. "/m.bin", "wb"))
    f:write(msg)
    f:close()
    local p = assert(io.popen(string.format(
      "protoc --decode=nurs.flow.FlowMessage -I%s %s/nurs_flow.proto <%s/m.bin", dir, dir, dir)))
    local fields = {}
    for line in p:lines() do
      local k, v = line:match("^(%S+): (.*)$")
      if k then fields[k] = v end
    end
    assert(p:close())
    out[#out + 1] = fields
  end
  os.execute("rm -r " .. dir)
  return out
end

describe("kafka options", function()
  local ok = { brokers = "127.0.0.1:9092", topic = "flows" }
  local function with(extra)
    local t = {}
    for k, v in pairs(ok) do t[k] = v end
    for k, v in pairs(extra) do t[k] = v end
    return t
  end

  it("reject bad broker lists and topics", function()
    fails("'brokers' %(\"host:port,...\"%) and 'topic' are required", nurs.kafka, { topic = "t" })
    fails("brokers: empty list", nurs.kafka, with { brokers = "" })
    fails("brokers: 'host:99999' has a port outside 1..65535", nurs.kafka,
      with { brokers = "a:9092,host:99999" })
    fails("brokers: '' is empty", nurs.kafka, with { brokers = "a:9092,,b:9092" })
    fails("brokers: 'a b:9092' is not host:port", nurs.kafka, with { brokers = "a b:9092" })
    fails("brokers: 'h:x' has a port that is not a number", nurs.kafka, with { brokers = "h:x" })
    fails("brokers: '%[::1:9092' has an unclosed", nurs.kafka, with { brokers = "[::1:9092" })
    fails("topic: 'a/b' is not a Kafka topic name", nurs.kafka, with { topic = "a/b" })
  end)

  it("reject unknown formats, options and settings", function()
    fails("unknown format 'avro' %(json, proto%)", nurs.kafka, with { format = "avro" })
    fails("unknown option 'topik'", nurs.kafka, with { topik = "x" })
    fails("unknown compression 'brotli' %(none, gzip, snappy, lz4, zstd%)", nurs.kafka,
      with { compression = "brotli" })
    fails("unknown partitioner 'round'", nurs.kafka, with { partitioner = "round" })
    fails("acks must be \"all\" %(or %-1%), 0 or 1", nurs.kafka, with { acks = 2 })
    fails("No such configuration property: \"no.such.thing\"", nurs.kafka,
      with { config = { ["no.such.thing"] = 1 } })
    fails("Invalid value", nurs.kafka, with { config = { ["socket.timeout.ms"] = "soon" } })
    fails("key: '{' without '}'", nurs.kafka, with { key = "{orig.src" })
    fails("key: 'orig src' is not a field name", nurs.kafka, with { key = "{orig src}" })
    fails("sampler_address 'here' is not an IP address", nurs.kafka,
      with { format = "proto", sampler_address = "here" })
  end)

  it("reject options that contradict each other", function()
    fails("option 'biflow' is only for format = \"proto\"", nurs.kafka, with { biflow = true })
    fails("option 'length_prefix' is only for format = \"proto\"", nurs.kafka,
      with { format = "json", length_prefix = false })
    fails("option 'schema_version' is only for format = \"json\"", nurs.kafka,
      with { format = "proto", schema_version = true })
    fails("idempotence needs acks = \"all\" %(acks is 1%)", nurs.kafka,
      with { idempotence = true, acks = 1 })
    fails("config: 'compression.codec' is set by the option 'compression'", nurs.kafka,
      with { config = { ["compression.codec"] = "gzip" } })
    fails("config: 'bootstrap.servers' is set by the option 'brokers'", nurs.kafka,
      with { config = { ["bootstrap.servers"] = "x:1" } })
  end)

  it("are checked by --check, which connects to nothing", function()
    local script = tmpname() .. ".lua"
    local function check(body)
      local f = assert(io.open(script, "w"))
      f:write('local nurs = require "nurs"\n', body, "\n")
      f:close()
      local p = assert(io.popen(string.format("timeout 10 %s --check %s 2>&1", NURS, script)))
      local out = p:read("a")
      local _, _, code = p:close()
      return code, out
    end
    -- Nothing listens on port 1: --check must not try.
    local code, out = check('nurs.kafka { brokers = "127.0.0.1:1", topic = "t", format = "proto", ' ..
      'compression = "zstd", config = { ["security.protocol"] = "plaintext" } }')
    assert.equals(0, code)
    assert.matches("OK", out)
    assert.not_matches("librdkafka", out)
    code, out = check('nurs.kafka { brokers = "127.0.0.1:1", topic = "t", format = "avro" }')
    assert.equals(1, code)
    assert.matches("unknown format 'avro'", out)
    code, out = check('nurs.kafka { brokers = "127.0.0.1:1", topic = "t", biflow = true }')
    assert.equals(1, code)
    assert.matches("only for format = \"proto\"", out)
    code, out = check('nurs.kafka { brokers = "127.0.0.1:1,:9092", topic = "t" }')
    assert.equals(1, code)
    assert.matches("has no host", out)
    os.remove(script)
  end)
end)

describe("kafka messages", function()
  local brokers, pid, file
  setup(function()
    brokers, pid = start_mock("t-json", "t-proto", "t-raw", "t-table")
    file = files.synth(50, 7)
  end)
  teardown(function()
    stop_mock(pid)
    os.remove(file)
  end)

  it("in json are the JSON sink's lines, keyed by the template", function()
    local path = tmpname()
    local j = nurs.json { path = path }
    local k = nurs.kafka { brokers = brokers, topic = "t-json", key = "{proto}:{orig.src}:{id}" }
    local r = nurs.replay({ path = file }, function(rec) j:write(rec); k:write(rec) end)
    until_delivered(k, 50)
    j:flush()
    assert.equals(slurp(path), consume(brokers, "t-json", "%s\\n"))
    local keys = consume(brokers, "t-json", "%k\\n")
    local want = {}
    for line in io.lines(path) do
      want[#want + 1] = line:match('"proto":"(%w+)"') .. ":" .. line:match('"orig":{"src":"([^"]+)"') ..
        ":" .. line:match('"id":(%d+)')
    end
    assert.equals(table.concat(want, "\n") .. "\n", keys)
    for _, h in ipairs { j, k, r } do h:close() end
    os.remove(path)
  end)

  it("in proto are flows protoc decodes, with or without the length prefix", function()
    for _, case in ipairs { { "t-proto", true }, { "t-raw", false } } do
      local k = nurs.kafka { brokers = brokers, topic = case[1], format = "proto",
                             length_prefix = case[2], domain = 7, sampler_address = "2001:db8::1" }
      local r = nurs.replay({ path = file }, k)
      until_replayed(r, k)
      local msgs = decode(consume(brokers, case[1], "%R%s"), case[2])
      assert.equals(k:counters().records, #msgs)
      assert.is_true(#msgs >= 50)
      for i, m in ipairs(msgs) do
        assert.equals(tostring(i), m.sequence_num)
        assert.equals("IPFIX", m.type)
        assert.equals("1", m.sampling_rate)
        assert.equals("7", m.observation_domain_id)
        assert.equals('" \\001\\r\\270\\000\\000\\000\\000\\000\\000\\000\\000\\000\\000\\000\\001"',
          m.sampler_address)
        assert.truthy(tonumber(m.bytes) > 0 and tonumber(m.packets) > 0)
        assert.truthy(m.ct_id and m.time_flow_end_ns and m.src_addr and m.dst_addr)
      end
      k:close()
      r:close()
    end
  end)

  it("take tables: JSON as nurs.json writes them, FlowMessage fields by name", function()
    local path = tmpname()
    local j = nurs.json { path = path }
    local kj = nurs.kafka { brokers = brokers, topic = "t-json-table", key = "host" }
    local kp = nurs.kafka { brokers = brokers, topic = "t-table", format = "proto", length_prefix = false }
    local t = { host = "db1", n = 3, list = { 1, 2 } }
    j:write(t)
    kj:write(t)
    kp:write({ src_addr = "192.0.2.7", dst_addr = "2001:db8::9", proto = 17, src_port = 53,
               bytes = 1234, packets = 2, src_process = "named", src_attributed = true }, "k1")
    fails("FlowMessage has no field 'colour'", kp.write, kp, { colour = 1 })
    fails("FlowMessage field 'proto': wrong type", kp.write, kp, { proto = "udp" })
    fails("FlowMessage field 'src_addr': wrong type", kp.write, kp, { src_addr = "nowhere" })
    until_delivered(kp, 1)
    until_delivered(kj, 1)
    j:flush()
    assert.equals(slurp(path), consume(brokers, "t-json-table", "%s\\n"))
    assert.equals("db1\n", consume(brokers, "t-json-table", "%k\\n"))
    assert.equals("k1\n", consume(brokers, "t-table", "%k\\n"))
    local m = decode(consume(brokers, "t-table", "%R%s"), false)[1]
    assert.equals('"\\300\\000\\002\\007"', m.src_addr)
    assert.equals("17", m.proto)
    assert.equals("53", m.src_port)
    assert.equals("1234", m.bytes)
    assert.equals('"named"', m.src_process)
    assert.equals("true", m.src_attributed)
    assert.equals("1", m.sequence_num)
    assert.equals(3, kp:counters().dropped) -- the three refused tables
    for _, h in ipairs { j, kj, kp } do h:close() end
    os.remove(path)
  end)
end)
