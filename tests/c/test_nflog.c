/* The NFLOG decoder and its record fields: every attribute of a crafted
 * message (as JSON, through the walker every consumer uses), hook and
 * conntrack-state names, malformed attributes and truncations (rejected
 * or absent, never read out of bounds: heap copies under ASan), messages
 * the kernel sent (fixtures/nflog.pcap), and the interface-name cache. */
#include <arpa/inet.h>
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nfnetlink_log.h>

#include "ct_build.h"
#include "core/jsonw.h"
#include "netlink/ifnames.h"
#include "netlink/nflog_msg.h"
#include "netlink/pcap_nl.h"
#include "netlink/socket.h"
#include "records/nflog_fields.h"
#include "records/record.h"
#include "sinks/json/sink.h"
#include "pkt_build.h"
#include "tap.h"

static struct nurs_nflog_msg msg; /* large: the conntrack nest's tables */
static struct nurs_ifnames names;

static struct nlmsghdr *begin(char *buf, uint8_t family, uint16_t group)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
    struct nfgenmsg *nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
    nfg->nfgen_family = family;
    nfg->res_id = htons(group);
    return nlh;
}

static void put_hdr(struct nlmsghdr *nlh, uint16_t ethertype, uint8_t hook)
{
    struct nfulnl_msg_packet_hdr h = {.hw_protocol = htons(ethertype), .hook = hook};
    mnl_attr_put(nlh, NFULA_PACKET_HDR, sizeof h, &h);
}

static size_t udp_packet(uint8_t *b)
{
    size_t ip = pb_ipv4(b, 17, "192.0.2.1", "192.0.2.2", 8 + 2, 5, 0, 5);
    pb_udp(b + ip, 1000, 53, 10);
    memcpy(b + ip + 8, "hi", 2);
    return ip + 10;
}

/* The record's fields as JSON, as the JSON sink writes them. */
static const char *as_json(const struct nlmsghdr *nlh, uint64_t recv_ns)
{
    static struct nurs_jsonw w;
    const char *why = NULL;
    nurs_jsonw_free(&w);
    nurs_jsonw_init(&w);
    if (nurs_nflog_msg_parse(&msg, nlh, &why) < 0)
        return why;
    msg.recv_ns = recv_ns;
    msg.ifnames = &names;
    msg.now_ms = 1;
    nurs_jsonw_object_begin(&w, NULL);
    nurs_record_emit(&nurs_nflog_class, &msg, &nurs_jsonw_emitter, &w);
    nurs_jsonw_object_end(&w);
    nurs_jsonw_raw_char(&w, '\0');
    return w.buf;
}

/* One readable-only field, as text. */
static const char *field(const char *name)
{
    static char out[64];
    const struct nurs_packet_meta *m = nurs_nflog_class.packet;
    struct nurs_jsonw w;
    nurs_jsonw_init(&w);
    out[0] = '\0';
    for (int i = 0; i < m->count; i++) {
        if (strcmp(m->names[i], name) == 0 && m->emit(&msg, i, &nurs_jsonw_emitter, &w)) {
            nurs_jsonw_raw_char(&w, '\0');
            snprintf(out, sizeof out, "%s", strchr(w.buf, ':') + 1); /* the value */
        }
    }
    nurs_jsonw_free(&w);
    return out;
}

