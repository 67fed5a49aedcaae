-- nurs.nfqueue as scripts see it, for what needs no kernel queue: every
-- option is checked before a socket is opened, with the option's name.
-- (Packets and verdicts: tests/kernel/nfqueue.sh.)
local nurs = require "nurs"

local function err_of(opts)
  local ok, err = pcall(nurs.nfqueue, opts)
  assert.is_false(ok)
  return err
end

describe("nurs.nfqueue options", function()
  it("needs a queue", function()
    assert.matches("option 'queue' is required", err_of {})
    assert.matches("option 'queue' is required", err_of { queue = {} })
  end)

  it("rejects unknown options by name", function()
    assert.matches("unknown option 'qeueu'", err_of { queue = 1, qeueu = 2 })
  end)

  it("checks queue numbers and ranges", function()
    assert.matches("from 0 to 65535, not 70000", err_of { queue = 70000 })
    assert.matches("listed twice", err_of { queue = { 3, 3 } })
    assert.matches("not a number or a range", err_of { queue = "3-" })
    assert.matches("not a number or a range", err_of { queue = "5-3" })
    assert.matches("not a number or a range", err_of { queue = "0-99" })
    assert.matches("integers only", err_of { queue = { 1, "2" } })
  end)

  it("checks the copy mode, range and length", function()
    assert.matches("'copy' is \"packet\" or \"meta\", not 'all'", err_of { queue = 1, copy = "all" })
    assert.matches("'range' must be between 0 and 65531", err_of { queue = 1, range = 70000 })
    assert.matches("'maxlen' must be between", err_of { queue = 1, maxlen = 0 })
  end)

  it("checks flags, default verdict, budget and holds", function()
    assert.matches("'gso' must be a boolean", err_of { queue = 1, gso = 1 })
    assert.matches("'default' is \"accept\" or \"drop\", not 'repeat'",
      err_of { queue = 1, default = "repeat" })
    assert.matches("'budget' must be between", err_of { queue = 1, budget = 0 })
    assert.matches("'budget' must be between", err_of { queue = 1, budget = 11 })
    assert.matches("'hold_timeout' must be between", err_of { queue = 1, hold_timeout = 0 })
    assert.matches("'hold_max' must be between", err_of { queue = 1, hold_max = 0 })
    assert.matches("'batch' must be a boolean", err_of { queue = 1, batch = "yes" })
  end)

  it("wants a function as callback", function()
    local ok, err = pcall(nurs.nfqueue, { queue = 1 }, "accept")
    assert.is_false(ok)
    assert.matches("function expected", err)
  end)
end)

describe("coroutines", function()
  -- resume and wrap are replaced (so that a queue's time budget can stop
  -- loops inside coroutines); they must behave as Lua's own.
  it("resume passes values both ways and reports errors", function()
    local co = coroutine.create(function(a)
      local b = coroutine.yield(a + 1)
      error("late " .. b, 0)
    end)
    assert.same({ true, 2 }, { coroutine.resume(co, 1) })
    assert.same({ false, "late 5" }, { coroutine.resume(co, 5) })
    assert.same({ false, "cannot resume dead coroutine" }, { coroutine.resume(co) })
    assert.equal("dead", coroutine.status(co))
  end)

  it("wrap raises with the position, like Lua's", function()
    local f = coroutine.wrap(function() error("inner") end)
    local ok, err = pcall(f)
    assert.is_false(ok)
    assert.matches("inner", err)
    local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)
    assert.same({ 1, 2, 3 }, { gen(), gen(), gen() })
  end)

  it("refuses what Lua refuses", function()
    assert.has_error(function() coroutine.resume(42) end)
    assert.has_error(function() coroutine.wrap(42) end)
    local ok, err = coroutine.resume(coroutine.running())
    assert.is_false(ok)
    assert.matches("non%-suspended", err)
  end)
end)
