#include "netlink/ct_msg.h"

#include "netlink/socket.h"

#include <endian.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>

#include "core/addr.h"

/* Attributes of conntrack messages: a tuple or counters that do not frame
 * end the walk quietly, as with libmnl, a too-short one fails it. */
static bool walk_nested(const struct nlattr *nest, const struct nlattr **tb, int max,
                        const int *min_len)
{
    return nurs_nla_parse_nested(nest, tb, max, min_len, false);
}

static const int top_types[CTA_MAX + 1] = {
    [CTA_TUPLE_ORIG] = NURS_NLA_NESTED,
    [CTA_TUPLE_REPLY] = NURS_NLA_NESTED,
    [CTA_TUPLE_MASTER] = NURS_NLA_NESTED,
    [CTA_PROTOINFO] = NURS_NLA_NESTED,
    [CTA_HELP] = NURS_NLA_NESTED,
    [CTA_COUNTERS_ORIG] = NURS_NLA_NESTED,
    [CTA_COUNTERS_REPLY] = NURS_NLA_NESTED,
    [CTA_TIMESTAMP] = NURS_NLA_NESTED,
    [CTA_SECCTX] = NURS_NLA_NESTED,
    [CTA_STATUS] = 4,
    [CTA_TIMEOUT] = 4,
    [CTA_MARK] = 4,
    [CTA_USE] = 4,
    [CTA_ID] = 4,
    [CTA_ZONE] = 2,
};

bool nurs_ct_msg_is_entry(const struct nlmsghdr *nlh)
{
    if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_CTNETLINK)
        return false;
    int msg = NFNL_MSG_TYPE(nlh->nlmsg_type);
    return msg == IPCTNL_MSG_CT_NEW || msg == IPCTNL_MSG_CT_DELETE;
}

int nurs_ct_msg_parse(struct nurs_ct_msg *m, const struct nlmsghdr *nlh,
                      bool from_dump, const char **why)
{
    memset(m, 0, offsetof(struct nurs_ct_msg, tuple));
    m->nlh = nlh;
    if (!nurs_ct_msg_is_entry(nlh)) {
        *why = "not a conntrack entry message";
        return -1;
    }
    if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nfgenmsg)) {
        *why = "message shorter than its nfgenmsg header";
        return -1;
    }
    const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
    m->family = nfg->nfgen_family;
    if (m->family != AF_INET && m->family != AF_INET6) {
        *why = "unknown address family";
        return -1;
    }
    if (NFNL_MSG_TYPE(nlh->nlmsg_type) == IPCTNL_MSG_CT_DELETE)
        m->event = NURS_CT_EVENT_DESTROY;
    else if (from_dump)
        m->event = NURS_CT_EVENT_DUMP;
    else if (nlh->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL))
        m->event = NURS_CT_EVENT_NEW;
    else
        m->event = NURS_CT_EVENT_UPDATE;

    size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
    if (!nurs_nla_parse((const char *)nlh + off, nlh->nlmsg_len > off ? nlh->nlmsg_len - off : 0,
                        m->tb, CTA_MAX, top_types, false)) {
        *why = "malformed conntrack attribute";
        return -1;
    }
    if (!m->tb[CTA_TUPLE_ORIG]) {
        *why = "conntrack message without an original tuple";
        return -1;
    }
    return 0;
}

int nurs_ct_msg_parse_nest(struct nurs_ct_msg *m, const struct nlattr *nest, uint8_t family,
                           const char **why)
{
    memset(m, 0, offsetof(struct nurs_ct_msg, tuple));
    m->event = NURS_CT_EVENT_DUMP;
    m->family = family;
    if (family != AF_INET && family != AF_INET6) {
        *why = "unknown address family";
        return -1;
    }
    if (!walk_nested(nest, m->tb, CTA_MAX, top_types)) {
        *why = "malformed conntrack attribute";
        return -1;
    }
    if (!m->tb[CTA_TUPLE_ORIG]) {
        *why = "conntrack attributes without an original tuple";
        return -1;
    }
    return 0;
}

