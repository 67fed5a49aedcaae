-- The JSON sink never blocks the loop: stdout piped into a slow reader, a
-- FIFO without a reader, a reader that leaves (`| head`). Each case runs a
-- daemon that replays conntrack records as fast as it can into the sink
-- while a timer ticks every 10 ms; the longest gap between ticks tells
-- whether anything blocked (a blocking write froze it for seconds).
local files = dofile("tests/lua/files.lua")

local NURS = assert(os.getenv("NURS"), "run through scripts/test-all.sh (NURS=path/to/nurs-lua)")

local SCRIPT = [[
local nurs = require "nurs"
local path, seconds, also_ring = arg[2], tonumber(arg[3]), arg[4] == "ring"
local out = nurs.json(path ~= "-" and { path = path } or nil)
if also_ring then nurs.pcap { ring_size = 1 << 20 } end
local last, gap, ticks = nurs.now(), 0, 0
nurs.every(0.01, function()
  local t = nurs.now()
  if t - last > gap then gap = t - last end
  last, ticks = t, ticks + 1
end)
nurs.replay({ path = arg[1], loops = 1000000, at_end = "continue" }, out)
nurs.after(seconds, function()
  local c = out:counters()
  io.stderr:write(string.format("RESULT gap=%.3f ticks=%d in=%d delivered=%d dropped=%d unread=%d\n",
    gap, ticks, c["in"], c.delivered, c.dropped, c.unread or 0))
  nurs.stop()
end)
]]

local sh = files.sh

local function result(log)
  local text = assert(io.open(log)):read("a")
  local r = {}
  local line = text:match("RESULT ([^\n]*)")
  assert(line, "no RESULT line in:\n" .. text)
  for k, v in line:gmatch("(%w+)=([%d%.]+)") do r[k] = tonumber(v) end
  r.log = text
  return r
end

describe("JSON sink, streams", function()
  local dir, script, recording
  setup(function()
    dir = files.tmpname()
    assert(os.execute("mkdir -m 700 " .. dir))
    script = dir .. "/stream.lua"
    local f = assert(io.open(script, "w"))
    f:write(SCRIPT)
    f:close()
    recording = files.synth(20000, 3, dir .. "/ct.pcap")
  end)
  teardown(function() os.execute("rm -rf " .. dir) end)

  it("stdout into a slow reader: the loop keeps ticking, what does not fit is dropped and counted", function()
    -- The reader takes 1 KiB every 10 ms (100 KiB/s), far below the rate
    -- the replay makes lines.
    local slow = [[python3 -c 'import sys,time
while True:
    b = sys.stdin.buffer.read1(1024)
    if not b: break
    time.sleep(0.01)']]
    local cmd = string.format("timeout -k 5 30 %s %s %s - 3 2>%s/slow.log | %s", NURS, script, recording, dir, slow)
    local _, code = sh(cmd)
    assert.equals(0, code)
    local r = result(dir .. "/slow.log")
    print(string.format("slow reader: longest gap between 10 ms ticks %.3f s, %d ticks, %d lines dropped of %d",
      r.gap, r.ticks, r.dropped, r["in"]))
    assert.is_true(r.gap < 0.5, "the loop stalled " .. r.gap .. " s")
    assert.is_true(r.ticks > 100, "only " .. r.ticks .. " ticks in 3 s")
    assert.is_true(r.dropped > 0, "nothing dropped for a reader that slow?")
  end)

  it("a FIFO without a reader: no wait, then a reader that comes gets whole lines", function()
    local fifo = dir .. "/lines.fifo"
    assert(os.execute("mkfifo -m 600 " .. fifo))
    local _, code = sh(string.format("timeout -k 5 30 %s %s %s %s 2 2>%s/fifo.log", NURS, script, recording, fifo, dir))
    assert.equals(0, code)
    local r = result(dir .. "/fifo.log")
    assert.is_true(r.gap < 0.5, "the loop stalled " .. r.gap .. " s")
    assert.is_truthy(r.log:find("waiting for a reader on FIFO", 1, true))
    assert.is_true(r.unread > 0)
    -- A reader this time: jq parses every line it gets, to the end.
    sh(string.format("(timeout -k 5 30 %s %s %s %s 2 2>%s/fifo2.log &) ; timeout -k 5 20 jq -c .orig.src < %s > %s/jq.txt 2>%s/jq.err; echo $? > %s/jq.rc",
      NURS, script, recording, fifo, dir, fifo, dir, dir, dir))
    local rc = assert(io.open(dir .. "/jq.rc")):read("n")
    local lines = select(2, (assert(io.open(dir .. "/jq.txt")):read("a")):gsub("\n", ""))
    assert.equals(0, rc, assert(io.open(dir .. "/jq.err")):read("a"))
    assert.is_true(lines > 1000, "jq read " .. lines .. " lines")
  end)

  it("| head: the daemon exits when its only output is closed", function()
    local t0 = os.time()
    local out, code = sh(string.format("bash -c 'timeout -k 5 30 %s %s %s - 25 2>%s/head.log | head -3; exit ${PIPESTATUS[0]}'",
      NURS, script, recording, dir))
    local log = assert(io.open(dir .. "/head.log")):read("a")
    assert.equals(0, code, log)
    assert.is_true(os.time() - t0 < 10, "the daemon kept running after head left")
    assert.is_truthy(log:find("standard output was closed; nothing else is written: exiting", 1, true), log)
    assert.equals(3, select(2, out:gsub("\n{", "")) + (out:match("^{") and 1 or 0))
  end)

  it("| head with another output: the JSON sink stops, the daemon goes on", function()
    local _, code = sh(string.format("timeout -k 5 30 %s %s %s - 2 ring 2>%s/head2.log | head -1 >/dev/null",
      NURS, script, recording, dir))
    assert.equals(0, code)
    local r = result(dir .. "/head2.log")
    assert.is_truthy(r.log:find("this sink stops", 1, true), r.log)
    assert.is_true(r.dropped > 0)
  end)
end)
