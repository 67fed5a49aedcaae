#include "sinks/flow/collector_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

#define DEFAULT_STREAM_MESSAGE 16384 /* TCP and files: not bound by an MTU */

static uint64_t realtime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

const char *nurs_collector_spec(const struct nurs_collector *c) { return c->spec; }
enum nurs_transport nurs_collector_transport(const struct nurs_collector *c)
{
    return c->transport;
}
const struct nurs_collector_stats *nurs_collector_stats(const struct nurs_collector *c)
{
    return &c->stats;
}

size_t nurs_collector_queued_bytes(const struct nurs_collector *c)
{
    return c->transport == NURS_TRANSPORT_TCP ? c->tcp.queued_bytes + c->tcp.inflight_bytes : 0;
}

const char *nurs_collector_state(const struct nurs_collector *c)
{
    if (c->transport == NURS_TRANSPORT_TCP)
        return nurs_tcp_state_name(c);
    if (c->transport == NURS_TRANSPORT_FILE)
        return nurs_file_state(c);
    return c->fd >= 0 ? "open" : "closed";
}

/* ---- where messages go ---- */

void nurs_collector_stamp(struct nurs_collector *c, uint8_t *msg, uint32_t data_records)
{
    if (c->conf->version == NURS_NETFLOW9) {
        put32(msg + 12, c->sequence);
        c->sequence++;
    } else {
        put32(msg + 8, c->sequence);
        c->sequence += data_records;
    }
}

void nurs_collector_lost(struct nurs_collector *c, const struct nurs_msg_tally *t, int err,
                         const char *what)
{
    c->stats.lost_records += t->flows;
    c->stats.lost_packets += t->packets;
    c->stats.lost_octets += t->octets;
    c->stats.lost_messages++;
    if (c->conf->counters)
        c->conf->counters->dropped += t->flows;
    if (err) {
        c->stats.send_errors++;
        if (c->conf->counters)
            c->conf->counters->errors++;
    }
    long long suppressed = nurs_ratelimit_check(&c->error_rl);
    if (suppressed >= 0)
        nurs_warn("collector %s: %s%s%s; %u records lost (%llu so far)", c->spec, what,
                  err ? ": " : "", err ? strerror(err) : "", t->flows,
                  (unsigned long long)c->stats.lost_records);
}

void nurs_collector_counted(struct nurs_collector *c, size_t len, const struct nurs_msg_tally *t)
{
    c->stats.messages++;
    c->stats.bytes += len;
    c->stats.records += t->records;
    c->stats.flows += t->flows;
}

void nurs_collector_send_batch(struct nurs_collector *c)
{
    if (!c->batched)
        return;
    int done = 0;
    while (done < c->batched) {
        int rc = c->fd < 0 ? -1 : sendmmsg(c->fd, c->mmsg + done, (unsigned)(c->batched - done),
                                           MSG_DONTWAIT);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0) {
            /* A sent sequence number is spent even when the datagram is
             * not: the collector must see the gap. */
            int err = c->fd < 0 ? EBADF : rc < 0 ? errno : EIO;
            if (!c->resolved)
                nurs_collector_lost(c, &c->batch_tally[done], 0,
                                    "the collector's name is not resolved yet");
            else
                nurs_collector_lost(c, &c->batch_tally[done], err,
                                    err == ECONNREFUSED ? "collector refused (not listening?)"
                                                        : "send failed");
            done++;
            continue;
        }
        for (int i = done; i < done + rc; i++)
            nurs_collector_counted(c, c->iov[i].iov_len, &c->batch_tally[i]);
        done += rc;
    }
    c->batched = 0;
    /* The message being filled sits in the slot after the batch: it moves
     * to the first, where the next batch starts. */
    if (c->open && c->enc.buf != c->slots) {
        memmove(c->slots, c->enc.buf, c->enc.len);
        c->enc.buf = c->slots;
    }
    c->buf = c->slots;
}

static void send_datagram(struct nurs_collector *c, uint8_t *msg, size_t len,
                          const struct nurs_msg_tally *n)
{
    nurs_collector_stamp(c, msg, n->records);
    c->iov[c->batched] = (struct iovec){.iov_base = msg, .iov_len = len};
    c->batch_tally[c->batched] = *n;
    if (++c->batched == UDP_BATCH)
        nurs_collector_send_batch(c);
    else
        c->buf = c->slots + (size_t)c->batched * c->cap;
}

