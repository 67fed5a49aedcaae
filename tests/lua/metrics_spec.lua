-- nurs.metrics: option checking, script-defined metrics and their misuse,
-- and what a scraper gets (curl, run in the background while the loop
-- turns, so that the endpoint can answer).
local nurs = require "nurs"

local files = dofile("tests/lua/files.lua")
local tmpname = files.tmpname
local read = files.read

-- Runs curl with args against the endpoint in the background, turns the
-- loop until it is done (at most 5 s), returns its output (headers
-- included with -i).
local function fetch(m, args)
  local out, done = tmpname(), tmpname()
  os.execute(string.format("(curl -s -m 4 %s 'http://%s/metrics' >%s 2>&1; touch %s) &",
    args or "", m:address(), out, done))
  for _ = 1, 100 do
    nurs.run(0.05)
    if io.open(done) then break end
  end
  local s = read(out)
  os.remove(out)
  os.remove(done)
  return s
end

describe("nurs.metrics options", function()
  it("rejects unknown options and bad values with clear messages", function()
    local cases = {
      { { listn = "1" }, "unknown option 'listn'" },
      { { listen = "example.com:9464" }, "not an IP address" },
      { { listen = "::1:9464" }, "IPv6 address goes in brackets" },
      { { listen = "127.0.0.1:99999" }, "port must be 0..65535" },
      { { listen = 70000 }, "between 0 and 65535" },
      { { listen = true }, "must be a string" },
      { { max_connections = 0 }, "max_connections" },
      { { max_per_ip = 5000 }, "max_per_ip" },
      { { timeout = "10", listen = "127.0.0.1:0" }, nil },
      { { max_request = 100 }, "max_request" },
      { { max_series = 0 }, "max_series" },
      { { probe_interval = -1 }, "probe_interval" },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(nurs.metrics, c[1])
      if c[2] then
        assert.is_false(ok)
        assert.matches(c[2], err, 1, true)
      else
        -- "10" reads as a number, as everywhere in the options.
        assert.is_true(ok, err)
        err:close()
      end
    end
  end)

  it("says when the address is taken", function()
    local a = nurs.metrics { listen = "127.0.0.1:0" }
    local ok, err = pcall(nurs.metrics, { listen = a:address() })
    -- The same address again in one script is the same endpoint's key:
    -- a second socket cannot bind it.
    assert.is_false(ok)
    assert.matches("cannot listen on", err, 1, true)
    a:close()
  end)

  it("listens on IPv6 loopback too", function()
    local m = nurs.metrics { listen = "[::1]:0" }
    assert.matches("^%[::1%]:%d+$", m:address())
    local body = fetch(m, "-g")
    assert.matches("nurs_build_info{", body, 1, true)
    m:close()
  end)
end)

describe("script metrics", function()
  local m
  before_each(function() m = nurs.metrics { listen = "127.0.0.1:0", max_series = 3 } end)
  after_each(function() m:close() end)

  it("counts, sets and observes, with labels", function()
    local c = m:counter { name = "hits_total", help = "Hits.", labels = { "kind" } }
    local g = m:gauge { name = "level", help = "Level." }
    local h = m:histogram { name = "size_bytes", help = "Sizes.", buckets = { 10, 100 } }
    assert.is_true(c:inc(2, { kind = "a" }))
    assert.is_true(c:inc({ kind = "a" }))
    assert.is_true(c:inc(1, { kind = 7 })) -- numbers are label values too
    g:set(5); g:inc(); g:dec(3)
    h:observe(5); h:observe(50); h:observe(5000)
    assert.equals(3, c:get { kind = "a" })
    assert.equals(1, c:get { kind = "7" })
    assert.is_nil(c:get { kind = "never" })
    assert.equals(3, g:get())
    local count, sum = h:get()
    assert.equals(3, count)
    assert.equals(5055, sum)
    assert.equals("hits", c:name())
    local body = fetch(m)
    assert.matches('hits_total{kind="a"} 3\n', body, 1, true)
    assert.matches('level 3\n', body, 1, true)
    assert.matches('size_bytes_bucket{le="100"} 2\nsize_bytes_bucket{le="+Inf"} 3\n', body, 1, true)
  end)

  it("bounds label sets: past max_series a new one is refused and counted", function()
    local c = m:counter { name = "per_host", help = "x", labels = { "host" } }
    for i = 1, 3 do assert.is_true(c:inc(1, { host = "h" .. i })) end
    assert.is_false(c:inc(1, { host = "h4" }))
    assert.is_true(c:inc(1, { host = "h1" }))
    local body = fetch(m)
    assert.matches('nurs_metric_series_refused_total{metric="per_host"} 1', body, 1, true)
    local wide = m:counter { name = "wide", help = "x", labels = { "k" }, max_series = 10 }
    for i = 1, 10 do assert.is_true(wide:inc(1, { k = i })) end
    assert.is_false(wide:inc(1, { k = 11 }))
  end)

  it("refuses bad definitions with clear errors", function()
    local cases = {
      { "counter", { help = "x" }, "'name' is required" },
      { "counter", { name = "a-b" }, "invalid metric name 'a-b'" },
      { "counter", { name = "nurs_x" }, "prefix 'nurs_' is reserved" },
      { "gauge", { name = "x_total" }, "only counters end in _total" },
      { "gauge", { name = "x", labels = { "__x" } }, "invalid label name '__x'" },
      { "gauge", { name = "x", labels = "a" }, "'labels' must be a list" },
      { "gauge", { name = "x", labels = { 1 } }, "label names must be strings" },
      { "gauge", { name = "x", buckets = { 1 } }, "unknown option 'buckets'" },
      { "histogram", { name = "x", buckets = { 2, 1 } }, "increasing order" },
      { "histogram", { name = "x", buckets = { "a" } }, "buckets must be numbers" },
      { "histogram", { name = "x", labels = { "le" } }, "'le' is the histogram's own" },
      { "counter", { name = "x", colour = 1 }, "unknown option 'colour'" },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(m[c[1]], m, c[2])
      assert.is_false(ok, c[3])
      assert.matches(c[3], err, 1, true)
    end
    m:gauge { name = "taken", help = "x" }
    local ok, err = pcall(m.counter, m, { name = "taken", help = "x" })
    assert.is_false(ok)
    assert.matches("clashes", err, 1, true)
    -- The same definition again is the same metric, not an error.
    local a = m:counter { name = "again", help = "x" }
    local b = m:counter { name = "again_total", help = "x" }
    a:inc(); b:inc()
    assert.equals(2, a:get())
  end)

  it("refuses misuse of a metric with clear errors", function()
    local c = m:counter { name = "c", help = "x", labels = { "a", "b" } }
    local g = m:gauge { name = "g", help = "x" }
    local cases = {
      { function() c:inc() end, "needs its labels: a, ..." },
      { function() c:inc(1, { a = "x" }) end, "label 'b' is missing" },
      { function() c:inc(1, { a = "x", b = "y", z = "w" }) end, "has no label 'z'" },
      { function() c:inc(1, { a = {}, b = "y" }) end, "must be a string or a number" },
      { function() c:inc(-1, { a = "x", b = "y" }) end, "only goes up" },
      { function() c:inc("lots") end, "number expected" },
      { function() g:set() end, "number expected" },
      { function() g:set(1, "a") end, "table of labels expected" },
      { function() g:inc(1, { a = 1 }) end, "has no label 'a'" },
      { function() c.inc(g) end, "nurs.metrics.counter expected" },
    }
    for _, case in ipairs(cases) do
      local ok, err = pcall(case[1])
      assert.is_false(ok, case[2])
      assert.matches(case[2], err, 1, true)
    end
    assert.is_nil(g.observe)
  end)

  it("says a metric is gone once its endpoint is closed", function()
    local other = nurs.metrics { listen = "127.0.0.1:0" }
    local c = other:counter { name = "c", help = "x" }
    other:close()
    local ok, err = pcall(c.inc, c)
    assert.is_false(ok)
    assert.matches("metric 'c' is gone: its metrics endpoint was closed", err, 1, true)
    assert.has_error(function() other:counter { name = "d" } end, "metrics endpoint is closed")
  end)
end)

describe("the endpoint", function()
  local m
  before_each(function() m = nurs.metrics { listen = "127.0.0.1:0", name = "scrape" } end)
  after_each(function() m:close() end)

  it("answers GET and HEAD /metrics only, and counts what it refused", function()
    local get = fetch(m, "-i")
    assert.matches("^HTTP/1.1 200", get)
    assert.matches("Content%-Type: text/plain; version=0.0.4; charset=utf%-8", get)
    local head = fetch(m, "-I")
    assert.matches("^HTTP/1.1 200", head)
    assert.not_matches("nurs_build_info", head)
    local post = fetch(m, "-i -X POST -d x=1")
    assert.matches("^HTTP/1.1 405", post)
    assert.matches("Allow: GET, HEAD", post)
    local out, done = tmpname(), tmpname()
    os.execute(string.format("(curl -s -i 'http://%s/other' >%s; touch %s) &", m:address(), out, done))
    for _ = 1, 100 do nurs.run(0.05); if io.open(done) then break end end
    assert.matches("^HTTP/1.1 404", read(out))
    os.remove(out); os.remove(done)
    local c = m:counters()
    assert.equals(4, c["in"])
    assert.equals(2, c.delivered)
    assert.equals(1, c.not_allowed)
    assert.equals(1, c.not_found)
  end)

  it("speaks OpenMetrics when asked", function()
    local body = fetch(m, "-i -H 'Accept: application/openmetrics-text; version=1.0.0'")
    assert.matches("Content%-Type: application/openmetrics%-text; version=1.0.0", body)
    assert.matches("# TYPE nurs_resource_in counter\n", body, 1, true)
    assert.matches("# EOF\n$", body)
  end)

  it("shows every resource's counters with its labels", function()
    local src = nurs.conntrack { events = {}, name = "ct-a" }
    local out = nurs.json { path = tmpname(), name = "out" }
    local body = fetch(m)
    assert.matches('nurs_resource_in_total{resource="ct-a",kind="conntrack"} 0', body, 1, true)
    assert.matches('nurs_resource_in_total{resource="out",kind="json"} 0', body, 1, true)
    assert.matches('nurs_conntrack_rcvbuf{resource="ct-a",kind="conntrack"} ', body, 1, true)
    assert.matches('nurs_metrics_connections{resource="scrape",kind="metrics",listen="', body, 1, true)
    assert.matches("\nprocess_resident_memory_bytes %d+\n", body)
    assert.matches("\nprocess_open_fds %d+\n", body)
    assert.matches("\nprocess_start_time_seconds %d+", body)
    assert.matches("\nprocess_cpu_seconds_total [%d.e-]+\n", body)
    src:close()
    out:close()
  end)

  it("is bounded: a response larger than max_response is an error, counted", function()
    local small = nurs.metrics { listen = "127.0.0.1:0", max_response = 4096 }
    local g = small:gauge { name = "wide", help = "x", labels = { "k" }, max_series = 500 }
    for i = 1, 500 do g:set(i, { k = string.rep("v", 20) .. i }) end
    local body = fetch(small, "-i")
    assert.matches("^HTTP/1.1 500", body)
    assert.equals(1, small:counters().too_large)
    small:close()
  end)
end)
