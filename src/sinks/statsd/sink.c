#include "sinks/statsd/sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "core/addr.h"
#include "core/census.h"
#include "core/closer.h"
#include "core/host.h"
#include "core/resolve.h"
#include "sinks/statsd/push.h"

#define RETRY_MS 10000
/* What a loading script's top level may send before it is known to load. */
#define STAGED_MAX (64 * 1024)

/* Plain values, nothing borrowed from the script. */
struct statsd_settings {
    char prefix[64];
    double interval;
    enum nurs_statsd_tags tags;
    size_t max_packet;
    bool counters;
};

struct stats {
    uint64_t datagrams, bytes, pushes, refused, would_block, too_long, unresolved,
        resolve_failures, not_loaded, staged_full;
};

/* Entries (a length, a line count, the text) a script's top level sent:
 * they go out once the script has loaded, and never if it fails to. */
struct staged {
    char *buf;
    size_t len, cap;
};

struct staged_head {
    uint16_t len;
    uint16_t lines;
};

struct nurs_statsd {
    struct nurs_resource res; /* first: the resource is the push */
    struct statsd_settings cur, next;
    char host[256], port[8], dest[300];
    struct sockaddr_storage addr;
    bool resolved;
    uv_udp_t *udp; /* NULL until an address is known; replaced when it changes */
    struct nurs_resolve *resolving;
    uv_timer_t timer, retry;
    struct nurs_closer closer;
    struct nurs_statsd_batch batch;
    struct staged staged;
    struct nurs_statsd_deltas deltas;
    struct stats st;
    struct nurs_ratelimit err_rl;
};

struct nurs_resource *nurs_statsd_resource(struct nurs_statsd *m) { return &m->res; }
struct nurs_statsd *nurs_statsd_of(struct nurs_resource *r) { return (struct nurs_statsd *)r; }

/* ---- sending ---- */

static void lost(struct nurs_statsd *m, int err)
{
    m->res.counters.errors++;
    m->res.counters.dropped += m->batch.lines;
    if (err == UV_ECONNREFUSED)
        m->st.refused++;
    else if (err == UV_EAGAIN)
        m->st.would_block++;
    else if (err == 0)
        m->st.unresolved++;
    /* Nothing listening is the usual case of a statsd that is down: say
     * so now and then, not per datagram. */
    if (err && nurs_ratelimit_check(&m->err_rl) >= 0)
        nurs_warn("%s: sending to %s: %s (datagrams are lost meanwhile, counted)", m->res.name,
                  m->dest, uv_strerror(err));
}

static void send_batch(struct nurs_statsd *m)
{
    if (m->batch.len == 0)
        return;
    if (!m->udp) {
        lost(m, 0);
    } else {
        uv_buf_t buf = uv_buf_init(m->batch.buf, (unsigned)m->batch.len);
        int rc = uv_udp_try_send(m->udp, &buf, 1, NULL);
        if (rc < 0) {
            lost(m, rc);
        } else {
            m->st.datagrams++;
            m->st.bytes += m->batch.len;
            m->res.counters.delivered += m->batch.lines;
        }
    }
    nurs_statsd_batch_clear(&m->batch);
}

static void add_entry(struct nurs_statsd *m, const char *text, size_t len, unsigned lines)
{
    m->res.counters.in += lines;
    enum nurs_statsd_add rc = nurs_statsd_batch_add(&m->batch, text, len, lines);
    if (rc == NURS_STATSD_FULL) {
        send_batch(m);
        rc = nurs_statsd_batch_add(&m->batch, text, len, lines);
    }
    if (rc == NURS_STATSD_TOO_LONG) {
        m->st.too_long += lines;
        m->res.counters.dropped += lines;
    }
}

static void emit_line(void *ctx, const char *line, size_t len) { add_entry(ctx, line, len, 1); }

/* Room for `need` bytes of staged entries, within STAGED_MAX. */
static bool staged_room(struct staged *st, size_t need)
{
    if (need > STAGED_MAX)
        return false;
    if (need <= st->cap)
        return true;
    size_t cap = st->cap ? st->cap : 4096;
    while (cap < need)
        cap *= 2;
    char *p = realloc(st->buf, cap);
    if (!p)
        return false;
    st->buf = p;
    st->cap = cap;
    return true;
}

