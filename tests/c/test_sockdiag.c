/* sock_diag requests and answers, against this kernel: the exact lookup
 * finds TCP and UDP sockets of both ends of a loopback connection (UDP's
 * swapped fields included), a listener by its port, nothing for a closed
 * port; crafted answers check the parser's bounds. And the local address
 * set: crafted rtnetlink messages, then this namespace's own addresses. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <uv.h>

#include "netlink/sockdiag.h"
#include "process/localaddr.h"
#include "tap.h"

static int diag_fd;

static struct nurs_sockdiag_answer ask(struct nurs_sock_key key, bool swap)
{
    const struct nurs_sock_key *k = &key;
    static uint32_t seq = 100;
    unsigned char req[NURS_SOCKDIAG_REQ_LEN];
    size_t len = nurs_sockdiag_request(req, k, ++seq, swap);
    struct nurs_sockdiag_answer a = {.error = -EIO};
    if (send(diag_fd, req, len, 0) < 0)
        return a;
    unsigned char buf[8192] __attribute__((aligned(4)));
    ssize_t n = recv(diag_fd, buf, sizeof buf, 0);
    const char *why;
    if (n <= 0 || nurs_sockdiag_parse((const struct nlmsghdr *)buf, (size_t)n, &a, &why) < 0)
        a.error = -EIO;
    tap_ok(a.seq == seq, "answer carries the request's sequence number");
    return a;
}

static uint32_t inode_of(int fd)
{
    struct stat st;
    fstat(fd, &st);
    return (uint32_t)st.st_ino;
}

static uint16_t port_of(int fd)
{
    struct sockaddr_in a;
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    return ntohs(a.sin_port);
}

static struct nurs_sock_key key(uint8_t proto, uint16_t lport, uint16_t rport)
{
    struct nurs_sock_key k = {.family = AF_INET, .proto = proto, .lport = lport, .rport = rport};
    inet_pton(AF_INET, "127.0.0.1", k.local);
    if (rport)
        inet_pton(AF_INET, "127.0.0.1", k.remote);
    return k;
}

static void test_live(void)
{
    diag_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    struct sockaddr_in any = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    bind(ls, (struct sockaddr *)&any, sizeof any);
    listen(ls, 4);
    struct sockaddr_in to = any;
    to.sin_port = htons(port_of(ls));
    int c = socket(AF_INET, SOCK_STREAM, 0);
    connect(c, (struct sockaddr *)&to, sizeof to);
    uint16_t lp = port_of(ls), cp = port_of(c);

    struct nurs_sockdiag_answer a = ask((struct nurs_sock_key){0}, false);
    tap_ok(a.error != 0, "a request for family 0 is refused (%d)", a.error);
    a = ask(key(IPPROTO_TCP, cp, lp), false);
    tap_ok(a.error == 0 && a.inode == inode_of(c) && a.lport == cp, "TCP client socket");
    a = ask(key(IPPROTO_TCP, lp, cp), false);
    tap_ok(a.error == 0 && a.inode == 0 && a.lport == lp, "TCP server end before accept: no inode");
    int s = accept(ls, NULL, NULL);
    a = ask(key(IPPROTO_TCP, lp, cp), false);
    tap_ok(a.error == 0 && a.inode == inode_of(s), "TCP server end after accept");
    a = ask(key(IPPROTO_TCP, lp, 0), false);
    tap_ok(a.error == 0 && a.inode == inode_of(ls) && a.state == 10, "TCP listener by its port");
    a = ask(key(IPPROTO_TCP, 1, 2), false);
    tap_ok(a.error == -ENOENT, "no socket: ENOENT");

    int us = socket(AF_INET, SOCK_DGRAM, 0), uc = socket(AF_INET, SOCK_DGRAM, 0);
    bind(us, (struct sockaddr *)&any, sizeof any);
    to.sin_port = htons(port_of(us));
    connect(uc, (struct sockaddr *)&to, sizeof to);
    uint16_t usp = port_of(us), ucp = port_of(uc);
    a = ask(key(IPPROTO_UDP, ucp, usp), true);
    tap_ok(a.error == 0 && a.inode == inode_of(uc) && a.lport == ucp, "UDP client (swapped request)");
    a = ask(key(IPPROTO_UDP, usp, ucp), true);
    tap_ok(a.error == 0 && a.inode == inode_of(us) && a.lport == usp, "UDP server, unconnected");
    a = ask(key(IPPROTO_UDP, ucp, usp), false);
    tap_ok(a.error != 0 || a.lport != ucp, "UDP unswapped finds another socket, or none");
    close(us), close(uc), close(s), close(c), close(ls), close(diag_fd);
}

static void test_crafted(void)
{
    unsigned char buf[256] __attribute__((aligned(4))) = {0};
    struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
    struct nurs_sockdiag_answer a;
    const char *why = "";
    int rc;
    nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
    nlh->nlmsg_len = NLMSG_HDRLEN + 10;
    rc = nurs_sockdiag_parse(nlh, sizeof buf, &a, &why);
    tap_ok(rc < 0, "short answer: %s", why);
    nlh->nlmsg_len = 300;
    rc = nurs_sockdiag_parse(nlh, sizeof buf, &a, &why);
    tap_ok(rc < 0, "length past the datagram: %s", why);
    nlh->nlmsg_type = NLMSG_ERROR;
    nlh->nlmsg_len = NLMSG_HDRLEN + 4;
    rc = nurs_sockdiag_parse(nlh, sizeof buf, &a, &why);
    tap_ok(rc < 0, "short error: %s", why);
    nlh->nlmsg_len = NLMSG_HDRLEN + sizeof(struct nlmsgerr);
    rc = nurs_sockdiag_parse(nlh, sizeof buf, &a, &why);
    tap_ok(rc < 0, "an ack is no answer");
    int e = -ENOENT;
    memcpy(buf + NLMSG_HDRLEN, &e, sizeof e);
    tap_ok(nurs_sockdiag_parse(nlh, sizeof buf, &a, &why) == 0 && a.error == -ENOENT, "ENOENT");
}

/* An RTM_NEWADDR/DELADDR message with one address attribute. */
static size_t addr_msg(unsigned char *buf, int type, int family, int prefix, int ifindex,
                       int attr, const char *text)
{
    memset(buf, 0, 128);
    struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
    struct ifaddrmsg *ifa = (struct ifaddrmsg *)(buf + NLMSG_HDRLEN);
    ifa->ifa_family = (unsigned char)family;
    ifa->ifa_prefixlen = (unsigned char)prefix;
    ifa->ifa_index = (unsigned)ifindex;
    struct rtattr *rta = (struct rtattr *)(buf + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof *ifa));
    size_t alen = family == AF_INET ? 4 : 16;
    rta->rta_type = (unsigned short)attr;
    rta->rta_len = (unsigned short)RTA_LENGTH(alen);
    inet_pton(family, text, RTA_DATA(rta));
    nlh->nlmsg_type = (unsigned short)type;
    nlh->nlmsg_len = (unsigned)(NLMSG_HDRLEN + NLMSG_ALIGN(sizeof *ifa) + RTA_ALIGN(rta->rta_len));
    return nlh->nlmsg_len;
}

