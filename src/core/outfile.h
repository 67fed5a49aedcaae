/* A file written in whole records: each write is a batch of complete
 * records (JSON lines, pcap records, IPFIX messages), and a write that
 * fails half-way (ENOSPC, EIO, EFBIG) is cut back to where the batch
 * began, so that the file stays readable to its end and what is written
 * after the disk frees follows a complete record. The batch is then lost
 * (the caller counts it). Files are opened with core/safe_open.h; a file
 * made empty gets `header` before its first record; a file unlinked
 * behind the daemon's back is noticed (nurs_outfile_check) and made
 * again. */
#ifndef NURS_CORE_OUTFILE_H
#define NURS_CORE_OUTFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>
#include <sys/uio.h>

#include "core/safe_open.h"

#define NURS_OUTFILE_MAX_HEADER 64

struct nurs_outfile {
    int fd;
    char *path;          /* NULL: a descriptor given (standard output) */
    off_t end;           /* the end of the last whole record */
    bool torn;           /* a cut back failed: cut again before writing */
    bool created;        /* made by this open, not appended to */
    bool readable;       /* opened O_RDWR */
    struct nurs_file_opts opts;
    uint8_t header[NURS_OUTFILE_MAX_HEADER];
    size_t header_len;
    uint64_t reopened;   /* times the file was found unlinked and made again */
    int last_errno;
    bool reopen_failed; /* logged once */
};

/* Opens path (see nurs_safe_open); `header` (may be NULL) starts every
 * file that is empty. */
int nurs_outfile_open(struct nurs_outfile *f, const char *path, enum nurs_open_how how,
                      bool readable, const struct nurs_file_opts *o, const void *header,
                      size_t header_len, char *err, size_t errlen);
/* Takes a descriptor that is already open (standard output redirected to
 * a file, a terminal). */
void nurs_outfile_adopt(struct nurs_outfile *f, int fd);
/* Writes one batch of whole records: 0, or -1 with errno (and f->last_errno)
 * once the file has been cut back to f->end. */
int nurs_outfile_writev(struct nurs_outfile *f, const struct iovec *iov, int n);
int nurs_outfile_write(struct nurs_outfile *f, const void *p, size_t len);
/* Moves the end of whole records (a format's own check of an existing
 * file cut a torn record off). */
int nurs_outfile_set_end(struct nurs_outfile *f, off_t end);
/* If the file was unlinked, makes it again (logged): 1 reopened, 0 not
 * needed, -1 failed (logged; writes then fail until a later check). */
int nurs_outfile_check(struct nurs_outfile *f, const char *who);
/* Closes and opens the same path again, appending (SIGHUP). */
int nurs_outfile_reopen(struct nurs_outfile *f, char *err, size_t errlen);
void nurs_outfile_close(struct nurs_outfile *f);

#endif
