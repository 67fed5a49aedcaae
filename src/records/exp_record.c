/* The expectation record's fields and class tables. */
#include "records/exp_record.h"

#include <string.h>
#include <sys/socket.h>

#include "netlink/exp_msg.h"
#include "records/ct_fields.h"

static const char *const field_names[NURS_EXPF_COUNT] = {
    [NURS_EXPF_EVENT] = "event",     [NURS_EXPF_FAMILY] = "family",
    [NURS_EXPF_PROTO] = "proto",     [NURS_EXPF_PROTONUM] = "protonum",
    [NURS_EXPF_MASTER] = "master",   [NURS_EXPF_TUPLE] = "tuple",
    [NURS_EXPF_MASK] = "mask",       [NURS_EXPF_NAT] = "nat",
    [NURS_EXPF_NAT_DIR] = "nat_dir", [NURS_EXPF_HELPER] = "helper",
    [NURS_EXPF_CLASS] = "class",     [NURS_EXPF_TIMEOUT] = "timeout",
    [NURS_EXPF_FLAGS] = "flags",     [NURS_EXPF_ZONE] = "zone",
    [NURS_EXPF_ID] = "id",           [NURS_EXPF_FN] = "fn",
};

/* A tuple's fields: those of a conntrack direction that a tuple has. */
static const enum nurs_ct_dir_field tuple_fields[] = {
    NURS_CTD_SRC,       NURS_CTD_DST,       NURS_CTD_SPORT,   NURS_CTD_DPORT,
    NURS_CTD_ICMP_TYPE, NURS_CTD_ICMP_CODE, NURS_CTD_ICMP_ID, NURS_CTD_ZONE,
};
#define N_TUPLE_FIELDS ((int)(sizeof tuple_fields / sizeof *tuple_fields))

static struct nurs_exp_msg *msg_of(const struct nurs_field_src *src)
{
    return (struct nurs_exp_msg *)src->data;
}

static const char *tuple_name(int f) { return nurs_ct_dir_field_names[tuple_fields[f]]; }

static bool tuple_emit_field(const struct nurs_field_src *src, int f, const struct nurs_emit *e,
                             void *ctx)
{
    const struct nurs_ct_tuple *t = nurs_exp_tuple(msg_of(src), (enum nurs_exp_tuple)src->arg);
    return t && nurs_ct_emit_tuple_field(t, tuple_fields[f], e, ctx);
}

static void tuple_emit_all(const struct nurs_field_src *src, const struct nurs_emit *e,
                           void *ctx)
{
    for (int f = 0; f < N_TUPLE_FIELDS; f++)
        tuple_emit_field(src, f, e, ctx);
}

const struct nurs_record_class nurs_exp_tuple_class = {
    .what = "expectation tuple",
    .part = true,
    .count = N_TUPLE_FIELDS,
    .name = tuple_name,
    .emit_field = tuple_emit_field,
    .emit_all = tuple_emit_all,
};

static void emit_cstr(const struct nurs_emit *e, void *ctx, const char *key, const char *s)
{
    e->string(ctx, key, s, strlen(s));
}

static int tuple_of_field(int f)
{
    switch (f) {
    case NURS_EXPF_MASTER: return NURS_EXP_MASTER;
    case NURS_EXPF_TUPLE: return NURS_EXP_TUPLE;
    case NURS_EXPF_MASK: return NURS_EXP_MASK;
    case NURS_EXPF_NAT: return NURS_EXP_NAT;
    default: return -1;
    }
}

static bool emit_tuple(struct nurs_exp_msg *m, int which, const char *key,
                       const struct nurs_emit *e, void *ctx)
{
    const struct nurs_ct_tuple *t = nurs_exp_tuple(m, (enum nurs_exp_tuple)which);
    if (!t)
        return false;
    e->object_begin(ctx, key);
    for (int f = 0; f < N_TUPLE_FIELDS; f++)
        nurs_ct_emit_tuple_field(t, tuple_fields[f], e, ctx);
    e->object_end(ctx);
    return true;
}

