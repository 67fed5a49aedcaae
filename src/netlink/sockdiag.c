#include "netlink/sockdiag.h"

#include <arpa/inet.h>
#include <string.h>

#include <linux/inet_diag.h>
#include <linux/sock_diag.h>

size_t nurs_sockdiag_request(void *buf, const struct nurs_sock_key *k, uint32_t seq, bool swap)
{
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 req;
    } *m = buf;
    _Static_assert(sizeof *m <= NURS_SOCKDIAG_REQ_LEN, "request room");
    memset(m, 0, sizeof *m);
    m->nlh.nlmsg_len = sizeof *m;
    m->nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    m->nlh.nlmsg_flags = NLM_F_REQUEST;
    m->nlh.nlmsg_seq = seq;
    m->req.sdiag_family = k->family;
    m->req.sdiag_protocol = k->proto;
    m->req.idiag_states = ~0u;
    struct inet_diag_sockid *id = &m->req.id;
    size_t alen = k->family == AF_INET ? 4 : 16;
    memcpy(swap ? id->idiag_dst : id->idiag_src, k->local, alen);
    memcpy(swap ? id->idiag_src : id->idiag_dst, k->remote, alen);
    id->idiag_sport = htons(swap ? k->rport : k->lport);
    id->idiag_dport = htons(swap ? k->lport : k->rport);
    id->idiag_cookie[0] = id->idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    return sizeof *m;
}

int nurs_sockdiag_parse(const struct nlmsghdr *nlh, size_t left, struct nurs_sockdiag_answer *a,
                        const char **why)
{
    memset(a, 0, sizeof *a);
    if (left < sizeof *nlh || nlh->nlmsg_len < sizeof *nlh || nlh->nlmsg_len > left) {
        *why = "truncated message";
        return -1;
    }
    a->seq = nlh->nlmsg_seq;
    size_t len = nlh->nlmsg_len - NLMSG_HDRLEN;
    const unsigned char *p = (const unsigned char *)nlh + NLMSG_HDRLEN;
    if (nlh->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr e;
        if (len < sizeof e) {
            *why = "short error message";
            return -1;
        }
        memcpy(&e, p, sizeof e);
        a->error = e.error < 0 ? e.error : -e.error;
        if (a->error == 0) {
            *why = "an acknowledgment, not an answer";
            return -1;
        }
        return 0;
    }
    if (nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY) {
        *why = "not a sock_diag answer";
        return -1;
    }
    struct inet_diag_msg m;
    if (len < sizeof m) {
        *why = "short inet_diag message";
        return -1;
    }
    memcpy(&m, p, sizeof m);
    if (m.idiag_family != AF_INET && m.idiag_family != AF_INET6) {
        *why = "unknown address family";
        return -1;
    }
    a->state = m.idiag_state;
    a->lport = ntohs(m.id.idiag_sport);
    a->rport = ntohs(m.id.idiag_dport);
    memcpy(a->local, m.id.idiag_src, 16);
    memcpy(a->remote, m.id.idiag_dst, 16);
    a->uid = m.idiag_uid;
    a->inode = m.idiag_inode;
    return 0;
}
