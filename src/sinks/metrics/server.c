#include "sinks/metrics/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>
#include <uv.h>

#include "core/host.h"
#include "sinks/metrics/collect.h"
#include "sinks/metrics/probe.h"

/* One client connection, from MHD's notification that it opened to the
 * one that it closed. */
struct conn {
    struct conn *next;
    struct MHD_Connection *c;
    struct sockaddr_storage addr;
    bool answered; /* a request reached the handler */
    bool waiting;  /* suspended until the probe is read */
};

struct stats {
    uint64_t refused_total, refused_per_ip;
    uint64_t not_found, not_allowed, unanswered, too_large, probe_late;
};

struct nurs_metrics {
    struct nurs_resource res; /* first: the resource is the endpoint */
    struct nurs_metrics_opts cur, next; /* string options not kept */
    char listen_text[80];
    struct sockaddr_storage addr;
    socklen_t addrlen;
    struct MHD_Daemon *mhd;
    uv_poll_t *poll;    /* MHD's epoll descriptor; one per MHD instance */
    uv_timer_t timer;   /* MHD's next timeout */
    uv_timer_t waiting; /* the longest a scrape waits for the probe */
    struct conn *conns;
    unsigned n_conns;
    struct stats st;
    /* /proc figures: read on a worker into `reading`, then `probe` */
    uv_work_t work;
    bool probing;
    struct nurs_probe probe, reading;
    bool have_probe;
    uint64_t probed_ms;
    struct nurs_mregistry reg;
    int pending_closes;
    struct nurs_ratelimit log_rl, probe_rl;
};

struct nurs_resource *nurs_metrics_resource(struct nurs_metrics *m) { return &m->res; }
struct nurs_metrics *nurs_metrics_of(struct nurs_resource *r) { return (struct nurs_metrics *)r; }
struct nurs_mregistry *nurs_metrics_registry(struct nurs_metrics *m) { return &m->reg; }
const char *nurs_metrics_address(const struct nurs_metrics *m) { return m->listen_text; }

bool nurs_metrics_loading(const struct nurs_metrics *m, const struct nurs_script *s)
{
    return m->res.claimant == s;
}

size_t nurs_metrics_max_series(const struct nurs_metrics *m, const struct nurs_script *s)
{
    return ((const struct nurs_metrics_opts *)nurs_resource_settings(&m->res, s))->max_series;
}

/* ---- the listening address ---- */

int nurs_metrics_parse_listen(const char *text, struct sockaddr_storage *addr, socklen_t *len,
                              char *err, size_t errlen)
{
    char host[64] = "127.0.0.1";
    const char *port = text;
    const char *colon = strrchr(text, ':');
    if (text[0] == '[' && (!colon || colon == text || colon[-1] != ']')) {
        snprintf(err, errlen, "'%s' is not [IPV6]:PORT", text);
        return -1;
    }
    if (colon) {
        size_t hlen = (size_t)(colon - text);
        const char *h = text;
        if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
            h++;
            hlen -= 2;
        } else if (memchr(text, ':', hlen)) {
            snprintf(err, errlen, "'%s': an IPv6 address goes in brackets: [::1]:9464", text);
            return -1;
        }
        if (hlen == 0 || hlen >= sizeof host) {
            snprintf(err, errlen, "'%s' is not HOST:PORT", text);
            return -1;
        }
        memcpy(host, h, hlen);
        host[hlen] = '\0';
        port = colon + 1;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 0 || p > 65535) {
        snprintf(err, errlen, "'%s': the port must be 0..65535 (0: any free one)", text);
        return -1;
    }
    memset(addr, 0, sizeof *addr);
    struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    if (strcmp(host, "*") == 0) {
        v6->sin6_family = AF_INET6;
        v6->sin6_addr = in6addr_any;
    } else if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
    } else {
        snprintf(err, errlen, "'%s': not an IP address (host names are not resolved)", host);
        return -1;
    }
    if (addr->ss_family == AF_INET) {
        v4->sin_port = htons((uint16_t)p);
        *len = sizeof *v4;
    } else {
        v6->sin6_port = htons((uint16_t)p);
        *len = sizeof *v6;
    }
    return 0;
}