static bool has(const struct nurs_addrset *s, int family, const char *text)
{
    uint8_t a[16] = {0};
    inet_pton(family, text, a);
    return nurs_addrset_has(s, (uint8_t)family, a);
}

static void test_addrset(void)
{
    struct nurs_addrset s = {0};
    unsigned char buf[128] __attribute__((aligned(4)));
    const char *why = "";
    int rc;
    addr_msg(buf, RTM_NEWADDR, AF_INET, 8, 1, IFA_LOCAL, "127.0.0.1");
    nurs_addrset_apply(&s, (struct nlmsghdr *)buf, &why);
    addr_msg(buf, RTM_NEWADDR, AF_INET, 24, 2, IFA_LOCAL, "192.0.2.10");
    nurs_addrset_apply(&s, (struct nlmsghdr *)buf, &why);
    addr_msg(buf, RTM_NEWADDR, AF_INET6, 64, 2, IFA_ADDRESS, "2001:db8::10");
    nurs_addrset_apply(&s, (struct nlmsghdr *)buf, &why);
    tap_ok(has(&s, AF_INET, "127.0.0.1") && has(&s, AF_INET, "127.9.8.7"),
           "loopback: its whole prefix is local");
    tap_ok(has(&s, AF_INET, "192.0.2.10") && !has(&s, AF_INET, "192.0.2.11"),
           "elsewhere: the address only, not its subnet");
    tap_ok(has(&s, AF_INET6, "2001:db8::10") && !has(&s, AF_INET6, "2001:db8::11"), "IPv6 address");
    addr_msg(buf, RTM_DELADDR, AF_INET, 24, 2, IFA_LOCAL, "192.0.2.10");
    nurs_addrset_apply(&s, (struct nlmsghdr *)buf, &why);
    tap_ok(!has(&s, AF_INET, "192.0.2.10") && s.n == 2, "deleted");
    addr_msg(buf, RTM_NEWADDR, AF_INET, 40, 2, IFA_LOCAL, "192.0.2.10");
    rc = nurs_addrset_apply(&s, (struct nlmsghdr *)buf, &why);
    tap_ok(rc < 0, "prefix /40: %s", why);
    ((struct nlmsghdr *)buf)->nlmsg_len = NLMSG_HDRLEN + 3;
    rc = nurs_addrset_apply(&s, (struct nlmsghdr *)buf, &why);
    tap_ok(rc < 0, "short: %s", why);
    size_t len = addr_msg(buf, RTM_NEWADDR, AF_INET, 24, 2, IFA_LOCAL, "192.0.2.10");
    ((struct rtattr *)(buf + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct ifaddrmsg))))->rta_len = 200;
    rc = nurs_addrset_apply(&s, (struct nlmsghdr *)buf, &why);
    tap_ok(len && rc < 0, "attribute overrun: %s", why);
    nurs_addrset_free(&s);

    struct nurs_localaddr la;
    char err[256];
    tap_ok(nurs_localaddr_open(&la, uv_default_loop(), NULL, err, sizeof err) == 0,
           "this namespace's addresses");
    tap_ok(nurs_localaddr_has(&la, AF_INET, (const uint8_t *)"\x7f\x00\x00\x01") &&
               nurs_localaddr_has(&la, AF_INET, (const uint8_t *)"\x7f\x01\x02\x03") &&
               !nurs_localaddr_has(&la, AF_INET, (const uint8_t *)"\xc0\x00\x02\x01"),
           "127.0.0.1 and 127.1.2.3 are local, 192.0.2.1 is not");
    nurs_localaddr_close(&la, NULL);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
}

int main(void)
{
    test_crafted();
    test_live();
    test_addrset();
    return tap_done();
}
