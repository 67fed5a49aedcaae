/* The NFLOG source: packets that nft/iptables rules `log group N` send
 * to userspace, for one or several groups on one netlink socket,
 * delivered to Lua as borrowed packet records. */
#ifndef NURS_SOURCES_NFLOG_H
#define NURS_SOURCES_NFLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/resource.h"
#include "netlink/nflog_msg.h"

struct nurs_script;
struct nurs_nflog_source;

#define NURS_NFLOG_MAX_GROUPS 32
#define NURS_NFLOG_DEFAULT_RCVBUF (8 << 20)
#define NURS_NFLOG_DEFAULT_RCVBUF_MAX (128 << 20)
#define NURS_NFLOG_DEFAULT_NLBUFSIZ (64 * 1024)
#define NURS_NFLOG_MAX_NLBUFSIZ 131072 /* the kernel refuses more */
#define NURS_NFLOG_MIN_NLBUFSIZ 4096
#define NURS_NFLOG_DEFAULT_QTHRESH 100
#define NURS_NFLOG_DEFAULT_TIMEOUT_CS 1
#define NURS_NFLOG_MAX_COPY_RANGE 65535

/* What the kernel is asked for each group. */
struct nurs_nflog_settings {
    uint8_t copy_mode;   /* NFULNL_COPY_NONE, _META, _PACKET */
    uint32_t copy_range; /* bytes of each packet (PACKET mode) */
    uint32_t qthresh;    /* messages per batch */
    uint32_t timeout_cs; /* flush a partial batch after this (1/100 s) */
    uint32_t nlbufsiz;   /* bytes per batch */
    uint16_t flags;      /* NFULNL_CFG_F_SEQ, _SEQ_GLOBAL, _CONNTRACK */
};

struct nurs_nflog_opts {
    uint16_t groups[NURS_NFLOG_MAX_GROUPS];
    int n_groups;
    struct nurs_nflog_settings settings;
    const char *netns; /* NULL: our own namespace */
    int rcvbuf;
    int rcvbuf_max;
    const char *name;
    const char *record; /* pcap file for what this source receives; NULL: none */
};

/* The source with the same namespace and groups that the running script
 * owns, claimed for the loading one (and given the new settings); else a
 * new one. A group held by another source of the running script is taken
 * over (and given back if the load fails). NULL on error, with the reason
 * in err. */
struct nurs_nflog_source *nurs_nflog_source_get(struct nurs_script *s,
                                                const struct nurs_nflog_opts *o, bool *adopted,
                                                char *err, size_t errlen);
struct nurs_resource *nurs_nflog_source_resource(struct nurs_nflog_source *src);
struct nurs_nflog_source *nurs_nflog_source_of(struct nurs_resource *r);

/* Hands a parsed message to r's callbacks as a packet record (live and
 * replayed messages alike). */
void nurs_nflog_dispatch(struct nurs_resource *r, struct nurs_nflog_msg *m);

#endif