static void address_text(const struct sockaddr_storage *a, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)a;
        inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof ip);
        snprintf(buf, len, "%s:%u", ip, ntohs(v4->sin_port));
    } else {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)a;
        inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof ip);
        snprintf(buf, len, "[%s]:%u", ip, ntohs(v6->sin6_port));
    }
}

static bool same_host(const struct sockaddr_storage *a, const struct sockaddr *b)
{
    if (a->ss_family != b->sa_family)
        return false;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

static int open_listener(struct nurs_metrics *m, char *err, size_t errlen)
{
    int fd = socket(m->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1, v6only = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (m->addr.ss_family == AF_INET6) {
        /* "*" is both families on one socket; a given address only its own. */
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&m->addr;
        v6only = !IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr);
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    }
    if (bind(fd, (struct sockaddr *)&m->addr, m->addrlen) < 0 || listen(fd, 64) < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", m->listen_text, strerror(errno));
        close(fd);
        return -1;
    }
    /* Port 0: the one the kernel chose. */
    struct sockaddr_storage bound;
    socklen_t len = sizeof bound;
    if (getsockname(fd, (struct sockaddr *)&bound, &len) == 0)
        address_text(&bound, m->listen_text, sizeof m->listen_text);
    return fd;
}

/* ---- driving MHD from the loop ---- */

static void on_mhd_timer(uv_timer_t *t);

static void run_mhd(struct nurs_metrics *m)
{
    if (!m->mhd)
        return;
    MHD_run(m->mhd);
    MHD_UNSIGNED_LONG_LONG ms;
    if (m->mhd && MHD_get_timeout(m->mhd, &ms) == MHD_YES)
        uv_timer_start(&m->timer, on_mhd_timer, ms, 0);
    else
        uv_timer_stop(&m->timer);
}

static void on_mhd_timer(uv_timer_t *t) { run_mhd(t->data); }

static void on_epoll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    run_mhd(p->data);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct nurs_metrics *m = cls;
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    if (nurs_ratelimit_check(&m->log_rl) >= 0)
        nurs_debug("%s: %s", m->res.name, msg);
}

/* Our own limits, counted; MHD's are set one higher, as a backstop. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
    struct nurs_metrics *m = cls;
    (void)len;
    if (m->n_conns >= m->cur.max_connections) {
        m->st.refused_total++;
        m->res.counters.dropped++;
        return MHD_NO;
    }
    unsigned same = 0;
    for (const struct conn *c = m->conns; c; c = c->next)
        same += same_host(&c->addr, addr);
    if (same >= m->cur.max_per_ip) {
        m->st.refused_per_ip++;
        m->res.counters.dropped++;
        return MHD_NO;
    }
    return MHD_YES;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct nurs_metrics *m = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn *k = calloc(1, sizeof *k);
        if (!k)
            return;
        k->c = c;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (ci && ci->client_addr)
            memcpy(&k->addr, ci->client_addr,
                   ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                          : sizeof(struct sockaddr_in));
        k->next = m->conns;
        m->conns = k;
        m->n_conns++;
        *socket_context = k;
        return;
    }
    struct conn *k = *socket_context;
    if (!k)
        return;
    for (struct conn **p = &m->conns; *p; p = &(*p)->next) {
        if (*p == k) {
            *p = k->next;
            break;
        }
    }
    m->n_conns--;
    if (!k->answered)
        m->st.unanswered++;
    free(k);
}

/* ---- the /proc probe, on a worker thread ---- */

static void release(struct nurs_metrics *m);

static void probe_work(uv_work_t *w)
{
    struct nurs_metrics *m = w->data;
    nurs_probe_read(&m->reading);
}

static void resume_waiting(struct nurs_metrics *m)
{
    bool any = false;
    for (struct conn *k = m->conns; k; k = k->next) {
        if (k->waiting) {
            k->waiting = false;
            MHD_resume_connection(k->c);
            any = true;
        }
    }
    uv_timer_stop(&m->waiting);
    if (any)
        run_mhd(m);
}