static void stage(struct nurs_statsd *m, const char *text, size_t len, unsigned lines)
{
    struct staged *st = &m->staged;
    size_t need = st->len + sizeof(struct staged_head) + len;
    if (!staged_room(st, need)) {
        m->res.counters.in += lines;
        m->res.counters.dropped += lines;
        m->st.staged_full += lines;
        return;
    }
    struct staged_head h = {(uint16_t)len, (uint16_t)lines};
    memcpy(st->buf + st->len, &h, sizeof h);
    memcpy(st->buf + st->len + sizeof h, text, len);
    st->len = need;
}

/* The script loaded: what its top level sent joins the datagrams (keep),
 * or it did not: dropped, counted in `not_loaded`. */
static void settle_staged(struct nurs_statsd *m, bool keep)
{
    struct staged *st = &m->staged;
    for (size_t at = 0; at < st->len;) {
        struct staged_head h;
        memcpy(&h, st->buf + at, sizeof h);
        at += sizeof h;
        if (keep) {
            add_entry(m, st->buf + at, h.len, h.lines);
        } else {
            m->res.counters.in += h.lines;
            m->res.counters.dropped += h.lines;
            m->st.not_loaded += h.lines;
        }
        at += h.len;
    }
    free(st->buf);
    *st = (struct staged){0};
}

bool nurs_statsd_add(struct nurs_statsd *m, const struct nurs_script *script, const char *name,
                     const struct nurs_statsd_tag *tags, int n_tags, const char *value,
                     const char *type)
{
    const struct statsd_settings *set = nurs_resource_settings(&m->res, script);
    char text[2 * NURS_STATSD_MAX_LINE + 1];
    size_t len = 0, len0 = 0;
    unsigned lines = 1;
    /* A signed gauge is a change in plain statsd: a negative level is set
     * from zero, both in the same datagram. DogStatsD's gauges are always
     * levels. */
    if (strcmp(type, "g") == 0 && value[0] == '-' && set->tags != NURS_STATSD_TAGS_DOGSTATSD) {
        len0 = nurs_statsd_line(text, NURS_STATSD_MAX_LINE, set->tags, set->prefix, name, tags,
                                n_tags, "0", type);
        if (len0) {
            text[len0++] = '\n';
            lines = 2;
        }
    }
    len = nurs_statsd_line(text + len0, NURS_STATSD_MAX_LINE, set->tags, set->prefix, name, tags,
                           n_tags, value, type);
    if (!len || len0 + len > set->max_packet) {
        m->res.counters.in += lines;
        m->res.counters.dropped += lines;
        m->st.too_long += lines;
        return false;
    }
    if (m->res.dormant)
        return true;
    if (script && script == m->res.host->loading)
        stage(m, text, len0 + len, lines);
    else
        add_entry(m, text, len0 + len, lines);
    return true;
}

static void push(struct nurs_statsd *m)
{
    m->st.pushes++;
    if (m->cur.counters && m->res.host->worker_id == 0) {
        struct nurs_census c;
        if (nurs_census_take(&c, m->res.host) == 0) {
            struct nurs_statsd_format f = {m->cur.tags, m->cur.prefix};
            nurs_statsd_push_counters(&c, &f, &m->deltas, emit_line, m);
            nurs_census_free(&c);
        }
    }
    send_batch(m);
}

static void on_timer(uv_timer_t *t) { push(t->data); }

static void start_timer(struct nurs_statsd *m)
{
    uint64_t ms = (uint64_t)(m->cur.interval * 1000.0);
    uv_timer_start(&m->timer, on_timer, ms ? ms : 1, ms ? ms : 1);
}

/* ---- the address ---- */

static void free_handle(uv_handle_t *h) { free(h); }

