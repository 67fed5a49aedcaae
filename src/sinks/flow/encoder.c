#include "sinks/flow/encoder.h"

#include <endian.h>
#include <math.h>
#include <string.h>

#define SET_HEADER 4
/* Seconds from 1900 (NTP era 0) to 1970. */
#define NTP_UNIX_OFFSET 2208988800ull

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

/* The low `len` bytes of v, big-endian; a value too large for a reduced-size
 * field is sent as the largest it can hold rather than wrapped. The usual
 * widths are single stores: this runs for every field of every record. */
/* put_uint for the fields of a record, where STORE_SLACK bytes after the
 * field may be written: one shift, one byte swap, one store. */
static inline __attribute__((always_inline)) void put_number(uint8_t *out, uint64_t v,
                                                             unsigned len)
{
    if (len < 8 && v >> (len * 8))
        v = (1ull << (len * 8)) - 1;
    uint64_t be = htobe64(v << (64 - 8 * len));
    memcpy(out, &be, 8);
}

static inline __attribute__((always_inline)) void put_uint(uint8_t *out, uint64_t v,
                                                           unsigned len)
{
    if (len < 8 && v >> (len * 8))
        v = (1ull << (len * 8)) - 1;
    switch (len) {
    case 1:
        out[0] = (uint8_t)v;
        return;
    case 2: {
        uint16_t be = htobe16((uint16_t)v);
        memcpy(out, &be, 2);
        return;
    }
    case 4: {
        uint32_t be = htobe32((uint32_t)v);
        memcpy(out, &be, 4);
        return;
    }
    case 8: {
        uint64_t be = htobe64(v);
        memcpy(out, &be, 8);
        return;
    }
    default:
        for (int i = (int)len - 1; i >= 0; i--) {
            out[i] = (uint8_t)v;
            v >>= 8;
        }
    }
}

static void put_int(uint8_t *out, int64_t v, unsigned len)
{
    if (len < 8) {
        int64_t max = (int64_t)((1ull << (len * 8 - 1)) - 1), min = -max - 1;
        v = v > max ? max : v < min ? min : v;
    }
    uint64_t u = (uint64_t)v;
    for (int i = (int)len - 1; i >= 0; i--) {
        out[i] = (uint8_t)u;
        u >>= 8;
    }
}

void nurs_enc_v9_clock(uint64_t now_ms, uint64_t uptime_base_ms, uint32_t *export_secs,
                       uint32_t *sys_uptime_ms)
{
    /* The next whole second, not the last: a flow of the current second
     * would otherwise end after sysUptime, and collectors that subtract
     * unsigned (pmacct) put it 49.7 days in the past. */
    uint64_t secs = (now_ms + 999) / 1000;
    *export_secs = (uint32_t)secs;
    uint64_t whole = secs * 1000;
    *sys_uptime_ms = (uint32_t)(whole > uptime_base_ms ? whole - uptime_base_ms : 0);
}

void nurs_enc_begin(struct nurs_enc *e, enum nurs_flow_version v, uint8_t *buf, size_t cap,
                    uint64_t uptime_base_ms)
{
    memset(e, 0, sizeof *e);
    e->version = v;
    e->buf = buf;
    e->cap = v == NURS_IPFIX && cap > NURS_IPFIX_MAX_MESSAGE ? NURS_IPFIX_MAX_MESSAGE : cap;
    e->len = v == NURS_NETFLOW9 ? NURS_V9_HEADER_LEN : NURS_IPFIX_HEADER_LEN;
    e->uptime_base_ms = uptime_base_ms;
}

/* The padding is part of the set: collectors (nfdump) drop the set after
 * one whose length leaves it out. IPFIX template sets have none: RFC 7011
 * allows it there, but decoders take it for the start of a template. */
