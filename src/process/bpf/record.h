/* What the BPF programs (owner.bpf.c) write into the ring buffer for each
 * socket whose addresses became known in a process's own system call: the
 * layout both sides share. Only fixed-size integer types, so that it means
 * the same to clang -target bpf (with vmlinux.h) and to the daemon (with
 * <linux/types.h>). The daemon never trusts it: owner.c checks every
 * record before use. */
#ifndef NURS_PROCESS_BPF_RECORD_H
#define NURS_PROCESS_BPF_RECORD_H

#ifndef __VMLINUX_H__ /* the daemon's side */
#include <linux/types.h>
#endif

#define NURS_BPF_RECORD_VERSION 1
#define NURS_BPF_COMM_LEN 16
/* Bytes of the command line copied at the hook: what is left of a
 * process that exits before the daemon reads /proc. */
#define NURS_BPF_CMDLINE_LEN 256

/* Where the addresses were learnt, which says what they mean. */
enum nurs_bpf_kind {
    NURS_BPF_CONNECT = 1, /* connect(): TCP (sock_ops) or UDP: the whole 4-tuple */
    NURS_BPF_ACCEPT = 2,  /* accept() returned this TCP socket: the whole 4-tuple */
    NURS_BPF_SEND = 3,    /* sendto() on an unconnected UDP socket: local address may be 0 */
    NURS_BPF_BIND = 4,    /* bind(): local address (may be 0) and port only */
    NURS_BPF_KIND_MAX = NURS_BPF_BIND
};

struct nurs_bpf_record {
    __u8 version;
    __u8 kind;   /* enum nurs_bpf_kind */
    __u8 family; /* AF_INET or AF_INET6, as the socket is */
    __u8 proto;  /* IPPROTO_TCP or IPPROTO_UDP */
    __u16 lport, rport; /* host order; rport 0: not known (bind) */
    __u16 cmdline_len;  /* bytes of cmdline used (arguments separated by NUL) */
    __u16 reserved;
    __u32 reserved2;    /* (no padding anywhere: the same layout for every compiler) */
    __u8 laddr[16], raddr[16]; /* network order; IPv4 in the first 4 bytes */
    __u64 netns;       /* the socket's network namespace cookie */
    __u64 cookie;      /* the socket's cookie (SO_COOKIE) */
    __u64 start_ns;    /* when the process started, ns since boot (CLOCK_BOOTTIME) */
    __u64 cgroup_id;   /* the thread's cgroup v2 id (the inode of its directory) */
    __u32 tgid, tid, ppid; /* the process, the thread, the parent process */
    __u32 uid, gid;        /* effective ids */
    __u32 reserved3;
    char comm[NURS_BPF_COMM_LEN]; /* the thread's name, NUL-padded */
    char cmdline[NURS_BPF_CMDLINE_LEN];
};

#endif
