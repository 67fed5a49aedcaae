/* ct-gen: creates and deletes conntrack entries through ctnetlink, in
 * batches of requests per send, as fast as the kernel takes them: every
 * entry makes one NEW and one DESTROY event. For floods in a namespace.
 *   ct-gen N [BATCH]    # N entries (<= 10000000), BATCH per send (default 256)
 * Prints "created C deleted D failed F seconds S" on stdout. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#define MSG_SPACE 160 /* bytes a request needs at most */

static void put_tuple(struct nlmsghdr *nlh, int type, uint32_t src, uint32_t dst, uint16_t sport,
                      uint16_t dport)
{
    struct nlattr *t = mnl_attr_nest_start(nlh, type);
    struct nlattr *ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
    mnl_attr_put_u32(nlh, CTA_IP_V4_SRC, src);
    mnl_attr_put_u32(nlh, CTA_IP_V4_DST, dst);
    mnl_attr_nest_end(nlh, ip);
    struct nlattr *p = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
    mnl_attr_put_u8(nlh, CTA_PROTO_NUM, IPPROTO_UDP);
    mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(sport));
    mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(dport));
    mnl_attr_nest_end(nlh, p);
    mnl_attr_nest_end(nlh, t);
}

/* Entry i: 10.0.0.0/8 sources and ports derived from i, all distinct.
 * Returns the aligned length written. */
static size_t put_request(char *at, uint32_t i, int create)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(at);
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | (create ? IPCTNL_MSG_CT_NEW : IPCTNL_MSG_CT_DELETE);
    nlh->nlmsg_flags = NLM_F_REQUEST | (create ? NLM_F_CREATE | NLM_F_EXCL : 0);
    nlh->nlmsg_seq = i;
    struct nfgenmsg *nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
    nfg->nfgen_family = AF_INET;
    nfg->version = NFNETLINK_V0;
    uint32_t src = htonl(0x0a000000u | (i >> 8)), dst = htonl(0xc0a80001u);
    uint16_t sport = (uint16_t)(1024 + (i & 0xff)), dport = 53;
    put_tuple(nlh, CTA_TUPLE_ORIG, src, dst, sport, dport);
    if (create) {
        put_tuple(nlh, CTA_TUPLE_REPLY, dst, src, dport, sport);
        mnl_attr_put_u32(nlh, CTA_STATUS, htonl(IPS_CONFIRMED));
        mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(60));
    }
    return NLMSG_ALIGN(nlh->nlmsg_len);
}

/* Reads whatever error replies are waiting; returns how many failed. */
static long drain(struct mnl_socket *nl)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    long failed = 0;
    for (;;) {
        ssize_t n = recv(mnl_socket_get_fd(nl), buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0)
            return failed;
        for (struct nlmsghdr *nlh = (void *)buf; mnl_nlmsg_ok(nlh, (int)n);
             nlh = mnl_nlmsg_next(nlh, (int *)&n)) {
            if (nlh->nlmsg_type == NLMSG_ERROR &&
                ((struct nlmsgerr *)mnl_nlmsg_get_payload(nlh))->error != 0)
                failed++;
        }
    }
}

static int send_batch(struct mnl_socket *nl, char *buf, uint32_t first, uint32_t count, int create)
{
    size_t len = 0;
    for (uint32_t k = 0; k < count; k++)
        len += put_request(buf + len, first + k, create);
    return mnl_socket_sendto(nl, buf, len) < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
    long batch = argc > 2 ? strtol(argv[2], NULL, 10) : 256;
    if (n <= 0 || n > 10000000 || batch <= 0 || batch > 1024) {
        fprintf(stderr, "usage: ct-gen N [BATCH]  (N <= 10000000, BATCH <= 1024)\n");
        return 2;
    }
    struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
    if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        perror("ct-gen: netlink");
        return 1;
    }
    int rcv = 8 << 20;
    setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv);
    char *buf = malloc((size_t)batch * MSG_SPACE);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long failed = 0;
    for (long i = 0; i < n; i += batch) {
        uint32_t count = (uint32_t)(n - i < batch ? n - i : batch);
        if (send_batch(nl, buf, (uint32_t)i, count, 1) < 0 ||
            send_batch(nl, buf, (uint32_t)i, count, 0) < 0) {
            perror("ct-gen: send");
            return 1;
        }
        failed += drain(nl);
    }
    failed += drain(nl);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("created %ld deleted %ld failed %ld seconds %.3f\n", n, n, failed,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    free(buf);
    mnl_socket_close(nl);
    return failed ? 1 : 0;
}
