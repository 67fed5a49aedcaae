/* An NFLOG packet message (NFULNL_MSG_PACKET) seen in place: the
 * attribute table points into the receive buffer, fixed-size attributes
 * are validated once, values are decoded when asked for. Nothing here
 * allocates. */
#ifndef NURS_NETLINK_NFLOG_MSG_H
#define NURS_NETLINK_NFLOG_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink_log.h>

#include "netlink/ct_msg.h"
#include "netlink/packet.h"

struct nurs_ifnames;

struct nurs_nflog_msg {
    const struct nlmsghdr *nlh;
    uint8_t family; /* NFPROTO_* of the logging rule's table */
    uint16_t group;
    const struct nlattr *tb[NFULA_MAX + 1];
    /* Set by the source: when the batch arrived (stands in for a kernel
     * timestamp, which only packets on input hooks carry), and where
     * interface names come from (may be NULL). */
    uint64_t recv_ns;
    struct nurs_ifnames *ifnames;
    uint64_t now_ms;
    /* NFULA_CT, decoded on first use. */
    bool ct_parsed, ct_ok;
    struct nurs_ct_msg ct;
};

/* True if nlh is an NFLOG packet message. */
bool nurs_nflog_msg_is_packet(const struct nlmsghdr *nlh);

/* Parses an NFLOG packet message that nurs_nlmsg_ok() accepted. Returns
 * 0, or -1 with *why set to a static description. */
int nurs_nflog_msg_parse(struct nurs_nflog_msg *m, const struct nlmsghdr *nlh, const char **why);

/* The packet (from the network header on); NULL/0 when none was copied. */
const uint8_t *nurs_nflog_payload(const struct nurs_nflog_msg *m, size_t *len);
/* What the message says the payload is, for the packet view. */
enum nurs_pkt_l3 nurs_nflog_l3_hint(const struct nurs_nflog_msg *m);

/* Accessors: false when the kernel did not send the attribute. */
bool nurs_nflog_u32(const struct nurs_nflog_msg *m, int nfula, uint32_t *v);
bool nurs_nflog_u16(const struct nurs_nflog_msg *m, int nfula, uint16_t *v);
bool nurs_nflog_hook(const struct nurs_nflog_msg *m, uint8_t *hook);
bool nurs_nflog_hw_protocol(const struct nurs_nflog_msg *m, uint16_t *ethertype);
/* The prefix without its terminating NUL. */
bool nurs_nflog_prefix(const struct nurs_nflog_msg *m, const char **s, size_t *len);
/* Nanoseconds since the epoch: the kernel's stamp, else recv_ns. */
uint64_t nurs_nflog_timestamp_ns(const struct nurs_nflog_msg *m, bool *from_kernel);
bool nurs_nflog_hwaddr(const struct nurs_nflog_msg *m, const uint8_t **addr, size_t *len);
bool nurs_nflog_bytes(const struct nurs_nflog_msg *m, int nfula, const uint8_t **b, size_t *len);
bool nurs_nflog_vlan(const struct nurs_nflog_msg *m, uint16_t *tci);
/* Conntrack state: ip_conntrack_info value. */
bool nurs_nflog_ctinfo(const struct nurs_nflog_msg *m, uint32_t *ctinfo);
/* The conntrack entry sent with the packet (flag "conntrack"), or NULL. */
struct nurs_ct_msg *nurs_nflog_ct(struct nurs_nflog_msg *m);

/* Names: hook per family ("input", "ingress"...), family ("ipv4",
 * "bridge"...); NULL when unnamed. */
const char *nurs_nflog_hook_name(uint8_t family, uint8_t hook);
const char *nurs_nfproto_name(uint8_t family);

#endif