static void test_every_attribute(void)
{
    char buf[MNL_SOCKET_BUFFER_SIZE], ctbuf[MNL_SOCKET_BUFFER_SIZE];
    uint8_t pkt[64];
    size_t plen = udp_packet(pkt);
    struct nlmsghdr *nlh = begin(buf, NFPROTO_IPV4, 5);
    put_hdr(nlh, 0x0800, NF_INET_LOCAL_IN);
    mnl_attr_put(nlh, NFULA_PREFIX, 6, "web: ");
    mnl_attr_put_u32(nlh, NFULA_IFINDEX_INDEV, htonl(1));
    mnl_attr_put_u32(nlh, NFULA_IFINDEX_OUTDEV, htonl(999999));
    mnl_attr_put_u32(nlh, NFULA_IFINDEX_PHYSINDEV, htonl(1));
    mnl_attr_put_u32(nlh, NFULA_IFINDEX_PHYSOUTDEV, htonl(1));
    mnl_attr_put_u32(nlh, NFULA_MARK, htonl(42));
    struct nfulnl_msg_packet_hw hw = {.hw_addrlen = htons(6), .hw_addr = {2, 0, 0, 0, 0, 1}};
    mnl_attr_put(nlh, NFULA_HWADDR, sizeof hw, &hw);
    mnl_attr_put_u16(nlh, NFULA_HWTYPE, htons(1));
    uint8_t mac[14] = {0, 0x11, 0x22, 0x33, 0x44, 0x55, 2, 0, 0, 0, 0, 1, 8, 0};
    mnl_attr_put(nlh, NFULA_HWHEADER, sizeof mac, mac);
    mnl_attr_put_u16(nlh, NFULA_HWLEN, htons(14));
    struct nlattr *vlan = mnl_attr_nest_start(nlh, NFULA_VLAN);
    mnl_attr_put_u16(nlh, NFULA_VLAN_PROTO, htons(0x8100));
    mnl_attr_put_u16(nlh, NFULA_VLAN_TCI, htons(0x2064));
    mnl_attr_nest_end(nlh, vlan);
    struct nfulnl_msg_packet_timestamp ts = {htobe64(1700000000), htobe64(123456)};
    mnl_attr_put(nlh, NFULA_TIMESTAMP, sizeof ts, &ts);
    mnl_attr_put_u32(nlh, NFULA_UID, htonl(1000));
    mnl_attr_put_u32(nlh, NFULA_GID, htonl(100));
    mnl_attr_put_u32(nlh, NFULA_SEQ, htonl(7));
    mnl_attr_put_u32(nlh, NFULA_SEQ_GLOBAL, htonl(9));
    /* The conntrack entry, laid out as ctnetlink lays out its messages. */
    struct ct_build_opts o = {.family = AF_INET, .msg_type = IPCTNL_MSG_CT_NEW, .proto = 17,
                              .src = "192.0.2.1", .dst = "192.0.2.2", .sport = 1000,
                              .dport = 53, .status = 8, .id = 4242, .timeout = 30};
    struct nlmsghdr *ct = ct_build(ctbuf, &o);
    size_t ct_hdr = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
    struct nlattr *nest = mnl_attr_nest_start(nlh, NFULA_CT);
    memcpy(mnl_nlmsg_get_payload_tail(nlh), (char *)ct + ct_hdr, ct->nlmsg_len - ct_hdr);
    nlh->nlmsg_len += ct->nlmsg_len - (uint32_t)ct_hdr;
    mnl_attr_nest_end(nlh, nest);
    mnl_attr_put_u32(nlh, NFULA_CT_INFO, htonl(2));
    mnl_attr_put(nlh, NFULA_L2HDR, 4, "l2hd");
    mnl_attr_put(nlh, NFULA_PAYLOAD, plen, pkt);
    tap_is_str(as_json(nlh, 5),
               "{\"prefix\":\"web: \",\"group\":5,\"hook\":\"input\",\"mark\":42,\"iif\":1,"
               "\"iifname\":\"lo\",\"oif\":999999,\"physiif\":1,\"physiifname\":\"lo\","
               "\"physoif\":1,\"physoifname\":\"lo\",\"uid\":1000,\"gid\":100,\"hwtype\":1,"
               "\"hwaddr\":\"02:00:00:00:00:01\",\"hw_protocol\":2048,"
               "\"hwheader\":\"00:11:22:33:44:55:02:00:00:00:00:01:08:00\",\"vlan\":100,"
               "\"timestamp\":1700000000123456000,\"seq_local\":7,\"seq_global\":9,"
               "\"ct_state\":\"new\",\"ct_dir\":\"original\",\"ct\":{\"family\":\"ipv4\","
               "\"proto\":\"udp\",\"protonum\":17,\"orig\":{\"src\":\"192.0.2.1\","
               "\"dst\":\"192.0.2.2\",\"sport\":1000,\"dport\":53},\"reply\":{\"src\":"
               "\"192.0.2.2\",\"dst\":\"192.0.2.1\",\"sport\":53,\"dport\":1000},"
               "\"status\":[\"CONFIRMED\"],\"mark\":0,\"id\":4242,\"timeout\":30,"
               "\"use\":0},\"family\":\"ipv4\","
               "\"proto\":\"udp\",\"protonum\":17,\"src\":\"192.0.2.1\",\"dst\":\"192.0.2.2\","
               "\"sport\":1000,\"dport\":53,\"ttl\":64,\"tos\":16,\"ip_len\":30,\"ip_id\":5,"
               "\"df\":false,\"udp_len\":10,\"payload_offset\":28,\"payload_len\":2,\"caplen\":30}",
               "every NFLOG attribute, named, as JSON (oifname absent: no such interface)");
    tap_is_str(field("hooknum"), "1", "hooknum");

    /* The pcap NFLOG encoding copies every attribute but the payload. */
    const void *attrs;
    size_t alen;
    uint8_t fam;
    uint16_t group;
    tap_ok(nurs_nflog_class.packet->nflog_attrs(&msg, &fam, &group, &attrs, &alen) &&
               fam == NFPROTO_IPV4 && group == 5 &&
               alen == nlh->nlmsg_len - NLMSG_HDRLEN - NLMSG_ALIGN(sizeof(struct nfgenmsg)),
           "the attributes handed to the pcap sink are the message's");
}

