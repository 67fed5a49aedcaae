#include "core/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

static int open_fd(struct nurs_outfile *f, enum nurs_open_how how, char *err, size_t errlen)
{
    struct stat st;
    bool created;
    int fd = nurs_safe_open(f->path, how, f->readable, &f->opts, &st, &created, err, errlen);
    if (fd < 0)
        return -1;
    if (S_ISFIFO(st.st_mode)) {
        /* Streams have readers that come and go: core/stream.h. */
        snprintf(err, errlen, "%s is a FIFO, not a file", f->path);
        close(fd);
        return -1;
    }
    f->fd = fd;
    f->created = created;
    f->end = S_ISREG(st.st_mode) ? st.st_size : 0;
    f->torn = false;
    return 0;
}

int nurs_outfile_open(struct nurs_outfile *f, const char *path, enum nurs_open_how how,
                      bool readable, const struct nurs_file_opts *o, const void *header,
                      size_t header_len, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->readable = readable;
    if (o)
        f->opts = *o;
    if (header_len > sizeof f->header)
        header_len = sizeof f->header;
    if (header_len)
        memcpy(f->header, header, header_len);
    f->header_len = header_len;
    if (!(f->path = strdup(path))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (open_fd(f, how, err, errlen) < 0) {
        free(f->path);
        f->path = NULL;
        return -1;
    }
    return 0;
}

void nurs_outfile_adopt(struct nurs_outfile *f, int fd)
{
    memset(f, 0, sizeof *f);
    f->fd = fd;
    off_t pos = lseek(fd, 0, SEEK_CUR);
    f->end = pos > 0 ? pos : 0;
}

/* Back to the end of the last whole record. An fd without O_APPEND (a
 * shell's `> file`) is moved there too, or the next write would leave a
 * hole. Files that cannot be truncated (a terminal) have nothing to cut. */
static int cut_back(struct nurs_outfile *f)
{
    struct stat st;
    if (fstat(f->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        f->torn = false;
        return 0;
    }
    if ((st.st_size != f->end && ftruncate(f->fd, f->end) < 0) ||
        lseek(f->fd, f->end, SEEK_SET) < 0) {
        f->torn = true;
        return -1;
    }
    f->torn = false;
    return 0;
}

int nurs_outfile_set_end(struct nurs_outfile *f, off_t end)
{
    f->end = end;
    return cut_back(f);
}

static int fail(struct nurs_outfile *f, int err)
{
    cut_back(f);
    f->last_errno = err;
    errno = err;
    return -1;
}

int nurs_outfile_writev(struct nurs_outfile *f, const struct iovec *iov, int n)
{
    if (f->fd < 0)
        return fail(f, EBADF);
    if (f->torn && cut_back(f) < 0) {
        f->last_errno = errno;
        return -1;
    }
    struct iovec v[8];
    int nv = 0;
    size_t total = 0;
    if (f->end == 0 && f->header_len)
        v[nv++] = (struct iovec){f->header, f->header_len};
    for (int i = 0; i < n && nv < (int)(sizeof v / sizeof *v); i++)
        if (iov[i].iov_len)
            v[nv++] = iov[i];
    for (int i = 0; i < nv; i++)
        total += v[i].iov_len;
    size_t done = 0;
    int first = 0;
    while (done < total) {
        ssize_t w = writev(f->fd, v + first, nv - first);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return fail(f, w < 0 ? errno : EIO);
        done += (size_t)w;
        /* Skip what went out; the rest of a partly written vector goes next. */
        size_t left = (size_t)w;
        while (first < nv && left >= v[first].iov_len)
            left -= v[first++].iov_len;
        if (first < nv) {
            v[first].iov_base = (char *)v[first].iov_base + left;
            v[first].iov_len -= left;
        }
    }
    f->end += (off_t)total;
    return 0;
}

int nurs_outfile_write(struct nurs_outfile *f, const void *p, size_t len)
{
    struct iovec v = {(void *)p, len};
    return nurs_outfile_writev(f, &v, 1);
}

int nurs_outfile_check(struct nurs_outfile *f, const char *who)
{
    struct stat st;
    if (!f->path || (f->fd >= 0 && (fstat(f->fd, &st) < 0 || st.st_nlink > 0)))
        return 0;
    char err[512];
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    if (open_fd(f, NURS_OPEN_APPEND, err, sizeof err) < 0) {
        if (!f->reopen_failed)
            nurs_err("%s: %s was removed and cannot be made again: %s (tried at every flush)",
                     who, f->path, err);
        f->reopen_failed = true;
        return -1;
    }
    f->reopen_failed = false;
    f->reopened++;
    nurs_warn("%s: %s was removed; writing to a new file there", who, f->path);
    return 1;
}

int nurs_outfile_reopen(struct nurs_outfile *f, char *err, size_t errlen)
{
    if (!f->path)
        return 0;
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    return open_fd(f, NURS_OPEN_APPEND, err, errlen);
}

void nurs_outfile_close(struct nurs_outfile *f)
{
    if (f->fd >= 0 && f->path)
        close(f->fd);
    f->fd = -1;
    free(f->path);
    f->path = NULL;
}
