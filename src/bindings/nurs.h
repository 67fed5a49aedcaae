/* The C module behind `require "nurs"` (lua/nurs/init.lua wraps it). */
#ifndef NURS_BINDINGS_NURS_H
#define NURS_BINDINGS_NURS_H

#include <lua.h>

#include "core/resource.h"

int luaopen_nurs_core(lua_State *L);

/* Each adds its constructor to the module table on top of the stack. */
void nurs_l_conntrack_open(lua_State *L);
void nurs_l_json_open(lua_State *L);
void nurs_l_metrics_open(lua_State *L);
void nurs_l_replay_open(lua_State *L);
void nurs_l_nflog_open(lua_State *L);
void nurs_l_pcap_open(lua_State *L);
void nurs_l_nfqueue_open(lua_State *L);
void nurs_l_exporter_open(lua_State *L);
void nurs_l_ct_table_open(lua_State *L);
void nurs_l_kafka_open(lua_State *L);
void nurs_l_shared_open(lua_State *L);
void nurs_l_statsd_open(lua_State *L);

/* :close() from Lua: a script being loaded only gives back what it
 * claimed; the owner destroys it. */
void nurs_l_release(lua_State *L, struct nurs_resource *r);

#endif
