#include "netlink/socket.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/netlink.h>

#include "core/log.h"

static uint32_t next_seq = 1;

int nurs_netns_enter(const char *netns, int *saved, char *err, size_t errlen)
{
    char path[4096];
    if (strchr(netns, '/'))
        snprintf(path, sizeof path, "%s", netns);
    else
        snprintf(path, sizeof path, "/run/netns/%s", netns);
    int target = open(path, O_RDONLY | O_CLOEXEC);
    if (target < 0) {
        snprintf(err, errlen, "network namespace %s: %s", path, strerror(errno));
        return -1;
    }
    /* thread-self: a worker thread returns to its own namespace, not to
     * wherever the main thread happens to be. */
    *saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (*saved < 0) {
        snprintf(err, errlen, "cannot open our own network namespace: %s", strerror(errno));
        close(target);
        return -1;
    }
    if (setns(target, CLONE_NEWNET) < 0) {
        snprintf(err, errlen, "cannot enter network namespace %s: %s%s", path, strerror(errno),
                 errno == EPERM ? " (needs CAP_SYS_ADMIN)" : "");
        close(target);
        close(*saved);
        return -1;
    }
    close(target);
    return 0;
}

void nurs_netns_leave(int saved)
{
    /* Failing to come back would leave later sockets in the wrong
     * namespace: nothing sane can go on from there. */
    if (setns(saved, CLONE_NEWNET) < 0) {
        nurs_err("cannot return to our network namespace: %s", strerror(errno));
        abort();
    }
    close(saved);
}

int nurs_nl_open(struct nurs_nl *nl, int protocol, const char *netns, char *err, size_t errlen)
{
    int saved = -1;
    nl->fd = -1;
    nl->rcvbuf = 0;
    if (netns && nurs_netns_enter(netns, &saved, err, errlen) < 0)
        return -1;
    nl->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol);
    int saved_errno = errno;
    if (netns)
        nurs_netns_leave(saved);
    if (nl->fd < 0) {
        snprintf(err, errlen, "netlink socket: %s", strerror(saved_errno));
        return -1;
    }
    struct sockaddr_nl addr = {.nl_family = AF_NETLINK};
    socklen_t len = sizeof addr;
    if (bind(nl->fd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        getsockname(nl->fd, (struct sockaddr *)&addr, &len) < 0) {
        snprintf(err, errlen, "netlink bind: %s", strerror(errno));
        nurs_nl_close(nl);
        return -1;
    }
    nl->portid = addr.nl_pid;
    /* Extended acks tell which attribute the kernel refused. */
    int one = 1;
    setsockopt(nl->fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
    return 0;
}

void nurs_nl_close(struct nurs_nl *nl)
{
    if (nl->fd >= 0)
        close(nl->fd);
    nl->fd = -1;
}

int nurs_nl_set_rcvbuf(struct nurs_nl *nl, int bytes)
{
    if (setsockopt(nl->fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) < 0 &&
        setsockopt(nl->fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes) < 0)
        return -1;
    socklen_t len = sizeof nl->rcvbuf;
    getsockopt(nl->fd, SOL_SOCKET, SO_RCVBUF, &nl->rcvbuf, &len);
    return 0;
}

bool nurs_nl_grow_rcvbuf(struct nurs_nl *nl)
{
    /* The kernel reports twice what was asked (bookkeeping overhead). */
    int asked = nl->rcvbuf / 2;
    if (asked >= nl->rcvbuf_max)
        return false;
    int next = asked > nl->rcvbuf_max / 2 ? nl->rcvbuf_max : asked * 2;
    int before = nl->rcvbuf;
    nurs_nl_set_rcvbuf(nl, next);
    return nl->rcvbuf > before;
}

int nurs_nl_batch_init(struct nurs_nl_batch *b)
{
    return nurs_nl_batch_init_size(b, NURS_NL_SLOT_SIZE);
}

int nurs_nl_batch_init_size(struct nurs_nl_batch *b, size_t slot_size)
{
    slot_size = NLMSG_ALIGN(slot_size);
    b->buf = malloc((size_t)NURS_NL_SLOTS * slot_size);
    if (!b->buf)
        return -1;
    b->slot_size = slot_size;
    for (int i = 0; i < NURS_NL_SLOTS; i++) {
        b->iov[i].iov_base = b->buf + (size_t)i * slot_size;
        b->iov[i].iov_len = slot_size;
        memset(&b->msgs[i], 0, sizeof b->msgs[i]);
        b->msgs[i].msg_hdr.msg_iov = &b->iov[i];
        b->msgs[i].msg_hdr.msg_iovlen = 1;
        b->msgs[i].msg_hdr.msg_name = &b->from[i];
        b->msgs[i].msg_hdr.msg_namelen = sizeof b->from[i];
    }
    return 0;
}

void nurs_nl_batch_free(struct nurs_nl_batch *b)
{
    free(b->buf);
    b->buf = NULL;
}

long nurs_nl_datagram(const struct nurs_nl_batch *b, int i, const void **data,
                      const char **why)
{
    const struct msghdr *h = &b->msgs[i].msg_hdr;
    if (h->msg_namelen < sizeof(struct sockaddr_nl) || b->from[i].nl_pid != 0) {
        *why = "datagram not sent by the kernel";
        return -1;
    }
    if (h->msg_flags & MSG_TRUNC) {
        *why = "datagram truncated";
        return -1;
    }
    *data = b->iov[i].iov_base;
    return (long)b->msgs[i].msg_len;
}

int nurs_nl_recv(struct nurs_nl *nl, struct nurs_nl_batch *b)
{
    return nurs_nl_recv_upto(nl, b, NURS_NL_SLOTS);
}

int nurs_nl_recv_upto(struct nurs_nl *nl, struct nurs_nl_batch *b, int max)
{
    for (int i = 0; i < max; i++)
        b->msgs[i].msg_hdr.msg_namelen = sizeof b->from[i];
    for (;;) {
        int n = recvmmsg(nl->fd, b->msgs, (unsigned)max, MSG_DONTWAIT, NULL);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return -errno;
    }
}

/* Looks for the answer to `seq` among the messages of a datagram: 1 acked,
 * -errno refused, 0 not there. */
static int find_ack(const void *data, size_t len, uint32_t seq)
{
    size_t left = len;
    for (const struct nlmsghdr *nlh = data; nurs_nlmsg_ok(nlh, left);
         nlh = nurs_nlmsg_next(nlh, &left)) {
        if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_seq != seq)
            continue;
        if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nlmsgerr))
            return -EBADMSG;
        const struct nlmsgerr *e = NLMSG_DATA(nlh);
        return e->error == 0 ? 1 : e->error;
    }
    return 0;
}