static void close_set(struct nurs_enc *e)
{
    if (!e->set_start)
        return;
    bool ipfix_templates = e->version == NURS_IPFIX && (e->set_id == 2 || e->set_id == 3);
    while (!ipfix_templates && (e->len - e->set_start) % 4)
        e->buf[e->len++] = 0;
    put16(e->buf + e->set_start + 2, (uint16_t)(e->len - e->set_start));
    e->set_start = 0;
}

/* Numbers are written with 8-byte stores that may run past their field
 * (the next field, or the padding, overwrites the excess): a record needs
 * this much room after it. */
#define STORE_SLACK 8

/* Makes sure a set with `id` is open and `need` more bytes fit, with room
 * for the wide stores and the worst-case padding after them. */
static bool room(struct nurs_enc *e, uint16_t id, size_t need)
{
    bool reuse = e->set_start && e->set_id == id;
    size_t open_cost = reuse ? 0 : 3 + SET_HEADER; /* padding of the set being closed */
    if (e->len + open_cost + need + STORE_SLACK > e->cap)
        return false;
    if (!reuse) {
        close_set(e);
        e->set_start = e->len;
        e->set_id = id;
        put16(e->buf + e->len, id);
        put16(e->buf + e->len + 2, 0);
        e->len += SET_HEADER;
    }
    return true;
}

/* NetFlow v9 has no enterprise numbers: an enterprise element (only
 * nurs-lua's own get this far) keeps the enterprise bit as a vendor type. */
static void put_field_spec(struct nurs_enc *e, const struct nurs_tfield *f)
{
    bool enterprise = f->ie.pen != 0 && e->version == NURS_IPFIX;
    put16(e->buf + e->len, (uint16_t)(f->ie.id | (f->ie.pen ? 0x8000 : 0)));
    put16(e->buf + e->len + 2, f->ie.length);
    e->len += 4;
    if (enterprise) {
        put32(e->buf + e->len, f->ie.pen);
        e->len += 4;
    }
}

/* Both formats put 6 bytes before the field specs of an options template. */
static size_t template_len(const struct nurs_template *t, enum nurs_flow_version v)
{
    size_t len = t->scope_n ? 6 : 4;
    for (int i = 0; i < t->n; i++)
        len += t->f[i].ie.pen && v == NURS_IPFIX ? 8 : 4;
    return len;
}

bool nurs_enc_add_template(struct nurs_enc *e, const struct nurs_template *t)
{
    bool options = t->scope_n > 0;
    uint16_t set_id = e->version == NURS_NETFLOW9 ? (options ? 1 : 0) : (options ? 3 : 2);
    if (!room(e, set_id, template_len(t, e->version)))
        return false;
    put16(e->buf + e->len, t->id);
    if (!options) {
        put16(e->buf + e->len + 2, (uint16_t)t->n);
        e->len += 4;
    } else if (e->version == NURS_NETFLOW9) {
        /* v9 counts the scope and option fields in bytes of field specs. */
        put16(e->buf + e->len + 2, (uint16_t)(4 * t->scope_n));
        put16(e->buf + e->len + 4, (uint16_t)(4 * (t->n - t->scope_n)));
        e->len += 6;
    } else {
        put16(e->buf + e->len + 2, (uint16_t)t->n);
        put16(e->buf + e->len + 4, (uint16_t)t->scope_n);
        e->len += 6;
    }
    for (int i = 0; i < t->n; i++)
        put_field_spec(e, &t->f[i]);
    e->records++;
    /* One options template per set: nfdump reads the first of a set only. */
    if (options)
        close_set(e);
    return true;
}

bool nurs_enc_withdraw_template(struct nurs_enc *e, uint16_t id, bool options)
{
    if (e->version != NURS_IPFIX || !room(e, options ? 3 : 2, 4))
        return false;
    put16(e->buf + e->len, id);
    put16(e->buf + e->len + 2, 0);
    e->len += 4;
    return true;
}

