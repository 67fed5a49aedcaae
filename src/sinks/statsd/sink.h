/* The statsd push: a UDP socket (libuv, non-blocking, connected so that
 * the kernel reports a port where nothing listens) to one address; every
 * `interval` the daemon's own counters (sinks/statsd/push.h) and the
 * lines the script gave since, batched newline-separated into datagrams
 * of at most max_packet bytes. A datagram also goes when it is full. A
 * send that fails (ECONNREFUSED, EAGAIN, no address yet) loses that
 * datagram, counted; nothing waits. A host name is resolved off the loop
 * (core/resolve.h), again on reload while the old address stays in use.
 * A resource: a reloaded script that names the same host and port keeps
 * the socket and the last values of the counts. */
#ifndef NURS_SINKS_STATSD_SINK_H
#define NURS_SINKS_STATSD_SINK_H

#include <stdbool.h>
#include <stddef.h>

#include "core/resource.h"
#include "sinks/statsd/line.h"

struct nurs_script;
struct nurs_statsd;

#define NURS_STATSD_DEFAULT_HOST "127.0.0.1"
#define NURS_STATSD_DEFAULT_PORT 8125
#define NURS_STATSD_DEFAULT_PACKET 1432 /* fits a 1500-byte MTU with IPv6 and UDP headers */

struct nurs_statsd_opts {
    const char *host;
    unsigned port;
    const char *prefix;
    double interval; /* seconds */
    enum nurs_statsd_tags tags;
    size_t max_packet;
    bool counters; /* push the daemon's own counters */
    const char *name;
};

#define NURS_STATSD_OPTS_DEFAULT                                                                \
    {                                                                                           \
        .host = NURS_STATSD_DEFAULT_HOST, .port = NURS_STATSD_DEFAULT_PORT, .prefix = "nurs.",  \
        .interval = 10, .tags = NURS_STATSD_TAGS_NONE,                                          \
        .max_packet = NURS_STATSD_DEFAULT_PACKET, .counters = true                              \
    }

/* The push to the same host and port that the running script owns,
 * claimed for the loading one; else a new one. NULL with the reason in
 * err (under --check, a host name that does not resolve). */
struct nurs_statsd *nurs_statsd_get(struct nurs_script *s, const struct nurs_statsd_opts *o,
                                    char *err, size_t errlen);
struct nurs_resource *nurs_statsd_resource(struct nurs_statsd *m);
struct nurs_statsd *nurs_statsd_of(struct nurs_resource *r);

/* A script's value: name (checked by the caller), tags (keys checked,
 * values made safe), value as text and its type ("c", "g", "ms", "s"),
 * formatted with the settings of `script` and added to the datagram being
 * filled. Returns false when the line is longer than max_packet (counted:
 * too_long). */
bool nurs_statsd_add(struct nurs_statsd *m, const struct nurs_script *script, const char *name,
                     const struct nurs_statsd_tag *tags, int n_tags, const char *value,
                     const char *type);

#endif
