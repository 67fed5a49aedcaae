-- Interfaces and direction of a connection from bits of its conntrack mark,
-- as nurs's MARKIF filter did: nft rules store the input and output
-- interface index in the mark when the connection starts, e.g.
--
--   ct state new ct mark set ct mark & 0xffff0000 | meta iif   (bits 0-7)
--   ...                                                        (bits 8-15: oif)
--
-- and the exporter gets ingressInterface, egressInterface and flowDirection:
--
--   local markif = require("nurs.markif").new {
--     ingress = "0xff", egress = "0xff00 >> 8", direction = 0x10000 }
--   exporter:export(rec, markif(rec))
--
-- The fields describe the original direction; the exporter swaps ingress
-- and egress and turns the direction for the reply's flow.
local M = {}

-- "0xff00 >> 8", or { mask = 0xff00, shift = 8 }, or a bare mask.
local function parse(spec, what)
  if spec == nil then return nil end
  local mask, shift
  if type(spec) == "table" then
    mask, shift = spec.mask, spec.shift or 0
  elseif type(spec) == "string" then
    local m, s = spec:match("^%s*(%w+)%s*>>%s*(%w+)%s*$")
    mask, shift = tonumber(m or spec), tonumber(s or "0")
  else
    mask, shift = spec, 0
  end
  if math.type(mask) ~= "integer" or math.type(shift) ~= "integer" or mask < 0
      or mask > 0xffffffff or shift < 0 or shift > 31 then
    error(string.format("markif: %s must be a mask, \"MASK >> SHIFT\" or {mask=, shift=}", what), 3)
  end
  return { mask = mask, shift = shift }
end

-- Returns function(rec) -> fields for exporter:export(rec, fields). The
-- table it returns is reused from call to call.
function M.new(opts)
  local ingress = parse(opts.ingress, "ingress")
  local egress = parse(opts.egress, "egress")
  local direction = opts.direction
  if direction ~= nil and math.type(direction) ~= "integer" then
    error("markif: direction is a mask (set: egress)", 2)
  end
  local out = {}
  return function(rec)
    local mark = rec.mark or 0   -- events leave a zero mark out
    if ingress then out.ingressInterface = (mark & ingress.mask) >> ingress.shift end
    if egress then out.egressInterface = (mark & egress.mask) >> egress.shift end
    if direction then out.flowDirection = (mark & direction) ~= 0 and 1 or 0 end
    return out
  end
end

return M
