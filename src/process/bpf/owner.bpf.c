/* Who owned a socket when its addresses became known: BPF programs that run
 * in the system call of the process itself (so they see it even if it
 * exits a moment later) and write one record per socket into a ring buffer
 * (record.h) for the daemon to join to conntrack entries by 5-tuple. All
 * are cgroup programs on the root of the v2 hierarchy (no tracing
 * programs: kernels built without trampolines or kprobes load these too):
 *
 *   sockops TCP_CONNECT_CB   TCP connect(): the SYN is about to leave
 *   sendmsg4/6               sendto() on an unconnected UDP socket (once per
 *                            socket and destination)
 *   connect4/6 + skb egress  UDP connect() runs before the kernel picks the
 *                            local port: the owner is kept in the socket's
 *                            storage and written with the first datagram
 *   post_bind4/6             bind(): the owner of a listening socket, which
 *                            answers for the connections it accepts when
 *                            the process that holds them cannot be found
 *
 * Sockets of network namespaces the daemon does not watch (map
 * watched_netns) are skipped first, at the cost of one map lookup. */
/* Context fields (bpf_sock_addr, bpf_sock_ops, bpf_sock) are rewritten by
 * the verifier, which wants them read at constant offsets: no CO-RE
 * relocation there. Kernel structures are read with BPF_CORE_READ. */
#define BPF_NO_PRESERVE_ACCESS_INDEX
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "process/bpf/record.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17

char LICENSE[] SEC("license") = "GPL";

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1 << 20); /* the daemon sets it before loading */
} ring SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, __u64);
    __type(value, __u8);
} watched_netns SEC(".maps");

/* Records lost because the ring buffer was full (or a socket's storage
 * could not be made). A global: the daemon reads it through the mapped
 * memory the skeleton keeps, with no system call and no capability. */
__u64 dropped;

/* The destinations an unconnected UDP socket has sent to: one record for
 * each, not one per datagram. */
struct sent_key {
    __u64 cookie;
    __u8 raddr[16];
    __u16 rport;
    __u16 pad[3];
};

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16384); /* the daemon sets it before loading */
    __type(key, struct sent_key);
    __type(value, __u8);
} sent SEC(".maps");

/* UDP sockets connected but silent yet: their owner at connect(). */
struct {
    __uint(type, BPF_MAP_TYPE_SK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct nurs_bpf_record);
} pending SEC(".maps");

/* The addresses of a socket, both families read (into registers the
 * compiler may not move: tail-merged branches would read the context at a
 * computed offset, which the verifier refuses), one kept. */
#define ADDRS(r, family, l4, r4, l6, r6)                                                           \
    do {                                                                                           \
        __u32 a4 = (l4), b4 = (r4), a0 = (l6)[0], a1 = (l6)[1], a2 = (l6)[2], a3 = (l6)[3],        \
              b0 = (r6)[0], b1 = (r6)[1], b2 = (r6)[2], b3 = (r6)[3];                              \
        barrier_var(a4); barrier_var(b4); barrier_var(a0); barrier_var(a1); barrier_var(a2);       \
        barrier_var(a3); barrier_var(b0); barrier_var(b1); barrier_var(b2); barrier_var(b3);       \
        __u32 *la = (__u32 *)(r)->laddr, *ra = (__u32 *)(r)->raddr;                                \
        if ((family) == AF_INET) {                                                                 \
            la[0] = a4, ra[0] = b4;                                                                \
        } else {                                                                                   \
            la[0] = a0, la[1] = a1, la[2] = a2, la[3] = a3;                                        \
            ra[0] = b0, ra[1] = b1, ra[2] = b2, ra[3] = b3;                                        \
        }                                                                                          \
    } while (0)

/* The same for one IPv6 address (a program of one family). */
#define COPY4(dst, src)                                                                            \
    do {                                                                                           \
        ((__u32 *)(dst))[0] = (src)[0];                                                            \
        ((__u32 *)(dst))[1] = (src)[1];                                                            \
        ((__u32 *)(dst))[2] = (src)[2];                                                            \
        ((__u32 *)(dst))[3] = (src)[3];                                                            \
    } while (0)

