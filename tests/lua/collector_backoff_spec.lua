-- An IPFIX collector over TCP that accepts every connection and resets it
-- soon after: the exporter backs off as it does for a refused connection (1 s,
-- 2 s, 4 s... up to 60 s) instead of reconnecting every second, and logs
-- each change of state once.
local files = dofile("tests/lua/files.lua")

local NURS = assert(os.getenv("NURS"), "run through scripts/test-all.sh (NURS=path/to/nurs-lua)")

local SERVER = [[
import socket, struct, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
open(sys.argv[1] + ".port", "w").write(str(s.getsockname()[1]))
s.settimeout(0.2)
end = time.time() + float(sys.argv[2])
with open(sys.argv[1], "w") as log:
    while time.time() < end:
        try:
            c, _ = s.accept()
        except socket.timeout:
            continue
        log.write("%.3f\n" % time.time()); log.flush()
        # Long enough for the exporter to see the connection made first;
        # a reset that races the connect is also handled (checked below).
        time.sleep(0.1)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()  # an RST, not a FIN
]]

local SCRIPT = [[
local nurs = require "nurs"
nurs.ipfix { collector = "tcp://127.0.0.1:" .. arg[1], templates = { ipv4 = { "sourceIPv4Address" } } }
nurs.after(tonumber(arg[2]), nurs.stop)
]]

local put = files.put

describe("TCP collector that resets every connection", function()
  local dir
  setup(function()
    dir = files.tmpname()
    assert(os.execute("mkdir -m 700 " .. dir))
    put(dir .. "/server.py", SERVER)
    put(dir .. "/export.lua", SCRIPT)
  end)
  teardown(function() os.execute("rm -rf " .. dir) end)

  it("backs off 1, 2, 4, 8 s and logs each state change once", function()
    local accepts = dir .. "/accepts"
    assert(os.execute(string.format("python3 %s/server.py %s 17 & echo $! > %s/server.pid", dir, accepts, dir)))
    for _ = 1, 50 do
      if io.open(accepts .. ".port") then break end
      os.execute("sleep 0.1")
    end
    local port = assert(io.open(accepts .. ".port")):read("a")
    assert(os.execute(string.format("timeout -k 5 30 %s %s/export.lua %s 16 2>%s/nurs.log",
      NURS, dir, port, dir)))
    os.execute(string.format("kill $(cat %s/server.pid) 2>/dev/null", dir))
    local times = {}
    for line in io.lines(accepts) do times[#times + 1] = tonumber(line) end
    local log = assert(io.open(dir .. "/nurs.log")):read("a")
    local gaps = {}
    for i = 2, #times do gaps[#gaps + 1] = string.format("%.1f", times[i] - times[i - 1]) end
    print("connections at intervals of " .. table.concat(gaps, ", ") .. " s")
    -- 0, 1, 3, 7, 15: five in 16 s (every second: sixteen).
    assert.is_true(#times >= 4 and #times <= 6, #times .. " connections in 16 s")
    for i = 2, #gaps do
      assert.is_true(tonumber(gaps[i]) >= 1.6 * tonumber(gaps[i - 1]), "intervals " .. table.concat(gaps, ", "))
    end
    -- Each change of state is logged once, whichever way each reset races
    -- the connect: a failed connect is logged only when the previous one
    -- succeeded (or at the start), a made connection always.
    local states = {}
    for line in log:gmatch("[^\n]+") do
      if line:find("collector tcp://[^ ]*: connected") then
        states[#states + 1] = "up"
      elseif line:find("collector tcp://[^ ]*: cannot connect") then
        states[#states + 1] = "failing"
      elseif line:find("collector tcp://[^ ]*: the collector closed the connection") then
        states[#states + 1] = "closed"
      end
    end
    local seq = table.concat(states, " ")
    print("logged states: " .. seq)
    assert.is_true(#states >= 2 and #states <= 2 * #times, seq .. "\n" .. log)
    assert.is_nil(seq:find("failing failing"), seq)
    assert.is_nil(seq:find("up up"), seq)
    assert.is_nil(seq:find("closed closed"), seq)
    local _, connected = seq:gsub("up", "")
    assert.is_true(connected >= 1 and connected <= #times, seq)
  end)
end)
