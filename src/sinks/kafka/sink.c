#include "sinks/kafka/sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/host.h"
#include "records/record.h"
#include "sinks/flow/ctflow.h"
#include "sinks/json/sink.h"

struct nurs_kafka_sink {
    struct nurs_resource res; /* first: the resource is the sink */
    struct nurs_kafka_producer *producer; /* NULL in --check mode */
    struct nurs_kafka_settings cur, next; /* the claim/adopt protocol's (core/resource.h) */
    struct nurs_flow_state state;         /* live connections: start and last export times */
    struct nurs_ct_flow_ctx flows;
    uint32_t sequence;
    struct nurs_jsonw w;
    uint8_t *buf;
    size_t cap;
    struct nurs_flowpb_values *values;
    char key[NURS_KAFKA_KEY_MAX_LEN];
    uint64_t records;     /* flow records made */
    uint64_t no_counters; /* entries without counters: accounting is off */
    bool warned_counters, warned_times;
};

struct nurs_resource *nurs_kafka_sink_resource(struct nurs_kafka_sink *k) { return &k->res; }
struct nurs_kafka_sink *nurs_kafka_sink_of(struct nurs_resource *r)
{
    return (struct nurs_kafka_sink *)r;
}
const struct nurs_kafka_settings *nurs_kafka_sink_settings(const struct nurs_kafka_sink *k)
{
    return &k->cur;
}

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void produce(struct nurs_kafka_sink *k, const void *key, size_t key_len, const void *p,
                    size_t len)
{
    if (k->producer)
        nurs_kafka_producer_send(k->producer, key_len ? key : NULL, key_len, p, len);
}

/* Room for n bytes in buf; false (the record is dropped) when out of memory. */
static bool room(struct nurs_kafka_sink *k, size_t n)
{
    if (n <= k->cap)
        return true;
    size_t cap = k->cap ? k->cap : 1024;
    while (cap < n)
        cap *= 2;
    uint8_t *b = realloc(k->buf, cap);
    if (!b) {
        k->res.counters.dropped++;
        return false;
    }
    k->buf = b;
    k->cap = cap;
    return true;
}

static void send_flow(struct nurs_kafka_sink *k, const struct nurs_flow *f,
                      const struct nurs_flow *rev, struct nurs_flowpb_meta *meta,
                      size_t key_len)
{
    meta->sequence_num = ++k->sequence;
    size_t n = nurs_flowpb_encode(f, rev, meta, k->buf, k->cap);
    if (n > k->cap) {
        if (!room(k, n))
            return;
        n = nurs_flowpb_encode(f, rev, meta, k->buf, k->cap);
    }
    k->records++;
    produce(k, k->key, key_len, k->buf, n);
}

static void warn_once(struct nurs_kafka_sink *k, bool *flag, const char *msg)
{
    if (!*flag)
        nurs_warn("%s: %s", k->res.name, msg);
    *flag = true;
}

static void write_flows(struct nurs_kafka_sink *k, struct nurs_ct_msg *m, size_t key_len)
{
    const struct nurs_kafka_settings *s = &k->cur;
    uint64_t now = realtime_ns();
    struct nurs_flow f[2];
    bool start_known;
    switch (nurs_ct_flow_map(&k->flows, m, f, &start_known)) {
    case NURS_CT_FLOWS_MALFORMED:
        k->res.counters.malformed++;
        return;
    case NURS_CT_FLOWS_NO_COUNTERS:
        k->no_counters++;
        warn_once(k, &k->warned_counters,
                  "conntrack entries carry no counters, so they make no flows: turn "
                  "accounting on (sysctl -w net.netfilter.nf_conntrack_acct=1)");
        return;
    case NURS_CT_FLOWS_NOTED:
    case NURS_CT_FLOWS_EMPTY:
        return;
    case NURS_CT_FLOWS:
        break;
    }
    if (!start_known)
        warn_once(k, &k->warned_times,
                  "flow start times are unknown: turn conntrack timestamps on (sysctl -w "
                  "net.netfilter.nf_conntrack_timestamp=1) or listen to \"new\" events; until "
                  "then flows start when they end");
    uint16_t zone = 0;
    nurs_ct_zone(m, &zone);
    struct nurs_flowpb_meta meta = {
        .time_received_ns = now,
        .domain = s->domain,
        .zone = zone,
        .length_prefix = s->length_prefix,
        .sampler_address = s->sampler_address_len ? s->sampler_address : NULL,
        .sampler_address_len = s->sampler_address_len,
    };
    if (s->biflow) {
        send_flow(k, &f[0], &f[1], &meta, key_len);
        return;
    }
    for (int d = 0; d < 2; d++)
        if (f[d].packets)
            send_flow(k, &f[d], NULL, &meta, key_len);
}

