/* The NFLOG metadata of a packet record: what the kernel reports beside
 * the packet, named as nft and ulogd users know it (iif/oif as nft's
 * meta keys, hook names as nft chains', ct_state as `ct state`). */
#include "records/nflog_fields.h"

#include <stdio.h>
#include <string.h>

#include "netlink/ifnames.h"
#include "netlink/nflog_msg.h"
#include "records/ct_fields.h"
#include "records/pkt_fields.h"

enum nflog_field {
    F_PREFIX,
    F_GROUP,
    F_HOOK,
    F_MARK,
    F_IIF,
    F_IIFNAME,
    F_OIF,
    F_OIFNAME,
    F_PHYSIIF,
    F_PHYSIIFNAME,
    F_PHYSOIF,
    F_PHYSOIFNAME,
    F_UID,
    F_GID,
    F_HWTYPE,
    F_HWADDR,
    F_HW_PROTOCOL,
    F_HWHEADER,
    F_VLAN,
    F_TIMESTAMP,
    F_SEQ_LOCAL,
    F_SEQ_GLOBAL,
    F_CT_STATE,
    F_CT_DIR,
    F_CT,
    F_WALKED,
    /* readable only */
    F_HOOKNUM = F_WALKED,
    F_COUNT
};

static const char *const names[F_COUNT] = {
    [F_PREFIX] = "prefix",          [F_GROUP] = "group",
    [F_HOOK] = "hook",              [F_MARK] = "mark",
    [F_IIF] = "iif",                [F_IIFNAME] = "iifname",
    [F_OIF] = "oif",                [F_OIFNAME] = "oifname",
    [F_PHYSIIF] = "physiif",        [F_PHYSIIFNAME] = "physiifname",
    [F_PHYSOIF] = "physoif",        [F_PHYSOIFNAME] = "physoifname",
    [F_UID] = "uid",                [F_GID] = "gid",
    [F_HWTYPE] = "hwtype",          [F_HWADDR] = "hwaddr",
    [F_HW_PROTOCOL] = "hw_protocol", [F_HWHEADER] = "hwheader",
    [F_VLAN] = "vlan",              [F_TIMESTAMP] = "timestamp",
    [F_SEQ_LOCAL] = "seq_local",    [F_SEQ_GLOBAL] = "seq_global",
    [F_CT_STATE] = "ct_state",      [F_CT_DIR] = "ct_dir",
    [F_CT] = "ct",                  [F_HOOKNUM] = "hooknum",
};

static void emit_cstr(const struct nurs_emit *e, void *ctx, const char *key, const char *s)
{
    e->string(ctx, key, s, strlen(s));
}

static bool emit_u32(const struct nurs_nflog_msg *m, int nfula, const char *key,
                     const struct nurs_emit *e, void *ctx)
{
    uint32_t v;
    if (!nurs_nflog_u32(m, nfula, &v))
        return false;
    e->integer(ctx, key, v);
    return true;
}

static bool emit_ifname(const struct nurs_nflog_msg *m, int nfula, const char *key,
                        const struct nurs_emit *e, void *ctx)
{
    uint32_t index;
    const char *name;
    if (!m->ifnames || !nurs_nflog_u32(m, nfula, &index) ||
        !(name = nurs_ifnames_get(m->ifnames, index, m->now_ms)))
        return false;
    emit_cstr(e, ctx, key, name);
    return true;
}

/* "aa:bb:cc", as iptables' and nft's log lines print MAC= */
static void emit_hex(const uint8_t *b, size_t len, const char *key, const struct nurs_emit *e,
                     void *ctx)
{
    static const char digits[] = "0123456789abcdef";
    char text[3 * 256];
    if (len > 256)
        len = 256;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (i)
            text[n++] = ':';
        text[n++] = digits[b[i] >> 4];
        text[n++] = digits[b[i] & 15];
    }
    e->string(ctx, key, text, n);
}

/* nft's `ct state` words and `ct direction` from ip_conntrack_info. */
static bool emit_ctinfo(const struct nurs_nflog_msg *m, bool dir, const char *key,
                        const struct nurs_emit *e, void *ctx)
{
    static const char *const states[] = {"established", "related", "new", "established",
                                         "related"};
    uint32_t info;
    if (!nurs_nflog_ctinfo(m, &info))
        return false;
    if (info == 7) { /* IP_CT_UNTRACKED */
        if (dir)
            return false;
        emit_cstr(e, ctx, key, "untracked");
        return true;
    }
    if (info >= 5)
        return false;
    emit_cstr(e, ctx, key, dir ? (info >= 3 ? "reply" : "original") : states[info]);
    return true;
}

static bool emit_ct(struct nurs_nflog_msg *m, const char *key, const struct nurs_emit *e,
                    void *ctx)
{
    struct nurs_ct_msg *ct = nurs_nflog_ct(m);
    if (!ct)
        return false;
    e->object_begin(ctx, key);
    /* Every conntrack field but `event`: an entry sent with a packet is
     * no event. */
    for (int f = NURS_CTF_EVENT + 1; f < NURS_CTF_STATUS_BITS; f++)
        nurs_ct_emit_field(ct, (enum nurs_ct_field)f, e, ctx);
    e->object_end(ctx);
    return true;
}

