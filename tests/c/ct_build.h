/* Builds conntrack netlink messages for tests, the way the kernel lays
 * them out, so tests can vary one attribute at a time. */
#ifndef NURS_CT_BUILD_H
#define NURS_CT_BUILD_H

#include <stdint.h>

#include <libmnl/libmnl.h>

struct ct_build_opts {
    int family;            /* AF_INET or AF_INET6 */
    int msg_type;          /* IPCTNL_MSG_CT_NEW / _DELETE */
    uint16_t flags;        /* NLM_F_CREATE|NLM_F_EXCL for a NEW event */
    uint8_t proto;         /* 6, 17, 1, 58 ... */
    const char *src, *dst; /* original direction; reply is the mirror */
    uint16_t sport, dport;
    uint64_t packets[2], bytes[2]; /* written when bytes[0] or packets[0] != 0 */
    uint32_t status, mark, id, timeout, use;
    uint8_t tcp_state;
    uint64_t start_ns, stop_ns; /* written when start_ns != 0 */
    const char *helper;
};

/* Writes the message into buf (>= MNL_SOCKET_BUFFER_SIZE); returns it. */
struct nlmsghdr *ct_build(void *buf, const struct ct_build_opts *o);

#endif
