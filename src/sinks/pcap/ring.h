/* A ring buffer of encoded pcap records in memory: the last N bytes (and
 * optionally the last N seconds) of packets, written out as a valid pcap
 * file whenever the script asks. Oldest records are evicted whole. */
#ifndef NURS_SINKS_PCAP_RING_H
#define NURS_SINKS_PCAP_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/pcap_fmt.h"
#include "core/safe_open.h"

struct nurs_pcap_ring {
    uint8_t *buf;
    size_t size;
    /* Records live in [head, tail), or in [head, wrap) then [0, tail)
     * once the tail has wrapped around. */
    size_t head, tail, wrap;
    bool wrapped;
    uint64_t packets, bytes; /* held now */
    uint64_t max_age_ns;     /* 0: no age limit */
    uint64_t newest_ns;
    uint64_t evicted;        /* records pushed out so far */
    struct nurs_pcap_format fmt;
};

int nurs_pcap_ring_init(struct nurs_pcap_ring *r, size_t size, double max_age_s,
                        const struct nurs_pcap_format *fmt);
void nurs_pcap_ring_free(struct nurs_pcap_ring *r);
void nurs_pcap_ring_clear(struct nurs_pcap_ring *r);
/* Keeps one encoded record, evicting the oldest ones to make room (and
 * those older than max_age before it). False if it is larger than the
 * whole ring. */
bool nurs_pcap_ring_put(struct nurs_pcap_ring *r, const uint8_t *rec, size_t len);
/* Calls fn with the stored records as at most two contiguous runs of
 * bytes, oldest first. */
void nurs_pcap_ring_each_run(const struct nurs_pcap_ring *r,
                             void (*fn)(void *ctx, const uint8_t *p, size_t len), void *ctx);
/* Writes a pcap file of everything held: to a temporary file made beside
 * path (O_EXCL, a random name), renamed over path once complete; path is
 * checked first as core/safe_open.h checks a file it writes. Returns the
 * packets written, or -1 with err. */
long long nurs_pcap_ring_dump(const struct nurs_pcap_ring *r, const char *path,
                              const struct nurs_file_opts *o, char *err, size_t errlen);

#endif
