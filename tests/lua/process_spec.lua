-- Process attribution seen from a script: the `process` option, record
-- fields, src:attribute(rec, fn) and the reasons counted when an end has no
-- process. Against the real kernel in a private namespace (needs root).
local nurs = require "nurs"
local netns = dofile("tests/lua/netns.lua")

local sh, run_until = netns.sh, netns.run_until
local NS, nsx = netns.new("nurs-pspec-")

local tmpname = dofile("tests/lua/files.lua").tmpname

-- In the background: a process named NAME holds both ends of a TCP
-- connection to PORT for `secs` seconds; its pid goes to the file returned.
local function hold_connection(name, port, secs)
  local pidfile = tmpname()
  local py = ([[
import os, socket, time
open('/proc/self/comm', 'w').write('%s')
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', %d)); s.listen(1)
c = socket.create_connection(('127.0.0.1', %d)); a, _ = s.accept()
c.send(b'x'); a.recv(1)
open('%s.tmp', 'w').write(str(os.getpid())); os.rename('%s.tmp', '%s')
time.sleep(%g)
]]):format(name, port, port, pidfile, pidfile, pidfile, secs)
  sh(("ip netns exec %s timeout 20 python3 -c \"%s\" >/dev/null 2>&1 &"):format(NS, py:gsub('"', '\\"')))
  return pidfile
end

local function read_pid(path)
  local f = io.open(path)
  if not f then return nil end
  local pid = tonumber(f:read("a"))
  f:close()
  return pid
end

describe("process attribution", function()
  setup(function() netns.make(NS) end)
  teardown(function() netns.remove(NS) end)

  it("checks its option", function()
    local function fails(pattern, opts)
      local ok, err = pcall(nurs.conntrack, opts)
      assert.is_false(ok)
      assert.matches(pattern, err)
    end
    fails("option 'process': \"auto\", \"bpf\" or \"sockdiag\", not \"yes\"", { netns = NS, process = "yes" })
    fails("option 'process.mode'", { netns = NS, process = { mode = "ebpf" } })
    fails("option 'ring' must be between", { netns = NS, process = { ring = 1 } })
    fails("option 'cmdline' must be between 0 and 4096", { netns = NS, process = { cmdline = 5000 } })
    fails("unknown option 'pid'", { netns = NS, process = { pid = true } })
    fails("option 'process' must be", { netns = NS, process = 1 })
    local ok = pcall(nurs.replay, { path = "/nonexistent", process = {} })
    assert.is_false(ok) -- the file, not the option, is what is wrong
  end)

  it("names the process at both ends, on records and through src:attribute", function()
    local answer, destroy
    local ct
    ct = nurs.conntrack({ netns = NS, events = { "new", "destroy" } }, function(rec)
      if rec.proto ~= "tcp" or rec.orig.dport ~= 35000 then return end
      if rec.event == "new" then
        assert.is_nil(rec.orig.process) -- attribution is off: only on demand
        assert.is_true(ct:attribute(rec, function(t) answer = t end))
      elseif rec.event == "destroy" then
        destroy = rec:totable()
        destroy.local_process = rec.process -- a copy already, like every table a record gives
      end
    end)
    local pidfile = hold_connection("nurs-spec-cli", 35000, 3)
    assert.is_true(run_until(function() return answer ~= nil and read_pid(pidfile) ~= nil end, 10))
    local pid = read_pid(pidfile)
    assert.equals(pid, answer.orig.process.pid)
    assert.equals("nurs-spec-cli", answer.orig.process.name)
    assert.equals("attributed", answer.orig.why)
    assert.equals(pid, answer.reply.process.pid) -- the server end is the same process
    assert.equals(0, answer.orig.process.uid)
    assert.equals("root", answer.orig.process.user)
    assert.matches("python3", answer.orig.process.cmdline)
    assert.is_number(answer.orig.process.fd)
    assert.equals(pid, answer.process.pid)
    -- Ended by hand while the process lives; the answer stays until DESTROY.
    nsx("conntrack -D -p tcp --dport 35000 >/dev/null 2>&1")
    assert.is_true(run_until(function() return destroy ~= nil end, 5))
    assert.equals(pid, destroy.orig.process.pid)
    assert.equals(pid, destroy.reply.process.pid)
    assert.equals("nurs-spec-cli", destroy.reply.process.name)
    assert.equals(pid, destroy.local_process.pid)
    local c = ct:counters()
    assert.equals(2, c.process_attributed)
    assert.equals(0, c.process_connections) -- forgotten at DESTROY
    ct:close()
    os.remove(pidfile)
  end)

  it("says why an end has no process", function()
    local whys = {}
    local ct
    -- sock_diag and /proc: a process that exited is not found (BPF, below, names it).
    ct = nurs.conntrack({ netns = NS, events = { "new" }, process = "sockdiag" }, function(rec)
      local key = rec.proto .. ":" .. tostring(rec.orig.dport or rec.orig.type)
      if rec.orig.dport == 36000 or rec.orig.dport == 36001 or rec.proto == "icmp" then
        local ok = ct:attribute(rec, function(t) whys[key] = { t.orig.why, t.reply.why } end)
        assert.is_true(ok)
      end
    end)
    -- Not local: forwarded traffic, as far as this host is concerned.
    nsx("conntrack -I -s 192.0.2.1 -d 198.51.100.1 -p tcp --sport 1234 --dport 36000 "
      .. "--state ESTABLISHED -t 30 -u SEEN_REPLY >/dev/null 2>&1")
    -- Local, but nobody listens at the far end; the sender is gone too.
    nsx("python3 -c \"import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', 36001))\"")
    nsx("ping -c 1 -W 1 127.0.0.1 >/dev/null")
    assert.is_true(run_until(function()
      return whys["tcp:36000"] ~= nil and whys["udp:36001"] ~= nil and whys["icmp:8"] ~= nil
    end, 10))
    assert.same({ "remote", "remote" }, whys["tcp:36000"])
    assert.same({ "no_socket", "no_socket" }, whys["udp:36001"])
    assert.same({ "unsupported", "unsupported" }, whys["icmp:8"])
    local c = ct:counters()
    assert.is_true(c.process_remote >= 2)
    assert.is_true(c.process_no_socket >= 2)
    assert.is_true(c.process_unsupported >= 2)
    assert.equals(0, c.process_failed)
    ct:close()
  end)

  it("names a sender that exited before anyone looked, with BPF", function()
    local answer
    local ct
    local ok, err = pcall(nurs.conntrack, { netns = NS, events = { "new" }, process = "bpf" },
      function(rec)
        if rec.orig.dport == 36002 then
          ct:attribute(rec, function(t) answer = t end)
        end
      end)
    if not ok and err:match("built without BPF") then
      pending("nurs-lua was built without BPF")
      return
    end
    assert(ok, err)
    ct = err
    nsx("python3 -c \"import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', 36002))\"")
    assert.is_true(run_until(function() return answer ~= nil end, 10))
    assert.equals("attributed", answer.orig.why)
    assert.equals("python3", answer.orig.process.name)
    assert.equals(answer.orig.process.pid, answer.orig.process.tid)
    assert.is_number(answer.orig.process.ppid)
    assert.is_nil(answer.orig.process.fd) -- BPF sees no descriptor
    assert.equals("no_socket", answer.reply.why)
    local c = ct:counters()
    assert.equals(1, c.process_bpf)
    assert.is_true(c.process_bpf_records >= 1)
    assert.equals(0, c.process_bpf_dropped)
    ct:close()
  end)
end)
