/* nurs.json{...}: the Lua face of the JSON-lines sink. */
#include <lauxlib.h>

#include "bindings/json.h"
#include "bindings/json_value.h"
#include "bindings/nurs.h"
#include "bindings/output_opts.h"
#include "bindings/record.h"
#include "bindings/script.h"
#include "bindings/util.h"
#include "core/host.h"
#include "core/relay.h"
#include "records/ct_record.h"
#include "sinks/json/sink.h"

#define JSON_MT "nurs.json"
#define FNAME "nurs.json"

/* Records inside tables: written in place. Must not raise: the writer is
 * in the middle of a line. */
static int write_userdata(struct nurs_jsonw *w, lua_State *L, int idx, const char *key)
{
    struct nurs_l_view *v = nurs_l_view_to(L, idx);
    if (!v || !nurs_l_view_data(v))
        return -1;
    struct nurs_field_src src = nurs_l_view_src(v);
    nurs_jsonw_object_begin(w, key);
    v->cls->emit_all(&src, &nurs_jsonw_emitter, w);
    nurs_jsonw_object_end(w);
    return 0;
}

/* nurs.json([path | opts]) */
static int l_json(lua_State *L)
{
    static const char *const allowed[] = {"path",          "flush",          "buffer",
                                          "reader_buffer", "name",           "schema_version",
                                          NURS_FILE_OPTION_NAMES, "shared", NULL};
    struct nurs_json_opts o = {.flush_interval = 1.0, .file = {.mode = NURS_FILE_MODE}};
    lua_settop(L, 1);
    if (lua_type(L, 1) == LUA_TSTRING) {
        o.path = lua_tostring(L, 1);
    } else if (!lua_isnil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        nurs_check_options(L, 1, FNAME, allowed);
        o.path = nurs_opt_string(L, 1, FNAME, "path", NULL);
        o.flush_interval = nurs_opt_number(L, 1, FNAME, "flush", 1.0, 0.001, 86400);
        o.buffer_size = (size_t)nurs_opt_int(L, 1, FNAME, "buffer", NURS_JSON_DEFAULT_BUFFER,
                                             0, 1 << 30);
        o.reader_buffer = (size_t)nurs_opt_int(L, 1, FNAME, "reader_buffer",
                                               NURS_JSON_DEFAULT_READER_BUFFER, 4096, 1 << 30);
        o.name = nurs_opt_string(L, 1, FNAME, "name", NULL);
        o.schema_version = nurs_opt_bool(L, 1, FNAME, "schema_version", false);
        nurs_opt_file(L, 1, FNAME, false, &o.file);
        struct nurs_resource *relay =
            nurs_l_relay_for(L, 1, FNAME, "json", o.name, o.schema_version);
        if (relay) {
            nurs_l_handle_push(L, JSON_MT, relay);
            return 1;
        }
    }
    char err[512];
    struct nurs_json_sink *sink = nurs_json_sink_get(nurs_script_of(L), &o, err, sizeof err);
    if (!sink)
        return luaL_error(L, FNAME ": %s", err);
    nurs_l_handle_push(L, JSON_MT, nurs_json_sink_resource(sink));
    return 1;
}

void nurs_l_json_check_value(lua_State *L, int idx)
{
    if (nurs_l_view_to(L, idx))
        nurs_l_view_check(L, idx, NULL); /* raises for an expired one */
}

int nurs_l_json_write_value(struct nurs_jsonw *w, lua_State *L, int idx, bool schema_version,
                            char *err, size_t errlen)
{
    struct nurs_l_view *v = nurs_l_view_to(L, idx);
    if (v && nurs_l_view_data(v)) {
        struct nurs_field_src src = nurs_l_view_src(v);
        nurs_json_record_begin(w, schema_version);
        v->cls->emit_all(&src, &nurs_jsonw_emitter, w);
        nurs_jsonw_object_end(w);
        return 0;
    }
    return nurs_json_from_lua(w, L, idx, NULL, err, errlen);
}

/* From a worker loop to a shared sink: the line is made here, the main
 * loop writes it. Returns false when the relay's ring was full. */
static int relay_write(lua_State *L, struct nurs_resource *relay)
{
    struct nurs_jsonw w;
    nurs_jsonw_init(&w);
    char err[256] = "out of memory";
    int rc = nurs_l_json_write_value(&w, L, 2, nurs_relay_flags(relay) != 0, err, sizeof err);
    bool ok = rc == 0 && !w.failed && nurs_relay_put(relay, &(struct iovec){w.buf, w.len}, 1);
    bool failed = rc != 0 || w.failed;
    nurs_jsonw_free(&w);
    if (failed)
        return luaL_error(L, "json:write: %s", err);
    lua_pushboolean(L, ok);
    return 1;
}

static int json_write(lua_State *L)
{
    struct nurs_resource *r = nurs_l_handle_check(L, 1, JSON_MT, "json sink");
    luaL_checkany(L, 2);
    nurs_l_json_check_value(L, 2);
    if (nurs_relay_is(r))
        return relay_write(L, r);
    struct nurs_json_sink *sink = nurs_json_sink_of(r);
    const struct nurs_ct_msg *m = nurs_l_record_test(L, 2, &nurs_ct_class);
    if (m) {
        nurs_json_sink_write_ct(sink, (struct nurs_ct_msg *)m);
        return 0;
    }
    char err[256];
    struct nurs_jsonw *w = nurs_json_sink_begin(sink);
    int rc = nurs_l_json_write_value(w, L, 2, nurs_json_sink_schema_version(sink), err,
                                     sizeof err);
    nurs_json_sink_end(sink, rc == 0);
    if (rc != 0)
        return luaL_error(L, "json:write: %s", err);
    return 0;
}

static int json_flush(lua_State *L)
{
    struct nurs_resource *r = nurs_l_handle_check(L, 1, JSON_MT, "json sink");
    /* A relay's lines are flushed by the main loop. */
    lua_pushboolean(L, nurs_relay_is(r) || nurs_json_sink_flush(nurs_json_sink_of(r)) == 0);
    return 1;
}

void nurs_l_json_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"write", json_write},
        {"flush", json_flush},
        {NULL, NULL},
    };
    nurs_json_set_userdata_writer(write_userdata);
    nurs_l_handle_class(L, JSON_MT, "json sink", methods);
    lua_pushcfunction(L, l_json);
    lua_setfield(L, -2, "json");
}
