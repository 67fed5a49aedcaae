#include "core/trust.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool trusted_owner(uid_t uid) { return uid == 0 || uid == geteuid(); }

/* One path: owner root or us; not writable by group or others, except a
 * sticky directory above (others cannot rename what is not theirs). */
static int check_one(const char *path, bool above, char *why, size_t len)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        snprintf(why, len, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!trusted_owner(st.st_uid)) {
        snprintf(why, len, "%s is owned by uid %u", path, (unsigned)st.st_uid);
        return -1;
    }
    bool sticky_ok = above && S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX);
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !sticky_ok) {
        snprintf(why, len, "%s is writable by %s", path,
                 st.st_mode & S_IWOTH ? "everyone" : "its group");
        return -1;
    }
    return 0;
}

/* dir and every directory above it. */
static int check_dirs(const char *dir, bool first_is_above, char *why, size_t len)
{
    char buf[PATH_MAX];
    if (!realpath(dir, buf)) {
        snprintf(why, len, "%s: %s", dir, strerror(errno));
        return -1;
    }
    bool above = first_is_above;
    for (;;) {
        if (check_one(buf, above, why, len) < 0)
            return -1;
        if (strcmp(buf, "/") == 0)
            return 0;
        char *slash = strrchr(buf, '/');
        if (slash == buf)
            slash[1] = '\0';
        else
            *slash = '\0';
        above = true;
    }
}

int nurs_trust_file(const char *path, char *why, size_t len)
{
    if (check_one(path, false, why, len) < 0)
        return -1;
    char *copy = strdup(path);
    if (!copy) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    /* Its own directory: others must not add files there either (a module
     * planted beside the script). */
    int rc = check_dirs(dirname(copy), false, why, len);
    free(copy);
    return rc;
}

int nurs_trust_dir(const char *path, char *why, size_t len)
{
    struct stat st;
    if (stat(path, &st) < 0 && errno == ENOENT)
        return 1;
    return check_dirs(path, false, why, len);
}