static void put_on_wire(struct nurs_collector *c, uint8_t *msg, size_t len,
                        const struct nurs_msg_tally *n)
{
    switch (c->transport) {
    case NURS_TRANSPORT_UDP:
        send_datagram(c, msg, len, n);
        c->packets_since_templates++;
        break;
    case NURS_TRANSPORT_FILE:
        nurs_file_send(c, msg, len, n);
        break;
    case NURS_TRANSPORT_TCP:
        nurs_tcp_send(c, msg, len, n);
        break;
    }
}

/* ---- the stream of messages ---- */

static void finish(struct nurs_collector *c, struct nurs_enc *e, size_t *len)
{
    struct nurs_enc_header h = {.domain = c->conf->domain};
    uint64_t now = realtime_ms();
    if (c->conf->version == NURS_NETFLOW9)
        nurs_enc_v9_clock(now, c->conf->uptime_base_ms, &h.export_secs, &h.sys_uptime_ms);
    else
        h.export_secs = (uint32_t)(now / 1000);
    *len = nurs_enc_finish(e, &h);
}

static void ship(struct nurs_collector *c)
{
    if (!c->open)
        return;
    c->open = false;
    if (nurs_enc_is_empty(&c->enc))
        return;
    size_t len;
    finish(c, &c->enc, &len);
    put_on_wire(c, c->enc.buf, len, &c->enc.tally);
}

static void begin(struct nurs_collector *c)
{
    nurs_enc_begin(&c->enc, c->conf->version, c->buf, c->cap, c->conf->uptime_base_ms);
    c->open = true;
}

/* The values of the statistics and reliability records. */
static void stats_values(struct nurs_collector *c, const struct nurs_template *t,
                         struct nurs_fvalue *vals)
{
    /* Messages waiting for the batch's sendmmsg went before this one. */
    uint64_t bytes = c->stats.bytes, flows = c->stats.flows;
    for (int i = 0; i < c->batched; i++) {
        bytes += c->iov[i].iov_len;
        flows += c->batch_tally[i].flows;
    }
    const struct nurs_export_losses none = {0}, *l = c->conf->losses ? c->conf->losses : &none;
    for (int i = 0; i < t->n; i++) {
        uint64_t v = 0;
        switch (t->f[i].ie.pen ? 0x10000u | t->f[i].ie.id : t->f[i].ie.id) {
        case 1:   /* v9 scope: System, our source id */
        case 144: /* exportingProcessId: we number it after the domain */
        case 149: /* observationDomainId */
            v = c->conf->domain;
            break;
        case 40: v = bytes; break;
        case 41: v = c->stats.messages + (uint64_t)c->batched; break;
        case 42: v = flows; break;
        case 164: v = l->ignored_packets; break;
        case 165: v = l->ignored_octets; break;
        case 166: v = c->stats.lost_records + l->kernel_flows; break;
        case 167: v = c->stats.lost_packets; break;
        case 168: v = c->stats.lost_octets; break;
        case 0x10000u | NURS_IE_KERNEL_OVERRUNS: v = l->kernel_overruns; break;
        }
        vals[i] = (struct nurs_fvalue){.kind = NURS_FV_UINT, .u = v};
    }
}

/* Adds a template or a statistics record, starting a new message when the
 * current one is full. */
static bool add_template(struct nurs_collector *c, const struct nurs_template *t)
{
    if (nurs_enc_add_template(&c->enc, t))
        return true;
    ship(c);
    begin(c);
    return nurs_enc_add_template(&c->enc, t);
}

static bool add_options_record(struct nurs_collector *c, const struct nurs_template *t)
{
    struct nurs_fvalue vals[NURS_TEMPLATE_MAX];
    stats_values(c, t, vals);
    if (nurs_enc_add_record(&c->enc, t, NULL, NULL, vals))
        return true;
    ship(c);
    begin(c);
    stats_values(c, t, vals);
    return nurs_enc_add_record(&c->enc, t, NULL, NULL, vals);
}

static void add_stats(struct nurs_collector *c)
{
    add_options_record(c, &c->conf->stats);
    if (c->conf->reliability.n)
        add_options_record(c, &c->conf->reliability);
}