static __always_inline void count_drop(void)
{
    __sync_fetch_and_add(&dropped, 1);
}

static __always_inline bool watched(__u64 netns)
{
    return bpf_map_lookup_elem(&watched_netns, &netns) != NULL;
}

static __always_inline struct nurs_bpf_record *reserve(void)
{
    struct nurs_bpf_record *r = bpf_ringbuf_reserve(&ring, sizeof *r, 0);
    if (!r) {
        count_drop();
        return NULL;
    }
    __builtin_memset(r, 0, sizeof *r);
    r->version = NURS_BPF_RECORD_VERSION;
    return r;
}

/* The calling thread and its process. */
static __always_inline void fill_task(struct nurs_bpf_record *r)
{
    struct task_struct *t = (struct task_struct *)bpf_get_current_task();
    r->tgid = BPF_CORE_READ(t, tgid);
    r->tid = BPF_CORE_READ(t, pid);
    r->ppid = BPF_CORE_READ(t, real_parent, tgid);
    r->start_ns = BPF_CORE_READ(t, group_leader, start_boottime);
    r->uid = BPF_CORE_READ(t, cred, euid.val);
    r->gid = BPF_CORE_READ(t, cred, egid.val);
    r->cgroup_id = BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id);
    BPF_CORE_READ_STR_INTO(&r->comm, t, comm);
    unsigned long start = BPF_CORE_READ(t, mm, arg_start);
    unsigned long end = BPF_CORE_READ(t, mm, arg_end);
    if (!start || end <= start)
        return;
    __u32 len = end - start < NURS_BPF_CMDLINE_LEN ? end - start : NURS_BPF_CMDLINE_LEN;
    /* A page of it may be out of memory: then the daemon reads /proc. */
    if (len && bpf_probe_read_user(r->cmdline, len & (2 * NURS_BPF_CMDLINE_LEN - 1),
                                   (const void *)start) == 0)
        r->cmdline_len = len;
}

static __always_inline void submit(struct nurs_bpf_record *r)
{
    fill_task(r);
    bpf_ringbuf_submit(r, 0);
}

/* ---- cgroup programs: they always let the operation go on ---- */

SEC("sockops")
int nurs_sockops(struct bpf_sock_ops *ctx)
{
    if (ctx->op != BPF_SOCK_OPS_TCP_CONNECT_CB)
        return 1;
    __u64 netns = bpf_get_netns_cookie(ctx);
    __u32 family = ctx->family;
    if (!watched(netns) || (family != AF_INET && family != AF_INET6))
        return 1;
    struct nurs_bpf_record *r = reserve();
    if (!r)
        return 1;
    r->kind = NURS_BPF_CONNECT;
    r->family = family;
    r->proto = IPPROTO_TCP;
    r->netns = netns;
    r->cookie = bpf_get_socket_cookie(ctx);
    r->lport = ctx->local_port;
    r->rport = bpf_ntohl(ctx->remote_port);
    ADDRS(r, family, ctx->local_ip4, ctx->remote_ip4, ctx->local_ip6, ctx->remote_ip6);
    submit(r);
    return 1;
}

static __always_inline void sendmsg(struct bpf_sock_addr *ctx, bool v6)
{
    struct bpf_sock *sk = ctx->sk;
    if (ctx->protocol != IPPROTO_UDP || !sk)
        return;
    __u64 netns = bpf_get_netns_cookie(ctx);
    if (!watched(netns))
        return;
    struct sent_key key = {.cookie = bpf_get_socket_cookie(ctx),
                           .rport = bpf_ntohs((__u16)ctx->user_port)};
    if (v6) {
        COPY4(key.raddr, ctx->user_ip6);
    } else {
        *(__u32 *)key.raddr = ctx->user_ip4;
    }
    if (bpf_map_lookup_elem(&sent, &key))
        return;
    struct nurs_bpf_record *r = reserve();
    if (!r)
        return; /* the next datagram tries again */
    __u8 one = 1;
    bpf_map_update_elem(&sent, &key, &one, BPF_ANY);
    r->kind = NURS_BPF_SEND;
    r->family = v6 ? AF_INET6 : AF_INET;
    r->proto = IPPROTO_UDP;
    r->netns = netns;
    r->cookie = key.cookie;
    r->lport = sk->src_port;
    r->rport = key.rport;
    __builtin_memcpy(r->raddr, key.raddr, sizeof r->raddr);
    if (v6) {
        COPY4(r->laddr, sk->src_ip6);
    } else {
        /* A source given with the datagram (IP_PKTINFO) wins over the bound one. */
        __u32 src = ctx->msg_src_ip4;
        *(__u32 *)r->laddr = src ? src : sk->src_ip4;
    }
    submit(r);
}

