# Writes OUTPUT: a C file holding every Lua module under LUA_DIR (lua/nurs/
# x.lua becomes module "nurs.x", nurs/init.lua "nurs"), so that the binary
# runs from anywhere without its module directory.
# cmake -DLUA_DIR=... -DOUTPUT=... -P embed_lua.cmake
include(${CMAKE_CURRENT_LIST_DIR}/embed_common.cmake)
file(GLOB_RECURSE modules RELATIVE "${LUA_DIR}" "${LUA_DIR}/*.lua")
list(SORT modules)
set(body "/* Generated from lua/ by cmake/embed_lua.cmake; do not edit. */\n")
string(APPEND body "#include \"bindings/embedded.h\"\n\n")
set(table "")
set(i 0)
foreach(rel ${modules})
  nurs_c_bytes("${LUA_DIR}/${rel}" hex)
  string(REGEX REPLACE "\\.lua$" "" name "${rel}")
  string(REGEX REPLACE "/init$" "" name "${name}")
  string(REPLACE "/" "." name "${name}")
  string(APPEND body "static const char module_${i}[] = {\n    ${hex}0};\n")
  string(APPEND table "    {\"${name}\", \"@${rel}\", module_${i}, sizeof module_${i} - 1},\n")
  math(EXPR i "${i} + 1")
endforeach()
string(APPEND body "\nconst struct nurs_embedded_module nurs_embedded_modules[] = {\n${table}    {0, 0, 0, 0},\n};\n")
nurs_write_if_changed("${OUTPUT}" "${body}")