static void put_templates(struct nurs_collector *c)
{
    /* Withdrawals are for transports that keep state (RFC 7011 8.1: never
     * over UDP, where templates simply expire). */
    if (c->conf->version == NURS_IPFIX && c->transport != NURS_TRANSPORT_UDP) {
        for (int i = 0; i < c->n_withdraw; i++) {
            if (!nurs_enc_withdraw_template(&c->enc, c->withdraw[i], false)) {
                ship(c);
                begin(c);
                nurs_enc_withdraw_template(&c->enc, c->withdraw[i], false);
            }
        }
    }
    c->n_withdraw = 0;
    for (int i = 0; i < c->conf->n_templates; i++)
        add_template(c, &c->conf->templates[i]);
    add_template(c, &c->conf->stats);
    if (c->conf->reliability.n)
        add_template(c, &c->conf->reliability);
    c->stats.templates++;
}

static void start_message(struct nurs_collector *c)
{
    begin(c);
    uint64_t now = realtime_ms();
    if (c->transport == NURS_TRANSPORT_UDP &&
        (c->packets_since_templates >= c->conf->refresh_packets ||
         now - c->templates_sent_ms >= c->conf->refresh_ms))
        c->templates_due = true;
    if (now - c->stats_sent_ms >= c->conf->refresh_ms)
        c->stats_due = true;
    /* A TCP collector gets templates when it connects. */
    bool tcp_down = c->transport == NURS_TRANSPORT_TCP && c->tcp.state != NURS_TCP_UP;
    if (c->templates_due && !tcp_down) {
        c->templates_due = false;
        c->stats_due = true;
        c->templates_sent_ms = now;
        c->packets_since_templates = 0;
        put_templates(c);
    }
    if (c->stats_due && !tcp_down) {
        c->stats_due = false;
        c->stats_sent_ms = now;
        add_stats(c);
    }
}

size_t nurs_collector_templates_message(struct nurs_collector *c, uint8_t *buf, size_t cap,
                                        struct nurs_msg_tally *tally)
{
    struct nurs_enc e;
    nurs_enc_begin(&e, c->conf->version, buf, cap, c->conf->uptime_base_ms);
    for (int i = 0; i < c->conf->n_templates; i++)
        if (!nurs_enc_add_template(&e, &c->conf->templates[i]))
            return 0;
    const struct nurs_template *opts[] = {&c->conf->stats, &c->conf->reliability};
    for (int i = 0; i < 2; i++)
        if (opts[i]->n && !nurs_enc_add_template(&e, opts[i]))
            return 0;
    struct nurs_fvalue vals[NURS_TEMPLATE_MAX];
    for (int i = 0; i < 2; i++) {
        if (!opts[i]->n)
            continue;
        stats_values(c, opts[i], vals);
        nurs_enc_add_record(&e, opts[i], NULL, NULL, vals);
    }
    c->templates_due = false;
    c->n_withdraw = 0;
    c->stats.templates++;
    c->stats_sent_ms = c->templates_sent_ms = realtime_ms();
    size_t len;
    finish(c, &e, &len);
    *tally = e.tally;
    return len;
}

bool nurs_collector_add(struct nurs_collector *c, const struct nurs_template *t,
                        const struct nurs_flow *fwd, const struct nurs_flow *rev,
                        const struct nurs_fvalue *vals)
{
    if (!c->open)
        start_message(c);
    if (nurs_enc_add_record(&c->enc, t, fwd, rev, vals))
        return true;
    ship(c);
    start_message(c);
    if (nurs_enc_add_record(&c->enc, t, fwd, rev, vals))
        return true;
    const struct nurs_msg_tally one = {.records = 1, .flows = 1};
    nurs_collector_lost(c, &one, 0, "record larger than a message");
    return false;
}

void nurs_collector_flush(struct nurs_collector *c)
{
    /* An exporter with no flows to send still tells what it lost, every
     * refresh interval. */
    if (!c->open && !c->closing && c->conf->reliability.n &&
        realtime_ms() - c->stats_sent_ms >= c->conf->refresh_ms &&
        (c->transport != NURS_TRANSPORT_TCP || c->tcp.state == NURS_TCP_UP))
        start_message(c);
    ship(c);
    nurs_collector_send_batch(c);
    if (c->transport == NURS_TRANSPORT_FILE)
        nurs_file_flush(c);
}

