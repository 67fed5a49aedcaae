-- Files nurs-lua writes cannot be redirected or read by another local
-- user: a planted symbolic link, a file another user made beforehand, a
-- file others may write are refused with a clear message and left as they
-- were, for the JSON and pcap sinks, IPFIX files, ring dumps and
-- --record; new files get mode 0640 (or the one asked for); a file
-- removed while open is made again.
local nurs = require "nurs"
local files = dofile("tests/lua/files.lua")

local NURS = assert(os.getenv("NURS"), "run through scripts/test-all.sh (NURS=path/to/nurs-lua)")
local FIXTURE = "tests/c/fixtures/nflog.pcap"

local sh = files.sh

local read = files.read

local put = files.put

local function mode_of(path) return (sh("stat -c %a " .. path):gsub("%s", "")) end

-- Each way of opening a file for writing, given its path and options.
local OPENERS = {
  json = function(path, opts)
    local o = { path = path }
    for k, v in pairs(opts or {}) do o[k] = v end
    local s = nurs.json(o)
    s:write({ hello = "world" })
    s:flush()
    return s
  end,
  pcap = function(path, opts)
    local o = { path = path }
    for k, v in pairs(opts or {}) do o[k] = v end
    return nurs.pcap(o)
  end,
  ipfix = function(path, opts)
    local o = { collector = "file://" .. path, templates = { ipv4 = { "sourceIPv4Address" } } }
    for k, v in pairs(opts or {}) do o[k] = v end
    return nurs.ipfix(o)
  end,
  ring_dump = function(path, opts)
    local o = { ring_size = 1 << 20 }
    for k, v in pairs(opts or {}) do o[k] = v end
    local s = nurs.pcap(o)
    local ok, err = pcall(s.dump, s, path)
    s:close()
    if not ok then error(err, 0) end
    return nil
  end,
}

describe("safe files", function()
  local dir
  before_each(function()
    dir = files.tmpname()
    assert(os.execute("mkdir -m 755 " .. dir))
  end)
  after_each(function() os.execute("rm -rf " .. dir) end)

  for name, open in pairs(OPENERS) do
    describe(name, function()
      it("refuses to follow a planted symbolic link; the target is untouched", function()
        local victim = dir .. "/victim"
        put(victim, "secret\n")
        os.execute("chmod 600 " .. victim)
        assert(os.execute("ln -s " .. victim .. " " .. dir .. "/out"))
        local ok, err = pcall(open, dir .. "/out")
        assert.is_false(ok)
        assert.matches("symbolic link", err)
        assert.equals("secret\n", read(victim))
        assert.equals("600", mode_of(victim))
      end)

      it("refuses a file another user made beforehand; it is untouched", function()
        local path = dir .. "/out"
        put(path, "theirs\n")
        os.execute("chown 65534 " .. path .. " && chmod 600 " .. path)
        local ok, err = pcall(open, path)
        assert.is_false(ok)
        assert.matches("belongs to uid 65534", err)
        assert.matches("allow_foreign", err)
        assert.equals("theirs\n", read(path))
      end)

      it("refuses a file others may write", function()
        local path = dir .. "/out"
        put(path, "")
        os.execute("chmod 666 " .. path)
        local ok, err = pcall(open, path)
        assert.is_false(ok)
        assert.matches("writable by group or others", err)
      end)

      it("makes new files 0640, or with the mode asked for", function()
        local s = open(dir .. "/a")
        if s then s:close() end
        assert.equals("640", mode_of(dir .. "/a"))
        s = open(dir .. "/b", { mode = "0600" })
        if s then s:close() end
        assert.equals("600", mode_of(dir .. "/b"))
      end)
    end)
  end

  it("allow_foreign = true writes a file another user made", function()
    local path = dir .. "/out"
    put(path, "")
    os.execute("chown 65534 " .. path)
    local s = OPENERS.json(path, { allow_foreign = true })
    s:close()
    assert.matches('"hello"', read(path))
  end)

  it("a mode others may write is an error at load", function()
    local ok, err = pcall(nurs.json, { path = dir .. "/x", mode = "0666" })
    assert.is_false(ok)
    assert.matches("must not let group or others write", err)
  end)

  it("ring:dump leaves no temporary file and replaces an old dump of ours", function()
    local s = nurs.pcap { ring_size = 1 << 20 }
    put(dir .. "/dump.pcap", "old")
    os.execute("chmod 600 " .. dir .. "/dump.pcap")
    assert.equals(0, s:dump(dir .. "/dump.pcap"))
    s:close()
    assert.equals(24, #read(dir .. "/dump.pcap"))
    assert.equals("dump.pcap\n", sh("ls " .. dir))
  end)

  it("a JSON file removed while open is made again at the next flush", function()
    local path = dir .. "/gone.json"
    local s = nurs.json { path = path }
    s:write({ n = 1 })
    s:flush()
    os.remove(path)
    s:write({ n = 2 })
    s:flush()
    local c = s:counters()
    s:close()
    assert.equals('{"n":2}\n', read(path))
    assert.equals(1, c.reopened)
  end)

  it("a pcap file removed while open is made again, with its header", function()
    local path = dir .. "/gone.pcap"
    local s = nurs.pcap { path = path }
    local n = 0
    local r = nurs.replay({ path = FIXTURE }, function(rec)
      n = n + 1
      s:write(rec)
      if n == 10 then
        s:flush()
        os.remove(path)
      end
    end)
    nurs.run(10)
    r:close()
    s:close()
    local out = sh("tcpdump -r " .. path .. " 2>&1 >/dev/null")
    assert.is_falsy(out:find("truncated") or out:find("cut short"), out)
    local count = tonumber((sh("tcpdump -r " .. path .. " 2>/dev/null | wc -l")))
    assert.equals(49 - 10, count)
  end)

  describe("--record", function()
    local script
    before_each(function()
      script = dir .. "/rec.lua"
      put(script, [[
local nurs = require "nurs"
nurs.conntrack(function() end)
nurs.after(0.2, nurs.stop)
]])
    end)

    local function run(path)
      return sh(string.format("unshare -n %s --record %s %s 2>&1", NURS, path, script))
    end

    it("refuses a planted symbolic link and a foreign file", function()
      local victim = dir .. "/victim"
      put(victim, "secret\n")
      assert(os.execute("ln -s " .. victim .. " " .. dir .. "/rec.pcap"))
      local out, code = run(dir .. "/rec.pcap")
      assert.is_not.equals(0, code)
      assert.matches("symbolic link", out)
      assert.equals("secret\n", read(victim))
      local theirs = dir .. "/theirs.pcap"
      put(theirs, "theirs\n")
      os.execute("chown 65534 " .. theirs)
      out, code = run(theirs)
      assert.is_not.equals(0, code)
      assert.matches("belongs to uid 65534", out)
      assert.equals("theirs\n", read(theirs))
    end)

    it("makes its file 0640, a valid empty recording", function()
      local out, code = run(dir .. "/new.pcap")
      assert.equals(0, code, out)
      assert.equals("640", mode_of(dir .. "/new.pcap"))
      assert.equals(24, #read(dir .. "/new.pcap"))
    end)
  end)
end)