/* dateTimeMicroseconds and dateTimeNanoseconds are NTP timestamps. */
static uint64_t ntp_time(uint64_t ns, bool micro)
{
    uint64_t secs = ns / 1000000000u + NTP_UNIX_OFFSET;
    uint64_t frac = ((ns % 1000000000u) << 32) / 1000000000u;
    if (micro)
        frac &= ~0x7ffull; /* RFC 7011 6.1.9: microsecond resolution */
    return secs << 32 | (frac & 0xffffffffu);
}

static uint64_t time_value(uint8_t type, uint64_t ns)
{
    switch (type) {
    case IE_T_DT_S:
        return ns / 1000000000u;
    case IE_T_DT_MS:
        return ns / 1000000u;
    case IE_T_DT_US:
        return ntp_time(ns, true);
    case IE_T_DT_NS:
        return ntp_time(ns, false);
    default: /* an integer element given a time: milliseconds */
        return ns / 1000000u;
    }
}

/* A time a script gave as seconds since the epoch (a double cannot hold
 * nanoseconds since the epoch exactly: round in the element's unit). */
static uint64_t seconds_value(uint8_t type, double secs)
{
    double whole = floor(secs);
    switch (type) {
    case IE_T_DT_S:
        return (uint64_t)whole;
    case IE_T_DT_MS:
        return (uint64_t)llround(secs * 1000.0);
    default: {
        uint64_t frac = (uint64_t)llround((secs - whole) * 4294967296.0);
        if (frac > 0xffffffffu)
            frac = 0xffffffffu;
        if (type == IE_T_DT_US)
            frac &= ~0x7ffull;
        return ((uint64_t)whole + NTP_UNIX_OFFSET) << 32 | frac;
    }
    }
}

static uint64_t uptime(const struct nurs_enc *e, uint64_t ns)
{
    uint64_t ms = ns / 1000000u;
    return ms > e->uptime_base_ms ? (uint32_t)(ms - e->uptime_base_ms) : 0;
}

static bool is_icmp(const struct nurs_flow *f)
{
    return f->icmp && (f->proto == 1 || f->proto == 58);
}

static const struct nurs_proc *proc_of(const struct nurs_ie *ie, const struct nurs_flow *f)
{
    switch ((enum nurs_ie_end)ie->end) {
    case NURS_END_SRC: return f->src_proc;
    case NURS_END_DST: return f->dst_proc;
    case NURS_END_LOCAL: return f->local_proc;
    }
    return NULL;
}

/* A string a flow gives a field (a process's); NULL when it has none. */
static const char *flow_string(const struct nurs_tfield *tf, const struct nurs_flow *f,
                               size_t *len)
{
    const struct nurs_proc *p = f ? proc_of(&tf->ie, f) : NULL;
    const char *s = NULL;
    if (p) {
        switch ((enum nurs_ie_source)tf->ie.source) {
        case FS_PROC_NAME: s = p->name; break;
        case FS_PROC_CMDLINE: s = p->cmdline; break;
        case FS_PROC_USER: s = p->user; break;
        case FS_PROC_CGROUP: s = p->cgroup; break;
        case FS_PROC_UNIT: s = p->unit; break;
        case FS_PROC_CONTAINER: s = p->container; break;
        default: break;
        }
    }
    *len = s ? strlen(s) : 0;
    return s;
}