/* ---- lazily parsed nested tables ---- */

/* Parses `nest` into tb[0..max] once; a malformed nest reads as absent. */
static bool parse_nested_once(struct nurs_ct_msg *m, unsigned bit, const struct nlattr *nest,
                              const struct nlattr **tb, int max, const int *types)
{
    if (m->parsed & bit)
        return !(m->malformed & bit) && nest;
    m->parsed |= bit;
    memset(tb, 0, sizeof(*tb) * (size_t)(max + 1));
    if (!nest)
        return false;
    if (!walk_nested(nest, tb, max, types)) {
        memset(tb, 0, sizeof(*tb) * (size_t)(max + 1));
        m->malformed |= bit;
        return false;
    }
    return true;
}

static const int tuple_types[CTA_TUPLE_MAX + 1] = {
    [CTA_TUPLE_UNSPEC] = NURS_NLA_ANY,
    [CTA_TUPLE_IP] = NURS_NLA_NESTED,
    [CTA_TUPLE_PROTO] = NURS_NLA_NESTED,
    [CTA_TUPLE_ZONE] = 2,
};
static const int ip_types[CTA_IP_MAX + 1] = {
    [CTA_IP_UNSPEC] = NURS_NLA_ANY,
    [CTA_IP_V4_SRC] = 4,
    [CTA_IP_V4_DST] = 4,
    [CTA_IP_V6_SRC] = NURS_NLA_ANY,
    [CTA_IP_V6_DST] = NURS_NLA_ANY,
};
static const int proto_types[CTA_PROTO_MAX + 1] = {
    [CTA_PROTO_UNSPEC] = NURS_NLA_ANY,
    [CTA_PROTO_NUM] = 1,
    [CTA_PROTO_SRC_PORT] = 2,
    [CTA_PROTO_DST_PORT] = 2,
    [CTA_PROTO_ICMP_ID] = 2,
    [CTA_PROTO_ICMP_TYPE] = 1,
    [CTA_PROTO_ICMP_CODE] = 1,
    [CTA_PROTO_ICMPV6_ID] = 2,
    [CTA_PROTO_ICMPV6_TYPE] = 1,
    [CTA_PROTO_ICMPV6_CODE] = 1,
};
static const int counters_types[CTA_COUNTERS_MAX + 1] = {
    [CTA_COUNTERS_UNSPEC] = NURS_NLA_ANY,
    [CTA_COUNTERS_PACKETS] = 8,
    [CTA_COUNTERS_BYTES] = 8,
    [CTA_COUNTERS32_PACKETS] = 4,
    [CTA_COUNTERS32_BYTES] = 4,
    [CTA_COUNTERS_PAD] = NURS_NLA_ANY,
};
static const int protoinfo_types[CTA_PROTOINFO_MAX + 1] = {
    [CTA_PROTOINFO_UNSPEC] = NURS_NLA_ANY,
    [CTA_PROTOINFO_TCP] = NURS_NLA_NESTED,
    [CTA_PROTOINFO_DCCP] = NURS_NLA_NESTED,
    [CTA_PROTOINFO_SCTP] = NURS_NLA_NESTED,
};
/* The state is the first attribute of each protoinfo nest, a u8. */
static const int state_types[8] = {[1] = 1};
static const int timestamp_types[CTA_TIMESTAMP_MAX + 1] = {
    [CTA_TIMESTAMP_UNSPEC] = NURS_NLA_ANY,
    [CTA_TIMESTAMP_START] = 8,
    [CTA_TIMESTAMP_STOP] = 8,
    [CTA_TIMESTAMP_PAD] = NURS_NLA_ANY,
};
static const int name_types[CTA_HELP_MAX + 1] = {
    [CTA_HELP_UNSPEC] = NURS_NLA_ANY,
    [CTA_HELP_NAME] = NURS_NLA_STRING,
};

