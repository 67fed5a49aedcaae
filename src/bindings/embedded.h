/* The Lua modules of lua/ compiled into the binary (cmake/embed_lua.cmake
 * generates the table), found by `require` before any file unless
 * NURS_LUA_DIR names a directory to take them from instead. */
#ifndef NURS_BINDINGS_EMBEDDED_H
#define NURS_BINDINGS_EMBEDDED_H

#include <stddef.h>

#include <lua.h>

struct nurs_embedded_module {
    const char *name;  /* as require names it: "nurs", "nurs.markif" */
    const char *chunk; /* the chunk name errors and tracebacks show */
    const char *source;
    size_t len;
};

/* Ends with an entry whose name is NULL. */
extern const struct nurs_embedded_module nurs_embedded_modules[];

/* Adds a searcher for the embedded modules to package.searchers: right
 * after package.preload's (they win over files), or last when files
 * should win (an explicit module directory). */
void nurs_embedded_install(lua_State *L, int files_first);

#endif