static void probe_done(uv_work_t *w, int status)
{
    struct nurs_metrics *m = w->data;
    m->probing = false;
    if (m->res.closing) {
        release(m);
        return;
    }
    m->pending_closes--; /* the probe's hold; ours is still there */
    if (status == 0) {
        m->probe = m->reading;
        m->have_probe = true;
        m->probed_ms = uv_now(m->res.host->loop);
        for (int i = 0; i < m->probe.n_ct; i++)
            if (!m->probe.ct[i].ok && nurs_ratelimit_check(&m->probe_rl) >= 0)
                nurs_warn("%s: conntrack table of %s: %s", m->res.name,
                          m->probe.ct[i].netns[0] ? m->probe.ct[i].netns : "our namespace",
                          m->probe.ct[i].err);
    }
    resume_waiting(m);
}

static void on_probe_late(uv_timer_t *t)
{
    struct nurs_metrics *m = t->data;
    m->st.probe_late++;
    resume_waiting(m);
}

/* The namespaces whose conntrack table a scrape shows: those of the
 * conntrack sources. */
static void probe_targets(struct nurs_metrics *m, struct nurs_probe *p)
{
    p->n_ct = 0;
    for (const struct nurs_resource *r = m->res.host->resources; r; r = r->next) {
        if (strcmp(r->ops->kind, "conntrack") != 0 || !r->ops->labels)
            continue;
        struct nurs_resource_label l[NURS_MAX_RESOURCE_LABELS];
        const char *netns = "";
        int n = r->ops->labels(r, l);
        for (int i = 0; i < n; i++)
            if (strcmp(l[i].name, "netns") == 0)
                netns = l[i].value;
        bool seen = false;
        for (int i = 0; i < p->n_ct && !seen; i++)
            seen = strcmp(p->ct[i].netns, netns) == 0;
        if (!seen && p->n_ct < NURS_PROBE_MAX_NETNS)
            snprintf(p->ct[p->n_ct++].netns, sizeof p->ct[0].netns, "%s", netns);
    }
}

static bool probe_fresh(struct nurs_metrics *m)
{
    return m->have_probe &&
           uv_now(m->res.host->loop) - m->probed_ms < (uint64_t)(m->cur.probe_interval * 1000.0);
}

static void start_probe(struct nurs_metrics *m)
{
    if (m->probing)
        return;
    m->reading = m->probe; /* keeps the start time once known */
    probe_targets(m, &m->reading);
    m->work.data = m;
    if (uv_queue_work(m->res.host->loop, &m->work, probe_work, probe_done) == 0) {
        m->probing = true;
        m->pending_closes++;
    }
}

/* ---- requests ---- */

