#include "process/localaddr.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include "core/closer.h"
#include "core/grow.h"
#include "core/log.h"

/* The loopback device is the first of every network namespace. */
#define LOOPBACK_IFINDEX 1
#define DUMP_TIMEOUT_MS 2000

void nurs_addrset_free(struct nurs_addrset *s)
{
    free(s->a);
    s->a = NULL;
    s->n = s->cap = 0;
}

static bool same(const struct nurs_addr_entry *x, const struct nurs_addr_entry *y)
{
    return x->family == y->family && x->prefix == y->prefix && x->ifindex == y->ifindex &&
           memcmp(x->addr, y->addr, 16) == 0;
}

static int add(struct nurs_addrset *s, const struct nurs_addr_entry *e)
{
    for (size_t i = 0; i < s->n; i++)
        if (same(&s->a[i], e))
            return 0;
    if (!nurs_grow((void **)&s->a, &s->cap, s->n, sizeof *s->a, 16))
        return -1;
    s->a[s->n++] = *e;
    return 0;
}

static void del(struct nurs_addrset *s, const struct nurs_addr_entry *e)
{
    for (size_t i = 0; i < s->n; i++) {
        if (same(&s->a[i], e)) {
            s->a[i] = s->a[--s->n];
            return;
        }
    }
}

int nurs_addrset_apply(struct nurs_addrset *s, const struct nlmsghdr *nlh, const char **why)
{
    if (nlh->nlmsg_type != RTM_NEWADDR && nlh->nlmsg_type != RTM_DELADDR)
        return 0;
    if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(struct ifaddrmsg)) {
        *why = "short address message";
        return -1;
    }
    struct ifaddrmsg ifa;
    memcpy(&ifa, (const char *)nlh + NLMSG_HDRLEN, sizeof ifa);
    size_t alen = ifa.ifa_family == AF_INET ? 4 : ifa.ifa_family == AF_INET6 ? 16 : 0;
    if (!alen)
        return 0;
    if (ifa.ifa_prefixlen > alen * 8) {
        *why = "prefix longer than the address";
        return -1;
    }
    /* IFA_LOCAL is the address of this end (IFA_ADDRESS is the peer's on
     * point-to-point links); IPv6 usually sends IFA_ADDRESS alone. */
    const unsigned char *local = NULL, *address = NULL;
    size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof ifa);
    while (off + sizeof(struct rtattr) <= nlh->nlmsg_len) {
        struct rtattr rta;
        memcpy(&rta, (const char *)nlh + off, sizeof rta);
        if (rta.rta_len < sizeof rta || rta.rta_len > nlh->nlmsg_len - off) {
            *why = "attribute overruns the message";
            return -1;
        }
        const unsigned char *data = (const unsigned char *)nlh + off + RTA_LENGTH(0);
        if (rta.rta_len - RTA_LENGTH(0) == alen) {
            if (rta.rta_type == IFA_LOCAL)
                local = data;
            else if (rta.rta_type == IFA_ADDRESS)
                address = data;
        }
        off += RTA_ALIGN(rta.rta_len);
    }
    if (!local)
        local = address;
    if (!local)
        return 0;
    struct nurs_addr_entry e = {.family = ifa.ifa_family, .ifindex = ifa.ifa_index};
    memcpy(e.addr, local, alen);
    /* Only the loopback device's IPv4 prefixes are local as a whole. */
    e.prefix = ifa.ifa_family == AF_INET && ifa.ifa_index == LOOPBACK_IFINDEX
                   ? ifa.ifa_prefixlen
                   : (uint8_t)(alen * 8);
    if (nlh->nlmsg_type == RTM_DELADDR) {
        del(s, &e);
        return 0;
    }
    if (add(s, &e) < 0) {
        *why = "out of memory";
        return -1;
    }
    return 0;
}

static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, whole) != 0)
        return false;
    if (!rest)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

bool nurs_addrset_has(const struct nurs_addrset *s, uint8_t family, const uint8_t *addr)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->a[i].family == family && prefix_match(s->a[i].addr, addr, s->a[i].prefix))
            return true;
    return false;
}

/* ---- the namespace's addresses, over rtnetlink ---- */

static void apply_datagram(struct nurs_localaddr *la, const void *data, size_t len, bool *done)
{
    size_t left = len;
    for (const struct nlmsghdr *nlh = data; nurs_nlmsg_ok(nlh, left);
         nlh = nurs_nlmsg_next(nlh, &left)) {
        if (nlh->nlmsg_type == NLMSG_DONE || nlh->nlmsg_type == NLMSG_ERROR) {
            if (done)
                *done = true;
            continue;
        }
        const char *why;
        if (nurs_addrset_apply(&la->set, nlh, &why) < 0)
            nurs_warn("local addresses: skipped a message: %s", why);
    }
}

