#include "records/ct_fields.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/netfilter/nf_conntrack_common.h>

#include "core/addr.h"
#include "process/attribution.h"

const char *const nurs_ct_field_names[NURS_CTF_COUNT] = {
    [NURS_CTF_EVENT] = "event",     [NURS_CTF_FAMILY] = "family",
    [NURS_CTF_PROTO] = "proto",     [NURS_CTF_PROTONUM] = "protonum",
    [NURS_CTF_ORIG] = "orig",       [NURS_CTF_REPLY] = "reply",
    [NURS_CTF_MASTER] = "master",   [NURS_CTF_STATE] = "state",
    [NURS_CTF_STATUS] = "status",   [NURS_CTF_MARK] = "mark",
    [NURS_CTF_ZONE] = "zone",       [NURS_CTF_ID] = "id",
    [NURS_CTF_TIMEOUT] = "timeout", [NURS_CTF_USE] = "use",
    [NURS_CTF_START] = "start",     [NURS_CTF_STOP] = "stop",
    [NURS_CTF_HELPER] = "helper",   [NURS_CTF_SECCTX] = "secctx",
    [NURS_CTF_LABELS] = "labels",   [NURS_CTF_STATUS_BITS] = "status_bits",
    [NURS_CTF_PROCESS] = "process",
};

const char *const nurs_ct_dir_field_names[NURS_CTD_COUNT] = {
    [NURS_CTD_SRC] = "src",         [NURS_CTD_DST] = "dst",
    [NURS_CTD_SPORT] = "sport",     [NURS_CTD_DPORT] = "dport",
    [NURS_CTD_ICMP_TYPE] = "type",  [NURS_CTD_ICMP_CODE] = "code",
    [NURS_CTD_ICMP_ID] = "icmp_id", [NURS_CTD_PACKETS] = "packets",
    [NURS_CTD_BYTES] = "bytes",     [NURS_CTD_ZONE] = "zone",
    [NURS_CTD_PROCESS] = "process",
};

static void emit_cstr(const struct nurs_emit *e, void *ctx, const char *key, const char *s)
{
    e->string(ctx, key, s, strlen(s));
}

void nurs_emit_process(const struct nurs_proc *p, const char *key, const struct nurs_emit *e,
                       void *ctx)
{
    e->object_begin(ctx, key);
    if (p->pid)
        e->integer(ctx, "pid", p->pid);
    if (p->tid)
        e->integer(ctx, "tid", p->tid);
    if (p->ppid)
        e->integer(ctx, "ppid", p->ppid);
    const struct {
        const char *key, *value;
    } text[] = {{"name", p->name}, {"cmdline", p->cmdline}, {"user", p->user}};
    for (size_t i = 0; i < sizeof text / sizeof *text; i++)
        if (text[i].value)
            emit_cstr(e, ctx, text[i].key, text[i].value);
    if (p->uid != NURS_UID_UNKNOWN)
        e->integer(ctx, "uid", p->uid);
    if (p->fd >= 0)
        e->integer(ctx, "fd", p->fd);
    const struct {
        const char *key, *value;
    } where[] = {{"cgroup", p->cgroup}, {"unit", p->unit}, {"container", p->container}};
    for (size_t i = 0; i < sizeof where / sizeof *where; i++)
        if (where[i].value)
            emit_cstr(e, ctx, where[i].key, where[i].value);
    e->object_end(ctx);
}

/* The local end's process: the initiator's when it is local, else the
 * responder's. */
static const struct nurs_proc *local_process(const struct nurs_ct_msg *m)
{
    const struct nurs_proc *p = nurs_ct_process(m, NURS_CT_ORIG);
    return p ? p : nurs_ct_process(m, NURS_CT_REPLY);
}

