/* Host names resolved off the loop, with a time limit. getaddrinfo(3)
 * blocks for as long as the resolver takes (an unresponsive name server:
 * 10 s and more), so it runs in a thread of its own, detached: neither
 * the loop nor the daemon's exit waits for it. The callback runs on the
 * loop once: with the first address, with the resolver's error, or with
 * UV_ETIMEDOUT when the time limit came first (a late answer is then
 * dropped). Names that are numeric addresses are answered at once, with
 * no thread. */
#ifndef NURS_CORE_RESOLVE_H
#define NURS_CORE_RESOLVE_H

#include <sys/socket.h>

#include <uv.h>

#define NURS_RESOLVE_TIMEOUT_MS 5000

struct nurs_resolve;

/* status: 0, or a libuv error (UV_EAI_NONAME, UV_ETIMEDOUT...); addr is
 * NULL unless status is 0. */
typedef void (*nurs_resolve_cb)(void *ctx, int status, const struct sockaddr *addr,
                                socklen_t addrlen);

/* Returns the request (cancel it with nurs_resolve_cancel until the
 * callback ran), or NULL with cb already called (a numeric address, or
 * out of memory). */
struct nurs_resolve *nurs_resolve_start(uv_loop_t *loop, const char *host, const char *port,
                                        int socktype, unsigned timeout_ms, nurs_resolve_cb cb,
                                        void *ctx);
/* The callback will not run; what the thread finds later is dropped. */
void nurs_resolve_cancel(struct nurs_resolve *r);

/* A numeric address (no lookup ever): 0 with *out filled, or -1. */
int nurs_resolve_numeric(const char *host, const char *port, int socktype,
                         struct sockaddr_storage *out, socklen_t *outlen);

/* Blocking, for --check only (a one-shot command that reports the name). */
int nurs_resolve_now(const char *host, const char *port, int socktype,
                     struct sockaddr_storage *out, socklen_t *outlen);

#endif