static bool emit_u32(struct nurs_exp_msg *m, int cta, const char *key, const struct nurs_emit *e,
                     void *ctx)
{
    uint32_t v;
    if (!nurs_exp_u32(m, cta, &v))
        return false;
    e->integer(ctx, key, v);
    return true;
}

static bool exp_emit_field(const struct nurs_field_src *src, int f, const struct nurs_emit *e,
                           void *ctx)
{
    struct nurs_exp_msg *m = msg_of(src);
    const char *key = field_names[f];
    const char *s;
    uint8_t proto;
    uint16_t zone;
    uint32_t v;
    int which = tuple_of_field(f);
    if (which >= 0)
        return emit_tuple(m, which, key, e, ctx);
    switch (f) {
    case NURS_EXPF_EVENT:
        emit_cstr(e, ctx, key, nurs_ct_event_name(m->event));
        return true;
    case NURS_EXPF_FAMILY:
        emit_cstr(e, ctx, key, m->family == AF_INET ? "ipv4" : "ipv6");
        return true;
    case NURS_EXPF_PROTO:
    case NURS_EXPF_PROTONUM:
        if (!nurs_exp_protonum(m, &proto))
            return false;
        if (f == NURS_EXPF_PROTO && (s = nurs_ct_proto_name(proto)))
            emit_cstr(e, ctx, key, s);
        else
            e->integer(ctx, key, proto);
        return true;
    case NURS_EXPF_NAT_DIR:
        if (!nurs_exp_nat_dir(m, &v))
            return false;
        emit_cstr(e, ctx, key, v ? "reply" : "orig");
        return true;
    case NURS_EXPF_HELPER:
    case NURS_EXPF_FN:
        if (!(s = f == NURS_EXPF_HELPER ? nurs_exp_helper(m) : nurs_exp_fn(m)))
            return false;
        emit_cstr(e, ctx, key, s);
        return true;
    case NURS_EXPF_CLASS:
        return emit_u32(m, CTA_EXPECT_CLASS, key, e, ctx);
    case NURS_EXPF_TIMEOUT:
        return emit_u32(m, CTA_EXPECT_TIMEOUT, key, e, ctx);
    case NURS_EXPF_ID:
        return emit_u32(m, CTA_EXPECT_ID, key, e, ctx);
    case NURS_EXPF_FLAGS:
        if (!nurs_exp_u32(m, CTA_EXPECT_FLAGS, &v))
            return false;
        e->array_begin(ctx, key);
        for (unsigned bit = 0; bit < 32; bit++) {
            if (!(v & (1u << bit)))
                continue;
            if ((s = nurs_exp_flag_name(bit)))
                emit_cstr(e, ctx, NULL, s);
            else
                e->integer(ctx, NULL, 1ll << bit);
        }
        e->array_end(ctx);
        return true;
    case NURS_EXPF_ZONE:
        if (!nurs_exp_zone(m, &zone))
            return false;
        e->integer(ctx, key, zone);
        return true;
    default:
        return false;
    }
}

static void exp_emit_all(const struct nurs_field_src *src, const struct nurs_emit *e, void *ctx)
{
    for (int f = 0; f < NURS_EXPF_COUNT; f++)
        exp_emit_field(src, f, e, ctx);
}

static const char *exp_name(int f) { return field_names[f]; }

static int exp_sub(const void *data, int f, const struct nurs_record_class **cls)
{
    int which = tuple_of_field(f);
    if (which < 0)
        return -1;
    *cls = nurs_exp_tuple((struct nurs_exp_msg *)data, (enum nurs_exp_tuple)which)
               ? &nurs_exp_tuple_class
               : NULL;
    return which;
}

const struct nurs_record_class nurs_exp_class = {
    .what = "expectation record",
    .count = NURS_EXPF_COUNT,
    .name = exp_name,
    .emit_field = exp_emit_field,
    .emit_all = exp_emit_all,
    .sub = exp_sub,
    .n_subs = NURS_EXP_N_TUPLES,
};
