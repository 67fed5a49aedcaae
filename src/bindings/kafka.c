/* nurs.kafka{...}: the Lua face of the Kafka sink. Options are checked
 * here, at load time (--check included): a typo, a bad broker list, an
 * unknown format or options that contradict each other are Lua errors. */
#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "bindings/json.h"
#include "bindings/nurs.h"
#include "bindings/record.h"
#include "bindings/script.h"
#include "bindings/util.h"
#include "core/host.h"
#include "records/ct_record.h"
#include "records/packet.h"
#include "sinks/kafka/sink.h"

#define KAFKA_MT "nurs.kafka"
#define FNAME "nurs.kafka"

/* librdkafka properties the named options set: given in `config` as well,
 * they would contradict each other. */
static const char *const owned[][2] = {
    {"bootstrap.servers", "brokers"},
    {"metadata.broker.list", "brokers"},
    {"compression.codec", "compression"},
    {"compression.type", "compression"},
    {"acks", "acks"},
    {"request.required.acks", "acks"},
    {"enable.idempotence", "idempotence"},
    {"linger.ms", "linger"},
    {"queue.buffering.max.ms", "linger"},
    {"batch.num.messages", "batch"},
    {"batch.size", "batch_bytes"},
    {"queue.buffering.max.messages", "queue"},
    {"queue.buffering.max.kbytes", "queue_bytes"},
    {"partitioner", "partitioner"},
    {"message.timeout.ms", "message_timeout"},
    {"delivery.timeout.ms", "message_timeout"},
    {"log.queue", NULL},
    {"client.id", NULL},
};

/* Numbers formatted for librdkafka live here during the constructor. */
struct prop_space {
    char values[NURS_KAFKA_MAX_PROPS][32];
    int n;
};

static void add_prop(lua_State *L, struct nurs_kafka_producer_opts *o, const char *name,
                     const char *value)
{
    if (o->n_props == NURS_KAFKA_MAX_PROPS)
        luaL_error(L, FNAME ": at most %d librdkafka settings", NURS_KAFKA_MAX_PROPS);
    o->props[o->n_props][0] = name;
    o->props[o->n_props][1] = value;
    o->n_props++;
}

static void add_number_prop(lua_State *L, struct nurs_kafka_producer_opts *o,
                            struct prop_space *sp, const char *name, long long v)
{
    snprintf(sp->values[sp->n], sizeof sp->values[0], "%lld", v);
    add_prop(L, o, name, sp->values[sp->n++]);
}

static bool given(lua_State *L, int idx, const char *key)
{
    bool has = lua_getfield(L, idx, key) != LUA_TNIL;
    lua_pop(L, 1);
    return has;
}

/* Strings made here (numbers and booleans as text) are kept alive in the
 * table at `keep` until the sink is made. */
static const char *kept_string(lua_State *L, int keep, int idx)
{
    lua_pushvalue(L, idx);
    if (lua_type(L, -1) == LUA_TBOOLEAN) {
        bool b = lua_toboolean(L, -1);
        lua_pop(L, 1);
        lua_pushstring(L, b ? "true" : "false");
    } else {
        lua_tostring(L, -1); /* the copy becomes a string */
    }
    const char *s = lua_tostring(L, -1);
    lua_rawseti(L, keep, (lua_Integer)lua_rawlen(L, keep) + 1);
    return s;
}

static void read_config(lua_State *L, int idx, int keep, struct nurs_kafka_producer_opts *o)
{
    if (lua_getfield(L, idx, "config") == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    if (!lua_istable(L, -1))
        luaL_error(L, FNAME ": option 'config' must be a table of librdkafka settings");
    int t = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, FNAME ": config: names are strings (\"security.protocol\")");
        const char *name = lua_tostring(L, -2);
        for (size_t i = 0; i < sizeof owned / sizeof *owned; i++)
            if (strcmp(name, owned[i][0]) == 0) {
                if (owned[i][1])
                    luaL_error(L, FNAME ": config: '%s' is set by the option '%s'", name,
                               owned[i][1]);
                luaL_error(L, FNAME ": config: '%s' is the sink's own", name);
            }
        int type = lua_type(L, -1);
        if (type != LUA_TSTRING && type != LUA_TNUMBER && type != LUA_TBOOLEAN)
            luaL_error(L, FNAME ": config: '%s' must be a string, number or boolean", name);
        add_prop(L, o, name, kept_string(L, keep, -1));
        lua_pop(L, 1);
    }
    lua_pop(L, 1); /* the options table keeps `config` and its names alive */
}

