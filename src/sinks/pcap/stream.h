/* pcap streamed to readers that may be slow or absent: a FIFO (snort -r,
 * suricata -r, tcpdump -r), standard output when it is a pipe, a TCP
 * listener (several readers: wireshark -k -i TCP@host:port) or a TCP
 * connection to a collector. Each reader gets the file header first,
 * then whole records. Nothing blocks the loop: sockets and pipes are
 * non-blocking, each reader has a bounded buffer, and what does not fit is
 * dropped and counted. A FIFO without a reader and a collector that is
 * down are retried on a timer. */
#ifndef NURS_SINKS_PCAP_STREAM_H
#define NURS_SINKS_PCAP_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/pcap_fmt.h"

struct nurs_pcap_stream;

struct nurs_pcap_stream_opts {
    /* "-", "tcp://HOST:PORT" (listen), "tcp-connect://HOST:PORT", or the
     * path of a FIFO (made when mkfifo and missing). */
    const char *target;
    size_t buffer; /* bytes queued per reader at most */
    int max_readers;
    bool mkfifo;
};

struct nurs_pcap_stream_stats {
    uint64_t readers;     /* connected now */
    uint64_t connects;    /* readers that came (or connections made) */
    uint64_t disconnects; /* readers that went away */
    uint64_t drops;       /* record copies a reader's full buffer (or a down collector) lost */
    uint64_t unread;      /* records written while no reader was there to read */
};

/* True if target names a stream rather than a regular file. */
bool nurs_pcap_stream_is_target(const char *target, bool mkfifo);

struct nurs_pcap_stream *nurs_pcap_stream_open(uv_loop_t *loop, const char *name,
                                               const struct nurs_pcap_stream_opts *o,
                                               const struct nurs_pcap_format *fmt, char *err,
                                               size_t errlen);
void nurs_pcap_stream_configure(struct nurs_pcap_stream *st, const struct nurs_pcap_stream_opts *o);
/* Queues one encoded record for every reader. */
void nurs_pcap_stream_write(struct nurs_pcap_stream *st, const uint8_t *rec, size_t len);
/* Writes what readers have queued now, as far as they take it without
 * waiting (at exit, before close). */
void nurs_pcap_stream_flush(struct nurs_pcap_stream *st);
const struct nurs_pcap_stream_stats *nurs_pcap_stream_stats(const struct nurs_pcap_stream *st);
/* Closes every handle and frees the stream once libuv let them go. What
 * readers have not taken yet is lost, and counted in drops. */
void nurs_pcap_stream_close(struct nurs_pcap_stream *st);

#endif
