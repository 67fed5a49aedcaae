/* The packet record seen from Lua, shared by the packet sources (NFLOG,
 * NFQUEUE): a userdata that borrows one packet and its source's metadata
 * for the duration of one callback, with the expiry rule of conntrack
 * records (every access after the callback raises "record used after its
 * callback; call :totable() to keep it").
 *
 * Its fields are the source's metadata (prefix, group... or packet id,
 * queue...) followed by the packet views of pkt_fields.h. A source plugs
 * its metadata in with a struct nurs_pkt_meta_ops, gets its own class
 * (metatable) with nurs_pkt_record_class(), and may add methods to it
 * (verdicts). :totable(), the JSON sink and field access all go through
 * the same two walkers. */
#ifndef NURS_BINDINGS_PKT_RECORD_H
#define NURS_BINDINGS_PKT_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include <lauxlib.h>
#include <lua.h>

#include "records/ct_fields.h"
#include "netlink/packet.h"

/* Fill it with designated initializers: optional members may be added. */
struct nurs_pkt_meta_ops {
    /* The source's own field names; none may be a packet field name. */
    const char *const *names;
    int count;
    /* names[0, walked) appear in :totable() and JSON, in that order;
     * the rest are only readable (numeric twins of other fields...). */
    int walked;
    /* Emits field i of meta under names[i]; false (nothing emitted) when
     * the message does not carry it. */
    bool (*emit)(const void *meta, int field, const struct nurs_emit *e, void *ctx);
    /* Optional: the family to report when the packet is not IP (or none
     * was copied), e.g. "arp" or "ipv4" from the message header; NULL when
     * unknown. */
    const char *(*family)(const void *meta);
    /* Optional, for the pcap sink: when the packet was seen, in ns since
     * the epoch (without it, the time the sink wrote it). */
    uint64_t (*timestamp_ns)(const void *meta);
    /* Optional, for pcap's LINKTYPE_NFLOG: the message's NFLOG attributes
     * (the netlink TLVs after its nfgenmsg), family and group. Without it
     * the sink writes the packet and its time only. */
    bool (*nflog_attrs)(const void *meta, uint8_t *family, uint16_t *group, const void **attrs,
                        size_t *len);
};

struct nurs_pkt_class {
    const char *mt;   /* metatable name, e.g. "nurs.nflog_record" */
    const char *what; /* in messages: "nflog record" */
    const struct nurs_pkt_meta_ops *meta;
    /* Bytes reserved after each record for the source (see
     * nurs_pkt_record_extra); they stay readable after expiry. */
    size_t extra_size;
};

struct nurs_pkt_record {
    const struct nurs_pkt_class *cls;
    const void *meta; /* NULL once expired */
    const void *data;
    size_t len;
    enum nurs_pkt_l3 hint;
    bool parsed;
    struct nurs_pkt pkt; /* valid once parsed */
};

/* Registers cls's metatable in L: the common methods (totable, payload,
 * packet) plus `methods` (may be NULL). Once per Lua state and class. */
void nurs_pkt_record_class(lua_State *L, const struct nurs_pkt_class *cls,
                           const luaL_Reg *methods);

/* Pushes a record borrowing meta and the len packet bytes at data (which
 * start at the network header); the caller expires it when done. */
struct nurs_pkt_record *nurs_pkt_record_push(lua_State *L, const struct nurs_pkt_class *cls,
                                             const void *meta, const void *data, size_t len,
                                             enum nurs_pkt_l3 hint);
static inline void nurs_pkt_record_expire(struct nurs_pkt_record *r) { r->meta = NULL; }
static inline bool nurs_pkt_record_live(const struct nurs_pkt_record *r) { return r->meta != NULL; }
static inline void *nurs_pkt_record_extra(struct nurs_pkt_record *r) { return r + 1; }

/* The packet record (of any class) at idx, live or expired; NULL when the
 * value is not one. Never raises. */
struct nurs_pkt_record *nurs_pkt_record_to(lua_State *L, int idx);
/* The live packet record at idx; raises a type error or, for an expired
 * one, the use-after-callback error. */
struct nurs_pkt_record *nurs_pkt_record_check(lua_State *L, int idx);

/* The packet view, parsed on first use. */
const struct nurs_pkt *nurs_pkt_record_view(struct nurs_pkt_record *r);

/* Emits every field present (metadata, then the packet views) into an
 * object the caller opened. */
void nurs_pkt_record_emit(struct nurs_pkt_record *r, const struct nurs_emit *e, void *ctx);

#endif