void nurs_collector_templates_changed(struct nurs_collector *c, const uint16_t *withdrawn,
                                      int n_withdrawn)
{
    nurs_collector_flush(c);
    for (int i = 0; i < n_withdrawn && c->n_withdraw < (int)(sizeof c->withdraw / sizeof *c->withdraw); i++)
        c->withdraw[c->n_withdraw++] = withdrawn[i];
    c->templates_due = true;
}

/* ---- opening and closing ---- */

void nurs_collector_refresh(struct nurs_collector *c) { nurs_name_resolve(c); }

void nurs_collector_reopen(struct nurs_collector *c)
{
    if (c->transport != NURS_TRANSPORT_FILE)
        return;
    ship(c);
    nurs_file_reopen(c);
}

int nurs_udp_open(struct nurs_collector *c, char *err, size_t errlen)
{
    c->fd = socket(c->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int sndbuf = 4 << 20;
    setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    /* Connected: the kernel reports a collector that is not listening. */
    if (connect(c->fd, (struct sockaddr *)&c->addr, c->addrlen) < 0) {
        snprintf(err, errlen, "%s: %s", c->spec, strerror(errno));
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    c->stats.connects++;
    return 0;
}

/* "udp://", "tcp://", "file://" or nothing (UDP); then "host:port",
 * "[v6]:port", "host" (default port). */
static int parse_spec(struct nurs_collector *c, const char *spec, char *host, size_t hostlen,
                      char *port, size_t portlen, char *err, size_t errlen)
{
    const char *rest = spec;
    c->transport = NURS_TRANSPORT_UDP;
    if (strncmp(spec, "udp://", 6) == 0) {
        rest = spec + 6;
    } else if (strncmp(spec, "tcp://", 6) == 0) {
        c->transport = NURS_TRANSPORT_TCP;
        rest = spec + 6;
    } else if (strncmp(spec, "file:", 5) == 0) {
        c->transport = NURS_TRANSPORT_FILE;
        rest = spec + 5;
        if (strncmp(rest, "//", 2) == 0)
            rest += 2;
        if (!*rest) {
            snprintf(err, errlen, "collector '%s': no file path", spec);
            return -1;
        }
        c->path = strdup(rest);
        return c->path ? 0 : -1;
    } else if (strstr(spec, "://")) {
        snprintf(err, errlen, "collector '%s': unknown transport (udp://, tcp://, file://)", spec);
        return -1;
    }
    const char *colon;
    size_t hlen;
    if (*rest == '[') {
        const char *close_br = strchr(rest, ']');
        if (!close_br) {
            snprintf(err, errlen, "collector '%s': missing ']'", spec);
            return -1;
        }
        hlen = (size_t)(close_br - rest - 1);
        if (hlen >= hostlen)
            goto too_long;
        memcpy(host, rest + 1, hlen);
        host[hlen] = '\0';
        colon = close_br[1] == ':' ? close_br + 1 : NULL;
        if (close_br[1] && !colon) {
            snprintf(err, errlen, "collector '%s': expected ':port' after ']'", spec);
            return -1;
        }
    } else {
        colon = strrchr(rest, ':');
        if (colon && strchr(rest, ':') != colon) {
            snprintf(err, errlen, "collector '%s': write IPv6 addresses in brackets, [%s]:port",
                     spec, rest);
            return -1;
        }
        hlen = colon ? (size_t)(colon - rest) : strlen(rest);
        if (hlen >= hostlen)
            goto too_long;
        memcpy(host, rest, hlen);
        host[hlen] = '\0';
    }
    if (!*host) {
        snprintf(err, errlen, "collector '%s': no host", spec);
        return -1;
    }
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (*end || p < 1 || p > 65535) {
            snprintf(err, errlen, "collector '%s': bad port", spec);
            return -1;
        }
        snprintf(port, portlen, "%ld", p);
    } else {
        snprintf(port, portlen, "%d", c->conf->version == NURS_IPFIX ? 4739 : 2055);
    }
    return 0;
too_long:
    snprintf(err, errlen, "collector '%s': host name too long", spec);
    return -1;
}

static void free_collector(struct nurs_collector *c)
{
    nurs_name_free(c);
    free(c->slots);
    free(c->spec);
    free(c->path);
    free(c);
}

static size_t message_size(const struct nurs_collector *c)
{
    const struct nurs_export_conf *conf = c->conf;
    size_t size = conf->message_size;
    if (!size) {
        if (c->transport == NURS_TRANSPORT_UDP) {
            /* IP and UDP headers: the message fills the rest of the MTU. */
            /* A name not resolved yet may be IPv6: the larger overhead. */
            size_t overhead = c->addr.ss_family == AF_INET ? 28 : 48;
            size = conf->mtu > overhead ? conf->mtu - overhead : 512;
        } else {
            size = DEFAULT_STREAM_MESSAGE;
        }
    }
    size_t max = c->transport == NURS_TRANSPORT_UDP ? 65507 : 65535;
    return size > max ? max : size;
}

struct nurs_collector *nurs_collector_new(uv_loop_t *loop, const char *spec,
                                          const struct nurs_export_conf *conf, bool check_only,
                                          char *err, size_t errlen)
{
    struct nurs_collector *c = calloc(1, sizeof *c);
    if (!c || !(c->spec = strdup(spec))) {
        free(c);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->loop = loop;
    c->conf = conf;
    c->fd = -1;
    c->error_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 3);
    for (int i = 0; i < UDP_BATCH; i++) {
        c->mmsg[i].msg_hdr.msg_iov = &c->iov[i];
        c->mmsg[i].msg_hdr.msg_iovlen = 1;
    }
    c->templates_due = c->stats_due = true;
    char host[256], port[16];
    if (parse_spec(c, spec, host, sizeof host, port, sizeof port, err, errlen) < 0)
        goto fail;
    if (c->transport == NURS_TRANSPORT_TCP && conf->version == NURS_NETFLOW9) {
        snprintf(err, errlen, "collector '%s': NetFlow v9 goes over UDP; use IPFIX for TCP", spec);
        goto fail;
    }
    if (c->transport == NURS_TRANSPORT_FILE && conf->version == NURS_NETFLOW9) {
        snprintf(err, errlen, "collector '%s': files are IPFIX (RFC 5655); NetFlow v9 has none",
                 spec);
        goto fail;
    }
    if (c->transport != NURS_TRANSPORT_FILE &&
        nurs_name_init(c, host, port, check_only, err, errlen) < 0)
        goto fail;
    c->cap = message_size(c);
    int slots = c->transport == NURS_TRANSPORT_UDP ? UDP_BATCH : 1;
    if (!(c->buf = c->slots = malloc((size_t)slots * c->cap))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (check_only && c->transport == NURS_TRANSPORT_FILE) {
        /* Nothing opened, but what would wait or be refused is said. */
        char waits[512];
        nurs_stream_check(c->path, waits, sizeof waits);
        if (*waits)
            nurs_warn("collector %s: %s", spec, waits);
        if (nurs_safe_check_existing(c->path, &conf->file, err, errlen) < 0)
            goto fail;
    }
    if (check_only)
        return c;
    switch (c->transport) {
    case NURS_TRANSPORT_UDP:
        if (c->resolved && nurs_udp_open(c, err, errlen) < 0)
            goto fail;
        break;
    case NURS_TRANSPORT_FILE:
        if (nurs_file_open(c, err, errlen) < 0)
            goto fail;
        break;
    case NURS_TRANSPORT_TCP:
        if (c->resolved)
            nurs_tcp_start(c);
        break;
    }
    nurs_name_resolve(c);
    return c;
fail:
    free_collector(c);
    return NULL;
}

static void finish_close(void *arg)
{
    struct nurs_collector *c = arg;
    void (*done)(void *) = c->done;
    void *done_arg = c->done_arg;
    free_collector(c);
    if (done)
        done(done_arg);
}

void nurs_collector_close(struct nurs_collector *c, void (*done)(void *arg), void *arg)
{
    nurs_collector_flush(c);
    c->closing = true;
    c->done = done;
    c->done_arg = arg;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    nurs_file_close(c);
    nurs_closer_begin(&c->closer, finish_close, c);
    nurs_name_close(c);
    if (c->transport == NURS_TRANSPORT_TCP)
        nurs_tcp_close(c);
    nurs_closer_end(&c->closer);
}