bool nurs_ct_emit_tuple_field(const struct nurs_ct_tuple *t, enum nurs_ct_dir_field f,
                              const struct nurs_emit *e, void *ctx)
{
    const char *key = nurs_ct_dir_field_names[f];
    char addr[INET6_ADDRSTRLEN];
    const void *raw;
    size_t n;
    uint16_t u16;
    uint8_t type, code;

    switch (f) {
    case NURS_CTD_SRC:
    case NURS_CTD_DST:
        if (!(n = nurs_ct_tuple_addr(t, f == NURS_CTD_DST, &raw)) ||
            !nurs_addr_text(raw, n, addr, sizeof addr))
            return false;
        emit_cstr(e, ctx, key, addr);
        return true;
    case NURS_CTD_SPORT:
    case NURS_CTD_DPORT:
        if (!nurs_ct_tuple_port(t, f == NURS_CTD_DPORT, &u16))
            return false;
        e->integer(ctx, key, u16);
        return true;
    case NURS_CTD_ICMP_TYPE:
    case NURS_CTD_ICMP_CODE:
    case NURS_CTD_ICMP_ID:
        if (!nurs_ct_tuple_icmp(t, &type, &code, &u16))
            return false;
        e->integer(ctx, key, f == NURS_CTD_ICMP_TYPE ? type : f == NURS_CTD_ICMP_CODE ? code : u16);
        return true;
    case NURS_CTD_ZONE:
        if (!t->zone)
            return false;
        e->integer(ctx, key, nurs_ct_attr_be16(t->zone));
        return true;
    default:
        return false;
    }
}

bool nurs_ct_emit_dir_field(struct nurs_ct_msg *m, enum nurs_ct_dir dir,
                            enum nurs_ct_dir_field f, const struct nurs_emit *e, void *ctx)
{
    const char *key = nurs_ct_dir_field_names[f];
    uint64_t packets, bytes;

    switch (f) {
    case NURS_CTD_PACKETS:
    case NURS_CTD_BYTES:
        if (!nurs_ct_counters(m, dir, &packets, &bytes))
            return false;
        e->integer(ctx, key, (long long)(f == NURS_CTD_PACKETS ? packets : bytes));
        return true;
    case NURS_CTD_PROCESS: {
        const struct nurs_proc *p = nurs_ct_process(m, dir);
        if (!p)
            return false;
        nurs_emit_process(p, key, e, ctx);
        return true;
    }
    case NURS_CTD_COUNT:
        return false;
    default: {
        const struct nurs_ct_tuple *t = nurs_ct_tuple(m, dir);
        return t && nurs_ct_emit_tuple_field(t, f, e, ctx);
    }
    }
}

static bool emit_direction(struct nurs_ct_msg *m, enum nurs_ct_dir dir, const char *key,
                           const struct nurs_emit *e, void *ctx)
{
    if (!nurs_ct_tuple(m, dir))
        return false;
    e->object_begin(ctx, key);
    for (int f = 0; f < NURS_CTD_COUNT; f++)
        nurs_ct_emit_dir_field(m, dir, (enum nurs_ct_dir_field)f, e, ctx);
    e->object_end(ctx);
    return true;
}

static bool emit_u32(struct nurs_ct_msg *m, int cta, const char *key, const struct nurs_emit *e,
                     void *ctx)
{
    uint32_t v;
    if (!nurs_ct_u32(m, cta, &v))
        return false;
    e->integer(ctx, key, v);
    return true;
}

static bool emit_status(struct nurs_ct_msg *m, const char *key, const struct nurs_emit *e,
                        void *ctx)
{
    uint32_t status;
    if (!nurs_ct_u32(m, CTA_STATUS, &status))
        return false;
    e->array_begin(ctx, key);
    for (unsigned bit = 0; bit < 32; bit++) {
        if (!(status & (1u << bit)))
            continue;
        const char *name = nurs_ct_status_name(bit);
        if (name)
            emit_cstr(e, ctx, NULL, name);
        else
            e->integer(ctx, NULL, 1ll << bit);
    }
    e->array_end(ctx);
    return true;
}

static bool emit_labels(struct nurs_ct_msg *m, const char *key, const struct nurs_emit *e,
                        void *ctx)
{
    const uint8_t *bits;
    size_t len;
    if (!nurs_ct_labels(m, &bits, &len))
        return false;
    /* The kernel sends host-order 32-bit words; bit numbers are the ones
     * connlabel.conf and `conntrack -o labels` use. */
    e->array_begin(ctx, key);
    for (size_t w = 0; w + 4 <= len; w += 4) {
        uint32_t word;
        memcpy(&word, bits + w, sizeof word);
        for (unsigned b = 0; b < 32; b++)
            if (word & (1u << b))
                e->integer(ctx, NULL, (long long)(w * 8 + b));
    }
    e->array_end(ctx);
    return true;
}