static const struct nlattr *tuple_attr(const struct nurs_ct_msg *m, enum nurs_ct_dir dir)
{
    static const int cta[] = {CTA_TUPLE_ORIG, CTA_TUPLE_REPLY, CTA_TUPLE_MASTER};
    return m->tb[cta[dir]];
}

bool nurs_ct_tuple_walk(const struct nlattr *nest, struct nurs_ct_tuple *t)
{
    const struct nlattr *tb[CTA_TUPLE_MAX + 1] = {0};
    memset(t, 0, sizeof *t);
    if (!walk_nested(nest, tb, CTA_TUPLE_MAX, tuple_types))
        return false;
    t->zone = tb[CTA_TUPLE_ZONE];
    /* A bad inner nest makes the whole tuple unreadable, as conntrack
     * itself would. */
    if ((tb[CTA_TUPLE_IP] && !walk_nested(tb[CTA_TUPLE_IP], t->ip, CTA_IP_MAX, ip_types)) ||
        (tb[CTA_TUPLE_PROTO] &&
         !walk_nested(tb[CTA_TUPLE_PROTO], t->proto, CTA_PROTO_MAX, proto_types))) {
        memset(t, 0, sizeof *t);
        return false;
    }
    return true;
}

const struct nurs_ct_tuple *nurs_ct_tuple_parse(struct nurs_ct_msg *m, enum nurs_ct_dir dir)
{
    static const unsigned bits[] = {NURS_CT_N_TUPLE_ORIG, NURS_CT_N_TUPLE_REPLY,
                                    NURS_CT_N_TUPLE_MASTER};
    unsigned bit = bits[dir];
    struct nurs_ct_tuple *t = &m->tuple[dir];
    if (m->parsed & bit)
        return (m->malformed & bit) || !tuple_attr(m, dir) ? NULL : t;
    m->parsed |= bit;
    const struct nlattr *nest = tuple_attr(m, dir);
    if (!nest) {
        memset(t, 0, sizeof *t);
        return NULL;
    }
    if (!nurs_ct_tuple_walk(nest, t)) {
        m->malformed |= bit;
        return NULL;
    }
    return t;
}

bool nurs_ct_u32(const struct nurs_ct_msg *m, int cta, uint32_t *v)
{
    if (cta < 0 || cta > CTA_MAX || !m->tb[cta])
        return false;
    *v = nurs_ct_attr_be32(m->tb[cta]);
    return true;
}

bool nurs_ct_zone(const struct nurs_ct_msg *m, uint16_t *v)
{
    if (!m->tb[CTA_ZONE])
        return false;
    *v = nurs_ct_attr_be16(m->tb[CTA_ZONE]);
    return true;
}

bool nurs_ct_protonum(struct nurs_ct_msg *m, uint8_t *v)
{
    const struct nurs_ct_tuple *t = nurs_ct_tuple(m, NURS_CT_ORIG);
    if (!t || !t->proto[CTA_PROTO_NUM])
        return false;
    *v = nurs_ct_attr_u8(t->proto[CTA_PROTO_NUM]);
    return true;
}

size_t nurs_ct_addr_raw(struct nurs_ct_msg *m, enum nurs_ct_dir dir, bool dst,
                        const void **bytes)
{
    const struct nurs_ct_tuple *t = nurs_ct_tuple(m, dir);
    return t ? nurs_ct_tuple_addr(t, dst, bytes) : 0;
}

bool nurs_ct_addr(struct nurs_ct_msg *m, enum nurs_ct_dir dir, bool dst, char *buf,
                  size_t len)
{
    const void *raw;
    size_t n = nurs_ct_addr_raw(m, dir, dst, &raw);
    return n != 0 && nurs_addr_text(raw, n, buf, len);
}