/* Lists every address now (events that arrive meanwhile are applied too:
 * the set ends up current either way). */
static int dump(struct nurs_localaddr *la, char *err, size_t errlen)
{
    struct {
        struct nlmsghdr nlh;
        struct ifaddrmsg ifa;
    } req = {
        .nlh = {.nlmsg_len = sizeof req, .nlmsg_type = RTM_GETADDR,
                .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1},
        .ifa = {.ifa_family = AF_UNSPEC},
    };
    nurs_addrset_free(&la->set);
    la->known = false;
    if (send(la->nl.fd, &req, sizeof req, 0) < 0) {
        snprintf(err, errlen, "address dump: %s", strerror(errno));
        return -1;
    }
    static unsigned char buf[32768] __attribute__((aligned(4)));
    uint64_t deadline = nurs_monotonic_ms() + DUMP_TIMEOUT_MS;
    bool done = false;
    while (!done) {
        ssize_t n = recv(la->nl.fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            uint64_t now = nurs_monotonic_ms();
            if (now >= deadline) {
                snprintf(err, errlen, "address dump: no end within %d ms", DUMP_TIMEOUT_MS);
                return -1;
            }
            struct pollfd pfd = {.fd = la->nl.fd, .events = POLLIN};
            poll(&pfd, 1, (int)(deadline - now));
            continue;
        }
        if (n < 0) {
            snprintf(err, errlen, "address dump: %s", strerror(errno));
            return -1;
        }
        apply_datagram(la, buf, (size_t)n, &done);
    }
    la->known = true;
    return 0;
}

static void on_readable(uv_poll_t *poll, int status, int events)
{
    (void)status;
    (void)events;
    struct nurs_localaddr *la = poll->data;
    static unsigned char buf[32768] __attribute__((aligned(4)));
    for (int round = 0; round < 64; round++) {
        ssize_t n = recv(la->nl.fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && errno == ENOBUFS) {
            /* Events were lost: list everything again. */
            char err[256];
            if (dump(la, err, sizeof err) < 0)
                nurs_warn("local addresses: %s; every address counts as local", err);
            continue;
        }
        if (n <= 0)
            return;
        apply_datagram(la, buf, (size_t)n, NULL);
    }
}

int nurs_localaddr_open(struct nurs_localaddr *la, uv_loop_t *loop, const char *netns, char *err,
                        size_t errlen)
{
    memset(la, 0, sizeof *la);
    if (nurs_nl_open(&la->nl, NETLINK_ROUTE, netns, err, errlen) < 0)
        return -1;
    static const unsigned groups[] = {RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR};
    for (size_t i = 0; i < sizeof groups / sizeof *groups; i++) {
        if (setsockopt(la->nl.fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &groups[i],
                       sizeof groups[i]) < 0) {
            snprintf(err, errlen, "address events: %s", strerror(errno));
            nurs_nl_close(&la->nl);
            return -1;
        }
    }
    nurs_nl_set_rcvbuf(&la->nl, 1 << 20);
    if (dump(la, err, errlen) < 0 || uv_poll_init(loop, &la->poll, la->nl.fd) < 0) {
        nurs_addrset_free(&la->set);
        nurs_nl_close(&la->nl);
        return -1;
    }
    la->poll.data = la;
    uv_poll_start(&la->poll, UV_READABLE, on_readable);
    return 0;
}

bool nurs_localaddr_has(const struct nurs_localaddr *la, uint8_t family, const uint8_t *addr)
{
    return !la->known || nurs_addrset_has(&la->set, family, addr);
}

static void on_closed(uv_handle_t *h)
{
    struct nurs_localaddr *la = h->data;
    nurs_nl_close(&la->nl);
    nurs_addrset_free(&la->set);
    if (la->closed)
        la->closed(la);
}

void nurs_localaddr_close(struct nurs_localaddr *la, void (*closed)(struct nurs_localaddr *la))
{
    la->closed = closed;
    if (nurs_handle_open((uv_handle_t *)&la->poll)) {
        uv_close((uv_handle_t *)&la->poll, on_closed);
        return;
    }
    nurs_nl_close(&la->nl);
    nurs_addrset_free(&la->set);
    if (closed)
        closed(la);
}
