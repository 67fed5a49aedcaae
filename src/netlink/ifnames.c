#include "netlink/ifnames.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netlink/socket.h"

int nurs_ifnames_open(struct nurs_ifnames *c, const char *netns, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->fd = -1; /* closing after a failed open closes nothing */
    int saved = -1;
    if (netns && nurs_netns_enter(netns, &saved, err, errlen) < 0)
        return -1;
    c->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int saved_errno = errno;
    if (netns)
        nurs_netns_leave(saved);
    if (c->fd < 0) {
        snprintf(err, errlen, "socket for interface names: %s", strerror(saved_errno));
        return -1;
    }
    return 0;
}

void nurs_ifnames_close(struct nurs_ifnames *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

const char *nurs_ifnames_get(struct nurs_ifnames *c, uint32_t index, uint64_t now_ms)
{
    if (index == 0 || c->fd < 0)
        return NULL;
    /* Direct-mapped: hosts rarely log through more interfaces at once. */
    unsigned i = index % NURS_IFNAMES_SLOTS;
    if (c->slot[i].index != index || now_ms - c->slot[i].at_ms >= NURS_IFNAMES_TTL_MS) {
        struct ifreq ifr = {.ifr_ifindex = (int)index};
        c->lookups++;
        c->slot[i].index = index;
        c->slot[i].at_ms = now_ms;
        c->slot[i].found = ioctl(c->fd, SIOCGIFNAME, &ifr) == 0;
        if (c->slot[i].found)
            memcpy(c->slot[i].name, ifr.ifr_name, IF_NAMESIZE);
        c->slot[i].name[IF_NAMESIZE - 1] = '\0';
    }
    return c->slot[i].found ? c->slot[i].name : NULL;
}