static enum MHD_Result respond(struct MHD_Connection *c, unsigned code, const char *type,
                               char *body, size_t len, bool must_free, const char *allow)
{
    struct MHD_Response *r =
        must_free ? MHD_create_response_from_buffer_with_free_callback(len, body, free)
                  : MHD_create_response_from_buffer(len, body, MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (must_free)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result rc = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result answer_text(struct MHD_Connection *c, unsigned code, const char *text,
                                   const char *allow)
{
    return respond(c, code, "text/plain; charset=utf-8", (char *)text, strlen(text), false, allow);
}

static enum MHD_Result scrape(struct nurs_metrics *m, struct MHD_Connection *c)
{
    const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    enum nurs_expo_format f = nurs_expo_negotiate(accept);
    struct nurs_expo w;
    nurs_expo_init(&w, f, m->cur.max_response);
    if (nurs_metrics_collect(&w, m->res.host, m->have_probe ? &m->probe : NULL, &m->reg) < 0 ||
        w.failed) {
        bool big = w.len >= m->cur.max_response || w.failed;
        nurs_expo_free(&w);
        m->res.counters.errors++;
        m->st.too_large += big;
        if (nurs_ratelimit_check(&m->log_rl) >= 0)
            nurs_err("%s: the exposition %s", m->res.name,
                     big ? "is larger than max_response" : "ran out of memory");
        return answer_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                           "exposition too large or out of memory\n", NULL);
    }
    m->res.counters.delivered++;
    return respond(c, MHD_HTTP_OK, nurs_expo_content_type(f), w.buf, w.len, true, NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **req)
{
    struct nurs_metrics *m = cls;
    static int waited;
    (void)version;
    (void)upload_data;
    (void)upload_size;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn *k = ci ? ci->socket_context : NULL;
    if (!*req) {
        m->res.counters.in++;
        if (k)
            k->answered = true;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        m->st.not_allowed++;
        return answer_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n", "GET, HEAD");
    }
    if (strcmp(url, "/metrics") != 0) {
        m->st.not_found++;
        return answer_text(c, MHD_HTTP_NOT_FOUND, "metrics are at /metrics\n", NULL);
    }
    if (*req || probe_fresh(m) || !k || m->res.closing)
        return scrape(m, c);
    /* Wait (suspended, the loop goes on) for fresh /proc figures. */
    *req = &waited;
    k->waiting = true;
    MHD_suspend_connection(c);
    start_probe(m);
    if (!uv_is_active((uv_handle_t *)&m->waiting))
        uv_timer_start(&m->waiting, on_probe_late, NURS_METRICS_PROBE_WAIT_MS, 0);
    return MHD_YES;
}

/* MHD owns the listening socket from here on, and closes it on failure. */
static int start_mhd(struct nurs_metrics *m, int fd, char *err, size_t errlen)
{
    m->mhd = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, on_accept, m, on_request,
        m, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)m->cur.max_connections + 1, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)m->cur.max_per_ip + 1, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)m->cur.timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, m->cur.max_request, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, m, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, m, MHD_OPTION_END);
    if (!m->mhd) {
        snprintf(err, errlen, "cannot start the HTTP server on %s", m->listen_text);
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    m->poll = di ? malloc(sizeof *m->poll) : NULL;
    if (!m->poll || uv_poll_init(m->res.host->loop, m->poll, di->epoll_fd) < 0) {
        snprintf(err, errlen, "cannot watch the HTTP server's epoll descriptor");
        free(m->poll);
        m->poll = NULL;
        MHD_stop_daemon(m->mhd);
        m->mhd = NULL;
        return -1;
    }
    m->poll->data = m;
    uv_unref((uv_handle_t *)m->poll);
    uv_poll_start(m->poll, UV_READABLE, on_epoll);
    run_mhd(m);
    return 0;
}

/* ---- the resource ---- */

static void free_metrics(struct nurs_metrics *m)
{
    nurs_mregistry_clear(&m->reg);
    free(m);
}

static void release(struct nurs_metrics *m)
{
    if (--m->pending_closes == 0)
        free_metrics(m);
}

static void on_closed(uv_handle_t *h) { release(h->data); }

static void on_poll_closed(uv_handle_t *h)
{
    release(h->data);
    free(h);
}

/* The poll handle goes before MHD closes the descriptor it watches; a
 * restart opens a new one. */
static void stop_mhd(struct nurs_metrics *m, bool keep_listener, int *listener)
{
    if (!m->mhd)
        return;
    for (struct conn *k = m->conns; k; k = k->next) {
        if (k->waiting) {
            k->waiting = false;
            MHD_resume_connection(k->c);
        }
    }
    if (m->poll) {
        m->pending_closes++;
        uv_close((uv_handle_t *)m->poll, on_poll_closed);
        m->poll = NULL;
    }
    if (keep_listener)
        *listener = MHD_quiesce_daemon(m->mhd);
    MHD_stop_daemon(m->mhd);
    m->mhd = NULL;
}

static void destroy(struct nurs_resource *r)
{
    struct nurs_metrics *m = (struct nurs_metrics *)r;
    stop_mhd(m, false, NULL);
    nurs_mregistry_clear(&m->reg);
    m->pending_closes += 2;
    uv_close((uv_handle_t *)&m->timer, on_closed);
    uv_close((uv_handle_t *)&m->waiting, on_closed);
    release(m); /* ours; a probe in flight holds its own */
}

static int extra_counters(const struct nurs_resource *r, struct nurs_extra_counter *out)
{
    const struct nurs_metrics *m = (const struct nurs_metrics *)r;
    int n = 0;
    out[n++] = (struct nurs_extra_counter){"connections", m->n_conns};
    out[n++] = (struct nurs_extra_counter){"max_connections", m->cur.max_connections};
    out[n++] = (struct nurs_extra_counter){"refused_connections", m->st.refused_total};
    out[n++] = (struct nurs_extra_counter){"refused_per_ip", m->st.refused_per_ip};
    out[n++] = (struct nurs_extra_counter){"not_found", m->st.not_found};
    out[n++] = (struct nurs_extra_counter){"not_allowed", m->st.not_allowed};
    out[n++] = (struct nurs_extra_counter){"unanswered", m->st.unanswered};
    out[n++] = (struct nurs_extra_counter){"too_large", m->st.too_large};
    out[n++] = (struct nurs_extra_counter){"probe_late", m->st.probe_late};
    return n;
}