static bool emit(const void *meta, int field, const struct nurs_emit *e, void *ctx)
{
    /* Decoding the conntrack nest is lazy and cached in the message. */
    struct nurs_nflog_msg *m = (struct nurs_nflog_msg *)meta;
    const char *key = names[field];
    const char *s;
    size_t len;
    const uint8_t *b;
    uint8_t hook;
    uint16_t u16;
    bool from_kernel;

    switch ((enum nflog_field)field) {
    case F_PREFIX:
        if (!nurs_nflog_prefix(m, &s, &len))
            return false;
        e->string(ctx, key, s, len);
        return true;
    case F_GROUP:
        e->integer(ctx, key, m->group);
        return true;
    case F_HOOK:
        if (!nurs_nflog_hook(m, &hook))
            return false;
        if ((s = nurs_nflog_hook_name(m->family, hook)))
            emit_cstr(e, ctx, key, s);
        else
            e->integer(ctx, key, hook);
        return true;
    case F_HOOKNUM:
        if (!nurs_nflog_hook(m, &hook))
            return false;
        e->integer(ctx, key, hook);
        return true;
    case F_MARK:
        return emit_u32(m, NFULA_MARK, key, e, ctx);
    case F_IIF:
        return emit_u32(m, NFULA_IFINDEX_INDEV, key, e, ctx);
    case F_IIFNAME:
        return emit_ifname(m, NFULA_IFINDEX_INDEV, key, e, ctx);
    case F_OIF:
        return emit_u32(m, NFULA_IFINDEX_OUTDEV, key, e, ctx);
    case F_OIFNAME:
        return emit_ifname(m, NFULA_IFINDEX_OUTDEV, key, e, ctx);
    case F_PHYSIIF:
        return emit_u32(m, NFULA_IFINDEX_PHYSINDEV, key, e, ctx);
    case F_PHYSIIFNAME:
        return emit_ifname(m, NFULA_IFINDEX_PHYSINDEV, key, e, ctx);
    case F_PHYSOIF:
        return emit_u32(m, NFULA_IFINDEX_PHYSOUTDEV, key, e, ctx);
    case F_PHYSOIFNAME:
        return emit_ifname(m, NFULA_IFINDEX_PHYSOUTDEV, key, e, ctx);
    case F_UID:
        return emit_u32(m, NFULA_UID, key, e, ctx);
    case F_GID:
        return emit_u32(m, NFULA_GID, key, e, ctx);
    case F_HWTYPE:
        if (!nurs_nflog_u16(m, NFULA_HWTYPE, &u16))
            return false;
        e->integer(ctx, key, u16);
        return true;
    case F_HWADDR:
        if (!nurs_nflog_hwaddr(m, &b, &len))
            return false;
        emit_hex(b, len, key, e, ctx);
        return true;
    case F_HW_PROTOCOL:
        if (!nurs_nflog_hw_protocol(m, &u16) || u16 == 0)
            return false;
        e->integer(ctx, key, u16);
        return true;
    case F_HWHEADER:
        if (!nurs_nflog_bytes(m, NFULA_HWHEADER, &b, &len) || len == 0)
            return false;
        emit_hex(b, len, key, e, ctx);
        return true;
    case F_VLAN:
        if (!nurs_nflog_vlan(m, &u16))
            return false;
        e->integer(ctx, key, u16 & 0x0fff);
        return true;
    case F_TIMESTAMP:
        e->integer(ctx, key, (long long)nurs_nflog_timestamp_ns(m, &from_kernel));
        return true;
    case F_SEQ_LOCAL:
        return emit_u32(m, NFULA_SEQ, key, e, ctx);
    case F_SEQ_GLOBAL:
        return emit_u32(m, NFULA_SEQ_GLOBAL, key, e, ctx);
    case F_CT_STATE:
    case F_CT_DIR:
        return emit_ctinfo(m, field == F_CT_DIR, key, e, ctx);
    case F_CT:
        return emit_ct(m, key, e, ctx);
    case F_COUNT:
        break;
    }
    return false;
}

static const char *family(const void *meta)
{
    return nurs_nfproto_name(((const struct nurs_nflog_msg *)meta)->family);
}

static uint64_t timestamp_ns(const void *meta)
{
    bool from_kernel;
    return nurs_nflog_timestamp_ns(meta, &from_kernel);
}

static bool nflog_attrs(const void *meta, uint8_t *fam, uint16_t *group, const void **attrs,
                        size_t *len)
{
    const struct nurs_nflog_msg *m = meta;
    size_t hdr = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
    *fam = m->family;
    *group = m->group;
    *attrs = (const uint8_t *)m->nlh + hdr;
    *len = m->nlh->nlmsg_len > hdr ? m->nlh->nlmsg_len - hdr : 0;
    return true;
}

static void payload(const void *meta, const uint8_t **p, size_t *len, enum nurs_pkt_l3 *hint)
{
    const struct nurs_nflog_msg *m = meta;
    *p = nurs_nflog_payload(m, len);
    *hint = nurs_nflog_l3_hint(m);
}

static const struct nurs_packet_meta nflog_meta = {
    .names = names,
    .count = F_COUNT,
    .walked = F_WALKED,
    .emit = emit,
    .payload = payload,
    .family = family,
    .timestamp_ns = timestamp_ns,
    .nflog_attrs = nflog_attrs,
};

NURS_PACKET_CLASS(nurs_nflog_class, "nflog record", &nflog_meta, F_COUNT);
