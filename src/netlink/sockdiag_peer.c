#include "netlink/sockdiag_peer.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <netinet/in.h>

#include "netlink/sockdiag.h"

#define ANSWER_WAIT_MS 200

/* One end's address into the key's family (v4-mapped v6 as v4: the
 * peer's socket is a v4 one then). */
static int put_addr(const struct sockaddr *sa, uint8_t *family, uint8_t *addr, uint16_t *port)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        *family = AF_INET;
        memcpy(addr, &in->sin_addr, 4);
        *port = ntohs(in->sin_port);
        return 0;
    }
    if (sa->sa_family != AF_INET6)
        return -1;
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    *port = ntohs(in6->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
        *family = AF_INET;
        memcpy(addr, in6->sin6_addr.s6_addr + 12, 4);
    } else {
        *family = AF_INET6;
        memcpy(addr, &in6->sin6_addr, 16);
    }
    return 0;
}

int nurs_sockdiag_tcp_peer_uid(const struct sockaddr *local, const struct sockaddr *peer,
                               uint32_t *uid)
{
    /* The peer's socket, from its side: our peer is its local end. */
    struct nurs_sock_key k = {.proto = IPPROTO_TCP};
    uint8_t fam2;
    if (put_addr(peer, &k.family, k.local, &k.lport) < 0 ||
        put_addr(local, &fam2, k.remote, &k.rport) < 0 || fam2 != k.family)
        return -1;
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = 0, .tv_usec = ANSWER_WAIT_MS * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    uint8_t req[NURS_SOCKDIAG_REQ_LEN];
    size_t len = nurs_sockdiag_request(req, &k, 1, false);
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    int rc = -1;
    if (sendto(fd, req, len, 0, (struct sockaddr *)&kernel, sizeof kernel) == (ssize_t)len) {
        uint8_t buf[8192] __attribute__((aligned(4)));
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        struct nurs_sockdiag_answer a;
        const char *why;
        if (n > 0 && nurs_sockdiag_parse((const struct nlmsghdr *)buf, (size_t)n, &a, &why) == 0 &&
            a.error == 0) {
            *uid = a.uid;
            rc = 0;
        }
    }
    close(fd);
    return rc;
}
