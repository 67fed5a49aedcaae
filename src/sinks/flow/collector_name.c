/* A collector given by host name: resolved off the loop (core/resolve.h),
 * with a time limit. Until the first answer, what would be sent is lost
 * (UDP, counted) or queued (TCP, bounded); a failure is retried. On
 * reload the name is resolved again while the old address stays in use;
 * a new address replaces it when it comes, a failure or a timeout keeps
 * it. Numeric addresses never wait; under --check the name is resolved
 * at once, to report it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "core/log.h"
#include "sinks/flow/collector_priv.h"

#define RETRY_MS 10000

static int socktype(const struct nurs_collector *c)
{
    return c->transport == NURS_TRANSPORT_TCP ? SOCK_STREAM : SOCK_DGRAM;
}

int nurs_name_init(struct nurs_collector *c, const char *host, const char *port, bool check_only,
                   char *err, size_t errlen)
{
    if (nurs_resolve_numeric(host, port, socktype(c), &c->addr, &c->addrlen) == 0) {
        c->resolved = true;
        return 0;
    }
    if (check_only) {
        int rc = nurs_resolve_now(host, port, socktype(c), &c->addr, &c->addrlen);
        if (rc < 0) {
            snprintf(err, errlen, "collector '%s': %s", c->spec, uv_strerror(rc));
            return -1;
        }
        c->resolved = true;
        return 0;
    }
    if (!(c->name.host = strdup(host)) || !(c->name.port = strdup(port))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static void on_retry(uv_timer_t *t) { nurs_name_resolve(t->data); }

/* The transport starts with the first address; a later one replaces it
 * (UDP: a new socket; TCP: the next connection uses it). */
static void use_address(struct nurs_collector *c, const struct sockaddr *sa, socklen_t len)
{
    char was[64], now[64];
    struct sockaddr_storage old = c->addr;
    bool first = !c->resolved;
    memcpy(&c->addr, sa, len);
    c->addrlen = len;
    c->resolved = true;
    nurs_sockaddr_text(&c->addr, now, sizeof now);
    if (first) {
        nurs_info("collector %s: %s is %s", c->spec, c->name.host, now);
        if (c->transport == NURS_TRANSPORT_TCP)
            nurs_tcp_start(c);
    } else if (memcmp(&old, &c->addr, sizeof old) != 0) {
        nurs_sockaddr_text(&old, was, sizeof was);
        nurs_info("collector %s: %s is now %s (was %s)", c->spec, c->name.host, now, was);
    } else {
        return;
    }
    if (c->transport == NURS_TRANSPORT_UDP) {
        char err[256];
        if (c->fd >= 0)
            close(c->fd);
        c->fd = -1;
        if (nurs_udp_open(c, err, sizeof err) < 0)
            nurs_err("collector %s: %s", c->spec, err);
    }
}

static void on_resolved(void *ctx, int status, const struct sockaddr *sa, socklen_t len)
{
    struct nurs_collector *c = ctx;
    c->name.resolving = NULL;
    if (status == 0) {
        c->name.failing = false;
        use_address(c, sa, len);
        return;
    }
    if (c->resolved) {
        char addr[64];
        nurs_sockaddr_text(&c->addr, addr, sizeof addr);
        nurs_warn("collector %s: cannot resolve %s again (%s); still sending to %s", c->spec,
                  c->name.host, uv_strerror(status), addr);
        return;
    }
    c->name.failures++;
    if (!c->name.failing)
        nurs_err("collector %s: cannot resolve %s (%s); trying again every %d s, records are "
                 "lost meanwhile",
                 c->spec, c->name.host, uv_strerror(status), RETRY_MS / 1000);
    c->name.failing = true;
    uv_timer_start(&c->name.retry, on_retry, RETRY_MS, 0);
}

void nurs_name_resolve(struct nurs_collector *c)
{
    if (!c->name.host || c->name.resolving || c->closing)
        return;
    if (c->name.retry.type == UV_UNKNOWN_HANDLE) {
        uv_timer_init(c->loop, &c->name.retry);
        c->name.retry.data = c;
        uv_unref((uv_handle_t *)&c->name.retry);
    }
    c->name.resolving = nurs_resolve_start(c->loop, c->name.host, c->name.port, socktype(c),
                                           NURS_RESOLVE_TIMEOUT_MS, on_resolved, c);
}

void nurs_name_close(struct nurs_collector *c)
{
    if (c->name.resolving)
        nurs_resolve_cancel(c->name.resolving);
    c->name.resolving = NULL;
    nurs_closer_close(&c->closer, &c->name.retry);
}

void nurs_name_free(struct nurs_collector *c)
{
    free(c->name.host);
    free(c->name.port);
}
