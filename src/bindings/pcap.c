/* nurs.pcap{...}: the Lua face of the pcap sink. A packet record is
 * written from C, never through Lua values. */
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "bindings/nurs.h"
#include "bindings/output_opts.h"
#include "bindings/record.h"
#include "bindings/script.h"
#include "bindings/util.h"
#include "core/host.h"
#include "core/relay.h"
#include "records/packet.h"
#include "sinks/pcap/sink.h"

#define PCAP_MT "nurs.pcap"
#define FNAME "nurs.pcap"
#define DEFAULT_TIME_RING (64u << 20)

static struct nurs_pcap_sink *check_sink(lua_State *L)
{
    struct nurs_resource *r = nurs_l_handle_check(L, 1, PCAP_MT, "pcap sink");
    if (nurs_relay_is(r))
        luaL_error(L, "the ring of a shared pcap sink is the main loop's (nurs.worker.id == 0)");
    return nurs_pcap_sink_of(r);
}

static uint32_t read_linktype(lua_State *L, int opts)
{
    const char *lt = nurs_opt_string(L, opts, FNAME, "linktype", "raw");
    if (strcmp(lt, "raw") == 0)
        return NURS_LINKTYPE_RAW;
    if (strcmp(lt, "nflog") == 0)
        return NURS_LINKTYPE_NFLOG;
    return (uint32_t)luaL_error(L, FNAME ": option 'linktype' must be \"raw\" or \"nflog\"");
}

static bool read_nanos(lua_State *L, int opts)
{
    const char *p = nurs_opt_string(L, opts, FNAME, "precision", "us");
    if (strcmp(p, "us") != 0 && strcmp(p, "ns") != 0)
        luaL_error(L, FNAME ": option 'precision' must be \"us\" or \"ns\"");
    return p[0] == 'n';
}

static void read_opts(lua_State *L, int idx, struct nurs_pcap_opts *o)
{
    static const char *const allowed[] = {
        "path",      "linktype",     "snaplen",     "precision", "rotate_size",
        "rotate_seconds", "rotate_count", "mkfifo", "buffer",    "max_readers",
        "flush",     "rate",         "burst",       "ring_size", "ring_seconds",
        "name",      NURS_FILE_OPTION_NAMES, NURS_ACCESS_OPTION_NAMES, "shared", NULL};
    nurs_check_options(L, idx, FNAME, allowed);
    o->target = nurs_opt_string(L, idx, FNAME, "path", NULL);
    o->fmt.linktype = read_linktype(L, idx);
    o->fmt.snaplen = (uint32_t)nurs_opt_int(L, idx, FNAME, "snaplen", NURS_PCAP_DEFAULT_SNAPLEN,
                                            1, NURS_PCAP_DEFAULT_SNAPLEN);
    o->fmt.nanos = read_nanos(L, idx);
    o->rotate_size =
        (uint64_t)nurs_opt_int(L, idx, FNAME, "rotate_size", 0, 0, (lua_Integer)1 << 50);
    o->rotate_seconds = (uint32_t)nurs_opt_int(L, idx, FNAME, "rotate_seconds", 0, 0, 31 * 86400);
    o->rotate_count = (uint32_t)nurs_opt_int(L, idx, FNAME, "rotate_count", 0, 0, 100000);
    o->mkfifo = nurs_opt_bool(L, idx, FNAME, "mkfifo", false);
    o->reader_buffer = (size_t)nurs_opt_int(L, idx, FNAME, "buffer",
                                            NURS_PCAP_DEFAULT_READER_BUFFER, 65536, 1 << 30);
    o->max_readers = (int)nurs_opt_int(L, idx, FNAME, "max_readers", NURS_PCAP_DEFAULT_MAX_READERS,
                                       1, 1024);
    o->flush_interval = nurs_opt_number(L, idx, FNAME, "flush", 1.0, 0.001, 86400);
    o->rate = nurs_opt_number(L, idx, FNAME, "rate", 0, 0, 1e9);
    o->burst = nurs_opt_number(L, idx, FNAME, "burst", 0, 0, 1e9);
    o->ring_seconds = nurs_opt_number(L, idx, FNAME, "ring_seconds", 0, 0, 86400 * 365);
    o->ring_size = (size_t)nurs_opt_int(L, idx, FNAME, "ring_size",
                                        o->ring_seconds > 0 ? DEFAULT_TIME_RING : 0, 0,
                                        (lua_Integer)1 << 40);
    if (o->ring_size && o->ring_size < NURS_PCAP_REC_HDR + NURS_PCAP_MAX_RECORD)
        luaL_error(L, FNAME ": option 'ring_size' must be at least %d bytes (one largest record)",
                   NURS_PCAP_REC_HDR + NURS_PCAP_MAX_RECORD);
    o->name = nurs_opt_string(L, idx, FNAME, "name", NULL);
    nurs_opt_file(L, idx, FNAME, o->target && strncmp(o->target, "unix://", 7) == 0, &o->file);
    nurs_opt_access(L, idx, FNAME, &o->access, &o->max_per_uid, &o->reader_timeout,
                    &o->socket_gid);
    if (!o->target && !o->ring_size)
        luaL_error(L, FNAME ": give a 'path' (file, FIFO, \"-\", tcp://...), a 'ring_size', "
                          "or both");
    if (o->target && (o->rotate_size || o->rotate_seconds || o->rotate_count) &&
        (strcmp(o->target, "-") == 0 || strstr(o->target, "://")))
        luaL_error(L, FNAME ": rotation options are for files");
}

