/* NFQUEUE netlink messages: the packet message the kernel sends, seen in
 * place (attribute pointers into the receive buffer, values decoded when
 * asked), and the config and verdict messages we send. The decoder takes
 * kernel input and checks every length; nothing here allocates. */
#ifndef NURS_NETLINK_NFQ_MSG_H
#define NURS_NETLINK_NFQ_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink_queue.h>

/* Netfilter verdicts (linux/netfilter.h) as the kernel takes them. */
enum nurs_nfq_verdict {
    NURS_NFQ_DROP = 0,
    NURS_NFQ_ACCEPT = 1,
    NURS_NFQ_QUEUE = 3, /* to another queue: number in the upper 16 bits */
    NURS_NFQ_REPEAT = 4,
};

struct nurs_nfq_msg {
    const struct nlmsghdr *nlh;
    uint8_t family;   /* nfgen_family: NFPROTO_IPV4, _IPV6, _BRIDGE... */
    uint16_t queue;   /* res_id: the queue number */
    uint32_t id;      /* packet id, per queue */
    uint16_t hw_protocol; /* ethertype, host order */
    uint8_t hook;     /* NF_INET_* */
    const struct nlattr *tb[NFQA_MAX + 1];
    const struct nlattr *vlan[NFQA_VLAN_MAX + 1]; /* filled by the parse */
};

/* True if nlh is a packet message of nfnetlink_queue. */
bool nurs_nfq_msg_is_packet(const struct nlmsghdr *nlh);

/* Parses a packet message that nurs_nlmsg_ok() accepted. Returns 0, or -1
 * with *why set to a static description. Even on failure, m->id and
 * m->queue are valid when *has_id is set, so the packet can still get a
 * verdict. */
int nurs_nfq_msg_parse(struct nurs_nfq_msg *m, const struct nlmsghdr *nlh, bool *has_id,
                       const char **why);

/* The queue and packet id of a packet message cut short (a truncated
 * datagram): attributes are walked only as far as `len` bytes go. */
bool nurs_nfq_salvage_id(const void *data, size_t len, uint16_t *queue, uint32_t *id);

/* Accessors: false when the attribute is absent. */
bool nurs_nfq_u32(const struct nurs_nfq_msg *m, int nfqa, uint32_t *v);
bool nurs_nfq_payload(const struct nurs_nfq_msg *m, const uint8_t **data, size_t *len);
/* Seconds and microseconds since the epoch. */
bool nurs_nfq_timestamp(const struct nurs_nfq_msg *m, uint64_t *sec, uint64_t *usec);
/* Link-layer source address: bytes and their count (at most 8). */
bool nurs_nfq_hwaddr(const struct nurs_nfq_msg *m, const uint8_t **addr, size_t *len);
bool nurs_nfq_vlan(const struct nurs_nfq_msg *m, uint16_t *proto, uint16_t *tci);
const char *nurs_nfq_secctx(const struct nurs_nfq_msg *m, size_t *len);
/* A 32-bit conntrack attribute (CTA_MARK, CTA_ID, CTA_STATUS) of the
 * entry the kernel attached (NFQA_CT, flag conntrack). */
bool nurs_nfq_ct_u32(const struct nurs_nfq_msg *m, int cta, uint32_t *v);

const char *nurs_nfq_hook_name(uint8_t family, uint8_t hook);   /* NULL if unknown */
const char *nurs_nfq_ctinfo_name(uint32_t ctinfo);               /* NULL if unknown */
const char *nurs_nfq_verdict_name(uint32_t verdict);

/* ---- messages we send ---- */

/* A verdict: what the kernel does with a packet, and the marks to set. */
struct nurs_nfq_decision {
    uint32_t verdict; /* enum nurs_nfq_verdict, with the target queue for NF_QUEUE */
    bool set_mark, set_ctmark;
    uint32_t mark, ctmark;
};

/* Each writes one message at buf (at least NURS_NFQ_MSG_MAX bytes, 4-byte
 * aligned) and returns it; its length is nlmsg_len. */
#define NURS_NFQ_MSG_MAX 128
struct nlmsghdr *nurs_nfq_put_cmd(void *buf, uint16_t queue, uint8_t cmd);
/* Queue settings; what is not set is left as the kernel has it. */
struct nurs_nfq_config {
    bool set_params;
    uint8_t copy_mode; /* NFQNL_COPY_* */
    uint32_t copy_range;
    bool set_maxlen;
    uint32_t maxlen;
    uint32_t flags, mask; /* NFQA_CFG_F_*: the flags under mask are set as in flags */
};
struct nlmsghdr *nurs_nfq_put_config(void *buf, uint16_t queue, const struct nurs_nfq_config *c);
/* One packet. */
struct nlmsghdr *nurs_nfq_put_verdict(void *buf, uint16_t queue, uint32_t id,
                                      const struct nurs_nfq_decision *d);
/* Every packet of the queue with an id up to `id` (serial order); the
 * kernel's batch takes no conntrack attributes, so d->set_ctmark must be
 * false. */
struct nlmsghdr *nurs_nfq_put_verdict_batch(void *buf, uint16_t queue, uint32_t id,
                                            const struct nurs_nfq_decision *d);

#endif