static void test_names(void)
{
    static const struct {
        uint8_t family, hook;
        const char *name;
    } hooks[] = {
        {NFPROTO_IPV4, 0, "prerouting"}, {NFPROTO_IPV6, 2, "forward"},
        {NFPROTO_IPV4, 4, "postrouting"}, {NFPROTO_BRIDGE, 5, "brouting"},
        {NFPROTO_NETDEV, 0, "ingress"},  {NFPROTO_NETDEV, 1, "egress"},
        {NFPROTO_ARP, 1, "output"},      {NFPROTO_IPV4, 9, NULL},
    };
    for (size_t i = 0; i < sizeof hooks / sizeof *hooks; i++) {
        char what[48];
        snprintf(what, sizeof what, "hook %u of family %u", hooks[i].hook, hooks[i].family);
        tap_is_str(nurs_nflog_hook_name(hooks[i].family, hooks[i].hook), hooks[i].name, what);
    }
    static const struct {
        uint32_t info;
        const char *state, *dir;
    } ct[] = {
        {0, "\"established\"", "\"original\""}, {1, "\"related\"", "\"original\""},
        {2, "\"new\"", "\"original\""},          {3, "\"established\"", "\"reply\""},
        {4, "\"related\"", "\"reply\""},         {7, "\"untracked\"", ""},
        {5, "", ""},
    };
    char buf[MNL_SOCKET_BUFFER_SIZE];
    for (size_t i = 0; i < sizeof ct / sizeof *ct; i++) {
        struct nlmsghdr *nlh = begin(buf, NFPROTO_IPV4, 1);
        mnl_attr_put_u32(nlh, NFULA_CT_INFO, htonl(ct[i].info));
        as_json(nlh, 0);
        char what[48];
        snprintf(what, sizeof what, "ct_state of conntrack info %u", ct[i].info);
        tap_is_str(field("ct_state"), ct[i].state, what);
        snprintf(what, sizeof what, "ct_dir of conntrack info %u", ct[i].info);
        tap_is_str(field("ct_dir"), ct[i].dir, what);
    }
}

