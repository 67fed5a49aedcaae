#include "sinks/kafka/producer.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "core/log.h"

/* How often the queue is served even if the pipe said nothing (a
 * safety net: librdkafka signals every empty-to-non-empty transition). */
#define POLL_FALLBACK_MS 1000

struct nurs_kafka_producer {
    uv_loop_t *loop;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    rd_kafka_queue_t *mainq;
    int wake[2]; /* librdkafka writes to [1] when its queue has events */
    uv_poll_t poll;
    uv_timer_t timer;
    uv_work_t work;
    int handles_open;
    bool flushed;
    int flush_timeout_ms;
    char name[64];
    struct nurs_kafka_stats stats;
    struct nurs_counters *counters, none;
    struct nurs_ratelimit log_rl, fail_rl;
    void (*done)(void *);
    void *done_arg;
};

/* ---- checking ---- */

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_';
}

static int bad_broker(const char *b, size_t len, const char *why, char *err, size_t errlen)
{
    snprintf(err, errlen, "brokers: '%.*s' %s (host:port, [v6addr]:port, comma-separated)",
             (int)len, b, why);
    return -1;
}

static int check_one_broker(const char *b, size_t len, char *err, size_t errlen)
{
    static const char *const schemes[] = {"PLAINTEXT://", "SSL://", "SASL_PLAINTEXT://",
                                          "SASL_SSL://"};
    const char *p = b, *end = b + len;
    for (size_t i = 0; i < sizeof schemes / sizeof *schemes; i++) {
        size_t n = strlen(schemes[i]);
        if (len > n && strncasecmp(p, schemes[i], n) == 0) {
            p += n;
            break;
        }
    }
    if (p == end)
        return bad_broker(b, len, "is empty", err, errlen);
    const char *host_end;
    if (*p == '[') {
        host_end = memchr(p, ']', (size_t)(end - p));
        if (!host_end || host_end == p + 1)
            return bad_broker(b, len, "has an unclosed or empty [address]", err, errlen);
        for (const char *q = p + 1; q < host_end; q++)
            if (!(host_char(*q) || *q == ':'))
                return bad_broker(b, len, "is not an IPv6 address in brackets", err, errlen);
        host_end++;
    } else {
        host_end = p;
        while (host_end < end && host_char(*host_end))
            host_end++;
        if (host_end == p)
            return bad_broker(b, len, "has no host", err, errlen);
    }
    if (host_end == end)
        return 0;
    if (*host_end != ':' || host_end + 1 == end)
        return bad_broker(b, len, "is not host:port", err, errlen);
    long port = 0;
    for (const char *q = host_end + 1; q < end; q++) {
        if (*q < '0' || *q > '9' || port > 65535)
            return bad_broker(b, len, "has a port that is not a number", err, errlen);
        port = port * 10 + (*q - '0');
    }
    if (port < 1 || port > 65535)
        return bad_broker(b, len, "has a port outside 1..65535", err, errlen);
    return 0;
}