static int check_choice(lua_State *L, int idx, const char *key, const char *def,
                        const char *const *choices)
{
    const char *v = nurs_opt_string(L, idx, FNAME, key, def);
    for (int i = 0; choices[i]; i++)
        if (strcmp(v, choices[i]) == 0)
            return i;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 0; choices[i]; i++) {
        luaL_addstring(&b, i ? ", " : "");
        luaL_addstring(&b, choices[i]);
    }
    luaL_pushresult(&b);
    return luaL_error(L, FNAME ": unknown %s '%s' (%s)", key, v, lua_tostring(L, -1));
}

static void only_for(lua_State *L, int idx, const char *key, const char *format)
{
    if (given(L, idx, key))
        luaL_error(L, FNAME ": option '%s' is only for format = \"%s\"", key, format);
}

static void read_settings(lua_State *L, int idx, struct nurs_kafka_settings *s)
{
    static const char *const formats[] = {"json", "proto", NULL};
    s->format = check_choice(L, idx, "format", "json", formats) ? NURS_KAFKA_PROTO
                                                                : NURS_KAFKA_JSON;
    if (s->format == NURS_KAFKA_JSON) {
        static const char *const proto_only[] = {"biflow", "length_prefix", "domain",
                                                 "sampler_address", NULL};
        for (int i = 0; proto_only[i]; i++)
            only_for(L, idx, proto_only[i], "proto");
        s->schema_version = nurs_opt_bool(L, idx, FNAME, "schema_version", false);
    } else {
        only_for(L, idx, "schema_version", "json");
        s->biflow = nurs_opt_bool(L, idx, FNAME, "biflow", false);
        s->length_prefix = nurs_opt_bool(L, idx, FNAME, "length_prefix", true);
        s->domain = (uint32_t)nurs_opt_int(L, idx, FNAME, "domain", 0, 0, 0xffffffff);
        const char *sampler = nurs_opt_string(L, idx, FNAME, "sampler_address", NULL);
        if (sampler) {
            if (inet_pton(AF_INET, sampler, s->sampler_address) == 1)
                s->sampler_address_len = 4;
            else if (inet_pton(AF_INET6, sampler, s->sampler_address) == 1)
                s->sampler_address_len = 16;
            else
                luaL_error(L, FNAME ": sampler_address '%s' is not an IP address", sampler);
        }
    }
    const char *key = nurs_opt_string(L, idx, FNAME, "key", NULL);
    char err[256];
    if (key && nurs_kafka_key_compile(&s->key, key, err, sizeof err) < 0)
        luaL_error(L, FNAME ": %s", err);
    const char *unknown = key ? nurs_kafka_key_unknown_field(&s->key) : NULL;
    if (unknown)
        nurs_warn(FNAME ": key field '%s' is not a conntrack or packet field; records that lack "
                        "it get it empty",
                  unknown);
}

static void read_producer(lua_State *L, int idx, int keep, struct prop_space *sp,
                          struct nurs_kafka_producer_opts *o)
{
    o->brokers = nurs_opt_string(L, idx, FNAME, "brokers", NULL);
    o->topic = nurs_opt_string(L, idx, FNAME, "topic", NULL);
    if (!o->brokers || !o->topic)
        luaL_error(L, FNAME ": 'brokers' (\"host:port,...\") and 'topic' are required");
    o->flush_timeout_s = nurs_opt_number(L, idx, FNAME, "flush_timeout", 5, 0, 600);

