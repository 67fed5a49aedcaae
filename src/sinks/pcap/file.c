#include "sinks/pcap/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/outfile.h"

static int digits(unsigned n)
{
    int d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

/* A name too long for the buffer is cut (open then fails, and says so). */
static void file_name(const struct nurs_pcap_file *f, char *out, size_t len)
{
    int n;
    char base[4096];
    snprintf(base, sizeof base, "%s", f->pattern);
    if (f->o.rotate_seconds) {
        time_t t = (time_t)(f->period * (int64_t)f->o.rotate_seconds);
        struct tm tm;
        localtime_r(&t, &tm);
        if (strftime(base, sizeof base, f->pattern, &tm) == 0)
            snprintf(base, sizeof base, "%s", f->pattern);
    }
    if (!f->o.rotate_size || (f->seq == 0 && !f->o.rotate_count))
        n = snprintf(out, len, "%s", base);
    else if (f->o.rotate_count)
        n = snprintf(out, len, "%s%0*u", base, digits(f->o.rotate_count - 1),
                     f->seq % f->o.rotate_count);
    else
        n = snprintf(out, len, "%s%u", base, f->seq);
    if (n < 0 || (size_t)n >= len)
        nurs_warn("pcap: file name from %s too long", f->pattern);
}

/* The end of the last whole record of an existing pcap file; a record cut
 * by a crash is dropped so that appending continues a valid file. */
static off_t valid_end(int fd, off_t size)
{
    off_t off = NURS_PCAP_FILE_HDR;
    uint8_t h[NURS_PCAP_REC_HDR];
    while (off + NURS_PCAP_REC_HDR <= size) {
        if (pread(fd, h, sizeof h, off) != (ssize_t)sizeof h)
            break;
        size_t len = nurs_pcap_record_len(h);
        if (len - NURS_PCAP_REC_HDR > NURS_PCAP_MAX_RECORD || off + (off_t)len > size)
            break;
        off += (off_t)len;
    }
    return off;
}

/* Opens the current name: appended to when it is a pcap of our format,
 * refused when it is anything else but empty; emptied when `truncate`.
 * The file header goes out now, or with the first records if the disk is
 * full. */
static int open_file(struct nurs_pcap_file *f, bool truncate, char *err, size_t errlen)
{
    uint8_t hdr[NURS_PCAP_FILE_HDR];
    nurs_pcap_file_header(&f->fmt, hdr);
    if (nurs_outfile_open(&f->out, f->current, truncate ? NURS_OPEN_TRUNCATE : NURS_OPEN_APPEND,
                          true, &f->o.file, hdr, sizeof hdr, err, errlen) < 0)
        return -1;
    off_t size = f->out.end;
    if (size > 0 &&
        (size < NURS_PCAP_FILE_HDR || pread(f->out.fd, hdr, sizeof hdr, 0) != sizeof hdr ||
         !nurs_pcap_file_header_matches(&f->fmt, hdr))) {
        snprintf(err, errlen,
                 "%s exists and is not a pcap file of this link type and precision; move it "
                 "away or choose another path",
                 f->current);
        nurs_outfile_close(&f->out);
        return -1;
    }
    off_t end = size > 0 ? valid_end(f->out.fd, size) : 0;
    if (end < size && nurs_outfile_set_end(&f->out, end) < 0) {
        snprintf(err, errlen, "cannot cut the torn end of %s: %s", f->current, strerror(errno));
        nurs_outfile_close(&f->out);
        return -1;
    }
    f->created = end == 0;
    if (end == 0)
        nurs_outfile_writev(&f->out, NULL, 0);
    f->file_bytes = end > 0 ? (uint64_t)end : NURS_PCAP_FILE_HDR;
    return 0;
}

/* Remembers a file made, removing the oldest beyond rotate_count. */
static void remember(struct nurs_pcap_file *f)
{
    for (unsigned i = 0; i < f->n_made; i++)
        if (strcmp(f->made[i], f->current) == 0)
            return; /* a reused name (path0..pathN-1) */
    char *name = strdup(f->current);
    char **more = realloc(f->made, sizeof *f->made * (f->n_made + 1));
    if (!name || !more) {
        free(name);
        if (more)
            f->made = more;
        return;
    }
    f->made = more;
    f->made[f->n_made++] = name;
    while (f->o.rotate_count && f->n_made > f->o.rotate_count) {
        if (unlink(f->made[0]) < 0 && errno != ENOENT)
            nurs_warn("pcap: cannot remove %s: %s", f->made[0], strerror(errno));
        free(f->made[0]);
        memmove(f->made, f->made + 1, sizeof *f->made * --f->n_made);
    }
}

static int open_current(struct nurs_pcap_file *f, bool append, char *err, size_t errlen)
{
    file_name(f, f->current, sizeof f->current);
    int rc = open_file(f, !append, err, errlen);
    f->file_records = 0;
    if (rc == 0) {
        f->files++;
        remember(f);
    }
    return rc;
}

void nurs_pcap_file_configure(struct nurs_pcap_file *f, const struct nurs_pcap_file_opts *o)
{
    size_t old = f->o.buffer;
    const char *path = f->o.path;
    f->o = *o;
    f->o.path = path;
    if (o->buffer > old) {
        uint8_t *b = realloc(f->buf, o->buffer);
        if (b)
            f->buf = b;
        else
            f->o.buffer = old;
    } else if (f->buf_len > o->buffer) {
        nurs_pcap_file_flush(f);
    }
}

int nurs_pcap_file_open(struct nurs_pcap_file *f, const struct nurs_pcap_file_opts *o,
                        const struct nurs_pcap_format *fmt, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    f->out.fd = -1;
    f->fmt = *fmt;
    if (o->rotate_seconds && !strchr(o->path, '%')) {
        snprintf(err, errlen,
                 "rotate_seconds needs a strftime pattern in the path, e.g. "
                 "/var/log/web-%%Y%%m%%d-%%H%%M.pcap (each period its own file)");
        return -1;
    }
    f->pattern = strdup(o->path);
    f->o = *o;
    f->o.path = f->pattern;
    f->buf = malloc(o->buffer ? o->buffer : 1);
    if (!f->pattern || !f->buf) {
        snprintf(err, errlen, "out of memory");
        nurs_pcap_file_close(f);
        return -1;
    }
    if (o->rotate_seconds)
        f->period = (int64_t)time(NULL) / o->rotate_seconds;
    if (open_current(f, true, err, errlen) < 0) {
        nurs_pcap_file_close(f);
        return -1;
    }
    return 0;
}

/* A file removed behind our back is made again (with its header). */
static void check_unlinked(struct nurs_pcap_file *f)
{
    if (nurs_outfile_check(&f->out, "pcap") > 0) {
        f->created = true;
        f->file_bytes = NURS_PCAP_FILE_HDR + f->buf_len;
        f->file_records = f->buf_records;
    }
}

static int write_batch(struct nurs_pcap_file *f, const uint8_t *p, size_t len, uint64_t records)
{
    if (nurs_outfile_write(&f->out, p, len) == 0)
        return 0;
    /* Cut back to the last whole record: the file stays readable. */
    f->write_errors++;
    f->lost += records;
    f->file_bytes -= len;
    f->file_records -= records;
    return -1;
}

int nurs_pcap_file_flush(struct nurs_pcap_file *f)
{
    check_unlinked(f);
    if (f->buf_len == 0)
        return 0;
    int rc = write_batch(f, f->buf, f->buf_len, f->buf_records);
    f->buf_len = 0;
    f->buf_records = 0;
    return rc;
}

/* Forgets the current file when it holds no packet and we made it. */
static void drop_if_empty(struct nurs_pcap_file *f)
{
    if (f->file_records || !f->created || unlink(f->current) < 0)
        return;
    for (unsigned i = 0; i < f->n_made; i++) {
        if (strcmp(f->made[i], f->current) == 0) {
            free(f->made[i]);
            memmove(f->made + i, f->made + i + 1, sizeof *f->made * (f->n_made - i - 1));
            f->n_made--;
            break;
        }
    }
}

static void rotate(struct nurs_pcap_file *f)
{
    char err[512];
    nurs_pcap_file_flush(f);
    nurs_outfile_close(&f->out);
    drop_if_empty(f);
    if (open_current(f, false, err, sizeof err) < 0)
        nurs_err("pcap: %s; packets are lost until the next rotation or reopen", err);
}

int nurs_pcap_file_write(struct nurs_pcap_file *f, const uint8_t *rec, size_t len)
{
    if (f->o.rotate_seconds) {
        int64_t period = (int64_t)(nurs_pcap_record_ts(&f->fmt, rec) / 1000000000u) /
                         f->o.rotate_seconds;
        /* Forward only, kernel timestamps being a little out of order at
         * times; but a file still empty takes the first packet's period. */
        if (period > f->period || (period != f->period && f->file_records == 0)) {
            f->period = period;
            f->seq = 0;
            rotate(f);
        }
    }
    if (f->o.rotate_size && f->file_bytes > NURS_PCAP_FILE_HDR &&
        f->file_bytes + len > f->o.rotate_size) {
        f->seq++;
        rotate(f);
    }
    if (f->out.fd < 0) {
        f->lost++;
        return -1;
    }
    int rc = 0;
    if (f->buf_len + len > f->o.buffer)
        rc = nurs_pcap_file_flush(f);
    f->records++;
    f->file_records++;
    f->file_bytes += len;
    if (len > f->o.buffer)
        return write_batch(f, rec, len, 1) < 0 ? -1 : rc;
    memcpy(f->buf + f->buf_len, rec, len);
    f->buf_len += len;
    f->buf_records++;
    return rc;
}

int nurs_pcap_file_reopen(struct nurs_pcap_file *f, char *err, size_t errlen)
{
    nurs_pcap_file_flush(f);
    nurs_outfile_close(&f->out);
    return open_current(f, true, err, errlen);
}

void nurs_pcap_file_close(struct nurs_pcap_file *f)
{
    nurs_pcap_file_flush(f);
    nurs_outfile_close(&f->out);
    for (unsigned i = 0; i < f->n_made; i++)
        free(f->made[i]);
    free(f->made);
    free(f->buf);
    free(f->pattern);
    f->made = NULL;
    f->buf = NULL;
    f->pattern = NULL;
}