static void test_families(void)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    uint8_t arp[28] = {0, 1, 8, 0, 6, 4, 0, 1};
    struct nlmsghdr *nlh = begin(buf, NFPROTO_ARP, 3);
    put_hdr(nlh, 0x0806, 1);
    mnl_attr_put(nlh, NFULA_PAYLOAD, sizeof arp, arp);
    tap_is_str(as_json(nlh, 99),
               "{\"group\":3,\"hook\":\"output\",\"hw_protocol\":2054,\"timestamp\":99,"
               "\"family\":\"arp\",\"caplen\":28}",
               "ARP: the family from the message, no packet view, the receive time");

    /* A bridge logging IPv6: the frame's protocol says how to read it. */
    uint8_t v6[64];
    size_t ip = pb_ipv6(v6, 58, "::1", "::2", 8);
    pb_icmp(v6 + ip, 128, 0, 1, 2);
    nlh = begin(buf, NFPROTO_BRIDGE, 4);
    put_hdr(nlh, 0x86dd, 0);
    mnl_attr_put(nlh, NFULA_PAYLOAD, ip + 8, v6);
    const char *j = as_json(nlh, 0);
    tap_ok(strstr(j, "\"hook\":\"prerouting\"") && strstr(j, "\"family\":\"ipv6\"") &&
               strstr(j, "\"icmp_id\":1"),
           "bridge family: an IPv6 view from the hardware protocol (%s)", j);
    /* ...and a non-IP frame there is not read as IP, whatever its first nibble. */
    nlh = begin(buf, NFPROTO_BRIDGE, 4);
    put_hdr(nlh, 0x88cc, 0);
    mnl_attr_put(nlh, NFULA_PAYLOAD, ip + 8, v6);
    j = as_json(nlh, 0);
    tap_ok(strstr(j, "\"family\":\"bridge\"") && !strstr(j, "\"src\""),
           "bridge family, LLDP frame: no IP view (%s)", j);
}

static void test_malformed(void)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    static const struct {
        int type;
        size_t len;
        const char *what;
    } shortattrs[] = {
        {NFULA_MARK, 2, "a 2-byte mark"},
        {NFULA_TIMESTAMP, 8, "an 8-byte timestamp"},
        {NFULA_HWADDR, 4, "a 4-byte hardware address"},
        {NFULA_PACKET_HDR, 2, "a 2-byte packet header"},
        {NFULA_HWTYPE, 1, "a 1-byte hardware type"},
        {NFULA_CT, 2, "a conntrack nest of 2 bytes"},
        {NFULA_SEQ, 3, "a 3-byte sequence number"},
    };
    for (size_t i = 0; i < sizeof shortattrs / sizeof *shortattrs; i++) {
        struct nlmsghdr *nlh = begin(buf, NFPROTO_IPV4, 1);
        mnl_attr_put(nlh, shortattrs[i].type, shortattrs[i].len, "\0\0\0\0\0\0\0\0");
        const char *why = NULL;
        tap_ok(nurs_nflog_msg_parse(&msg, nlh, &why) < 0 && why, "%s is rejected",
               shortattrs[i].what);
    }
    /* A hardware address claiming more than its 8 bytes reads as absent. */
    struct nlmsghdr *nlh = begin(buf, NFPROTO_IPV4, 1);
    struct nfulnl_msg_packet_hw hw = {.hw_addrlen = htons(9)};
    mnl_attr_put(nlh, NFULA_HWADDR, sizeof hw, &hw);
    mnl_attr_put(nlh, NFULA_PREFIX, 3, "abc"); /* no NUL: read up to its end */
    as_json(nlh, 0);
    tap_is_str(field("hwaddr"), "", "hardware address length 9: absent");
    tap_is_str(field("prefix"), "\"abc\"", "prefix without its NUL");
    /* A conntrack nest without an original tuple: absent, not an error. */
    nlh = begin(buf, NFPROTO_IPV4, 1);
    struct nlattr *nest = mnl_attr_nest_start(nlh, NFULA_CT);
    mnl_attr_put_u32(nlh, CTA_MARK, htonl(1));
    mnl_attr_nest_end(nlh, nest);
    as_json(nlh, 0);
    tap_is_str(field("ct"), "", "conntrack nest without a tuple: absent");

    /* Every cut of a full message, framed as a source frames it. */
    uint8_t pkt[64];
    size_t plen = udp_packet(pkt);
    nlh = begin(buf, NFPROTO_IPV4, 5);
    put_hdr(nlh, 0x0800, 3);
    mnl_attr_put(nlh, NFULA_PREFIX, 4, "abc");
    mnl_attr_put_u32(nlh, NFULA_MARK, htonl(1));
    mnl_attr_put(nlh, NFULA_PAYLOAD, plen, pkt);
    uint32_t len = nlh->nlmsg_len;
    int parsed = 0;
    for (uint32_t cut = 0; cut <= len; cut++) {
        for (int lie = 0; lie < 2; lie++) {
            uint8_t *copy = malloc(cut ? cut : 1);
            memcpy(copy, buf, cut);
            if (lie && cut >= 4) /* the length field says what is there */
                ((struct nlmsghdr *)copy)->nlmsg_len = cut;
            const struct nlmsghdr *m = (const void *)copy;
            const char *why;
            if (nurs_nlmsg_ok(m, cut) && nurs_nflog_msg_is_packet(m) &&
                nurs_nflog_msg_parse(&msg, m, &why) == 0) {
                parsed++;
                as_json(m, 0);
            }
            free(copy);
        }
    }
    tap_ok(parsed >= 2, "every cut of a message is rejected or read within bounds (%d parsed)",
           parsed);
}