/* nurs.pcap(path | opts) */
static int l_pcap(lua_State *L)
{
    struct nurs_pcap_opts o = {0};
    lua_settop(L, 1);
    nurs_opt_path_table(L, 1);
    luaL_checktype(L, 1, LUA_TTABLE);
    read_opts(L, 1, &o);
    char err[512];
    struct nurs_resource *relay = nurs_l_relay_for(L, 1, FNAME, "pcap", o.name, 0);
    if (relay) {
        nurs_l_handle_push(L, PCAP_MT, relay);
        return 1;
    }
    struct nurs_pcap_sink *sink = nurs_pcap_sink_get(nurs_script_of(L), &o, err, sizeof err);
    if (!sink)
        return luaL_error(L, FNAME ": %s", err);
    nurs_l_handle_push(L, PCAP_MT, nurs_pcap_sink_resource(sink));
    return 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A worker loop's relay takes a copy of the packet for the main loop's
 * sink; false when its ring is full. */
static bool relay_packet(struct nurs_resource *relay, const struct nurs_pcap_in *in)
{
    struct nurs_pcap_packed h = {
        .ts_ns = in->ts_ns,
        .len = (uint32_t)in->len,
        .origlen = (uint32_t)in->origlen,
        .attrs_len = in->attrs ? (uint32_t)in->attrs_len : 0,
        .group = in->group,
        .family = in->family,
        .has_attrs = in->attrs != NULL,
    };
    struct iovec iov[3] = {
        {&h, sizeof h},
        {(void *)in->pkt, in->len},
        {(void *)in->attrs, h.attrs_len},
    };
    return nurs_relay_put(relay, iov, 3);
}

/* sink:write(rec) -> true, or false when the rate limit (or, shared from
 * a worker loop, a full ring) dropped it */
static int pcap_write(lua_State *L)
{
    struct nurs_resource *r = nurs_l_handle_check(L, 1, PCAP_MT, "pcap sink");
    struct nurs_l_view *v = nurs_l_view_to(L, 2);
    if (!v || !v->cls->packet)
        return luaL_typeerror(L, 2, "packet record (from nurs.nflog or nurs.nfqueue)");
    nurs_l_view_check(L, 2, NULL); /* raises the use-after-callback error */
    const struct nurs_packet_meta *m = v->cls->packet;
    struct nurs_field_src src = nurs_l_view_src(v);
    const struct nurs_pkt *view = nurs_packet_view(m, &src);
    const struct nurs_packet_state *st = (const struct nurs_packet_state *)v->state;
    struct nurs_pcap_in in = {
        .ts_ns = m->timestamp_ns ? m->timestamp_ns(src.data) : now_ns(),
        .pkt = st->data,
        .len = st->len,
        .origlen = view->l3 && view->ip_len > st->len ? view->ip_len : st->len,
    };
    const void *attrs;
    if (m->nflog_attrs && m->nflog_attrs(src.data, &in.family, &in.group, &attrs, &in.attrs_len))
        in.attrs = attrs;
    lua_pushboolean(L, nurs_relay_is(r) ? relay_packet(r, &in)
                                        : nurs_pcap_sink_write(nurs_pcap_sink_of(r), &in));
    return 1;
}

static int pcap_flush(lua_State *L)
{
    struct nurs_resource *r = nurs_l_handle_check(L, 1, PCAP_MT, "pcap sink");
    /* A relay's records are flushed by the main loop. */
    lua_pushboolean(L, nurs_relay_is(r) || nurs_pcap_sink_flush(nurs_pcap_sink_of(r)) == 0);
    return 1;
}

/* sink:dump(path) -> packets written */
static int pcap_dump(lua_State *L)
{
    struct nurs_pcap_sink *sink = check_sink(L);
    const char *path = luaL_checkstring(L, 2);
    char err[512];
    long long n = nurs_pcap_sink_dump(sink, path, err, sizeof err);
    if (n < 0)
        return luaL_error(L, "pcap:dump: %s", err);
    lua_pushinteger(L, (lua_Integer)n);
    return 1;
}

static int pcap_clear(lua_State *L)
{
    nurs_pcap_sink_clear_ring(check_sink(L));
    return 0;
}

void nurs_l_pcap_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"write", pcap_write},
        {"flush", pcap_flush},
        {"dump", pcap_dump},
        {"clear", pcap_clear},
        {NULL, NULL},
    };
    nurs_l_handle_class(L, PCAP_MT, "pcap sink", methods);
    lua_pushcfunction(L, l_pcap);
    lua_setfield(L, -2, "pcap");
}
