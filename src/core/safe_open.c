#include "core/safe_open.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char escape_hatch[] = "or allow_foreign = true";

static unsigned mode_of(const struct nurs_file_opts *o)
{
    return o && o->mode ? o->mode & 07777 : NURS_FILE_MODE;
}

/* Whether an existing file may be written: ours, no other hard link,
 * nobody else may write it. Devices (/dev/null) are taken as they are. */
static int check_stat(const char *path, const struct stat *st, const struct nurs_file_opts *o,
                      char *err, size_t errlen)
{
    if (o && o->allow_foreign)
        return 0;
    if (S_ISCHR(st->st_mode) || S_ISSOCK(st->st_mode))
        return 0;
    if (!S_ISREG(st->st_mode) && !S_ISFIFO(st->st_mode)) {
        snprintf(err, errlen, "%s is not a regular file or a FIFO", path);
        return -1;
    }
    if (st->st_uid != geteuid()) {
        snprintf(err, errlen,
                 "%s belongs to uid %u, not to this daemon (uid %u): refusing to write a file "
                 "another user made (remove it, %s)",
                 path, (unsigned)st->st_uid, (unsigned)geteuid(), escape_hatch);
        return -1;
    }
    if (st->st_mode & 022) {
        snprintf(err, errlen,
                 "%s is writable by group or others (mode %04o): refusing to write it (chmod "
                 "go-w, %s)",
                 path, (unsigned)(st->st_mode & 07777), escape_hatch);
        return -1;
    }
    if (S_ISREG(st->st_mode) && st->st_nlink > 1) {
        snprintf(err, errlen, "%s has %lu hard links: refusing to write it (%s)", path,
                 (unsigned long)st->st_nlink, escape_hatch);
        return -1;
    }
    return 0;
}

static int fail_errno(int fd, char *err, size_t errlen, const char *what, const char *path)
{
    int e = errno;
    if (e == ELOOP)
        snprintf(err, errlen, "%s is a symbolic link: refusing to follow it (give the real path, %s)",
                 path, escape_hatch);
    else if (e == ENXIO)
        snprintf(err, errlen, "%s is a FIFO without a reader", path);
    else
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(e));
    if (fd >= 0)
        close(fd);
    errno = e;
    return -1;
}

/* Regular files and devices are written with ordinary blocking writes;
 * a FIFO stays non-blocking for the stream that takes it. */
static int finish_open(int fd, const struct stat *st)
{
    if (!S_ISFIFO(st->st_mode)) {
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
            fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    }
    return fd;
}

int nurs_safe_open(const char *path, enum nurs_open_how how, bool readable,
                   const struct nurs_file_opts *o, struct stat *st, bool *created, char *err,
                   size_t errlen)
{
    bool foreign = o && o->allow_foreign;
    int flags = (readable ? O_RDWR : O_WRONLY) | O_CLOEXEC | O_NONBLOCK |
                (how == NURS_OPEN_APPEND ? O_APPEND : 0) | (foreign ? 0 : O_NOFOLLOW);
    mode_t mode = (mode_t)mode_of(o);
    *created = false;
    /* Made now (O_EXCL: nothing planted there), or else checked; a file
     * removed in between is tried again. */
    if (how == NURS_OPEN_EXISTING)
        flags |= O_APPEND;
    for (int tries = 0; tries < 3; tries++) {
        int fd = how == NURS_OPEN_EXISTING ? -1 : open(path, flags | O_CREAT | O_EXCL, mode);
        if (fd >= 0) {
            if (fchmod(fd, mode) < 0 || fstat(fd, st) < 0)
                return fail_errno(fd, err, errlen, "cannot set the mode of", path);
            *created = true;
            return finish_open(fd, st);
        }
        if (how != NURS_OPEN_EXISTING && errno != EEXIST)
            return fail_errno(-1, err, errlen, "cannot create", path);
        fd = open(path, flags);
        if (fd < 0 && errno == ENOENT && !foreign && how != NURS_OPEN_EXISTING)
            continue;
        if (fd < 0 || fstat(fd, st) < 0)
            return fail_errno(fd, err, errlen, "cannot open", path);
        if (check_stat(path, st, o, err, errlen) < 0) {
            close(fd);
            errno = EPERM;
            return -1;
        }
        if (how == NURS_OPEN_TRUNCATE && S_ISREG(st->st_mode) && ftruncate(fd, 0) < 0)
            return fail_errno(fd, err, errlen, "cannot truncate", path);
        if (how == NURS_OPEN_TRUNCATE)
            st->st_size = 0;
        return finish_open(fd, st);
    }
    snprintf(err, errlen, "cannot open %s: it keeps disappearing", path);
    errno = ENOENT;
    return -1;
}

int nurs_safe_check_existing(const char *path, const struct nurs_file_opts *o, char *err,
                             size_t errlen)
{
    struct stat st;
    if (o && o->allow_foreign)
        return 0;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : fail_errno(-1, err, errlen, "cannot check", path);
    if (S_ISLNK(st.st_mode)) {
        errno = ELOOP;
        return fail_errno(-1, err, errlen, "", path);
    }
    return check_stat(path, &st, o, err, errlen);
}

int nurs_safe_temp(const char *path, const struct nurs_file_opts *o, char *tmp, size_t tmplen,
                   char *err, size_t errlen)
{
    if (snprintf(tmp, tmplen, "%s.XXXXXX", path) >= (int)tmplen) {
        snprintf(err, errlen, "path too long: %s", path);
        return -1;
    }
    int fd = mkostemp(tmp, O_CLOEXEC); /* O_CREAT|O_EXCL, a random name */
    if (fd < 0)
        return fail_errno(-1, err, errlen, "cannot create a temporary file for", path);
    if (fchmod(fd, (mode_t)mode_of(o)) < 0) {
        fail_errno(fd, err, errlen, "cannot set the mode of", tmp);
        unlink(tmp);
        return -1;
    }
    return fd;
}

int nurs_safe_replace(const char *tmp, const char *path, const struct nurs_file_opts *o,
                      char *err, size_t errlen)
{
    if (nurs_safe_check_existing(path, o, err, errlen) < 0 ||
        (rename(tmp, path) < 0 && fail_errno(-1, err, errlen, "cannot rename to", path) < 0)) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

int nurs_safe_parse_mode(const char *text, unsigned *mode)
{
    if (!text || !*text)
        return -1;
    if (text[0] == '0' && (text[1] == 'o' || text[1] == 'O'))
        text += 2;
    char *end;
    unsigned long v = strtoul(text, &end, 8);
    if (*end || end == text || v > 0777)
        return -1;
    *mode = (unsigned)v;
    return 0;
}