int nurs_nl_request(struct nurs_nl *nl, struct nlmsghdr *req, int timeout_ms,
                    void (*other)(void *ctx, const void *data, size_t len), void *ctx, char *err,
                    size_t errlen)
{
    req->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    req->nlmsg_seq = next_seq++;
    if (send(nl->fd, req, req->nlmsg_len, 0) < 0) {
        int e = errno;
        snprintf(err, errlen, "%s", strerror(e));
        errno = e;
        return -1;
    }
    /* Answers are small, but a subscribed socket may get full events. */
    static unsigned char buf[65536] __attribute__((aligned(4)));
    uint64_t deadline = nurs_monotonic_ms() + (uint64_t)timeout_ms;
    for (;;) {
        struct sockaddr_nl from;
        socklen_t fromlen = sizeof from;
        ssize_t n = recvfrom(nl->fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from,
                             &fromlen);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            uint64_t now = nurs_monotonic_ms();
            if (now >= deadline) {
                snprintf(err, errlen, "no answer from the kernel within %d ms", timeout_ms);
                errno = ETIMEDOUT;
                return -1;
            }
            struct pollfd pfd = {.fd = nl->fd, .events = POLLIN};
            poll(&pfd, 1, (int)(deadline - now));
            continue;
        }
        if (n < 0 && errno != ENOBUFS) {
            int e = errno;
            snprintf(err, errlen, "%s", strerror(e));
            errno = e;
            return -1;
        }
        if (n <= 0 || from.nl_pid != 0)
            continue;
        int rc = find_ack(buf, (size_t)n, req->nlmsg_seq);
        if (rc == 1)
            return 0;
        if (rc < 0) {
            snprintf(err, errlen, "%s", strerror(-rc));
            errno = -rc;
            return -1;
        }
        if (other)
            other(ctx, buf, (size_t)n);
    }
}

static bool payload_ok(const struct nlattr *a, int min)
{
    size_t len = a->nla_len - NLA_HDRLEN;
    switch (min) {
    case NURS_NLA_NESTED:
        return len == 0 || len >= NLA_HDRLEN;
    case NURS_NLA_STRING:
        return len > 0 && ((const char *)a + NLA_HDRLEN)[len - 1] == '\0';
    default:
        return len >= (size_t)min;
    }
}

bool nurs_nla_parse(const void *p, size_t len, const struct nlattr **tb, int max,
                    const int *min_len, bool strict)
{
    const char *cur = p;
    while (len >= NLA_HDRLEN) {
        const struct nlattr *a = (const struct nlattr *)cur;
        if (a->nla_len < NLA_HDRLEN || a->nla_len > len)
            return !strict;
        int type = a->nla_type & NLA_TYPE_MASK;
        if (type <= max) {
            if (min_len && !payload_ok(a, min_len[type]))
                return false;
            tb[type] = a;
        }
        size_t step = NLA_ALIGN(a->nla_len);
        if (step >= len)
            break;
        cur += step;
        len -= step;
    }
    return true;
}