/* A new address: a new socket connected to it (the old one closes). */
static void use_address(struct nurs_statsd *m, const struct sockaddr *sa, socklen_t len)
{
    if (m->resolved && m->udp && memcmp(&m->addr, sa, len) == 0)
        return;
    char was[64], now[64];
    bool first = !m->resolved;
    nurs_sockaddr_text(&m->addr, was, sizeof was);
    memset(&m->addr, 0, sizeof m->addr);
    memcpy(&m->addr, sa, len);
    m->resolved = true;
    nurs_sockaddr_text(&m->addr, now, sizeof now);
    if (m->udp)
        uv_close((uv_handle_t *)m->udp, free_handle);
    m->udp = malloc(sizeof *m->udp);
    int rc = m->udp ? uv_udp_init_ex(m->res.host->loop, m->udp, sa->sa_family) : UV_ENOMEM;
    if (rc < 0) {
        free(m->udp);
        m->udp = NULL;
    } else {
        uv_unref((uv_handle_t *)m->udp);
        rc = uv_udp_connect(m->udp, sa);
    }
    if (rc < 0)
        nurs_err("%s: cannot send to %s: %s", m->res.name, now, uv_strerror(rc));
    else if (strcmp(m->host, now) != 0)
        nurs_info(first ? "%s: %s is %s" : "%s: %s is now %s (was %s)", m->res.name, m->host, now,
                  was);
}

static void resolve(struct nurs_statsd *m);

static void on_retry(uv_timer_t *t) { resolve(t->data); }

static void on_resolved(void *ctx, int status, const struct sockaddr *sa, socklen_t len)
{
    struct nurs_statsd *m = ctx;
    m->resolving = NULL;
    if (status == 0) {
        use_address(m, sa, len);
        return;
    }
    m->st.resolve_failures++;
    if (m->resolved) {
        nurs_warn("%s: cannot resolve %s again (%s); still sending to the old address",
                  m->res.name, m->host, uv_strerror(status));
        return;
    }
    nurs_err("%s: cannot resolve %s (%s); trying again in %d s, what would be sent is lost "
             "meanwhile",
             m->res.name, m->host, uv_strerror(status), RETRY_MS / 1000);
    uv_timer_start(&m->retry, on_retry, RETRY_MS, 0);
}

static void resolve(struct nurs_statsd *m)
{
    if (m->resolving || m->res.dormant)
        return;
    m->resolving = nurs_resolve_start(m->res.host->loop, m->host, m->port, SOCK_DGRAM,
                                      NURS_RESOLVE_TIMEOUT_MS, on_resolved, m);
}

/* ---- the resource ---- */

static void free_statsd(void *p)
{
    struct nurs_statsd *m = p;
    nurs_statsd_deltas_free(&m->deltas);
    free(m);
}

static void destroy(struct nurs_resource *r)
{
    struct nurs_statsd *m = (struct nurs_statsd *)r;
    /* Staged lines left are a script's that did not load (or the exit
     * came while it loaded). */
    settle_staged(m, false);
    send_batch(m);
    if (m->resolving)
        nurs_resolve_cancel(m->resolving);
    m->resolving = NULL;
    if (m->udp)
        uv_close((uv_handle_t *)m->udp, free_handle);
    m->udp = NULL;
    nurs_closer_begin(&m->closer, free_statsd, m);
    nurs_closer_close(&m->closer, &m->timer);
    nurs_closer_close(&m->closer, &m->retry);
    nurs_closer_end(&m->closer);
}

static void flush(struct nurs_resource *r) { send_batch((struct nurs_statsd *)r); }

/* At exit, after every other sink's flush: the last counts. */
static void report(struct nurs_resource *r)
{
    struct nurs_statsd *m = (struct nurs_statsd *)r;
    if (!r->dormant)
        push(m);
}

static int extra_counters(const struct nurs_resource *r, struct nurs_extra_counter *out)
{
    const struct nurs_statsd *m = (const struct nurs_statsd *)r;
    int n = 0;
    out[n++] = (struct nurs_extra_counter){"datagrams", m->st.datagrams};
    out[n++] = (struct nurs_extra_counter){"bytes", m->st.bytes};
    out[n++] = (struct nurs_extra_counter){"pushes", m->st.pushes};
    out[n++] = (struct nurs_extra_counter){"refused", m->st.refused};
    out[n++] = (struct nurs_extra_counter){"would_block", m->st.would_block};
    out[n++] = (struct nurs_extra_counter){"unresolved", m->st.unresolved};
    out[n++] = (struct nurs_extra_counter){"too_long", m->st.too_long};
    out[n++] = (struct nurs_extra_counter){"resolve_failures", m->st.resolve_failures};
    out[n++] = (struct nurs_extra_counter){"untracked", m->deltas.untracked};
    out[n++] = (struct nurs_extra_counter){"not_loaded", m->st.not_loaded};
    out[n++] = (struct nurs_extra_counter){"staged_full", m->st.staged_full};
    return n;
}

