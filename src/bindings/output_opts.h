/* Options shared by everything that writes files or listens for readers:
 * `mode` and `allow_foreign` (core/safe_open.h), and who may read a
 * listener (`allow_uids`, `allow_gids`, `allow_remote`, `max_per_uid`,
 * `reader_timeout`, `group`: core/stream.h). */
#ifndef NURS_BINDINGS_OUTPUT_OPTS_H
#define NURS_BINDINGS_OUTPUT_OPTS_H

#include <stdbool.h>
#include <stdint.h>

#include <lua.h>

#include "core/safe_open.h"
#include "core/stream.h"

/* The option names each reader below takes, for nurs_check_options. */
#define NURS_FILE_OPTION_NAMES "mode", "allow_foreign"
#define NURS_ACCESS_OPTION_NAMES                                                                \
    "allow_uids", "allow_gids", "allow_remote", "max_per_uid", "reader_timeout", "group"

/* `socket`: the mode is a unix socket's (group or others may write). */
void nurs_opt_file(lua_State *L, int idx, const char *fname, bool socket,
                   struct nurs_file_opts *o);
/* Fills access, *max_per_uid, *timeout (s) and *gid (-1 when no group). */
void nurs_opt_access(lua_State *L, int idx, const char *fname, struct nurs_stream_access *access,
                     int *max_per_uid, double *timeout, int64_t *gid);

#endif