int nurs_kafka_brokers_check(const char *brokers, char *err, size_t errlen)
{
    if (!brokers || !*brokers) {
        snprintf(err, errlen, "brokers: empty list");
        return -1;
    }
    const char *p = brokers;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (check_one_broker(p, len, err, errlen) < 0)
            return -1;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

static int check_topic(const char *t, char *err, size_t errlen)
{
    size_t n = t ? strlen(t) : 0;
    bool ok = n > 0 && n <= 249 && strcmp(t, ".") != 0 && strcmp(t, "..") != 0;
    for (size_t i = 0; ok && i < n; i++)
        ok = host_char(t[i]);
    if (!ok)
        snprintf(err, errlen, "topic: '%s' is not a Kafka topic name (1 to 249 of "
                              "a-z A-Z 0-9 . _ -)", t ? t : "");
    return ok ? 0 : -1;
}

static int set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
               size_t errlen)
{
    char why[512];
    if (rd_kafka_conf_set(conf, name, value, why, sizeof why) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    return 0;
}

static rd_kafka_conf_t *build_conf(const struct nurs_kafka_producer_opts *o, char *err,
                                   size_t errlen)
{
    if (nurs_kafka_brokers_check(o->brokers, err, errlen) < 0 ||
        check_topic(o->topic, err, errlen) < 0)
        return NULL;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* Logs wait in a queue served on the loop, never called from
     * librdkafka's own threads. */
    if (set(conf, "bootstrap.servers", o->brokers, err, errlen) < 0 ||
        set(conf, "client.id", "nurs-lua", err, errlen) < 0 ||
        set(conf, "log.queue", "true", err, errlen) < 0)
        goto fail;
    for (int i = 0; i < o->n_props; i++)
        if (set(conf, o->props[i][0], o->props[i][1], err, errlen) < 0)
            goto fail;
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

int nurs_kafka_producer_check(const struct nurs_kafka_producer_opts *o, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = build_conf(o, err, errlen);
    if (!conf)
        return -1;
    rd_kafka_conf_destroy(conf);
    return 0;
}

/* ---- callbacks, served by rd_kafka_poll on the loop (or at close) ---- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    struct nurs_kafka_producer *p = opaque;
    if (!msg->err) {
        p->stats.delivered++;
        p->counters->delivered++;
        return;
    }
    p->stats.failed++;
    p->counters->errors++;
    long long suppressed = nurs_ratelimit_check(&p->fail_rl);
    if (suppressed >= 0)
        nurs_warn("%s: delivery failed: %s (%lld more not logged)", p->name,
                  rd_kafka_err2str(msg->err), suppressed);
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    struct nurs_kafka_producer *p = rd_kafka_opaque(rk);
    if (level > 6 || nurs_ratelimit_check(&p->log_rl) < 0)
        return;
    enum nurs_log_level l = level <= 3 ? NURS_LOG_ERROR : level == 4 ? NURS_LOG_WARN
                                                                     : NURS_LOG_INFO;
    nurs_log(l, "%s: librdkafka %s: %s", p->name, fac, buf);
}

static void on_error(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
    (void)rk;
    struct nurs_kafka_producer *p = opaque;
    if (nurs_ratelimit_check(&p->log_rl) < 0)
        return;
    bool fatal = code == RD_KAFKA_RESP_ERR__FATAL;
    nurs_log(fatal ? NURS_LOG_ERROR : NURS_LOG_WARN, "%s: %s%s", p->name,
             fatal ? "fatal: " : "", reason);
}

static void serve(struct nurs_kafka_producer *p) { rd_kafka_poll(p->rk, 0); }

static void on_wake(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    struct nurs_kafka_producer *p = h->data;
    char drain[64];
    while (read(p->wake[0], drain, sizeof drain) > 0)
        ;
    serve(p);
}

static void on_timer(uv_timer_t *t) { serve(t->data); }

/* ---- life ---- */

static void free_producer(struct nurs_kafka_producer *p)
{
    for (int i = 0; i < 2; i++)
        if (p->wake[i] >= 0)
            close(p->wake[i]);
    free(p);
}

struct nurs_kafka_producer *nurs_kafka_producer_new(uv_loop_t *loop,
                                                    const struct nurs_kafka_producer_opts *o,
                                                    char *err, size_t errlen)
{
    struct nurs_kafka_producer *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->loop = loop;
    p->wake[0] = p->wake[1] = -1;
    p->flush_timeout_ms = (int)lround(o->flush_timeout_s * 1000.0);
    p->log_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 10);
    p->fail_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 3);
    snprintf(p->name, sizeof p->name, "%s", o->name ? o->name : "kafka");
    p->counters = o->counters ? o->counters : &p->none;
    rd_kafka_conf_t *conf = build_conf(o, err, errlen);
    if (!conf) {
        free_producer(p);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_error_cb(conf, on_error);
    if (pipe2(p->wake, O_NONBLOCK | O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        rd_kafka_conf_destroy(conf);
        free_producer(p);
        return NULL;
    }
    char why[512];
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why); /* owns conf if it works */
    if (!p->rk) {
        snprintf(err, errlen, "%s", why);
        rd_kafka_conf_destroy(conf);
        free_producer(p);
        return NULL;
    }
    rd_kafka_set_log_queue(p->rk, NULL); /* the main queue, which we serve */
    p->rkt = rd_kafka_topic_new(p->rk, o->topic, NULL);
    if (!p->rkt) {
        snprintf(err, errlen, "topic %s: %s", o->topic, rd_kafka_err2str(rd_kafka_last_error()));
        rd_kafka_destroy(p->rk);
        free_producer(p);
        return NULL;
    }
    p->mainq = rd_kafka_queue_get_main(p->rk);
    rd_kafka_queue_io_event_enable(p->mainq, p->wake[1], "1", 1);
    uv_poll_init(loop, &p->poll, p->wake[0]);
    p->poll.data = p;
    uv_poll_start(&p->poll, UV_READABLE, on_wake);
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    uv_timer_start(&p->timer, on_timer, POLL_FALLBACK_MS, POLL_FALLBACK_MS);
    /* Neither keeps the daemon running on its own. */
    uv_unref((uv_handle_t *)&p->poll);
    uv_unref((uv_handle_t *)&p->timer);
    p->handles_open = 2;
    return p;
}

int nurs_kafka_producer_send(struct nurs_kafka_producer *p, const void *key, size_t key_len,
                             const void *payload, size_t len)
{
    if (rd_kafka_produce(p->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, (void *)payload,
                         len, key, key_len, NULL) == 0) {
        p->stats.produced++;
        return 0;
    }
    rd_kafka_resp_err_t e = rd_kafka_last_error();
    p->counters->dropped++;
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        p->stats.queue_full++;
    } else {
        p->stats.refused++;
        long long suppressed = nurs_ratelimit_check(&p->fail_rl);
        if (suppressed >= 0)
            nurs_warn("%s: message refused: %s (%lld more not logged)", p->name,
                      rd_kafka_err2str(e), suppressed);
    }
    return -1;
}