SEC("cgroup/sendmsg4")
int nurs_sendmsg4(struct bpf_sock_addr *ctx)
{
    sendmsg(ctx, false);
    return 1;
}

SEC("cgroup/sendmsg6")
int nurs_sendmsg6(struct bpf_sock_addr *ctx)
{
    sendmsg(ctx, true);
    return 1;
}

static __always_inline void bound(struct bpf_sock *sk, bool v6)
{
    __u32 proto = sk->protocol;
    if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
        return;
    __u64 netns = bpf_get_netns_cookie(sk);
    if (!watched(netns))
        return;
    struct nurs_bpf_record *r = reserve();
    if (!r)
        return;
    r->kind = NURS_BPF_BIND;
    r->family = v6 ? AF_INET6 : AF_INET;
    r->proto = proto;
    r->netns = netns;
    r->cookie = bpf_get_socket_cookie(sk);
    r->lport = sk->src_port;
    if (v6) {
        COPY4(r->laddr, sk->src_ip6);
    } else {
        *(__u32 *)r->laddr = sk->src_ip4;
    }
    submit(r);
}

SEC("cgroup/post_bind4")
int nurs_bind4(struct bpf_sock *sk)
{
    bound(sk, false);
    return 1;
}

SEC("cgroup/post_bind6")
int nurs_bind6(struct bpf_sock *sk)
{
    bound(sk, true);
    return 1;
}

/* UDP connect(): the owner now, the addresses with the first datagram. */
static __always_inline void udp_connect(struct bpf_sock_addr *ctx)
{
    if (ctx->protocol != IPPROTO_UDP || !ctx->sk)
        return;
    __u64 netns = bpf_get_netns_cookie(ctx);
    if (!watched(netns))
        return;
    struct nurs_bpf_record *p =
        bpf_sk_storage_get(&pending, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
    if (!p) {
        count_drop();
        return;
    }
    __builtin_memset(p, 0, sizeof *p);
    p->version = NURS_BPF_RECORD_VERSION;
    p->kind = NURS_BPF_CONNECT;
    p->proto = IPPROTO_UDP;
    p->netns = netns;
    p->cookie = bpf_get_socket_cookie(ctx);
    fill_task(p);
}

SEC("cgroup/connect4")
int nurs_connect4(struct bpf_sock_addr *ctx)
{
    udp_connect(ctx);
    return 1;
}

SEC("cgroup/connect6")
int nurs_connect6(struct bpf_sock_addr *ctx)
{
    udp_connect(ctx);
    return 1;
}

/* Every packet leaving: one storage lookup, which finds nothing but for a
 * UDP socket's first datagram after connect(). */
SEC("cgroup_skb/egress")
int nurs_egress(struct __sk_buff *skb)
{
    struct bpf_sock *sk = skb->sk;
    if (!sk)
        return 1;
    sk = bpf_sk_fullsock(sk);
    if (!sk)
        return 1;
    struct nurs_bpf_record *p = bpf_sk_storage_get(&pending, sk, 0, 0);
    if (!p)
        return 1;
    __u32 family = sk->family;
    struct nurs_bpf_record *r = bpf_ringbuf_reserve(&ring, sizeof *r, 0);
    if (!r) {
        count_drop();
    } else {
        __builtin_memcpy(r, p, sizeof *r);
        r->family = family;
        r->lport = sk->src_port;
        r->rport = bpf_ntohs(sk->dst_port);
        ADDRS(r, family, sk->src_ip4, sk->dst_ip4, sk->src_ip6, sk->dst_ip6);
        bpf_ringbuf_submit(r, 0);
    }
    bpf_sk_storage_delete(&pending, sk);
    return 1;
}
