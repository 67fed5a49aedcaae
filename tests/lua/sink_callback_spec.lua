-- A sink given where a conntrack source takes its callback, as
-- ctflow9.lua does: records reach it in C, without a Lua call, and it
-- writes what its Lua method would.
local nurs = require "nurs"

local files = dofile("tests/lua/files.lua")
local tmpname = files.tmpname

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function lines(s)
  local n = 0
  for _ in s:gmatch("[^\n]+\n") do n = n + 1 end
  return n
end

describe("a sink as the callback", function()
  local file
  setup(function()
    file = files.synth(200, 3)
  end)
  teardown(function() os.remove(file) end)

  it("a JSON sink writes what out:write(rec) writes", function()
    local by_method, direct = tmpname(), tmpname()
    local a = nurs.json { path = by_method }
    local ra = nurs.replay({ path = file }, function(rec) a:write(rec) end)
    nurs.run(10)
    a:flush()
    local b = nurs.json { path = direct }
    local rb = nurs.replay({ path = file }, b)
    nurs.run(10)
    b:flush()
    local sa, sb = slurp(by_method), slurp(direct)
    assert.equals(200, lines(sa))
    assert.equals(sa, sb)
    assert.equals(200, rb:counters().delivered)
    assert.equals(200, b:counters().delivered)
    for _, h in ipairs { a, b, ra, rb } do h:close() end
    os.remove(by_method)
    os.remove(direct)
  end)

  it("an exporter exports what exporter:export(rec) exports", function()
    local function run(as_sink)
      local path = tmpname()
      local e = nurs.ipfix { collector = "file://" .. path }
      local r = nurs.replay({ path = file }, as_sink and e or function(rec) e:export(rec) end)
      nurs.run(10)
      e:flush()
      local c = e:counters()
      local size = #slurp(path)
      e:close()
      r:close()
      os.remove(path)
      return c, size
    end
    local via_lua, size_lua = run(false)
    local direct, size_direct = run(true)
    assert.is_true(via_lua.records >= 200, "records " .. via_lua.records)
    for _, k in ipairs { "in", "delivered", "records", "messages", "bytes" } do
      assert.equals(via_lua[k], direct[k], k)
    end
    assert.equals(size_lua, size_direct)
  end)

  it("goes beside Lua functions, each called once per record", function()
    local path = tmpname()
    local out = nurs.json { path = path }
    local n = 0
    local r = nurs.replay({ path = file }, out)
    r:on(function(rec) n = n + 1; assert(rec.orig.src) end)
    nurs.run(10)
    out:flush()
    assert.equals(200, n)
    assert.equals(200, lines(slurp(path)))
    assert.equals(200, r:counters().delivered)
    out:close()
    r:close()
    os.remove(path)
  end)

  it("counts as dropped what a sink closed from Lua could not take", function()
    local out = nurs.json { path = "/dev/null" }
    local r = nurs.replay({ path = file }, out)
    out:close()
    nurs.run(10)
    local c = r:counters()
    assert.equals(200, c["in"])
    assert.equals(200, c.dropped)
    assert.equals(0, c.delivered)
    r:close()
  end)

  it("is refused where it cannot go", function()
    local out = nurs.json { path = "/dev/null" }
    local ok, err = pcall(nurs.replay, { path = file }, 42)
    assert.is_false(ok)
    assert.matches("function or sink", err)
    ok, err = pcall(nurs.conntrack, { events = { "destroy" } }, {})
    assert.is_false(ok)
    assert.matches("function or sink", err)
    ok, err = pcall(nurs.nflog, { group = 7 }, out)   -- packet records: functions only
    assert.is_false(ok)
    assert.matches("function expected", err)
    local closed = nurs.json { path = "/dev/null" }
    closed:close()
    ok, err = pcall(nurs.replay, { path = file }, closed)
    assert.is_false(ok)
    assert.matches("function or sink", err)
    out:close()
  end)
end)