bool nurs_ct_port(struct nurs_ct_msg *m, enum nurs_ct_dir dir, bool dst, uint16_t *v)
{
    const struct nurs_ct_tuple *t = nurs_ct_tuple(m, dir);
    return t && nurs_ct_tuple_port(t, dst, v);
}

bool nurs_ct_icmp(struct nurs_ct_msg *m, enum nurs_ct_dir dir, uint8_t *type, uint8_t *code,
                  uint16_t *id)
{
    const struct nurs_ct_tuple *t = nurs_ct_tuple(m, dir);
    return t && nurs_ct_tuple_icmp(t, type, code, id);
}

bool nurs_ct_tuple_zone(struct nurs_ct_msg *m, enum nurs_ct_dir dir, uint16_t *v)
{
    const struct nurs_ct_tuple *t = nurs_ct_tuple(m, dir);
    if (!t || !t->zone)
        return false;
    *v = nurs_ct_attr_be16(t->zone);
    return true;
}

bool nurs_ct_counters(struct nurs_ct_msg *m, enum nurs_ct_dir dir, uint64_t *packets,
                      uint64_t *bytes)
{
    if (dir > NURS_CT_REPLY)
        return false;
    unsigned bit = dir == NURS_CT_ORIG ? NURS_CT_N_COUNTERS_ORIG : NURS_CT_N_COUNTERS_REPLY;
    const struct nlattr **tb = m->counters[dir];
    if (!parse_nested_once(m, bit, m->tb[dir == NURS_CT_ORIG ? CTA_COUNTERS_ORIG : CTA_COUNTERS_REPLY],
                           tb, CTA_COUNTERS_MAX, counters_types))
        return false;
    if (tb[CTA_COUNTERS_PACKETS] && tb[CTA_COUNTERS_BYTES]) {
        *packets = nurs_ct_attr_be64(tb[CTA_COUNTERS_PACKETS]);
        *bytes = nurs_ct_attr_be64(tb[CTA_COUNTERS_BYTES]);
        return true;
    }
    if (tb[CTA_COUNTERS32_PACKETS] && tb[CTA_COUNTERS32_BYTES]) {
        *packets = nurs_ct_attr_be32(tb[CTA_COUNTERS32_PACKETS]);
        *bytes = nurs_ct_attr_be32(tb[CTA_COUNTERS32_BYTES]);
        return true;
    }
    return false;
}

static const char *const tcp_states[] = {
    "NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT",
    "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2",
};
static const char *const sctp_states[] = {
    "NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED",
    "SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT", "HEARTBEAT_SENT",
    "HEARTBEAT_ACKED",
};
static const char *const dccp_states[] = {
    "NONE", "REQUEST", "RESPOND", "PARTOPEN", "OPEN", "CLOSEREQ", "CLOSING",
    "TIMEWAIT", "IGNORE", "INVALID",
};

/* The state attribute (the first of each protoinfo nest) of protoinfo
 * kind `cta`; false if the entry has none. */
static bool protoinfo_state(struct nurs_ct_msg *m, int cta, uint8_t *state)
{
    if (!parse_nested_once(m, NURS_CT_N_PROTOINFO, m->tb[CTA_PROTOINFO], m->protoinfo,
                           CTA_PROTOINFO_MAX, protoinfo_types))
        return false;
    const struct nlattr *nest = m->protoinfo[cta];
    const struct nlattr *tb[8] = {0};
    if (!nest || !walk_nested(nest, tb, 7, state_types) || !tb[1])
        return false;
    *state = nurs_ct_attr_u8(tb[1]);
    return true;
}

bool nurs_ct_tcp_state(struct nurs_ct_msg *m, uint8_t *state)
{
    return protoinfo_state(m, CTA_PROTOINFO_TCP, state);
}