    static const char *const codecs[] = {"none", "gzip", "snappy", "lz4", "zstd", NULL};
    if (given(L, idx, "compression"))
        add_prop(L, o, "compression.codec", codecs[check_choice(L, idx, "compression", "none",
                                                                 codecs)]);
    static const char *const partitioners[] = {"consistent_random", "consistent", "random",
                                               "murmur2", "murmur2_random", "fnv1a",
                                               "fnv1a_random", NULL};
    if (given(L, idx, "partitioner"))
        add_prop(L, o, "partitioner",
                 partitioners[check_choice(L, idx, "partitioner", "consistent_random",
                                           partitioners)]);
    const char *acks = "all";
    if (lua_getfield(L, idx, "acks") != LUA_TNIL) {
        int t = lua_type(L, -1);
        acks = t == LUA_TSTRING || t == LUA_TNUMBER ? kept_string(L, keep, -1) : NULL;
        if (!acks || (strcmp(acks, "all") != 0 && strcmp(acks, "-1") != 0 &&
                      strcmp(acks, "0") != 0 && strcmp(acks, "1") != 0))
            luaL_error(L, FNAME ": acks must be \"all\" (or -1), 0 or 1");
        add_prop(L, o, "acks", acks);
    }
    lua_pop(L, 1);
    bool idempotence = nurs_opt_bool(L, idx, FNAME, "idempotence", false);
    if (idempotence) {
        if (strcmp(acks, "all") != 0 && strcmp(acks, "-1") != 0)
            luaL_error(L, FNAME ": idempotence needs acks = \"all\" (acks is %s)", acks);
        add_prop(L, o, "enable.idempotence", "true");
    }
    if (given(L, idx, "linger"))
        add_number_prop(L, o, sp, "linger.ms",
                        llround(nurs_opt_number(L, idx, FNAME, "linger", 0.005, 0, 900) * 1000));
    if (given(L, idx, "batch"))
        add_number_prop(L, o, sp, "batch.num.messages",
                        nurs_opt_int(L, idx, FNAME, "batch", 10000, 1, 1000000));
    if (given(L, idx, "batch_bytes"))
        add_number_prop(L, o, sp, "batch.size",
                        nurs_opt_int(L, idx, FNAME, "batch_bytes", 1000000, 1, 2147483647));
    long long queue = nurs_opt_int(L, idx, FNAME, "queue", 100000, 1, 10000000);
    long long queue_bytes = nurs_opt_int(L, idx, FNAME, "queue_bytes", 64 << 20, 1 << 20,
                                         1ll << 31);
    add_number_prop(L, o, sp, "queue.buffering.max.messages", queue);
    add_number_prop(L, o, sp, "queue.buffering.max.kbytes", queue_bytes >> 10);
    add_number_prop(L, o, sp, "message.timeout.ms",
                    llround(nurs_opt_number(L, idx, FNAME, "message_timeout", 300, 0.001, 86400) *
                            1000));
    read_config(L, idx, keep, o);
}

/* nurs.kafka{ brokers =, topic =, ... } */
static int l_kafka(lua_State *L)
{
    static const char *const allowed[] = {
        "brokers", "topic", "format", "key", "biflow", "length_prefix", "schema_version",
        "domain", "sampler_address", "compression", "partitioner", "acks", "idempotence",
        "linger", "batch", "batch_bytes", "queue", "queue_bytes", "message_timeout",
        "flush_timeout", "connections", "config", "name", NULL};
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    nurs_check_options(L, 1, FNAME, allowed);
    lua_newtable(L);
    int keep = lua_gettop(L);
    /* Large: in a userdata the GC frees, so that an error leaks nothing. */
    struct nurs_kafka_opts *o = lua_newuserdatauv(L, sizeof *o, 0);
    struct prop_space *sp = lua_newuserdatauv(L, sizeof *sp, 0);
    memset(o, 0, sizeof *o);
    memset(sp, 0, sizeof *sp);
    read_producer(L, 1, keep, sp, &o->producer);
    read_settings(L, 1, &o->settings);
    o->max_connections = (size_t)nurs_opt_int(L, 1, FNAME, "connections", 1 << 20, 1, 1 << 26);
    o->name = nurs_opt_string(L, 1, FNAME, "name", NULL);
    char err[512];
    struct nurs_kafka_sink *k = nurs_kafka_sink_get(nurs_script_of(L), o, err, sizeof err);
    if (!k)
        return luaL_error(L, FNAME ": %s", err);
    nurs_l_handle_push(L, KAFKA_MT, nurs_kafka_sink_resource(k));
    return 1;
}

