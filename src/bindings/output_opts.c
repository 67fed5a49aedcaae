#include "bindings/output_opts.h"

#include <grp.h>
#include <string.h>

#include <lauxlib.h>

#include "bindings/util.h"

void nurs_opt_file(lua_State *L, int idx, const char *fname, bool socket,
                   struct nurs_file_opts *o)
{
    const char *mode = nurs_opt_string(L, idx, fname, "mode", NULL);
    o->mode = NURS_FILE_MODE;
    if (mode && nurs_safe_parse_mode(mode, &o->mode) < 0)
        luaL_error(L, "%s: option 'mode' must be octal permissions such as \"0640\"", fname);
    /* A file that group or others may write would be refused when it is
     * opened again (reload, rotation, reopen); a socket needs write
     * permission to be connected to. */
    if ((o->mode & 022) && !socket)
        luaL_error(L, "%s: option 'mode' (%s) must not let group or others write", fname, mode);
    o->allow_foreign = nurs_opt_bool(L, idx, fname, "allow_foreign", false);
}

static int id_list(lua_State *L, int idx, const char *fname, const char *key, uint32_t *ids)
{
    int n = 0;
    int t = lua_getfield(L, idx, key);
    if (t == LUA_TNUMBER) {
        lua_createtable(L, 1, 0);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 1);
    } else if (t != LUA_TTABLE && t != LUA_TNIL) {
        luaL_error(L, "%s: option '%s' must be a list of numeric ids", fname, key);
    }
    if (t != LUA_TNIL) {
        lua_Integer len = (lua_Integer)lua_rawlen(L, -1);
        if (len > NURS_STREAM_MAX_IDS)
            luaL_error(L, "%s: option '%s' takes at most %d ids", fname, key,
                       NURS_STREAM_MAX_IDS);
        for (lua_Integer i = 1; i <= len; i++) {
            lua_rawgeti(L, -1, i);
            int isnum;
            lua_Integer v = lua_tointegerx(L, -1, &isnum);
            if (!isnum || v < 0 || v > UINT32_MAX - 1)
                luaL_error(L, "%s: option '%s' must be a list of numeric ids", fname, key);
            ids[n++] = (uint32_t)v;
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    return n;
}

void nurs_opt_access(lua_State *L, int idx, const char *fname, struct nurs_stream_access *access,
                     int *max_per_uid, double *timeout, int64_t *gid)
{
    memset(access, 0, sizeof *access);
    access->n_uids = id_list(L, idx, fname, "allow_uids", access->uids);
    access->n_gids = id_list(L, idx, fname, "allow_gids", access->gids);
    access->allow_remote = nurs_opt_bool(L, idx, fname, "allow_remote", false);
    *max_per_uid = (int)nurs_opt_int(L, idx, fname, "max_per_uid", 0, 0, 1024);
    *timeout = nurs_opt_number(L, idx, fname, "reader_timeout", NURS_STREAM_DEFAULT_TIMEOUT, 0.1,
                               86400);
    *gid = -1;
    int t = lua_getfield(L, idx, "group");
    if (t == LUA_TNUMBER) {
        int isnum;
        lua_Integer v = lua_tointegerx(L, -1, &isnum);
        if (!isnum || v < 0 || v > UINT32_MAX - 1)
            luaL_error(L, "%s: option 'group' must be a group name or id", fname);
        *gid = v;
    } else if (t == LUA_TSTRING) {
        /* At load, once: the name of a local group (NSS). */
        struct group *g = getgrnam(lua_tostring(L, -1));
        if (!g)
            luaL_error(L, "%s: option 'group': no group '%s'", fname, lua_tostring(L, -1));
        *gid = g->gr_gid;
    } else if (t != LUA_TNIL) {
        luaL_error(L, "%s: option 'group' must be a group name or id", fname);
    }
    lua_pop(L, 1);
}