const char *nurs_ct_state_name(struct nurs_ct_msg *m)
{
    static const struct {
        int cta;
        const char *const *names;
        size_t n;
    } kinds[] = {
        {CTA_PROTOINFO_TCP, tcp_states, sizeof tcp_states / sizeof *tcp_states},
        {CTA_PROTOINFO_SCTP, sctp_states, sizeof sctp_states / sizeof *sctp_states},
        {CTA_PROTOINFO_DCCP, dccp_states, sizeof dccp_states / sizeof *dccp_states},
    };
    if (!parse_nested_once(m, NURS_CT_N_PROTOINFO, m->tb[CTA_PROTOINFO], m->protoinfo,
                           CTA_PROTOINFO_MAX, protoinfo_types))
        return NULL;
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        if (!m->protoinfo[kinds[k].cta])
            continue;
        uint8_t state;
        if (!protoinfo_state(m, kinds[k].cta, &state))
            return NULL;
        return state < kinds[k].n ? kinds[k].names[state] : "UNKNOWN";
    }
    return NULL;
}

bool nurs_ct_timestamp(struct nurs_ct_msg *m, bool stop, uint64_t *ns)
{
    if (!parse_nested_once(m, NURS_CT_N_TIMESTAMP, m->tb[CTA_TIMESTAMP], m->timestamp,
                           CTA_TIMESTAMP_MAX, timestamp_types))
        return false;
    const struct nlattr *a = m->timestamp[stop ? CTA_TIMESTAMP_STOP : CTA_TIMESTAMP_START];
    if (!a)
        return false;
    *ns = nurs_ct_attr_be64(a);
    return true;
}

static const char *nested_name(struct nurs_ct_msg *m, unsigned bit, int cta,
                               const struct nlattr **slot)
{
    /* CTA_HELP_NAME and CTA_SECCTX_NAME are both attribute 1, a string. */
    const struct nlattr *tb[CTA_HELP_MAX + 1];
    if (!(m->parsed & bit)) {
        if (parse_nested_once(m, bit, m->tb[cta], tb, CTA_HELP_MAX, name_types))
            *slot = tb[CTA_HELP_NAME];
    }
    return *slot ? mnl_attr_get_str(*slot) : NULL;
}

const char *nurs_ct_helper(struct nurs_ct_msg *m)
{
    return nested_name(m, NURS_CT_N_HELP, CTA_HELP, &m->helper_name);
}

const char *nurs_ct_secctx(struct nurs_ct_msg *m)
{
    return nested_name(m, NURS_CT_N_SECCTX, CTA_SECCTX, &m->secctx_name);
}

bool nurs_ct_labels(const struct nurs_ct_msg *m, const uint8_t **bits, size_t *len)
{
    const struct nlattr *a = m->tb[CTA_LABELS];
    if (!a)
        return false;
    *bits = mnl_attr_get_payload(a);
    *len = mnl_attr_get_payload_len(a);
    return true;
}

const char *nurs_ct_event_name(enum nurs_ct_event ev)
{
    static const char *const names[] = {"dump", "new", "update", "destroy"};
    return names[ev];
}

const char *nurs_ct_proto_name(uint8_t protonum)
{
    switch (protonum) {
    case 1: return "icmp";
    case 2: return "igmp";
    case 6: return "tcp";
    case 17: return "udp";
    case 33: return "dccp";
    case 41: return "ipv6";
    case 47: return "gre";
    case 50: return "esp";
    case 51: return "ah";
    case 58: return "icmpv6";
    case 132: return "sctp";
    case 136: return "udplite";
    default: return NULL;
    }
}

const char *nurs_ct_status_name(unsigned bit)
{
    static const char *const names[] = {
        "EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED", "SRC_NAT", "DST_NAT",
        "SEQ_ADJUST", "SRC_NAT_DONE", "DST_NAT_DONE", "DYING", "FIXED_TIMEOUT",
        "TEMPLATE", "NAT_CLASH", "HELPER", "OFFLOAD", "HW_OFFLOAD",
    };
    return bit < sizeof names / sizeof *names ? names[bit] : NULL;
}
