# cmake -DBPFTOOL=... -DWHAT=vmlinux|skeleton -DIN=... -DOUT=... -P bpftool_to_file.cmake
# Runs bpftool with its standard output to OUT (written whole or not at all).
if(WHAT STREQUAL "vmlinux")
  set(args btf dump file ${IN} format c)
else()
  set(args gen skeleton ${IN} name nurs_owner_bpf)
endif()
execute_process(COMMAND ${BPFTOOL} ${args} OUTPUT_FILE ${OUT}.tmp RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(REMOVE ${OUT}.tmp)
  message(FATAL_ERROR "bpftool ${args}: ${rc}")
endif()
file(RENAME ${OUT}.tmp ${OUT})