bool nurs_ct_emit_field(struct nurs_ct_msg *m, enum nurs_ct_field f, const struct nurs_emit *e,
                        void *ctx)
{
    const char *key = nurs_ct_field_names[f];
    const char *s;
    uint8_t protonum;
    uint16_t zone;
    uint64_t ns;

    switch (f) {
    case NURS_CTF_EVENT:
        emit_cstr(e, ctx, key, nurs_ct_event_name(m->event));
        return true;
    case NURS_CTF_FAMILY:
        emit_cstr(e, ctx, key, m->family == AF_INET ? "ipv4" : "ipv6");
        return true;
    case NURS_CTF_PROTO:
        if (!nurs_ct_protonum(m, &protonum))
            return false;
        if ((s = nurs_ct_proto_name(protonum)))
            emit_cstr(e, ctx, key, s);
        else {
            char num[4];
            int n = snprintf(num, sizeof num, "%u", protonum);
            e->string(ctx, key, num, (size_t)n);
        }
        return true;
    case NURS_CTF_PROTONUM:
        if (!nurs_ct_protonum(m, &protonum))
            return false;
        e->integer(ctx, key, protonum);
        return true;
    case NURS_CTF_ORIG:
        return emit_direction(m, NURS_CT_ORIG, key, e, ctx);
    case NURS_CTF_REPLY:
        return emit_direction(m, NURS_CT_REPLY, key, e, ctx);
    case NURS_CTF_MASTER:
        return emit_direction(m, NURS_CT_MASTER, key, e, ctx);
    case NURS_CTF_STATE:
        if (!(s = nurs_ct_state_name(m)))
            return false;
        emit_cstr(e, ctx, key, s);
        return true;
    case NURS_CTF_STATUS:
        return emit_status(m, key, e, ctx);
    case NURS_CTF_STATUS_BITS:
        return emit_u32(m, CTA_STATUS, key, e, ctx);
    case NURS_CTF_MARK:
        return emit_u32(m, CTA_MARK, key, e, ctx);
    case NURS_CTF_ZONE:
        if (!nurs_ct_zone(m, &zone))
            return false;
        e->integer(ctx, key, zone);
        return true;
    case NURS_CTF_ID:
        return emit_u32(m, CTA_ID, key, e, ctx);
    case NURS_CTF_TIMEOUT:
        return emit_u32(m, CTA_TIMEOUT, key, e, ctx);
    case NURS_CTF_USE:
        return emit_u32(m, CTA_USE, key, e, ctx);
    case NURS_CTF_START:
    case NURS_CTF_STOP:
        if (!nurs_ct_timestamp(m, f == NURS_CTF_STOP, &ns))
            return false;
        e->integer(ctx, key, (long long)ns);
        return true;
    case NURS_CTF_HELPER:
        if (!(s = nurs_ct_helper(m)))
            return false;
        emit_cstr(e, ctx, key, s);
        return true;
    case NURS_CTF_SECCTX:
        if (!(s = nurs_ct_secctx(m)))
            return false;
        emit_cstr(e, ctx, key, s);
        return true;
    case NURS_CTF_LABELS:
        return emit_labels(m, key, e, ctx);
    case NURS_CTF_PROCESS: {
        const struct nurs_proc *p = local_process(m);
        if (!p)
            return false;
        nurs_emit_process(p, key, e, ctx);
        return true;
    }
    case NURS_CTF_COUNT:
        break;
    }
    return false;
}

void nurs_ct_emit_record(struct nurs_ct_msg *m, const struct nurs_emit *e, void *ctx)
{
    for (int f = 0; f < NURS_CTF_STATUS_BITS; f++)
        nurs_ct_emit_field(m, (enum nurs_ct_field)f, e, ctx);
}