/* ---- writes ---- */

static struct nurs_kafka_sink *check_sink(lua_State *L)
{
    struct nurs_resource *r = nurs_l_handle_check(L, 1, KAFKA_MT, "kafka sink");
    if (r->claimant && r->claimant == nurs_script_of(L))
        luaL_error(L, "kafka:write: not while the script is being reloaded (from callbacks "
                      "and timers only)");
    return nurs_kafka_sink_of(r);
}

static void add_text(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
    if (n > cap - *len)
        n = cap - *len;
    memcpy(out + *len, s, n);
    *len += n;
}

/* The key of a packet record or table: its fields looked up by path. */
static size_t lua_key(lua_State *L, int idx, const struct nurs_kafka_key *k, char *out,
                      size_t cap)
{
    size_t len = 0;
    for (int i = 0; i < k->n; i++) {
        const struct nurs_kafka_key_part *p = &k->parts[i];
        if (!p->is_field) {
            add_text(out, cap, &len, p->text, strlen(p->text));
            continue;
        }
        lua_pushvalue(L, idx);
        const char *seg = p->text;
        while (seg && !lua_isnil(L, -1)) {
            const char *dot = strchr(seg, '.');
            size_t n = dot ? (size_t)(dot - seg) : strlen(seg);
            if (lua_istable(L, -1) || nurs_l_view_to(L, -1)) {
                lua_pushlstring(L, seg, n);
                if (lua_istable(L, -2))
                    lua_rawget(L, -2);
                else
                    lua_gettable(L, -2);
                lua_remove(L, -2);
            } else {
                lua_pop(L, 1);
                lua_pushnil(L);
            }
            seg = dot ? dot + 1 : NULL;
        }
        int type = lua_type(L, -1);
        if (type == LUA_TSTRING || type == LUA_TNUMBER) {
            size_t n;
            const char *s = lua_tolstring(L, -1, &n);
            add_text(out, cap, &len, s, n);
        } else if (type == LUA_TBOOLEAN) {
            bool b = lua_toboolean(L, -1);
            add_text(out, cap, &len, b ? "true" : "false", b ? 4 : 5);
        }
        lua_pop(L, 1);
    }
    return len;
}

/* Sets the table's fields on a FlowMessage; 0 or -1 with a message. */
static int table_values(lua_State *L, int idx, int keep, struct nurs_flowpb_values *v,
                        char *err, size_t errlen)
{
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            lua_pop(L, 2);
            return snprintf(err, errlen, "FlowMessage fields are named"), -1;
        }
        const char *name = lua_tostring(L, -2);
        bool ok = false;
        int isint;
        lua_Integer i = lua_tointegerx(L, -1, &isint);
        uint8_t a[16];
        switch (nurs_flowpb_field_kind(name)) {
        case NURS_FLOWPB_UNKNOWN:
            snprintf(err, errlen, "FlowMessage has no field '%s' (nurs-lua --schema proto)", name);
            lua_pop(L, 2);
            return -1;
        case NURS_FLOWPB_UINT:
        case NURS_FLOWPB_ENUM:
            ok = lua_type(L, -1) == LUA_TNUMBER && isint && i >= 0 &&
                 nurs_flowpb_values_set_uint(v, name, (uint64_t)i);
            break;
        case NURS_FLOWPB_BOOL:
            ok = lua_isboolean(L, -1) &&
                 nurs_flowpb_values_set_uint(v, name, (uint64_t)lua_toboolean(L, -1));
            break;
        case NURS_FLOWPB_STRING:
            ok = lua_type(L, -1) == LUA_TSTRING &&
                 nurs_flowpb_values_set_bytes(v, name, lua_tostring(L, -1), lua_rawlen(L, -1));
            break;
        case NURS_FLOWPB_BYTES:
            /* Addresses as text; their bytes live in `keep` until encoded. */
            if (lua_type(L, -1) == LUA_TSTRING) {
                const char *s = lua_tostring(L, -1);
                size_t n = inet_pton(AF_INET, s, a) == 1    ? 4
                           : inet_pton(AF_INET6, s, a) == 1 ? 16
                                                            : 0;
                if (n) {
                    const char *bytes = lua_pushlstring(L, (const char *)a, n);
                    lua_rawseti(L, keep, (lua_Integer)lua_rawlen(L, keep) + 1);
                    ok = nurs_flowpb_values_set_bytes(v, name, bytes, n);
                }
            }
            break;
        }
        if (!ok) {
            snprintf(err, errlen, "FlowMessage field '%s': wrong type or value out of range",
                     name);
            lua_pop(L, 2);
            return -1;
        }
        lua_pop(L, 1);
    }
    return 0;
}

