/* nurs.every / nurs.after: libuv timers that call Lua, owned by the script
 * that made them and closed with it. */
#ifndef NURS_BINDINGS_TIMER_H
#define NURS_BINDINGS_TIMER_H

#include <lua.h>

struct nurs_lua_script;

int nurs_l_every(lua_State *L);
int nurs_l_after(lua_State *L);
void nurs_timer_open(lua_State *L);
void nurs_timers_close_all(struct nurs_lua_script *s);

#endif