static int labels(const struct nurs_resource *r, struct nurs_resource_label *out)
{
    return nurs_label_set(out, "statsd", ((const struct nurs_statsd *)r)->dest);
}

/* The lines of the old settings go first; a new interval starts now; the
 * name is resolved again (the old address stays until an answer). */
static void adopted(struct nurs_resource *r)
{
    struct nurs_statsd *m = (struct nurs_statsd *)r;
    send_batch(m);
    m->batch.max = m->cur.max_packet;
    if (m->cur.interval != m->next.interval)
        start_timer(m);
    if (nurs_resolve_numeric(m->host, m->port, SOCK_DGRAM, &(struct sockaddr_storage){0},
                             &(socklen_t){0}) < 0)
        resolve(m);
}

static void committed(struct nurs_resource *r) { settle_staged((struct nurs_statsd *)r, true); }

static void given_back(struct nurs_resource *r) { settle_staged((struct nurs_statsd *)r, false); }

static const struct nurs_resource_ops statsd_ops = {
    .kind = "statsd",
    .destroy = destroy,
    .flush = flush,
    .report = report,
    .extra_counters = extra_counters,
    .labels = labels,
    NURS_SETTINGS_IN(struct nurs_statsd),
    .adopted = adopted,
    .given_back = given_back,
    .committed = committed,
};

struct nurs_statsd *nurs_statsd_get(struct nurs_script *s, const struct nurs_statsd_opts *o,
                                    char *err, size_t errlen)
{
    const char *host = o->host ? o->host : NURS_STATSD_DEFAULT_HOST;
    struct statsd_settings set = {.interval = o->interval,
                                  .tags = o->tags,
                                  .max_packet = o->max_packet,
                                  .counters = o->counters};
    if (strlen(host) >= sizeof ((struct nurs_statsd *)0)->host || !*host) {
        snprintf(err, errlen, "'host' must be 1 to 255 bytes");
        return NULL;
    }
    if (snprintf(set.prefix, sizeof set.prefix, "%s", o->prefix ? o->prefix : "") >=
        (int)sizeof set.prefix) {
        snprintf(err, errlen, "'prefix' is longer than %zu bytes", sizeof set.prefix - 1);
        return NULL;
    }
    char key[300];
    snprintf(key, sizeof key, "%s%s%s:%u", strchr(host, ':') ? "[" : "", host,
             strchr(host, ':') ? "]" : "", o->port);
    struct nurs_resource *r = nurs_resource_claim(s, &statsd_ops, key, &set);
    if (r)
        return (struct nurs_statsd *)r;

    struct nurs_statsd *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    struct nurs_host *h = s->host;
    snprintf(m->host, sizeof m->host, "%s", host);
    snprintf(m->port, sizeof m->port, "%u", o->port);
    snprintf(m->dest, sizeof m->dest, "%s", key);
    m->err_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(60000, 2);
    m->batch.max = set.max_packet;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    bool numeric = nurs_resolve_numeric(host, m->port, SOCK_DGRAM, &addr, &addrlen) == 0;
    if (!numeric && h->check_only) {
        int rc = nurs_resolve_now(host, m->port, SOCK_DGRAM, &addr, &addrlen);
        if (rc < 0) {
            snprintf(err, errlen, "cannot resolve '%s': %s", host, uv_strerror(rc));
            free(m);
            return NULL;
        }
    }
    if (nurs_resource_init(&m->res, &statsd_ops, s, o->name ? o->name : "statsd", key, &set) <
        0) {
        free(m);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->res.dormant = h->check_only;
    if (m->res.dormant)
        return m;
    uv_timer_init(h->loop, &m->timer);
    uv_timer_init(h->loop, &m->retry);
    m->timer.data = m->retry.data = m;
    /* The push alone does not keep the daemon running. */
    uv_unref((uv_handle_t *)&m->timer);
    uv_unref((uv_handle_t *)&m->retry);
    start_timer(m);
    if (numeric)
        use_address(m, (struct sockaddr *)&addr, addrlen);
    else
        resolve(m);
    return m;
}
