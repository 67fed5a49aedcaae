/* The NFQUEUE record's class: the queue's metadata (queue, id, hook,
 * marks, interfaces, conntrack state...), named as nft names them where it
 * has a name (iif, oifname, ct state...), then the packet views. Records
 * borrow a struct nurs_nfq_packet. */
#include "sources/nfqueue/record.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "core/host.h"
#include "netlink/ct_msg.h"
#include "records/pkt_fields.h"

enum nfq_field {
    F_QUEUE,
    F_ID,
    F_HOOK,
    F_HW_PROTOCOL,
    F_MARK,
    F_IIF,
    F_OIF,
    F_IIFNAME,
    F_OIFNAME,
    F_PHYSIIF,
    F_PHYSOIF,
    F_PHYSIIFNAME,
    F_PHYSOIFNAME,
    F_TIME,
    F_HWADDR,
    F_UID,
    F_GID,
    F_SECCTX,
    F_CT_STATE,
    F_CT_DIR,
    F_CT_MARK,
    F_CT_ID,
    F_CT_STATUS,
    F_LEN,
    F_GSO,
    F_PRIORITY,
    F_VLAN,
    F_COUNT
};

static const char *const field_names[F_COUNT] = {
    [F_QUEUE] = "queue",         [F_ID] = "id",
    [F_HOOK] = "hook",           [F_HW_PROTOCOL] = "hw_protocol",
    [F_MARK] = "mark",           [F_IIF] = "iif",
    [F_OIF] = "oif",             [F_IIFNAME] = "iifname",
    [F_OIFNAME] = "oifname",     [F_PHYSIIF] = "physiif",
    [F_PHYSOIF] = "physoif",     [F_PHYSIIFNAME] = "physiifname",
    [F_PHYSOIFNAME] = "physoifname", [F_TIME] = "time",
    [F_HWADDR] = "hwaddr",       [F_UID] = "uid",
    [F_GID] = "gid",             [F_SECCTX] = "secctx",
    [F_CT_STATE] = "ct_state",   [F_CT_DIR] = "ct_dir",
    [F_CT_MARK] = "ct_mark",     [F_CT_ID] = "ct_id",
    [F_CT_STATUS] = "ct_status", [F_LEN] = "len",
    [F_GSO] = "gso",             [F_PRIORITY] = "priority",
    [F_VLAN] = "vlan",
};

static void emit_cstr(const struct nurs_emit *e, void *ctx, const char *key, const char *s)
{
    e->string(ctx, key, s, strlen(s));
}

/* An interface name in the queue's network namespace (not necessarily
 * ours), cached for a few seconds. */
static bool emit_ifname(const struct nurs_nfq_packet *p, int nfqa, const struct nurs_emit *e,
                        void *ctx, const char *key)
{
    uint32_t index;
    if (!nurs_nfq_u32(p->msg, nfqa, &index) || p->src->ifnames.fd < 0)
        return false;
    const char *name =
        nurs_ifnames_get(&p->src->ifnames, index, uv_now(p->src->res.host->loop));
    if (!name)
        return false;
    emit_cstr(e, ctx, key, name);
    return true;
}

static bool emit_u32(const struct nurs_nfq_msg *m, int nfqa, const struct nurs_emit *e,
                     void *ctx, const char *key)
{
    uint32_t v;
    if (!nurs_nfq_u32(m, nfqa, &v))
        return false;
    e->integer(ctx, key, v);
    return true;
}

static bool emit_ct_status(const struct nurs_nfq_msg *m, const struct nurs_emit *e, void *ctx,
                           const char *key)
{
    uint32_t bits;
    if (!nurs_nfq_ct_u32(m, CTA_STATUS, &bits))
        return false;
    e->array_begin(ctx, key);
    for (unsigned b = 0; b < 32; b++) {
        const char *name = (bits >> b) & 1 ? nurs_ct_status_name(b) : NULL;
        if (name)
            emit_cstr(e, ctx, NULL, name);
    }
    e->array_end(ctx);
    return true;
}

