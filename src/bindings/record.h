/* Records seen from Lua: one engine for every record kind. A view is a
 * userdata that borrows a record's message for one delivery; its class
 * (records/record.h) names the fields and walks them. Field access,
 * :totable(), the JSON sink and the pcap sink all go through the class,
 * so they agree on which fields exist and how each is spelled. Once the
 * delivery ends the view is expired and every access raises "record used
 * after its callback; call :totable() to keep it". */
#ifndef NURS_BINDINGS_RECORD_H
#define NURS_BINDINGS_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "records/record.h"

#define NURS_L_VIEW_MAGIC 0x6e7572732d726563ull /* "nurs-rec" */

/* Small: one is made per record delivered to Lua, and the collector's
 * work grows with the bytes. */
struct nurs_l_view {
    uint64_t magic;
    const struct nurs_record_class *cls;
    /* NULL once expired. A part of a record (cls->part: rec.orig)
     * borrows through its record's view, which this points at, and
     * expires with it; its arg is in its state. */
    const void *data;
    _Alignas(8) unsigned char state[]; /* cls->state_size bytes */
};

/* Registers cls's metatable in L (found by the class's address): the
 * common methods (totable; payload and packet for packet records) plus
 * `methods` (may be NULL). Once per Lua state and class. */
void nurs_l_record_class(lua_State *L, const struct nurs_record_class *cls,
                         const luaL_Reg *methods);
/* Registers the classes every script has (conntrack and its directions,
 * NFLOG, NFQUEUE). */
void nurs_l_records_open(lua_State *L);

/* Pushes a view of data; the caller expires it when done. */
struct nurs_l_view *nurs_l_view_push(lua_State *L, const struct nurs_record_class *cls,
                                     const void *data);
static inline void nurs_l_view_expire(struct nurs_l_view *v) { v->data = NULL; }
static inline const void *nurs_l_view_data(const struct nurs_l_view *v)
{
    return v->cls->part ? ((const struct nurs_l_view *)v->data)->data : v->data;
}
/* What the class's walkers read of v. */
static inline struct nurs_field_src nurs_l_view_src(struct nurs_l_view *v)
{
    int arg = 0;
    if (v->cls->part)
        memcpy(&arg, v->state, sizeof arg);
    return (struct nurs_field_src){.data = nurs_l_view_data(v), .arg = arg, .state = v->state};
}

/* The view at idx, live or expired; NULL when the value is not one.
 * Never raises. */
struct nurs_l_view *nurs_l_view_to(lua_State *L, int idx);
/* The live view at idx of class cls (NULL: any class); raises a type
 * error or, for an expired one, the use-after-callback error. */
struct nurs_l_view *nurs_l_view_check(lua_State *L, int idx, const struct nurs_record_class *cls);

/* The data of the view at idx when it is a view of class cls, else NULL;
 * raises the use-after-callback error for an expired one. */
const void *nurs_l_record_test(lua_State *L, int idx, const struct nurs_record_class *cls);

/* Pushes rec's view on L (popped when the delivery ends,
 * nurs_record_end()); returns its stack index. The message handler of
 * protected calls lies just below it, for the calls that pass the view. */
int nurs_l_record_view_push(lua_State *L, struct nurs_record *rec);
/* The stack index of rec's view in L, pushed on first use. */
static inline int nurs_l_record_view(lua_State *L, struct nurs_record *rec)
{
    return rec->view ? rec->view_slot : nurs_l_record_view_push(L, rec);
}

/* Emitter that builds Lua values on the stack. */
struct nurs_lua_emit {
    lua_State *L;
    int depth;
    const char *keys[8];
    lua_Integer next_index[8];
};
extern const struct nurs_emit nurs_lua_emitter;

#endif