static int labels(const struct nurs_resource *r, struct nurs_resource_label *out)
{
    return nurs_label_set(out, "listen", ((const struct nurs_metrics *)r)->listen_text);
}

static bool same_limits(const struct nurs_metrics_opts *a, const struct nurs_metrics_opts *b)
{
    return a->max_connections == b->max_connections && a->max_per_ip == b->max_per_ip &&
           a->timeout_s == b->timeout_s && a->max_request == b->max_request;
}

/* A reloaded script's limits apply to a new MHD on the same listening
 * socket: connections open now are closed, no connection is refused. */
static void adopted(struct nurs_resource *r)
{
    struct nurs_metrics *m = (struct nurs_metrics *)r;
    nurs_mregistry_commit(&m->reg, true);
    if (same_limits(&m->cur, &m->next) || !m->mhd)
        return;
    int fd = -1;
    char err[256];
    stop_mhd(m, true, &fd);
    if (fd < 0 || start_mhd(m, fd, err, sizeof err) < 0)
        nurs_err("%s: new limits: %s; the endpoint is down until restart", r->name,
                 fd < 0 ? "cannot keep the listening socket" : err);
}

static void given_back(struct nurs_resource *r)
{
    nurs_mregistry_commit(&((struct nurs_metrics *)r)->reg, false);
}

static const struct nurs_resource_ops metrics_ops = {
    .kind = "metrics",
    .destroy = destroy,
    .extra_counters = extra_counters,
    .gauges = (const char *const[]){"connections", "max_connections", NULL},
    .labels = labels,
    NURS_SETTINGS_IN(struct nurs_metrics),
    .adopted = adopted,
    .given_back = given_back,
};

struct nurs_metrics *nurs_metrics_get(struct nurs_script *s, const struct nurs_metrics_opts *o,
                                      char *err, size_t errlen)
{
    struct sockaddr_storage addr;
    socklen_t addrlen;
    if (nurs_metrics_parse_listen(o->listen ? o->listen : NURS_METRICS_DEFAULT_LISTEN, &addr,
                                  &addrlen, err, errlen) < 0)
        return NULL;
    char text[80], key[96];
    address_text(&addr, text, sizeof text);
    snprintf(key, sizeof key, "listen=%s", text);
    /* Settings are kept without the strings, which belong to the script. */
    struct nurs_metrics_opts set = *o;
    set.listen = set.name = NULL;
    struct nurs_resource *r = nurs_resource_claim(s, &metrics_ops, key, &set);
    if (r)
        return (struct nurs_metrics *)r;

    struct nurs_metrics *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->addr = addr;
    m->addrlen = addrlen;
    snprintf(m->listen_text, sizeof m->listen_text, "%s", text);
    m->log_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 5);
    m->probe_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(60000, 2);
    nurs_mregistry_init(&m->reg);
    struct nurs_host *h = s->host;
    int fd = h->check_only ? -1 : open_listener(m, err, errlen);
    if (!h->check_only && fd < 0) {
        free(m);
        return NULL;
    }
    if (nurs_resource_init(&m->res, &metrics_ops, s, o->name ? o->name : "metrics", key, &set) <
        0) {
        if (fd >= 0)
            close(fd);
        free(m);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    uv_timer_init(h->loop, &m->timer);
    uv_timer_init(h->loop, &m->waiting);
    m->timer.data = m->waiting.data = m;
    /* The endpoint alone does not keep the daemon running. */
    uv_unref((uv_handle_t *)&m->timer);
    uv_unref((uv_handle_t *)&m->waiting);
    m->pending_closes = 1;
    if (fd >= 0 && start_mhd(m, fd, err, errlen) < 0) {
        nurs_resource_destroy(&m->res);
        return NULL;
    }
    if (fd >= 0)
        nurs_info("%s: serving metrics on http://%s/metrics", m->res.name, m->listen_text);
    return m;
}
