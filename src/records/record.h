/* Records: what a source hands its consumers, and the class table of each
 * record kind that every reader of records (Lua views, the JSON sink,
 * :totable()) goes through.
 *
 * A record borrows one decoded message for one delivery. A consumer that
 * shows it to a script makes a view of it (the bindings' Lua userdata) on
 * first use and shares it with the consumers after it; when the delivery
 * ends the view is expired, so nothing can read the source's buffer
 * afterwards. */
#ifndef NURS_RECORDS_RECORD_H
#define NURS_RECORDS_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include "records/emit.h"

enum nurs_record_kind {
    NURS_RECORD_CT = 1u << 0,    /* data: struct nurs_ct_msg */
    NURS_RECORD_NFLOG = 1u << 1, /* data: struct nurs_nflog_msg */
    NURS_RECORD_NFQ = 1u << 2,   /* data: struct nurs_nfq_packet */
    NURS_RECORD_EXP = 1u << 3,   /* data: struct nurs_exp_msg */
};

struct nurs_record {
    enum nurs_record_kind kind;
    void *data;
    /* The view, if a consumer made one, and how to end it. */
    void *view;
    void *view_ctx;
    int view_slot;
    void (*view_end)(struct nurs_record *rec);
};

/* Ends the delivery: the view (if any) is expired. */
static inline void nurs_record_end(struct nurs_record *rec)
{
    if (rec->view_end)
        rec->view_end(rec);
    rec->view = NULL;
    rec->view_end = NULL;
}

/* What a class's walkers read: the message, which part of it (a
 * sub-record's: a conntrack direction), and the view's own state. */
struct nurs_field_src {
    const void *data;
    int arg;
    void *state; /* state_size bytes, zeroed when the view was made */
};

struct nurs_packet_meta; /* records/packet.h */

/* One record kind: its fields (a field is its index) and their walkers. */
struct nurs_record_class {
    const char *what; /* "conntrack record": in messages */
    int count;
    const char *(*name)(int f);
    /* Emits field f under its name; false (nothing emitted) if absent. */
    bool (*emit_field)(const struct nurs_field_src *src, int f, const struct nurs_emit *e,
                       void *ctx);
    /* Emits the record's whole (rec:totable(), JSON): every field present
     * that belongs to it, in a fixed order. */
    void (*emit_all)(const struct nurs_field_src *src, const struct nurs_emit *e, void *ctx);
    /* Optional: field f is a record of its own (rec.orig). Returns -1 for
     * a plain field; else the sub-record's arg, with *cls its class, or
     * NULL when the message has none. */
    int (*sub)(const void *data, int f, const struct nurs_record_class **cls);
    int n_subs; /* distinct args sub() returns: 0..n_subs-1 */
    bool part;  /* a sub-record (rec.orig): its view borrows through its record's */
    size_t state_size;
    /* Packet records: their source's part (NULL for other kinds). */
    const struct nurs_packet_meta *packet;
};

/* The largest state_size of any class. */
#define NURS_RECORD_STATE_MAX 512

/* What every expired record (of any kind) raises. */
extern const char nurs_record_expired_msg[];

/* Emits the whole of a record of class cls without a view (the JSON sink
 * as a callback). */
void nurs_record_emit(const struct nurs_record_class *cls, const void *data,
                      const struct nurs_emit *e, void *ctx);

#endif
