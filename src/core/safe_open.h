/* Opening the files nurs-lua writes so that another local user can
 * neither redirect them nor read them: never through a symbolic link
 * (O_NOFOLLOW), close-on-exec, a new file gets exactly the mode asked
 * for (0640 unless said otherwise), and an existing file is written only
 * when it is ours, has no other hard link and neither group nor others
 * may write it; `allow_foreign` lifts these checks (and follows links)
 * for the operator who means it. Temporary files are made with O_EXCL
 * under a random name, then renamed over the target. Opens are
 * non-blocking, so that a FIFO without a reader fails (ENXIO) at once
 * instead of waiting. */
#ifndef NURS_CORE_SAFE_OPEN_H
#define NURS_CORE_SAFE_OPEN_H

#include <stdbool.h>
#include <stddef.h>

#include <sys/stat.h>

#define NURS_FILE_MODE 0640

struct nurs_file_opts {
    unsigned mode;      /* of a file created; 0: NURS_FILE_MODE */
    bool allow_foreign; /* write a file that fails the checks above */
};

enum nurs_open_how {
    NURS_OPEN_APPEND,   /* O_APPEND, kept as it is */
    NURS_OPEN_TRUNCATE, /* emptied once the checks passed */
    NURS_OPEN_EXISTING, /* appended to, never made (a FIFO: no file in its place) */
};

/* Opens path for writing (O_RDWR when `readable`, to read a header back).
 * Returns the fd with *st filled and *created true when the file was made
 * now; -1 with errno set and the reason in err. A FIFO, a character
 * device or a socket is opened as it is (a FIFO without a reader: ENXIO,
 * with no message in err). */
int nurs_safe_open(const char *path, enum nurs_open_how how, bool readable,
                   const struct nurs_file_opts *o, struct stat *st, bool *created, char *err,
                   size_t errlen);

/* The checks nurs_safe_open applies to an existing file, for a file about
 * to be replaced (by a rename): 0, or -1 with the reason in err. A path
 * that does not exist passes. */
int nurs_safe_check_existing(const char *path, const struct nurs_file_opts *o, char *err,
                             size_t errlen);

/* Creates "<path>.XXXXXX" with O_EXCL and the mode; its name in tmp.
 * Returns the fd or -1 (err). */
int nurs_safe_temp(const char *path, const struct nurs_file_opts *o, char *tmp, size_t tmplen,
                   char *err, size_t errlen);

/* Renames tmp over path once path passed the checks; tmp is removed on
 * failure. 0 or -1 (err). */
int nurs_safe_replace(const char *tmp, const char *path, const struct nurs_file_opts *o,
                      char *err, size_t errlen);

/* "0640", "640", "0o640": 0..0777 into *mode; -1 when it is not one. */
int nurs_safe_parse_mode(const char *text, unsigned *mode);

#endif
