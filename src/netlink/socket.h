/* Netlink socket plumbing shared by the sources: opening a socket inside
 * a network namespace, receive buffer sizing and growth on overrun, and
 * batched receives. */
#ifndef NURS_NETLINK_SOCKET_H
#define NURS_NETLINK_SOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <linux/netlink.h>

struct nurs_nl {
    int fd;
    uint32_t portid;
    int rcvbuf;     /* what the kernel granted (bytes) */
    int rcvbuf_max; /* growth limit on overrun */
};

/* Opens a non-blocking NETLINK_`protocol` socket, inside `netns` (an
 * `ip netns` name or a path; NULL for ours). On error returns -1 with a
 * message saying what is missing in err. */
int nurs_nl_open(struct nurs_nl *nl, int protocol, const char *netns, char *err, size_t errlen);
void nurs_nl_close(struct nurs_nl *nl);
/* Sets the receive buffer, forcing past rmem_max when we may. */
int nurs_nl_set_rcvbuf(struct nurs_nl *nl, int bytes);
/* After an overrun: doubles the buffer up to rcvbuf_max. Returns true if
 * it grew. */
bool nurs_nl_grow_rcvbuf(struct nurs_nl *nl);

/* Sends one request with NLM_F_ACK set and a fresh sequence number, and
 * waits (at most timeout_ms) for the kernel's answer to it. Datagrams that
 * arrive meanwhile and are not that answer (events of a subscribed group)
 * go to `other` when given, so that nothing is dropped unseen; without it
 * they are skipped. Returns 0 when the kernel acknowledged, else -1 with
 * the kernel's refusal (or the timeout) in err and its error number in
 * errno (ETIMEDOUT for the timeout). */
int nurs_nl_request(struct nurs_nl *nl, struct nlmsghdr *req, int timeout_ms,
                    void (*other)(void *ctx, const void *data, size_t len), void *ctx, char *err,
                    size_t errlen);

/* A set of receive slots for recvmmsg. */
#define NURS_NL_SLOTS 16
#define NURS_NL_SLOT_SIZE 32768

struct nurs_nl_batch {
    struct mmsghdr msgs[NURS_NL_SLOTS];
    struct iovec iov[NURS_NL_SLOTS];
    struct sockaddr_nl from[NURS_NL_SLOTS];
    unsigned char *buf;
    size_t slot_size;
};

/* Datagram i of the last receive, if the kernel sent it whole: another
 * process may unicast to our port id, and a truncated datagram cannot be
 * parsed. Returns its length, or -1 (with *why) to count and skip it. */
long nurs_nl_datagram(const struct nurs_nl_batch *b, int i, const void **data,
                      const char **why);

int nurs_nl_batch_init(struct nurs_nl_batch *b);
/* Slots of slot_size bytes: for datagrams larger than the default (NFLOG
 * batches a packet of up to 64 KiB with its attributes). */
int nurs_nl_batch_init_size(struct nurs_nl_batch *b, size_t slot_size);
void nurs_nl_batch_free(struct nurs_nl_batch *b);
/* Receives up to NURS_NL_SLOTS datagrams; returns their count, 0 when
 * nothing is waiting, or -errno (-ENOBUFS on overrun). */
int nurs_nl_recv(struct nurs_nl *nl, struct nurs_nl_batch *b);
/* The same, at most max (<= NURS_NL_SLOTS) datagrams. */
int nurs_nl_recv_upto(struct nurs_nl *nl, struct nurs_nl_batch *b, int max);

/* Framing of the netlink messages in a datagram. libmnl's mnl_nlmsg_ok()
 * casts nlmsg_len to int, so a length of 2^31 or more passes it; these
 * compare unsigned. */
static inline bool nurs_nlmsg_ok(const struct nlmsghdr *nlh, size_t left)
{
    return left >= sizeof *nlh && nlh->nlmsg_len >= sizeof *nlh && nlh->nlmsg_len <= left;
}

static inline const struct nlmsghdr *nurs_nlmsg_next(const struct nlmsghdr *nlh, size_t *left)
{
    size_t step = NLMSG_ALIGN(nlh->nlmsg_len);
    if (step >= *left) {
        *left = 0;
        return nlh;
    }
    *left -= step;
    return (const struct nlmsghdr *)((const char *)nlh + step);
}

/* What a table of minimum payload lengths (the min_len of nurs_nla_parse)
 * may demand besides a number of bytes: the checks libmnl's
 * mnl_attr_validate makes for nests and NUL-terminated strings. */
enum { NURS_NLA_ANY = 0, NURS_NLA_NESTED = -1, NURS_NLA_STRING = -2 };

/* The attribute walk of every decoder: fills tb[0..max] from the
 * attributes in [p, p + len), done inline (a libmnl callback per attribute
 * was a fifth of a record's cost). Types above max (a newer kernel's) are
 * skipped; an attribute shorter than min_len[type] (NULL: no minimum)
 * fails the walk. An attribute that does not fit within len ends it:
 * quietly, as mnl_attr_parse does, or, when strict, as a failure. Nothing
 * outside [p, p + len) is read. */
bool nurs_nla_parse(const void *p, size_t len, const struct nlattr **tb, int max,
                    const int *min_len, bool strict);
/* The attributes nested in `nest` (already checked to fit its message). */
static inline bool nurs_nla_parse_nested(const struct nlattr *nest, const struct nlattr **tb,
                                         int max, const int *min_len, bool strict)
{
    return nurs_nla_parse((const char *)nest + NLA_HDRLEN, nest->nla_len - NLA_HDRLEN, tb, max,
                          min_len, strict);
}

/* Enters the network namespace `netns`, remembering ours in *saved.
 * Returns 0, or -1 with a message. */
int nurs_netns_enter(const char *netns, int *saved, char *err, size_t errlen);
void nurs_netns_leave(int saved);

#endif