uint64_t nurs_kafka_producer_in_flight(const struct nurs_kafka_producer *p)
{
    int n = rd_kafka_outq_len(p->rk);
    return n > 0 ? (uint64_t)n : 0;
}

const struct nurs_kafka_stats *nurs_kafka_producer_stats(const struct nurs_kafka_producer *p)
{
    return &p->stats;
}

void nurs_kafka_producer_flush(struct nurs_kafka_producer *p)
{
    if (p->flushed)
        return;
    p->flushed = true;
    rd_kafka_flush(p->rk, p->flush_timeout_ms);
    p->stats.unsent = nurs_kafka_producer_in_flight(p);
    /* Counted as failed now, for the exit's counters; their purge at
     * close only adds to the producer's own count. */
    p->counters->errors += p->stats.unsent;
    p->counters = &p->none;
    if (p->stats.unsent)
        nurs_warn("%s: %llu messages not delivered within %d ms; they are lost", p->name,
                  (unsigned long long)p->stats.unsent, p->flush_timeout_ms);
}

/* On a worker thread: nothing on the loop touches p any more. */
static void close_work(uv_work_t *w)
{
    struct nurs_kafka_producer *p = w->data;
    nurs_kafka_producer_flush(p);
    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(p->rk, 0);
    rd_kafka_queue_destroy(p->mainq);
    rd_kafka_topic_destroy(p->rkt);
    rd_kafka_destroy(p->rk);
}

static void after_close_work(uv_work_t *w, int status)
{
    (void)status;
    struct nurs_kafka_producer *p = w->data;
    void (*done)(void *) = p->done;
    void *arg = p->done_arg;
    free_producer(p);
    if (done)
        done(arg);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct nurs_kafka_producer *p = h->data;
    if (--p->handles_open > 0)
        return;
    p->work.data = p;
    uv_queue_work(p->loop, &p->work, close_work, after_close_work);
}

void nurs_kafka_producer_close(struct nurs_kafka_producer *p, void (*done)(void *), void *arg)
{
    p->done = done;
    p->done_arg = arg;
    uv_close((uv_handle_t *)&p->poll, on_handle_closed);
    uv_close((uv_handle_t *)&p->timer, on_handle_closed);
}
