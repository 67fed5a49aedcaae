-- What bounds a script: time budgets on callbacks and timers, a memory
-- limit per Lua state, os.exit() that flushes, and the permissions a
-- script is loaded with. Each case runs a small script in its own nurs-lua.
local files = dofile("tests/lua/files.lua")
local tmpname, synth = files.tmpname, files.synth

local NURS = assert(os.getenv("NURS"), "run through scripts/test-all.sh (NURS=path/to/nurs-lua)")

-- Runs `source` as a script with `flags` and ARGS; returns its exit code
-- and what it logged.
local function run(source, flags, ...)
  local script, log = tmpname() .. ".lua", tmpname()
  local f = assert(io.open(script, "w"))
  f:write(source)
  f:close()
  os.execute("chmod 600 " .. script)
  local args = {}
  for i = 1, select("#", ...) do args[#args + 1] = "'" .. tostring(select(i, ...)) .. "'" end
  local ok, _, code = os.execute(string.format("timeout 60 %s %s %s %s >/dev/null 2>%s", NURS,
    flags or "", script, table.concat(args, " "), log))
  local text = io.open(log):read("a")
  os.remove(script); os.remove(log)
  return ok and 0 or code, text
end

local function lines(path)
  local n = 0
  for _ in io.lines(path) do n = n + 1 end
  return n
end

describe("time budgets", function()
  it("stop a replayed record's callback and count it on the source", function()
    local pcap = synth(20)
    local code, log = run([[
      local nurs = require "nurs"
      local n = 0
      local r = nurs.replay({ path = arg[1], budget = 0.1 }, function(rec)
        n = n + 1
        if n == 3 then while true do end end
      end)
      nurs.run()
      local c = r:counters()
      print(string.format("delivered=%d errors=%d timeouts=%d", c.delivered, c.errors, c.timeouts))
      io.stderr:write(string.format("counted delivered=%d errors=%d timeouts=%d\n",
        c.delivered, c.errors, c.timeouts))
    ]], "--load-budget 30", pcap)
    os.remove(pcap)
    assert.equals(0, code, log)
    assert.matches("time budget of 100 ms exceeded", log)
    assert.matches("counted delivered=19 errors=1 timeouts=1", log)
  end)

  it("stop a timer that loops inside pcall and coroutines", function()
    local code, log = run([[
      local nurs = require "nurs"
      nurs.after(0.05, function()
        local co = coroutine.wrap(function() while true do pcall(error, "x") end end)
        while true do pcall(co) end
      end)
      nurs.after(1, function()
        local c = nurs.counters().script
        io.stderr:write(string.format("script errors=%d timeouts=%d\n", c.errors, c.timeouts))
        nurs.stop(3)
      end)
    ]], "--budget 0.2")
    assert.equals(3, code, log)
    assert.matches("timer: .*time budget of 200 ms exceeded", log)
    assert.matches("script errors=1 timeouts=1", log)
  end)

  it("stop a top level that never ends: the script does not start", function()
    local code, log = run("while true do end", "--load-budget 0.3")
    assert.equals(1, code, log)
    assert.matches("top level ran too long", log)
  end)
end)

describe("the memory limit", function()
  it("refuses what a script would grow past it, and the daemon goes on", function()
    local code, log = run([[
      local nurs = require "nurs"
      local hoard = {}
      nurs.after(0.05, function()
        for i = 1, 1e9 do hoard[i] = string.rep("x", 1 << 20) .. i end
      end)
      nurs.after(0.5, function()
        hoard = nil
        collectgarbage()
        local c = nurs.counters().script
        io.stderr:write(string.format("after errors=%d refused=%d peak=%d\n",
          c.errors, c.memory_refused, c.memory_peak))
        local t = {}
        for i = 1, 10 do t[i] = string.rep("y", 1 << 20) end
        io.stderr:write("still allocating: " .. #t .. "\n")
        nurs.stop()
      end)
    ]], "--memory-limit 32M")
    assert.equals(0, code, log)
    assert.matches("not enough memory", log)
    local errors, refused, peak = log:match("after errors=(%d+) refused=(%d+) peak=(%d+)")
    assert.equals("1", errors)
    assert.is_true(tonumber(refused) >= 1)
    assert.is_true(tonumber(peak) <= 32 << 20)
    assert.matches("still allocating: 10", log)
  end)
end)

describe("os.exit", function()
  it("flushes every sink and exits with its code", function()
    local json, pcap = tmpname(), synth(500)
    local code, log = run([[
      local nurs = require "nurs"
      local out = nurs.json { path = arg[1], flush = 3600 }
      local n = 0
      nurs.replay({ path = arg[2], speed = 1000 }, function(rec)
        out:write(rec)
        n = n + 1
        if n == 249 then os.exit(7) end
      end)
    ]], nil, json, pcap)
    assert.equals(7, code, log)
    assert.matches("os.exit%(7%): flushing every sink and exiting", log)
    assert.equals(249, lines(json))
    os.remove(json); os.remove(pcap)
  end)

  it("from the top level stops before the loop runs", function()
    local code = run('require "nurs"; os.exit(false)')
    assert.equals(1, code)
  end)
end)

describe("permissions", function()
  local dir
  before_each(function()
    dir = tmpname()
    assert(os.execute("mkdir -m 755 " .. dir))
  end)
  after_each(function() os.execute("rm -rf " .. dir) end)

  local function script_in(mode)
    local path = dir .. "/s.lua"
    local f = assert(io.open(path, "w"))
    f:write('require "nurs"')
    f:close()
    os.execute("chmod " .. mode .. " " .. path)
    return path
  end

  local function load(path, flags)
    local log = tmpname()
    local ok, _, code = os.execute(string.format("%s %s --check %s >/dev/null 2>%s", NURS,
      flags or "", path, log))
    local text = io.open(log):read("a")
    os.remove(log)
    return ok and 0 or code, text
  end

  it("warn about a script others can change, and refuse it with --strict-perms", function()
    local path = script_in("666")
    local code, log = load(path)
    assert.equals(0, code)
    assert.matches("writable by everyone", log)
    code, log = load(path, "--strict-perms")
    assert.equals(1, code)
    assert.matches("refused %(%-%-strict%-perms%)", log)
  end)

  it("say nothing about a script only its owner can change", function()
    local code, log = load(script_in("644"), "--strict-perms")
    assert.equals(0, code, log)
    assert.is_nil(log:match("changed by others"))
  end)

  it("refuse a script in a directory others can add modules to", function()
    os.execute("chmod 777 " .. dir)
    local code, log = load(script_in("644"), "--strict-perms")
    assert.equals(1, code)
    assert.matches("writable by everyone", log)
  end)
end)
