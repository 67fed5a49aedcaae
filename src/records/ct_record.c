/* The conntrack record's class tables: the record and its directions
 * (rec.orig, rec.reply, rec.master: records of their own). */
#include "records/ct_record.h"

#include "records/ct_fields.h"

/* Walkers decode lazily and cache in the message. */
static struct nurs_ct_msg *msg_of(const struct nurs_field_src *src)
{
    return (struct nurs_ct_msg *)src->data;
}

static const char *dir_name(int f) { return nurs_ct_dir_field_names[f]; }

static bool dir_emit_field(const struct nurs_field_src *src, int f, const struct nurs_emit *e,
                           void *ctx)
{
    return nurs_ct_emit_dir_field(msg_of(src), (enum nurs_ct_dir)src->arg,
                                  (enum nurs_ct_dir_field)f, e, ctx);
}

static void dir_emit_all(const struct nurs_field_src *src, const struct nurs_emit *e, void *ctx)
{
    for (int f = 0; f < NURS_CTD_COUNT; f++)
        dir_emit_field(src, f, e, ctx);
}

const struct nurs_record_class nurs_ct_dir_class = {
    .what = "conntrack direction",
    .part = true,
    .count = NURS_CTD_COUNT,
    .name = dir_name,
    .emit_field = dir_emit_field,
    .emit_all = dir_emit_all,
};

static const char *ct_name(int f) { return nurs_ct_field_names[f]; }

static bool ct_emit_field(const struct nurs_field_src *src, int f, const struct nurs_emit *e,
                          void *ctx)
{
    return nurs_ct_emit_field(msg_of(src), (enum nurs_ct_field)f, e, ctx);
}

static void ct_emit_all(const struct nurs_field_src *src, const struct nurs_emit *e, void *ctx)
{
    nurs_ct_emit_record(msg_of(src), e, ctx);
}

static int ct_sub(const void *data, int f, const struct nurs_record_class **cls)
{
    enum nurs_ct_dir dir;
    switch (f) {
    case NURS_CTF_ORIG:
        dir = NURS_CT_ORIG;
        break;
    case NURS_CTF_REPLY:
        dir = NURS_CT_REPLY;
        break;
    case NURS_CTF_MASTER:
        dir = NURS_CT_MASTER;
        break;
    default:
        return -1;
    }
    *cls = nurs_ct_tuple((struct nurs_ct_msg *)data, dir) ? &nurs_ct_dir_class : NULL;
    return (int)dir;
}

const struct nurs_record_class nurs_ct_class = {
    .what = "conntrack record",
    .count = NURS_CTF_COUNT,
    .name = ct_name,
    .emit_field = ct_emit_field,
    .emit_all = ct_emit_all,
    .sub = ct_sub,
    .n_subs = 3,
};
