/* A pcap file target with rotation, named the way tcpdump users expect:
 *  - rotate_seconds: the path is a strftime(3) pattern (local time),
 *    expanded at the start of each period; periods are aligned on
 *    multiples of rotate_seconds since the epoch (3600: on the hour);
 *  - rotate_size: a new file once the current one would pass the size;
 *    the first is `path`, then `path1`, `path2`... (tcpdump -C); with
 *    rotate_count they are `path0`..`path<N-1>`, zero-padded, reused in
 *    turn (tcpdump -C -W);
 *  - rotate_count: at most N files are kept; the oldest one this process
 *    made is removed when another is opened.
 * A file left without a packet by a time rotation (the first one, named
 * after the start time, when packets carry older times: a replay) is
 * removed. The file a run starts with is appended to when it already is a pcap of
 * the same format (ulogd's PCAP output does the same), refused when it is
 * something else; files opened by rotation are truncated. Writes go
 * through a buffer flushed when full, on flush() and on rotation, in whole
 * records (core/outfile.h: a full disk cuts a batch back, never a record
 * in half); a file removed while open is made again at the next flush. */
#ifndef NURS_SINKS_PCAP_FILE_H
#define NURS_SINKS_PCAP_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/outfile.h"
#include "core/pcap_fmt.h"

struct nurs_pcap_file_opts {
    const char *path;
    uint64_t rotate_size; /* bytes; 0: no size rotation */
    uint32_t rotate_seconds;
    uint32_t rotate_count; /* 0: keep every file */
    size_t buffer;         /* bytes held before a write */
    struct nurs_file_opts file; /* mode of new files, foreign files */
};

struct nurs_pcap_file {
    char *pattern;
    struct nurs_pcap_format fmt;
    struct nurs_pcap_file_opts o;
    struct nurs_outfile out;
    char current[4096];
    uint64_t file_bytes; /* of the current file, buffer included */
    uint64_t file_records;
    bool created;        /* the current file is new (not appended to) */
    int64_t period;      /* rotate_seconds period of the current file */
    unsigned seq;        /* size rotation number within the period */
    char **made;         /* files opened by this process, oldest first */
    unsigned n_made;
    uint8_t *buf;
    size_t buf_len;
    uint64_t buf_records;
    /* counters */
    uint64_t files, records, write_errors, lost;
};

int nurs_pcap_file_open(struct nurs_pcap_file *f, const struct nurs_pcap_file_opts *o,
                        const struct nurs_pcap_format *fmt, char *err, size_t errlen);
/* New rotation settings and buffer size (a kept sink on reload). */
void nurs_pcap_file_configure(struct nurs_pcap_file *f, const struct nurs_pcap_file_opts *o);
/* Adds one encoded record; rotates first when it is due. Errors are
 * counted (and returned: -1), the record is then lost. */
int nurs_pcap_file_write(struct nurs_pcap_file *f, const uint8_t *rec, size_t len);
int nurs_pcap_file_flush(struct nurs_pcap_file *f);
/* SIGHUP: flush, close, open the current name again (logrotate moved it:
 * a new file; else appended to). */
int nurs_pcap_file_reopen(struct nurs_pcap_file *f, char *err, size_t errlen);
void nurs_pcap_file_close(struct nurs_pcap_file *f);

#endif
