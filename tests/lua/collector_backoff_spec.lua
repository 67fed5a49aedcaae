-- An IPFIX collector over TCP that accepts every connection and resets it
-- at once: the exporter backs off as it does for a refused connection (1 s,
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
    local _, connected = log:gsub("collector [^\n]*: connected", "")
    local _, lost = log:gsub("reconnecting in", "")
    -- A reset that comes before the connection is seen as made reads as a
    -- failed connect: logged as such, once.
    assert.is_true(connected >= #times - 2 and connected <= #times, log)
    assert.is_true(lost >= #times - 1 and lost <= #times, log)
  end)
end)
