/* NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) messages: a pure encoder,
 * templates and records in, bytes out, no I/O. The two formats differ in
 * their header, set ids and options template layout, so one builder
 * writes both. */
#ifndef NURS_SINKS_FLOW_ENCODER_H
#define NURS_SINKS_FLOW_ENCODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sinks/flow/flow.h"
#include "sinks/flow/template.h"

enum nurs_flow_version { NURS_NETFLOW9 = 9, NURS_IPFIX = 10 };

#define NURS_V9_HEADER_LEN 20
#define NURS_IPFIX_HEADER_LEN 16
#define NURS_IPFIX_MAX_MESSAGE 65535

/* A value a script gave for a field, overriding what a flow would put. */
enum nurs_fvalue_kind { NURS_FV_UNSET, NURS_FV_UINT, NURS_FV_INT, NURS_FV_DOUBLE, NURS_FV_BYTES };

struct nurs_fvalue {
    uint8_t kind;
    uint64_t u; /* UINT, INT (two's complement), and times in ns since the epoch */
    double d;   /* DOUBLE: floats, and times in seconds since the epoch */
    const uint8_t *p; /* BYTES: addresses, MACs, strings, octet arrays */
    size_t len;
};

/* What a message carries, for the counters and the sequence numbers. */
struct nurs_msg_tally {
    uint32_t records;  /* data records: IPFIX sequence numbers count these */
    uint32_t flows;    /* ...of them flow records (not options records) */
    uint64_t packets;  /* packets and octets of those flows */
    uint64_t octets;
};

struct nurs_enc {
    enum nurs_flow_version version;
    uint8_t *buf;
    size_t cap, len;
    size_t set_start; /* 0: no set open */
    uint16_t set_id;
    uint16_t records;      /* v9 header count: every record of every set */
    struct nurs_msg_tally tally;
    uint64_t uptime_base_ms; /* v9: what sysUptime counts from, ms since the epoch */
};

struct nurs_enc_header {
    uint32_t export_secs;   /* unix seconds */
    uint32_t sys_uptime_ms; /* v9 only: take it on the same whole second (nurs_enc_v9_clock) */
    uint32_t sequence;      /* v9: packets before this one; IPFIX: data records before */
    uint32_t domain;        /* v9 source id / IPFIX observation domain */
};

/* Decides once how the encoder fills the field from a flow (its kind and,
 * for direct values, where they are in struct nurs_flow). */
void nurs_enc_plan_field(struct nurs_tfield *f);

void nurs_enc_begin(struct nurs_enc *e, enum nurs_flow_version v, uint8_t *buf, size_t cap,
                    uint64_t uptime_base_ms);
/* A template (scope_n == 0) or options template. False if it does not fit. */
bool nurs_enc_add_template(struct nurs_enc *e, const struct nurs_template *t);
/* IPFIX only: withdraws template `id` (never over UDP, RFC 7011 8.1). */
bool nurs_enc_withdraw_template(struct nurs_enc *e, uint16_t id, bool options);
/* A data record: each field from `vals` when set there, else from the flow
 * (reverse elements from `rev`); fields with nothing to say are zero or
 * empty. fwd, rev and vals may each be NULL. False if it does not fit. */
bool nurs_enc_add_record(struct nurs_enc *e, const struct nurs_template *t,
                         const struct nurs_flow *fwd, const struct nurs_flow *rev,
                         const struct nurs_fvalue *vals);
static inline bool nurs_enc_is_empty(const struct nurs_enc *e) { return e->records == 0; }
/* The size the record would take (its strings counted). */
size_t nurs_enc_record_len(const struct nurs_template *t, const struct nurs_flow *fwd,
                           const struct nurs_flow *rev, const struct nurs_fvalue *vals);
/* Closes the last set, writes the header; returns the message length. */
size_t nurs_enc_finish(struct nurs_enc *e, const struct nurs_enc_header *h);

/* uptime and export seconds consistent with each other (COLLECTORS.md):
 * sysUptime is taken on the whole second that unix_secs names. */
void nurs_enc_v9_clock(uint64_t now_ms, uint64_t uptime_base_ms, uint32_t *export_secs,
                       uint32_t *sys_uptime_ms);

#endif
