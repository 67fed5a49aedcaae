# Helpers of the embed_*.cmake scripts.

# Sets var to the bytes of file as a C initializer list ("0x2d,0x2d,...").
function(nurs_c_bytes file var)
  file(READ "${file}" hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n    " hex "${hex}")
  set(${var} "${hex}" PARENT_SCOPE)
endfunction()

# Writes body to output only when it changes, so an unchanged tree
# rebuilds nothing.
function(nurs_write_if_changed output body)
  set(old "")
  if(EXISTS "${output}")
    file(READ "${output}" old)
  endif()
  if(NOT old STREQUAL body)
    file(WRITE "${output}" "${body}")
  endif()
endfunction()
