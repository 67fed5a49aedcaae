# The BPF programs of process attribution: vmlinux.h generated from BTF,
# src/process/bpf/owner.bpf.c compiled by clang for the BPF target (CO-RE),
# and the skeleton that embeds the object in the binary (bpftool gen
# skeleton). Sets NURS_BPF_ENABLED and NURS_BPF_SKELETON.
set(NURS_BPF_ENABLED OFF)
if(NURS_BPF STREQUAL "OFF")
  message(STATUS "BPF process attribution: off (NURS_BPF=OFF); sock_diag only")
  return()
endif()

find_program(NURS_BPF_CLANG NAMES clang clang-16 clang-15 clang-14)
find_program(NURS_BPFTOOL bpftool PATHS /usr/sbin /sbin /usr/local/sbin)
pkg_check_modules(LIBBPF IMPORTED_TARGET libbpf>=0.7)
set(missing "")
if(NOT NURS_BPF_CLANG)
  list(APPEND missing "clang")
endif()
if(NOT NURS_BPFTOOL)
  list(APPEND missing "bpftool")
endif()
if(NOT LIBBPF_FOUND)
  list(APPEND missing "libbpf (libbpf-dev)")
endif()
if(NOT EXISTS ${NURS_BTF})
  list(APPEND missing "BTF (${NURS_BTF}; set NURS_BTF to a vmlinux with BTF)")
endif()
if(missing)
  list(JOIN missing ", " missing)
  if(NURS_BPF STREQUAL "ON")
    message(FATAL_ERROR "NURS_BPF=ON but missing: ${missing}")
  endif()
  message(STATUS "BPF process attribution: off (missing: ${missing}); sock_diag only")
  return()
endif()
set(NURS_BPF_ENABLED ON)
message(STATUS "BPF process attribution: on (${NURS_BPF_CLANG}, ${NURS_BPFTOOL}, "
               "libbpf ${LIBBPF_VERSION}, types from ${NURS_BTF})")

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|amd64")
  set(bpf_arch x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(bpf_arch arm64)
else()
  set(bpf_arch ${CMAKE_SYSTEM_PROCESSOR})
endif()
set(gen ${PROJECT_BINARY_DIR}/generated)
set(bpf_src ${PROJECT_SOURCE_DIR}/src/process/bpf)
set(bpf_werror "")
if(NURS_WERROR)
  set(bpf_werror -Werror)
endif()
set(bpf_includes "")
foreach(dir ${LIBBPF_INCLUDE_DIRS})
  list(APPEND bpf_includes -I${dir})
endforeach()

add_custom_command(
  OUTPUT ${gen}/vmlinux.h
  COMMAND ${CMAKE_COMMAND} -E make_directory ${gen}
  COMMAND ${CMAKE_COMMAND} -DBPFTOOL=${NURS_BPFTOOL} -DWHAT=vmlinux -DIN=${NURS_BTF}
          -DOUT=${gen}/vmlinux.h -P ${PROJECT_SOURCE_DIR}/cmake/bpftool_to_file.cmake
  COMMENT "Generating vmlinux.h from ${NURS_BTF}")
add_custom_command(
  OUTPUT ${gen}/owner.skel.h
  COMMAND ${NURS_BPF_CLANG} -target bpf -g -O2 -Wall ${bpf_werror} -D__TARGET_ARCH_${bpf_arch}
          -I${gen} -I${PROJECT_SOURCE_DIR}/src ${bpf_includes}
          -c ${bpf_src}/owner.bpf.c -o ${gen}/owner.bpf.o
  # Without the DWARF (the BTF stays): a smaller object in the binary.
  COMMAND ${NURS_BPFTOOL} gen object ${gen}/owner.o ${gen}/owner.bpf.o
  COMMAND ${CMAKE_COMMAND} -DBPFTOOL=${NURS_BPFTOOL} -DWHAT=skeleton -DIN=${gen}/owner.o
          -DOUT=${gen}/owner.skel.h -P ${PROJECT_SOURCE_DIR}/cmake/bpftool_to_file.cmake
  DEPENDS ${bpf_src}/owner.bpf.c ${bpf_src}/record.h ${gen}/vmlinux.h
          ${PROJECT_SOURCE_DIR}/cmake/bpftool_to_file.cmake
  COMMENT "Compiling the BPF programs (owner.bpf.c) and their skeleton")
set(NURS_BPF_SKELETON ${gen}/owner.skel.h)
