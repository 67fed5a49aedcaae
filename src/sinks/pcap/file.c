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

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
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

/* Opens the first file of a run: appended to when it is a pcap of our
 * format, refused when it is anything else but empty. */
static int open_append(struct nurs_pcap_file *f, char *err, size_t errlen)
{
    int fd = open(f->current, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "cannot open %s: %s", f->current, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    uint8_t hdr[NURS_PCAP_FILE_HDR];
    if (st.st_size > 0 &&
        (st.st_size < NURS_PCAP_FILE_HDR || pread(fd, hdr, sizeof hdr, 0) != sizeof hdr ||
         !nurs_pcap_file_header_matches(&f->fmt, hdr))) {
        snprintf(err, errlen,
                 "%s exists and is not a pcap file of this link type and precision; move it "
                 "away or choose another path",
                 f->current);
        close(fd);
        return -1;
    }
    off_t end = st.st_size > 0 ? valid_end(fd, st.st_size) : 0;
    if ((end < st.st_size && ftruncate(fd, end) < 0) || lseek(fd, end, SEEK_SET) < 0) {
        snprintf(err, errlen, "cannot append to %s: %s", f->current, strerror(errno));
        close(fd);
        return -1;
    }
    f->created = end == 0;
    if (end == 0) {
        nurs_pcap_file_header(&f->fmt, hdr);
        if (write_all(fd, hdr, sizeof hdr) < 0) {
            snprintf(err, errlen, "cannot write %s: %s", f->current, strerror(errno));
            close(fd);
            return -1;
        }
        end = NURS_PCAP_FILE_HDR;
    }
    f->fd = fd;
    f->file_bytes = (uint64_t)end;
    return 0;
}

static int open_truncate(struct nurs_pcap_file *f, char *err, size_t errlen)
{
    int fd = open(f->current, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    uint8_t hdr[NURS_PCAP_FILE_HDR];
    nurs_pcap_file_header(&f->fmt, hdr);
    if (fd < 0 || write_all(fd, hdr, sizeof hdr) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", f->current, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    f->fd = fd;
    f->file_bytes = NURS_PCAP_FILE_HDR;
    f->created = true;
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
    int rc = append ? open_append(f, err, errlen) : open_truncate(f, err, errlen);
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
    f->fd = -1;
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

int nurs_pcap_file_flush(struct nurs_pcap_file *f)
{
    if (f->buf_len == 0)
        return 0;
    int rc = 0;
    if (f->fd < 0 || write_all(f->fd, f->buf, f->buf_len) < 0) {
        f->write_errors++;
        f->lost += f->buf_records;
        f->file_bytes -= f->buf_len;
        rc = -1;
    }
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
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
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
    if (f->fd < 0) {
        f->lost++;
        return -1;
    }
    if (f->buf_len + len > f->o.buffer && nurs_pcap_file_flush(f) < 0)
        return -1;
    f->records++;
    f->file_records++;
    f->file_bytes += len;
    if (len > f->o.buffer) {
        if (write_all(f->fd, rec, len) < 0) {
            f->write_errors++;
            f->lost++;
            f->file_bytes -= len;
            return -1;
        }
        return 0;
    }
    memcpy(f->buf + f->buf_len, rec, len);
    f->buf_len += len;
    f->buf_records++;
    return 0;
}

int nurs_pcap_file_reopen(struct nurs_pcap_file *f, char *err, size_t errlen)
{
    nurs_pcap_file_flush(f);
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    return open_current(f, true, err, errlen);
}

void nurs_pcap_file_close(struct nurs_pcap_file *f)
{
    nurs_pcap_file_flush(f);
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    for (unsigned i = 0; i < f->n_made; i++)
        free(f->made[i]);
    free(f->made);
    free(f->buf);
    free(f->pattern);
    f->made = NULL;
    f->buf = NULL;
    f->pattern = NULL;
}