/* The integer a flow gives a field; *addr set instead for addresses. */
void nurs_enc_plan_field(struct nurs_tfield *tf)
{
    const struct nurs_ie *ie = &tf->ie;
    bool bytes = ie->type == IE_T_STRING || ie->type == IE_T_OCTETS || ie->type == IE_T_MAC;
    tf->flow_off = 0;
    if (nurs_ie_is_process_string(ie) && (ie->type == IE_T_STRING || ie->type == IE_T_OCTETS)) {
        tf->kind = NURS_TF_STRING;
        return;
    }
    if (ie->length == NURS_IE_VARLEN) {
        tf->kind = NURS_TF_EMPTY;
        return;
    }
    if (ie->source == FS_NONE || bytes) {
        tf->kind = NURS_TF_ZERO;
        return;
    }
    static const struct {
        uint8_t source;
        uint8_t kind;
        uint16_t off;
    } direct[] = {
#define AT(src, kind, field) {src, kind, offsetof(struct nurs_flow, field)}
        AT(FS_SRC_ADDR, NURS_TF_ADDRESS, src),
        AT(FS_DST_ADDR, NURS_TF_ADDRESS, dst),
        AT(FS_POST_SRC_ADDR, NURS_TF_ADDRESS, post_src),
        AT(FS_POST_DST_ADDR, NURS_TF_ADDRESS, post_dst),
        AT(FS_SPORT, NURS_TF_NUMBER, sport),
        AT(FS_POST_SPORT, NURS_TF_NUMBER, post_sport),
        AT(FS_POST_DPORT, NURS_TF_NUMBER, post_dport),
        AT(FS_PROTO, NURS_TF_NUMBER, proto),
        AT(FS_IP_VERSION, NURS_TF_NUMBER, ip_version),
        AT(FS_OCTETS, NURS_TF_NUMBER, octets),
        AT(FS_PACKETS, NURS_TF_NUMBER, packets),
        AT(FS_END_REASON, NURS_TF_NUMBER, end_reason),
        AT(FS_DIRECTION, NURS_TF_NUMBER, direction),
        AT(FS_BIFLOW_DIRECTION, NURS_TF_NUMBER, biflow_direction),
        AT(FS_FLOW_ID, NURS_TF_NUMBER, flow_id),
        AT(FS_IN_IF, NURS_TF_NUMBER, in_if),
        AT(FS_OUT_IF, NURS_TF_NUMBER, out_if),
        AT(FS_INITIATOR_OCTETS, NURS_TF_NUMBER, initiator_octets),
        AT(FS_RESPONDER_OCTETS, NURS_TF_NUMBER, responder_octets),
        AT(FS_INITIATOR_PACKETS, NURS_TF_NUMBER, initiator_packets),
        AT(FS_RESPONDER_PACKETS, NURS_TF_NUMBER, responder_packets),
        AT(FS_MARK, NURS_TF_NUMBER, mark),
        AT(FS_ZONE, NURS_TF_NUMBER, zone),
        AT(FS_VRF, NURS_TF_NUMBER, vrf),
#undef AT
    };
    for (size_t i = 0; i < sizeof direct / sizeof *direct; i++) {
        if (direct[i].source == ie->source) {
            tf->kind = direct[i].kind;
            tf->flow_off = direct[i].off;
            return;
        }
    }
    tf->kind = NURS_TF_COMPUTED;
}

/* The values that are not a field of the flow as they stand. */
static uint64_t computed_value(const struct nurs_enc *e, const struct nurs_tfield *tf,
                               const struct nurs_flow *f)
{
    const struct nurs_ie *ie = &tf->ie;
    bool family_icmp = is_icmp(f) && (!ie->ip_version || ie->ip_version == f->ip_version);
    switch ((enum nurs_ie_source)ie->source) {
    case FS_DPORT:
        /* NetFlow v9 collectors read ICMP type and code from the port. */
        if (is_icmp(f))
            return e->version == NURS_NETFLOW9 ? (uint64_t)(f->icmp_type << 8 | f->icmp_code) : 0;
        return f->dport;
    case FS_START: return time_value(ie->type, f->start_ns);
    case FS_END: return time_value(ie->type, f->end_ns);
    case FS_START_UPTIME: return uptime(e, f->start_ns);
    case FS_END_UPTIME: return uptime(e, f->end_ns);
    case FS_DURATION_MS: return f->end_ns > f->start_ns ? (f->end_ns - f->start_ns) / 1000000u : 0;
    case FS_DURATION_US: return f->end_ns > f->start_ns ? (f->end_ns - f->start_ns) / 1000u : 0;
    case FS_ICMP_TYPE_CODE:
        return family_icmp ? (uint64_t)(f->icmp_type << 8 | f->icmp_code) : 0;
    case FS_ICMP_TYPE: return family_icmp ? f->icmp_type : 0;
    case FS_ICMP_CODE: return family_icmp ? f->icmp_code : 0;
    case FS_PROC_PID: {
        const struct nurs_proc *p = proc_of(ie, f);
        return p ? p->pid : 0;
    }
    case FS_PROC_UID: {
        const struct nurs_proc *p = proc_of(ie, f);
        return p ? p->uid : NURS_UID_UNKNOWN;
    }
    default: return 0;
    }
}