void nurs_kafka_sink_write_ct(struct nurs_kafka_sink *k, struct nurs_ct_msg *m)
{
    k->res.counters.in++;
    size_t key_len = nurs_kafka_key_ct(&k->cur.key, m, k->key, sizeof k->key);
    if (k->cur.format == NURS_KAFKA_PROTO) {
        write_flows(k, m, key_len);
        return;
    }
    nurs_jsonw_clear(&k->w);
    nurs_json_write_ct(&k->w, m, k->cur.schema_version);
    if (k->w.failed) {
        k->res.counters.dropped++;
        return;
    }
    produce(k, k->key, key_len, k->w.buf, k->w.len);
}

struct nurs_jsonw *nurs_kafka_sink_json_begin(struct nurs_kafka_sink *k)
{
    k->res.counters.in++;
    nurs_jsonw_clear(&k->w);
    return &k->w;
}

void nurs_kafka_sink_json_end(struct nurs_kafka_sink *k, bool ok, const char *key,
                              size_t key_len)
{
    if (!ok || k->w.failed) {
        k->res.counters.dropped++;
        return;
    }
    produce(k, key, key_len, k->w.buf, k->w.len);
}

struct nurs_flowpb_values *nurs_kafka_sink_values_begin(struct nurs_kafka_sink *k)
{
    k->res.counters.in++;
    struct nurs_flowpb_values *v = k->values;
    nurs_flowpb_values_clear(v);
    nurs_flowpb_values_set_uint(v, "type", 4); /* IPFIX, as records from conntrack */
    nurs_flowpb_values_set_uint(v, "sampling_rate", 1);
    nurs_flowpb_values_set_uint(v, "observation_domain_id", k->cur.domain);
    nurs_flowpb_values_set_uint(v, "time_received_ns", realtime_ns());
    if (k->cur.sampler_address_len)
        nurs_flowpb_values_set_bytes(v, "sampler_address", k->cur.sampler_address,
                                     k->cur.sampler_address_len);
    return v;
}

void nurs_kafka_sink_values_end(struct nurs_kafka_sink *k, bool ok, const char *key,
                                size_t key_len)
{
    if (!ok) {
        k->res.counters.dropped++;
        return;
    }
    nurs_flowpb_values_set_uint(k->values, "sequence_num", ++k->sequence);
    size_t n = nurs_flowpb_values_encode(k->values, k->cur.length_prefix, k->buf, k->cap);
    if (n > k->cap) {
        if (!room(k, n))
            return;
        n = nurs_flowpb_values_encode(k->values, k->cur.length_prefix, k->buf, k->cap);
    }
    k->records++;
    produce(k, key, key_len, k->buf, n);
}

/* ---- resource ops ---- */

static int extra_counters(const struct nurs_resource *r, struct nurs_extra_counter *out)
{
    const struct nurs_kafka_sink *k = (const struct nurs_kafka_sink *)r;
    static const struct nurs_kafka_stats none;
    const struct nurs_kafka_stats *s = k->producer ? nurs_kafka_producer_stats(k->producer) : &none;
    int n = 0;
    out[n++] = (struct nurs_extra_counter){"produced", s->produced};
    out[n++] = (struct nurs_extra_counter){"failed", s->failed};
    out[n++] = (struct nurs_extra_counter){"queue_full", s->queue_full};
    out[n++] = (struct nurs_extra_counter){"refused", s->refused};
    out[n++] = (struct nurs_extra_counter){"in_flight",
                                           k->producer ? nurs_kafka_producer_in_flight(k->producer)
                                                       : 0};
    out[n++] = (struct nurs_extra_counter){"unsent", s->unsent};
    out[n++] = (struct nurs_extra_counter){"records", k->records};
    out[n++] = (struct nurs_extra_counter){"no_counters", k->no_counters};
    out[n++] = (struct nurs_extra_counter){"connections", k->state.t.count};
    out[n++] = (struct nurs_extra_counter){"state_full", k->state.t.full};
    return n;
}

