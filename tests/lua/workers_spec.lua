-- The Lua face of worker loops without a kernel: the `workers` and
-- `affinity` options (checked by `nurs-lua --check` in a child: a script
-- that plans workers would start them), nurs.worker on the main loop, and
-- nurs.shared. tests/kernel/workers.sh runs them for real.
local nurs = require "nurs"
local files = dofile("tests/lua/files.lua")

-- Runs `nurs-lua --check` on a script; its output and whether it passed.
local function check(source)
  local path = files.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(source)
  f:close()
  local p = assert(io.popen(string.format("%s --check %s 2>&1", assert(os.getenv("NURS")), path)))
  local out = p:read("a")
  local ok = p:close()
  os.remove(path)
  return out, ok
end

describe("workers", function()
  it("plans the worker loops on the main loop, which shows them in nurs.worker", function()
    local out, ok = check([[
      local nurs = require "nurs"
      print("before", nurs.worker.id, nurs.worker.count)
      local q = nurs.nfqueue({ queue = "4-7", workers = 3 }, function() end)
      print("queues", table.concat(q:queues(), ","))
      nurs.nflog({ groups = { 1, 2 }, workers = "auto" })
      print("after", nurs.worker.id, nurs.worker.count)
    ]])
    assert.is_true(ok, out)
    assert.matches("before\t0\t0", out)
    -- The main loop holds the whole list; each worker will bind its share.
    assert.matches("queues\t4,5,6,7", out)
    assert.matches("after\t0\t3", out)
  end)

  it("refuses a bad workers option, saying what it takes", function()
    local cases = {
      { "{ queue = 3, workers = 0 }", "option 'workers' is a number from 1 to 256" },
      { "{ queue = 3, workers = 'many' }", "option 'workers' is a number from 1 to 256 or \"auto\"" },
      { "{ queue = '3-4', workers = 3 }", "3 workers for 2 queues: each worker needs one at least" },
      { "{ queue = '3-4', workers = 2, affinity = 'yes' }", "option 'affinity' is true or a list of CPU numbers" },
      { "{ queue = '3-4', workers = 2, affinity = { -1 } }", "option 'affinity' lists CPU numbers" },
    }
    for _, c in ipairs(cases) do
      local out, ok = check('require("nurs").nfqueue(' .. c[1] .. ', function() end)')
      assert.is_falsy(ok, c[1])
      assert.matches(c[2], out, 1, true)
    end
    local out, ok = check([[
      local nurs = require "nurs"
      nurs.nfqueue({ queue = "0-1", workers = 2, affinity = { 0, 1 } }, function() end)
      nurs.nflog({ groups = { 1, 2 }, workers = 2, affinity = { 1, 0 } })
    ]])
    assert.is_falsy(ok)
    assert.matches("another source pins the workers to other CPUs", out, 1, true)
  end)

  it("keeps workers = 1 and \"auto\" on one CPU as without workers", function()
    local out, ok = check([[
      local nurs = require "nurs"
      nurs.nfqueue({ queue = 3, workers = "auto" }, function() end)
      nurs.nfqueue({ queue = 4, workers = 1 }, function() end)
      print("count", nurs.worker.count)
    ]])
    assert.is_true(ok, out)
    assert.matches("count\t0", out)
  end)
end)

describe("nurs.shared", function()
  it("adds, reads, replaces and takes counters", function()
    assert.equal(0, nurs.shared.get("spec absent"))
    assert.equal(1, nurs.shared.add("spec a"))
    assert.equal(6, nurs.shared.add("spec a", 5))
    assert.equal(4, nurs.shared.add("spec a", -2))
    assert.equal(4, nurs.shared.set("spec a", 10))
    assert.equal(10, nurs.shared.take("spec a"))
    assert.equal(0, nurs.shared.get("spec a"))
    nurs.shared.add("spec b", 2)
    local all = nurs.shared.all("spec ")
    assert.same({ ["spec a"] = 0, ["spec b"] = 2 }, all)
    local st = nurs.shared.stats()
    assert.is_true(st.keys >= 2)
    assert.equal(12288, st.capacity)
  end)

  it("refuses keys over 63 bytes", function()
    local ok, err = pcall(nurs.shared.add, string.rep("k", 64))
    assert.is_false(ok)
    assert.matches("shared keys are at most 63 bytes", err, 1, true)
    assert.equal(1, nurs.shared.add(string.rep("k", 63)))
  end)
end)