static size_t varlen_prefix(size_t n) { return n < 255 ? 1 : 3; }

/* A variable-length value holds at most 65535 bytes with its prefix. */
static size_t varlen_cap(size_t n) { return n > 65535 - 3 ? 65535 - 3 : n; }

/* Bytes of a variable-length value as sent. */
static size_t varlen_value_len(const struct nurs_fvalue *v)
{
    return varlen_cap(v && v->kind == NURS_FV_BYTES ? v->len : 0);
}

/* The bytes a variable-length field takes: the script's value, else the
 * flow's string, else nothing. */
static size_t varlen_field_len(const struct nurs_tfield *tf, const struct nurs_flow *fwd,
                               const struct nurs_flow *rev, const struct nurs_fvalue *v)
{
    size_t n;
    if (v && v->kind != NURS_FV_UNSET)
        n = varlen_value_len(v);
    else if (tf->kind == NURS_TF_STRING)
        flow_string(tf, tf->reverse ? rev : fwd, &n);
    else
        n = 0;
    n = varlen_cap(n);
    return varlen_prefix(n) + n;
}

size_t nurs_enc_record_len(const struct nurs_template *t, const struct nurs_flow *fwd,
                           const struct nurs_flow *rev, const struct nurs_fvalue *vals)
{
    if (!t->varlen)
        return t->min_record_len;
    size_t len = 0;
    for (int i = 0; i < t->n; i++)
        len += t->f[i].ie.length != NURS_IE_VARLEN
                   ? t->f[i].ie.length
                   : varlen_field_len(&t->f[i], fwd, rev, vals ? &vals[i] : NULL);
    return len;
}

/* Writes n bytes of p as a variable-length value; returns the bytes written. */
static size_t put_varlen(uint8_t *out, const void *p, size_t n)
{
    n = varlen_cap(n);
    if (n < 255) {
        out[0] = (uint8_t)n;
    } else {
        out[0] = 255;
        put16(out + 1, (uint16_t)n);
    }
    if (n)
        memcpy(out + varlen_prefix(n), p, n);
    return varlen_prefix(n) + n;
}

/* A string into a fixed-length field: cut between UTF-8 characters, padded
 * with zeros. */