static void test_fixture(void)
{
    FILE *f = fopen(NURS_FIXTURES "/nflog.pcap", "rb");
    static uint8_t file[1 << 20];
    size_t size = f ? fread(file, 1, sizeof file, f) : 0;
    if (f)
        fclose(f);
    struct nurs_pcap_reader r;
    struct nurs_pcap_packet p;
    char err[256];
    int messages = 0, bad = 0, with_payload = 0;
    if (!tap_ok(nurs_pcap_reader_init(&r, file, size, err, sizeof err) == 0, "fixture opens"))
        return;
    static uint8_t dgram[NURS_PCAP_SNAPLEN] __attribute__((aligned(4)));
    while (nurs_pcap_reader_next(&r, &p, err, sizeof err) == 1) {
        memcpy(dgram, p.data, p.len);
        size_t left = p.len;
        for (const struct nlmsghdr *nlh = (const void *)dgram; nurs_nlmsg_ok(nlh, left);
             nlh = nurs_nlmsg_next(nlh, &left)) {
            if (!nurs_nflog_msg_is_packet(nlh))
                continue;
            const char *why;
            messages++;
            if (nurs_nflog_msg_parse(&msg, nlh, &why) < 0) {
                bad++;
                continue;
            }
            size_t len;
            with_payload += nurs_nflog_payload(&msg, &len) != NULL;
        }
    }
    tap_is_int(messages, 49, "the kernel's messages in the fixture");
    tap_is_int(bad, 0, "none of them malformed");
    tap_is_int(with_payload, 49, "each with its packet");
}

static void test_ifnames(void)
{
    struct nurs_ifnames c;
    char err[256];
    if (!tap_ok(nurs_ifnames_open(&c, NULL, err, sizeof err) == 0, "name cache opens"))
        return;
    tap_is_str(nurs_ifnames_get(&c, 1, 1000), "lo", "index 1 is lo");
    tap_is_int((long long)c.lookups, 1, "one lookup");
    nurs_ifnames_get(&c, 1, 1000 + NURS_IFNAMES_TTL_MS - 1);
    tap_is_int((long long)c.lookups, 1, "then from the cache");
    nurs_ifnames_get(&c, 1, 1000 + NURS_IFNAMES_TTL_MS);
    tap_is_int((long long)c.lookups, 2, "looked up again once old");
    tap_ok(nurs_ifnames_get(&c, 0, 0) == NULL, "index 0: no name");
    tap_ok(nurs_ifnames_get(&c, 0x7ffffff0, 0) == NULL, "an index no interface has: no name");
    nurs_ifnames_get(&c, 0x7ffffff0, 1);
    tap_is_int((long long)c.lookups, 3, "a missing name is cached too");
    nurs_ifnames_close(&c);
}

int main(void)
{
    char err[256];
    if (nurs_ifnames_open(&names, NULL, err, sizeof err) < 0)
        printf("# %s\n", err);
    test_every_attribute();
    test_names();
    test_families();
    test_malformed();
    test_fixture();
    test_ifnames();
    nurs_ifnames_close(&names);
    return tap_done();
}
