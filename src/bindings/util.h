/* Small helpers shared by the Lua bindings. */
#ifndef NURS_BINDINGS_UTIL_H
#define NURS_BINDINGS_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include <lua.h>
#include <lauxlib.h>

/* Raises an error naming the first key of the table at idx that is not in
 * `allowed` (NULL-terminated): a typo in an option must not pass unseen. */
void nurs_check_options(lua_State *L, int idx, const char *fname, const char *const *allowed);
/* Option readers: the field of the options table at idx, or the default. */
bool nurs_opt_bool(lua_State *L, int idx, const char *fname, const char *key, bool def);
lua_Integer nurs_opt_int(lua_State *L, int idx, const char *fname, const char *key,
                         lua_Integer def, lua_Integer min, lua_Integer max);
lua_Number nurs_opt_number(lua_State *L, int idx, const char *fname, const char *key,
                           lua_Number def, lua_Number min, lua_Number max);
/* The optional options table of a constructor, `nurs.x([opts])`, at idx:
 * an empty one when none was given; its names checked against allowed. */
void nurs_l_opts_arg(lua_State *L, int idx, const char *fname, const char *const *allowed);
/* The arguments of a source constructor, `nurs.x([opts] [, callback])`:
 * leaves the options table at 1 (an empty one when none was given, the
 * callback possibly first), checks its names against allowed, and returns
 * the stack index of the callback, or 0. The callback is a function, or
 * also a sink taking conntrack entries in C when `sinks`. */
int nurs_l_source_args(lua_State *L, const char *fname, const char *const *allowed,
                       bool sinks);
/* Options given as one string mean {path = string}: the value at idx is
 * replaced by such a table. */
void nurs_opt_path_table(lua_State *L, int idx);
/* rcvbuf (default def) and rcvbuf_max (default the larger of def_max and
 * rcvbuf), as every netlink source takes them. */
void nurs_opt_rcvbuf(lua_State *L, int idx, const char *fname, int def, int def_max, int *rcvbuf,
                     int *rcvbuf_max);
/* The string stays valid while the options table is on the stack. */
const char *nurs_opt_string(lua_State *L, int idx, const char *fname, const char *key,
                            const char *def);

/* Registers a userdata class: metatable `name` whose __index is `methods`,
 * whose __tostring is `tostring` and whose __close is `close` (either may
 * be NULL). */
void nurs_l_new_class(lua_State *L, const char *name, const luaL_Reg *methods,
                      lua_CFunction tostring, lua_CFunction close);

/* The Lua handle of a source or sink: the resource belongs to a script,
 * not to the garbage collector; the handle only forgets it on :close(). */
struct nurs_resource;
#define NURS_L_HANDLE_MAGIC 0x6e7572732d68646cull /* "nurs-hdl" */
struct nurs_l_handle {
    uint64_t magic;
    const char *mt;          /* the metatable name it was made with */
    struct nurs_resource *r; /* NULL once closed from Lua */
};

void nurs_l_handle_push(lua_State *L, const char *mt, struct nurs_resource *r);
/* The handle at idx when it is a live sink that takes records of every
 * kind in `kinds` (NURS_RECORD_* bits) in C (an exporter, a JSON sink),
 * else NULL. */
struct nurs_l_handle *nurs_l_sink_test(lua_State *L, int idx, unsigned kinds);
/* Pushes a table of r's counters, its kind's own ones included. */
void nurs_counters_push(lua_State *L, const struct nurs_resource *r);
/* Checks that the value at idx can be a conntrack source's callback: a
 * function or such a sink. */
void nurs_l_check_ct_callback(lua_State *L, int idx);
/* The live resource of the handle at idx; raises "<what> is closed". */
struct nurs_resource *nurs_l_handle_check(lua_State *L, int idx, const char *mt, const char *what);
/* A sink's `shared` option (the options table at idx): in a worker loop,
 * the relay that stands for the main loop's sink (core/relay.h); NULL
 * when the sink is opened here (not shared, or on the main loop). */
struct nurs_resource *nurs_l_relay_for(lua_State *L, int idx, const char *fname,
                                       const char *kind, const char *name, unsigned flags);
/* Methods every handle has: counters, name, close, and __tostring. Each
 * takes its metatable name as upvalue 1 and a description as upvalue 2. */
void nurs_l_handle_class(lua_State *L, const char *mt, const char *what, const luaL_Reg *methods);

#endif
