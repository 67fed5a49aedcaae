/* The metrics endpoint: an HTTP server (libmicrohttpd, driven from the
 * libuv loop through its epoll descriptor) answering GET and HEAD
 * /metrics with the Prometheus text format or OpenMetrics. A resource:
 * a reloaded script that declares the same address again keeps the
 * listening socket and its own metrics' values.
 *
 * Bounded: at most max_connections at once and max_per_ip from one
 * address (more are closed at once, counted), idle connections closed
 * after `timeout`, request headers at most max_request bytes, an
 * exposition at most max_response bytes; sockets are non-blocking and
 * a response is written as the socket takes it, so a slow reader holds
 * only its own connection. The figures read from /proc are read on a
 * worker thread at most once per probe_interval, while the scrape waits
 * (at most NURS_METRICS_PROBE_WAIT_MS). */
#ifndef NURS_SINKS_METRICS_SERVER_H
#define NURS_SINKS_METRICS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "core/resource.h"
#include "sinks/metrics/registry.h"

struct nurs_script;
struct nurs_metrics;

#define NURS_METRICS_DEFAULT_LISTEN "127.0.0.1:9464"
#define NURS_METRICS_DEFAULT_PORT 9464
#define NURS_METRICS_PROBE_WAIT_MS 2000

struct nurs_metrics_opts {
    const char *listen;
    unsigned max_connections;
    unsigned max_per_ip;
    unsigned timeout_s;
    size_t max_request;
    size_t max_response;
    size_t max_series; /* default of the script's metrics */
    double probe_interval;
    const char *name;
};

#define NURS_METRICS_OPTS_DEFAULT                                                               \
    {                                                                                           \
        .listen = NURS_METRICS_DEFAULT_LISTEN, .max_connections = 16, .max_per_ip = 8,          \
        .timeout_s = 10, .max_request = 8192, .max_response = 16 << 20,                         \
        .max_series = NURS_METRICS_DEFAULT_MAX_SERIES, .probe_interval = 1.0                    \
    }

/* "HOST:PORT", "[V6]:PORT", "PORT" (loopback), "*:PORT" (every address,
 * IPv4 and IPv6), "localhost:PORT"; port 0 is any free one. Numeric
 * addresses only: nothing is resolved. Returns 0, or -1 with the reason
 * in err. */
int nurs_metrics_parse_listen(const char *text, struct sockaddr_storage *addr, socklen_t *len,
                              char *err, size_t errlen);

/* The endpoint on the same address that the running script owns, claimed
 * for the loading one (its settings apply when the load succeeds); else a
 * new one, listening now. NULL with the reason in err. */
struct nurs_metrics *nurs_metrics_get(struct nurs_script *s, const struct nurs_metrics_opts *o,
                                      char *err, size_t errlen);
struct nurs_resource *nurs_metrics_resource(struct nurs_metrics *m);
struct nurs_metrics *nurs_metrics_of(struct nurs_resource *r);
/* The script metrics of the endpoint, and whether the script defining one
 * now is the one being loaded. */
struct nurs_mregistry *nurs_metrics_registry(struct nurs_metrics *m);
/* Where it listens ("127.0.0.1:9464", "[::1]:9464"), the port chosen
 * when 0 was asked for. */
const char *nurs_metrics_address(const struct nurs_metrics *m);
bool nurs_metrics_loading(const struct nurs_metrics *m, const struct nurs_script *s);
size_t nurs_metrics_max_series(const struct nurs_metrics *m, const struct nurs_script *s);

#endif