static void put_fixed_string(uint8_t *out, unsigned len, const char *s, size_t n)
{
    if (n > len) {
        n = len;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    if (n)
        memcpy(out, s, n);
    memset(out + n, 0, len - n);
}

static void put_bytes(uint8_t *out, unsigned len, const uint8_t *p, size_t n)
{
    size_t take = n < len ? n : len;
    if (take)
        memcpy(out, p, take);
    if (take < len)
        memset(out + take, 0, len - take);
}

/* Writes a field from a script's value; returns the bytes written. */
static size_t put_value(uint8_t *out, const struct nurs_tfield *tf, const struct nurs_fvalue *v)
{
    unsigned len = tf->ie.length;
    if (len == NURS_IE_VARLEN)
        return put_varlen(out, v->kind == NURS_FV_BYTES ? v->p : NULL, varlen_value_len(v));
    switch (v->kind) {
    case NURS_FV_UINT:
        switch (tf->ie.type) {
        case IE_T_DT_S: case IE_T_DT_MS: case IE_T_DT_US: case IE_T_DT_NS:
            put_uint(out, time_value(tf->ie.type, v->u), len);
            break;
        default:
            put_uint(out, v->u, len);
        }
        break;
    case NURS_FV_INT:
        put_int(out, (int64_t)v->u, len);
        break;
    case NURS_FV_DOUBLE:
        if (tf->ie.type >= IE_T_DT_S && tf->ie.type <= IE_T_DT_NS) {
            put_uint(out, seconds_value(tf->ie.type, v->d), len);
        } else if (len == 4) {
            float fl = (float)v->d;
            uint32_t bits;
            memcpy(&bits, &fl, 4);
            put32(out, bits);
        } else {
            uint64_t bits;
            memcpy(&bits, &v->d, 8);
            put_uint(out, bits, 8);
        }
        break;
    case NURS_FV_BYTES:
        put_bytes(out, len, v->p, v->len);
        break;
    default:
        memset(out, 0, len);
    }
    return len;
}

bool nurs_enc_add_record(struct nurs_enc *e, const struct nurs_template *t,
                         const struct nurs_flow *fwd, const struct nurs_flow *rev,
                         const struct nurs_fvalue *vals)
{
    size_t need = nurs_enc_record_len(t, fwd, rev, vals);
    if (!room(e, t->id, need))
        return false;
    uint8_t *out = e->buf + e->len;
    for (int i = 0; i < t->n; i++) {
        const struct nurs_tfield *tf = &t->f[i];
        if (vals && vals[i].kind != NURS_FV_UNSET) {
            out += put_value(out, tf, &vals[i]);
            continue;
        }
        const struct nurs_flow *f = tf->reverse ? rev : fwd;
        unsigned len = tf->ie.length;
        size_t n;
        const char *str;
        switch (f ? tf->kind : len == NURS_IE_VARLEN ? NURS_TF_EMPTY : NURS_TF_ZERO) {
        case NURS_TF_EMPTY:
            *out++ = 0;
            continue;
        case NURS_TF_STRING:
            str = flow_string(tf, f, &n);
            if (len == NURS_IE_VARLEN) {
                out += put_varlen(out, str, n);
                continue;
            }
            put_fixed_string(out, len, str, n);
            break;
        case NURS_TF_ZERO:
            memset(out, 0, len);
            break;
        case NURS_TF_ADDRESS: {
            const uint8_t *addr = (const uint8_t *)f + tf->flow_off;
            if (tf->ie.ip_version != f->ip_version)
                memset(out, 0, len);
            else if (len == 4)
                memcpy(out, addr, 4);
            else
                memcpy(out, addr, 16);
            break;
        }
        case NURS_TF_NUMBER: {
            uint64_t v;
            memcpy(&v, (const uint8_t *)f + tf->flow_off, sizeof v);
            put_number(out, v, len);
            break;
        }
        case NURS_TF_COMPUTED:
            put_number(out, computed_value(e, tf, f), len);
            break;
        }
        out += len;
    }
    e->len += need;
    e->records++;
    e->tally.records++;
    if (t->scope_n == 0) {
        e->tally.flows++;
        for (const struct nurs_flow *f = fwd; f; f = f == fwd ? rev : NULL) {
            e->tally.packets += f->packets;
            e->tally.octets += f->octets;
        }
    }
    return true;
}

size_t nurs_enc_finish(struct nurs_enc *e, const struct nurs_enc_header *h)
{
    close_set(e);
    uint8_t *p = e->buf;
    if (e->version == NURS_NETFLOW9) {
        put16(p, 9);
        put16(p + 2, e->records);
        put32(p + 4, h->sys_uptime_ms);
        put32(p + 8, h->export_secs);
        put32(p + 12, h->sequence);
        put32(p + 16, h->domain);
    } else {
        put16(p, 10);
        put16(p + 2, (uint16_t)e->len);
        put32(p + 4, h->export_secs);
        put32(p + 8, h->sequence);
        put32(p + 12, h->domain);
    }
    return e->len;
}
