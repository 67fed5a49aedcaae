/* pcap files of netlink traffic, link type LINKTYPE_NETLINK (253): the
 * format of the kernel's nlmon device, which tshark and Wireshark decode
 * as netlink/netfilter. Each packet is one datagram as a socket received
 * it, behind the 16-byte cooked header that carries the netlink family. */
#ifndef NURS_NETLINK_PCAP_NL_H
#define NURS_NETLINK_PCAP_NL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <uv.h>

#include "core/outfile.h"
#include "core/stream.h"

#define NURS_LINKTYPE_NETLINK 253
#define NURS_PCAP_NL_HDRLEN 16
#define NURS_PCAP_SNAPLEN 262144

/* A recording: records are buffered and written in whole batches to a
 * file (core/outfile.h: a full disk loses a batch, never tears a record;
 * a removed file is made again) or, given a loop, to a FIFO as a stream
 * (core/stream.h: the recording waits for a reader without blocking). */
struct nurs_pcap_writer {
    char *path;
    uint64_t packets; /* written, or queued for the FIFO's reader */
    uint64_t lost;    /* in batches a full disk (or a gone reader) lost */
    int refs;
    uint8_t *buf;
    size_t len;
    uint64_t buf_records;
    struct nurs_outfile file;
    bool has_file;
    struct nurs_stream *stream;
    int last_errno;
};

/* Creates (truncates) path safely (core/safe_open.h, mode 0640) and
 * writes the file header. With a loop, a FIFO at path is written as a
 * stream. */
int nurs_pcap_writer_open(struct nurs_pcap_writer *w, uv_loop_t *loop, const char *path,
                          char *err, size_t errlen);
/* -1 when a flush it needed failed (the record is then buffered still). */
int nurs_pcap_writer_put(struct nurs_pcap_writer *w, uint64_t ts_ns, uint16_t nl_family,
                         const void *data, size_t len);
/* Writes what is buffered: 0, or -1 (w->last_errno) with the batch lost. */
int nurs_pcap_writer_flush(struct nurs_pcap_writer *w);
void nurs_pcap_writer_close(struct nurs_pcap_writer *w);

struct nurs_pcap_packet {
    uint64_t ts_ns;
    uint16_t nl_family; /* NETLINK_NETFILTER... */
    const uint8_t *data; /* the datagram, behind the cooked header */
    size_t len;
    size_t offset; /* of the packet record in the file */
};

/* Reads a pcap file held in memory; never reads outside [data, data+size). */
struct nurs_pcap_reader {
    const uint8_t *data;
    size_t size, off;
    bool swapped; /* written on a host of the other byte order */
    bool nanos;   /* timestamps in ns (else us) */
};

int nurs_pcap_reader_init(struct nurs_pcap_reader *r, const void *data, size_t size, char *err,
                          size_t errlen);
/* 1: *p filled; 0: clean end of file; -1: corrupt, err names the offset. */
int nurs_pcap_reader_next(struct nurs_pcap_reader *r, struct nurs_pcap_packet *p, char *err,
                          size_t errlen);

#endif
