/* The record fields of a conntrack entry, named as conntrack-tools names
 * them, and one walker over them shared by every consumer (Lua field
 * access, rec:totable(), the JSON sink), so that all of them agree on which
 * fields exist and how each is spelled. */
#ifndef NURS_RECORDS_CT_FIELDS_H
#define NURS_RECORDS_CT_FIELDS_H

#include <stdbool.h>
#include <stddef.h>

#include "netlink/ct_msg.h"
#include "process/procinfo.h"
#include "records/emit.h"

enum nurs_ct_field {
    NURS_CTF_EVENT,
    NURS_CTF_FAMILY,
    NURS_CTF_PROTO,
    NURS_CTF_PROTONUM,
    NURS_CTF_ORIG,
    NURS_CTF_REPLY,
    NURS_CTF_MASTER,
    NURS_CTF_STATE,
    NURS_CTF_STATUS,
    NURS_CTF_MARK,
    NURS_CTF_ZONE,
    NURS_CTF_ID,
    NURS_CTF_TIMEOUT,
    NURS_CTF_USE,
    NURS_CTF_START,
    NURS_CTF_STOP,
    NURS_CTF_HELPER,
    NURS_CTF_SECCTX,
    NURS_CTF_LABELS,
    /* Not part of the record walk (they repeat `status` and a direction's
     * `process`), but readable. */
    NURS_CTF_STATUS_BITS,
    NURS_CTF_PROCESS, /* the local end's process: orig's, else reply's */
    NURS_CTF_COUNT
};

enum nurs_ct_dir_field {
    NURS_CTD_SRC,
    NURS_CTD_DST,
    NURS_CTD_SPORT,
    NURS_CTD_DPORT,
    NURS_CTD_ICMP_TYPE,
    NURS_CTD_ICMP_CODE,
    NURS_CTD_ICMP_ID,
    NURS_CTD_PACKETS,
    NURS_CTD_BYTES,
    NURS_CTD_ZONE,
    NURS_CTD_PROCESS, /* the process owning the socket this direction is sent from */
    NURS_CTD_COUNT
};

extern const char *const nurs_ct_field_names[NURS_CTF_COUNT];
extern const char *const nurs_ct_dir_field_names[NURS_CTD_COUNT];

/* Emit one field under its own name; false (nothing emitted) if absent. */
/* A field of a tuple's own (addresses, ports, ICMP, zone): conntrack
 * directions and the tuples of expectations. */
bool nurs_ct_emit_tuple_field(const struct nurs_ct_tuple *t, enum nurs_ct_dir_field f,
                              const struct nurs_emit *e, void *ctx);
bool nurs_ct_emit_field(struct nurs_ct_msg *m, enum nurs_ct_field f,
                        const struct nurs_emit *e, void *ctx);
bool nurs_ct_emit_dir_field(struct nurs_ct_msg *m, enum nurs_ct_dir dir,
                            enum nurs_ct_dir_field f, const struct nurs_emit *e, void *ctx);
/* Emit a process as an object under key (what is known of it only). */
void nurs_emit_process(const struct nurs_proc *p, const char *key, const struct nurs_emit *e,
                       void *ctx);
/* Emit every field present on the record, in a fixed order. */
void nurs_ct_emit_record(struct nurs_ct_msg *m, const struct nurs_emit *e, void *ctx);

#endif
