/* The conntrack record seen from Lua: a userdata that borrows a decoded
 * message for the duration of one callback. Once the callback returns the
 * record is expired and every access raises an error; the data a script
 * wants to keep it copies with rec:totable(). */
#ifndef NURS_BINDINGS_CT_RECORD_H
#define NURS_BINDINGS_CT_RECORD_H

#include <stdbool.h>
#include <stdint.h>

#include <lua.h>

#include "records/ct_fields.h"
#include "netlink/ct_msg.h"

#define NURS_CT_RECORD_MT "nurs.ct_record"

#define NURS_CT_RECORD_MAGIC 0x6e7572732d637472ull /* "nurs-ctr" */

struct nurs_record {
    uint64_t magic;
    struct nurs_ct_msg *msg; /* NULL once expired */
};

/* What every expired record (of any kind) raises. */
extern const char nurs_record_expired_msg[];

void nurs_record_open(lua_State *L);
/* Pushes a record borrowing m; the caller expires it when done. */
struct nurs_record *nurs_record_push(lua_State *L, struct nurs_ct_msg *m);
static inline void nurs_record_expire(struct nurs_record *r) { r->msg = NULL; }
/* The message of the record at idx; NULL if idx is not a record.
 * Raises the use-after-callback error if it is an expired one. */
struct nurs_ct_msg *nurs_record_test(lua_State *L, int idx);

/* Emitter that builds Lua values on the stack (rec:totable() and field
 * access use it; other record kinds can too). */
struct nurs_lua_emit {
    lua_State *L;
    int depth;
    const char *keys[8];
    lua_Integer next_index[8];
};
extern const struct nurs_emit nurs_lua_emitter;

#endif
