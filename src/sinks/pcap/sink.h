/* The pcap sink: packets encoded once (raw IP or NFLOG link type, snap
 * length, us/ns timestamps), through an optional token bucket, to one
 * target (a file with rotation, a FIFO, stdout, TCP or unix socket readers,
 * or a TCP collector: core/stream.h) and/or an in-memory ring dumped on demand. */
#ifndef NURS_SINKS_PCAP_SINK_H
#define NURS_SINKS_PCAP_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/pcap_fmt.h"
#include "core/resource.h"
#include "core/safe_open.h"
#include "core/stream.h"

struct nurs_script;
struct nurs_pcap_sink;

#define NURS_PCAP_DEFAULT_SNAPLEN 262144
#define NURS_PCAP_DEFAULT_READER_BUFFER (4 << 20)
#define NURS_PCAP_DEFAULT_FILE_BUFFER (256 << 10)
#define NURS_PCAP_DEFAULT_MAX_READERS 16

struct nurs_pcap_opts {
    const char *target; /* NULL: ring only */
    struct nurs_pcap_format fmt;
    uint64_t rotate_size;
    uint32_t rotate_seconds;
    uint32_t rotate_count;
    bool mkfifo;
    size_t reader_buffer;
    int max_readers;
    int max_per_uid;       /* 0: the stream's default */
    double reader_timeout; /* 0: the stream's default */
    struct nurs_stream_access access;
    int64_t socket_gid; /* unix://: the socket's group; -1: unchanged */
    double flush_interval; /* seconds, for files */
    double rate, burst;    /* packets/s, packets; rate 0: no limit */
    size_t ring_size;      /* bytes; 0: no ring */
    double ring_seconds;
    struct nurs_file_opts file; /* files and FIFOs made, foreign ones, ring dumps */
    const char *name;
};

/* The sink with the same target, link type, precision and ring that the
 * running script owns (given the new settings), else a new one. */
struct nurs_pcap_sink *nurs_pcap_sink_get(struct nurs_script *s, const struct nurs_pcap_opts *o,
                                          char *err, size_t errlen);
struct nurs_resource *nurs_pcap_sink_resource(struct nurs_pcap_sink *p);
struct nurs_pcap_sink *nurs_pcap_sink_of(struct nurs_resource *r);

/* A packet as a worker loop's relay carries it to a shared sink
 * (core/relay.h): this header, then len bytes of packet, then attrs_len
 * bytes of NFLOG attributes. */
struct nurs_pcap_packed {
    uint64_t ts_ns;
    uint32_t len, origlen, attrs_len;
    uint16_t group;
    uint8_t family, has_attrs;
};

/* Writes one packet; false if the rate limit refused it. */
bool nurs_pcap_sink_write(struct nurs_pcap_sink *p, const struct nurs_pcap_in *in);
int nurs_pcap_sink_flush(struct nurs_pcap_sink *p);
bool nurs_pcap_sink_has_ring(const struct nurs_pcap_sink *p);
/* Writes the ring as a pcap file; packets written, or -1 with err. */
long long nurs_pcap_sink_dump(struct nurs_pcap_sink *p, const char *path, char *err,
                              size_t errlen);
void nurs_pcap_sink_clear_ring(struct nurs_pcap_sink *p);

#endif
