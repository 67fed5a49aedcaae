-- pandoc filter for the man pages: in a pipe table a "|" inside code must
-- be written "\|" (GitHub reads it so), but pandoc 2.17 keeps the
-- backslash in code; the man page shows the bare "|".
function Code(el)
  el.text = el.text:gsub("\\|", "|")
  return el
end