static void flush_op(struct nurs_resource *r)
{
    struct nurs_kafka_sink *k = (struct nurs_kafka_sink *)r;
    if (k->producer)
        nurs_kafka_producer_flush(k->producer);
}

static void free_sink(void *arg)
{
    struct nurs_kafka_sink *k = arg;
    nurs_flow_state_free(&k->state);
    nurs_jsonw_free(&k->w);
    nurs_flowpb_values_free(k->values);
    free(k->buf);
    free(k);
}

static void destroy(struct nurs_resource *r)
{
    struct nurs_kafka_sink *k = (struct nurs_kafka_sink *)r;
    if (k->producer)
        nurs_kafka_producer_close(k->producer, free_sink, k);
    else
        free_sink(k);
}

/* The sink as a conntrack source's consumer: kafka:write(rec), in C. */
static enum nurs_take take(struct nurs_consumer *c, struct nurs_resource *from,
                           struct nurs_record *rec)
{
    (void)from;
    if (rec->kind != NURS_RECORD_CT)
        return NURS_TAKE_LOST;
    nurs_kafka_sink_write_ct(nurs_kafka_sink_of(nurs_resource_of_consumer(c)), rec->data);
    return NURS_TAKEN;
}

static const struct nurs_consumer_ops consumer_ops = {
    .kinds = NURS_RECORD_CT,
    .take = take,
};

static const struct nurs_resource_ops kafka_ops = {
    .kind = "kafka",
    .destroy = destroy,
    .flush = flush_op,
    .extra_counters = extra_counters,
    NURS_SETTINGS_IN(struct nurs_kafka_sink),
    .consumer = &consumer_ops,
};

/* The producer's identity: what a running producer cannot change. */
static void make_key(const struct nurs_kafka_producer_opts *o, char *key, size_t len)
{
    int n = snprintf(key, len, "brokers=%s;topic=%s", o->brokers, o->topic);
    for (int i = 0; i < o->n_props && n > 0 && (size_t)n < len; i++)
        n += snprintf(key + n, len - (size_t)n, ";%s=%s", o->props[i][0], o->props[i][1]);
    if (o->flush_timeout_s > 0 && n > 0 && (size_t)n < len)
        snprintf(key + n, len - (size_t)n, ";flush=%g", o->flush_timeout_s);
}

struct nurs_kafka_sink *nurs_kafka_sink_get(struct nurs_script *s, const struct nurs_kafka_opts *o,
                                            char *err, size_t errlen)
{
    if (nurs_kafka_producer_check(&o->producer, err, errlen) < 0)
        return NULL;
    char key[8192];
    make_key(&o->producer, key, sizeof key);
    struct nurs_resource *r = nurs_resource_claim(s, &kafka_ops, key, &o->settings);
    if (r)
        return (struct nurs_kafka_sink *)r;
    struct nurs_kafka_sink *k = calloc(1, sizeof *k);
    if (!k || !(k->values = nurs_flowpb_values_new())) {
        free(k);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    nurs_jsonw_init(&k->w);
    nurs_flow_state_init(&k->state, o->max_connections, 6 * 86400ull * 1000000000ull);
    k->flows = (struct nurs_ct_flow_ctx){.state = &k->state, .clock_ns = realtime_ns};
    if (nurs_resource_init(&k->res, &kafka_ops, s, o->name ? o->name : "kafka", key,
                           &o->settings) < 0) {
        snprintf(err, errlen, "out of memory");
        free_sink(k);
        return NULL;
    }
    struct nurs_kafka_producer_opts po = o->producer;
    po.name = k->res.name;
    po.counters = &k->res.counters;
    if (!s->host->check_only &&
        !(k->producer = nurs_kafka_producer_new(s->host->loop, &po, err, errlen))) {
        nurs_resource_destroy(&k->res);
        return NULL;
    }
    if (k->producer)
        nurs_info("%s: producing %s to %s, topic %s", k->res.name,
                  k->cur.format == NURS_KAFKA_PROTO ? "protobuf flows" : "JSON records",
                  o->producer.brokers, o->producer.topic);
    return k;
}