/* kafka:write(value [, key]): a conntrack record, a packet record or a
 * table; key (a string) instead of the sink's key option. */
static int kafka_write(lua_State *L)
{
    struct nurs_kafka_sink *k = check_sink(L);
    luaL_checkany(L, 2);
    size_t given_len = 0;
    const char *given_key = luaL_optlstring(L, 3, NULL, &given_len);
    lua_settop(L, 2);
    nurs_l_json_check_value(L, 2);
    const struct nurs_kafka_settings *s = nurs_kafka_sink_settings(k);
    struct nurs_ct_msg *m = (struct nurs_ct_msg *)nurs_l_record_test(L, 2, &nurs_ct_class);
    if (m && !given_key) {
        nurs_kafka_sink_write_ct(k, m);
        return 0;
    }
    if (m)
        return luaL_error(L, "kafka:write: a conntrack record's key comes from the key option");
    char keybuf[NURS_KAFKA_KEY_MAX_LEN];
    const char *key = given_key;
    size_t key_len = given_len;
    if (!key && s->key.n) {
        key_len = lua_key(L, 2, &s->key, keybuf, sizeof keybuf);
        key = keybuf;
    }
    char err[256];
    int rc;
    struct nurs_l_view *view = nurs_l_view_to(L, 2);
    const struct nurs_packet_meta *packet = view ? view->cls->packet : NULL;
    if (s->format == NURS_KAFKA_JSON) {
        struct nurs_jsonw *w = nurs_kafka_sink_json_begin(k);
        rc = nurs_l_json_write_value(w, L, 2, s->schema_version, err, sizeof err);
        nurs_kafka_sink_json_end(k, rc == 0, key, key_len);
    } else {
        lua_newtable(L); /* keeps address bytes alive */
        struct nurs_flowpb_values *v = nurs_kafka_sink_values_begin(k);
        if (packet) {
            struct nurs_field_src src = nurs_l_view_src(view);
            nurs_flowpb_values_from_pkt(v, nurs_packet_view(packet, &src));
            rc = 0;
        } else if (lua_istable(L, 2)) {
            rc = table_values(L, 2, 3, v, err, sizeof err);
        } else {
            rc = -1;
            snprintf(err, sizeof err, "format proto takes conntrack and packet records and "
                                      "tables, not a %s",
                     view ? view->cls->what : luaL_typename(L, 2));
        }
        nurs_kafka_sink_values_end(k, rc == 0, key, key_len);
    }
    if (rc != 0)
        return luaL_error(L, "kafka:write: %s", err);
    return 0;
}

void nurs_l_kafka_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"write", kafka_write},
        {NULL, NULL},
    };
    nurs_l_handle_class(L, KAFKA_MT, "kafka sink", methods);
    lua_pushcfunction(L, l_kafka);
    lua_setfield(L, -2, "kafka");
}