static bool emit_meta(const void *meta, int field, const struct nurs_emit *e, void *ctx)
{
    const struct nurs_nfq_packet *p = meta;
    const struct nurs_nfq_msg *m = p->msg;
    const char *key = field_names[field];
    uint32_t v;
    switch ((enum nfq_field)field) {
    case F_QUEUE:
        e->integer(ctx, key, m->queue);
        return true;
    case F_ID:
        e->integer(ctx, key, m->id);
        return true;
    case F_HOOK: {
        const char *name = nurs_nfq_hook_name(m->family, m->hook);
        if (!name)
            return false;
        emit_cstr(e, ctx, key, name);
        return true;
    }
    case F_HW_PROTOCOL:
        e->integer(ctx, key, m->hw_protocol);
        return true;
    case F_MARK:
        return emit_u32(m, NFQA_MARK, e, ctx, key);
    case F_IIF:
        return emit_u32(m, NFQA_IFINDEX_INDEV, e, ctx, key);
    case F_OIF:
        return emit_u32(m, NFQA_IFINDEX_OUTDEV, e, ctx, key);
    case F_PHYSIIF:
        return emit_u32(m, NFQA_IFINDEX_PHYSINDEV, e, ctx, key);
    case F_PHYSOIF:
        return emit_u32(m, NFQA_IFINDEX_PHYSOUTDEV, e, ctx, key);
    case F_IIFNAME:
        return emit_ifname(p, NFQA_IFINDEX_INDEV, e, ctx, key);
    case F_OIFNAME:
        return emit_ifname(p, NFQA_IFINDEX_OUTDEV, e, ctx, key);
    case F_PHYSIIFNAME:
        return emit_ifname(p, NFQA_IFINDEX_PHYSINDEV, e, ctx, key);
    case F_PHYSOIFNAME:
        return emit_ifname(p, NFQA_IFINDEX_PHYSOUTDEV, e, ctx, key);
    case F_TIME: {
        uint64_t sec, usec;
        if (!nurs_nfq_timestamp(m, &sec, &usec))
            return false;
        e->integer(ctx, key, (long long)(sec * 1000000000u + usec * 1000u));
        return true;
    }
    case F_HWADDR: {
        const uint8_t *a;
        size_t n;
        if (!nurs_nfq_hwaddr(m, &a, &n))
            return false;
        char text[3 * 8];
        for (size_t i = 0; i < n; i++)
            snprintf(text + 3 * i, sizeof text - 3 * i, "%s%02x", i ? ":" : "", a[i]);
        emit_cstr(e, ctx, key, text);
        return true;
    }
    case F_UID:
        return emit_u32(m, NFQA_UID, e, ctx, key);
    case F_GID:
        return emit_u32(m, NFQA_GID, e, ctx, key);
    case F_SECCTX: {
        size_t n;
        const char *s = nurs_nfq_secctx(m, &n);
        if (!s)
            return false;
        e->string(ctx, key, s, n);
        return true;
    }
    case F_CT_STATE:
    case F_CT_DIR: {
        if (!nurs_nfq_u32(m, NFQA_CT_INFO, &v) || !nurs_nfq_ctinfo_name(v))
            return false;
        /* enum ip_conntrack_info: replies are IP_CT_IS_REPLY (3) and up */
        static const char *const states[] = {"established", "related", "new", "established",
                                             "related"};
        if (field == F_CT_STATE)
            emit_cstr(e, ctx, key, states[v]);
        else
            emit_cstr(e, ctx, key, v >= 3 ? "reply" : "original");
        return true;
    }
    case F_CT_MARK:
    case F_CT_ID:
        if (!nurs_nfq_ct_u32(m, field == F_CT_MARK ? CTA_MARK : CTA_ID, &v))
            return false;
        e->integer(ctx, key, v);
        return true;
    case F_CT_STATUS:
        return emit_ct_status(m, e, ctx, key);
    case F_LEN: {
        /* The whole packet: the kernel says so when the copy was cut. */
        const uint8_t *data;
        size_t n;
        if (nurs_nfq_u32(m, NFQA_CAP_LEN, &v))
            e->integer(ctx, key, v);
        else if (nurs_nfq_payload(m, &data, &n))
            e->integer(ctx, key, (long long)n);
        else
            return false;
        return true;
    }
    case F_GSO:
        if (!nurs_nfq_u32(m, NFQA_SKB_INFO, &v))
            return false;
        nurs_emit_bool(e, ctx, key, v & NFQA_SKB_GSO);
        return true;
    case F_PRIORITY:
        return emit_u32(m, NFQA_PRIORITY, e, ctx, key);
    case F_VLAN: {
        uint16_t proto, tci;
        if (!nurs_nfq_vlan(m, &proto, &tci))
            return false;
        e->integer(ctx, key, tci & 0x0fff);
        return true;
    }
    case F_COUNT:
        break;
    }
    return false;
}

static const char *meta_family(const void *meta)
{
    const struct nurs_nfq_packet *p = meta;
    switch (p->msg->family) {
    case NFPROTO_IPV4:
        return "ipv4";
    case NFPROTO_IPV6:
        return "ipv6";
    case NFPROTO_ARP:
        return "arp";
    case NFPROTO_BRIDGE:
        return "bridge";
    default:
        return NULL;
    }
}


static enum nurs_pkt_l3 l3_hint(const struct nurs_nfq_msg *m)
{
    switch (m->family) {
    case NFPROTO_IPV4:
        return NURS_PKT_L3_IPV4;
    case NFPROTO_IPV6:
        return NURS_PKT_L3_IPV6;
    case NFPROTO_BRIDGE:
        return m->hw_protocol == 0x0800   ? NURS_PKT_L3_IPV4
               : m->hw_protocol == 0x86dd ? NURS_PKT_L3_IPV6
                                          : NURS_PKT_L3_NONE;
    default:
        return NURS_PKT_L3_NONE;
    }
}

static void payload(const void *meta, const uint8_t **p, size_t *len, enum nurs_pkt_l3 *hint)
{
    const struct nurs_nfq_msg *m = ((const struct nurs_nfq_packet *)meta)->msg;
    if (!nurs_nfq_payload(m, p, len)) {
        *p = NULL;
        *len = 0;
    }
    *hint = l3_hint(m);
}

static const struct nurs_packet_meta meta_ops = {
    .names = field_names,
    .count = F_COUNT,
    .walked = F_COUNT,
    .emit = emit_meta,
    .payload = payload,
    .family = meta_family,
};

NURS_PACKET_CLASS(nurs_nfq_class, "nfqueue record", &meta_ops, F_COUNT);
