/* Interface index -> name, for one network namespace, without a syscall
 * per packet: names are cached and looked up again (one ioctl) when an
 * entry is older than a few seconds, so a renamed or replaced interface
 * shows its new name soon after. */
#ifndef NURS_NETLINK_IFNAMES_H
#define NURS_NETLINK_IFNAMES_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NURS_IFNAMES_SLOTS 64
#define NURS_IFNAMES_TTL_MS 5000

struct nurs_ifnames {
    int fd; /* a socket living in the namespace: the ioctl asks its namespace */
    struct {
        uint32_t index; /* 0: empty */
        bool found;
        uint64_t at_ms;
        char name[IF_NAMESIZE];
    } slot[NURS_IFNAMES_SLOTS];
    uint64_t lookups; /* ioctls made, for tests and counters */
};

/* netns: an `ip netns` name or a path, NULL for ours. */
int nurs_ifnames_open(struct nurs_ifnames *c, const char *netns, char *err, size_t errlen);
void nurs_ifnames_close(struct nurs_ifnames *c);
/* The name of interface `index` as of at most NURS_IFNAMES_TTL_MS before
 * now_ms; NULL when it does not exist. */
const char *nurs_ifnames_get(struct nurs_ifnames *c, uint32_t index, uint64_t now_ms);

#endif
