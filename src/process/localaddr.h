/* The local addresses of a network namespace, kept current from rtnetlink
 * (a dump at start, then address events), so that the process attribution
 * only asks sock_diag about connection ends that can have a local socket:
 * forwarded traffic and the far end of connections are told apart without
 * asking the kernel for each. An IPv4 address on the loopback device makes
 * its whole prefix local, as the kernel's local routes do (127.0.0.0/8). */
#ifndef NURS_PROCESS_LOCALADDR_H
#define NURS_PROCESS_LOCALADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/netlink.h>
#include <uv.h>

#include "netlink/socket.h"

struct nurs_addr_entry {
    uint8_t family, prefix;
    uint32_t ifindex;
    uint8_t addr[16];
};

/* The set itself: no I/O, fed netlink messages (fuzzed). */
struct nurs_addrset {
    struct nurs_addr_entry *a;
    size_t n, cap;
};

void nurs_addrset_free(struct nurs_addrset *s);
/* Applies an RTM_NEWADDR or RTM_DELADDR message (others are ignored).
 * Returns 0, or -1 with *why if the message is malformed. */
int nurs_addrset_apply(struct nurs_addrset *s, const struct nlmsghdr *nlh, const char **why);
bool nurs_addrset_has(const struct nurs_addrset *s, uint8_t family, const uint8_t *addr);

struct nurs_localaddr {
    struct nurs_addrset set;
    struct nurs_nl nl;
    uv_poll_t poll;
    bool known; /* the dump succeeded: without it every address counts as local */
    void (*closed)(struct nurs_localaddr *la);
};

int nurs_localaddr_open(struct nurs_localaddr *la, uv_loop_t *loop, const char *netns, char *err,
                        size_t errlen);
bool nurs_localaddr_has(const struct nurs_localaddr *la, uint8_t family, const uint8_t *addr);
/* Stops watching; `closed` (may be NULL) is called once la may be freed. */
void nurs_localaddr_close(struct nurs_localaddr *la, void (*closed)(struct nurs_localaddr *la));

#endif
