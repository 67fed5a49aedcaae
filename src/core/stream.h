/* A stream of whole records to readers that may be slow, absent or not
 * allowed: a FIFO (tcpdump -r, snort -r, jq), standard output when it is
 * a pipe or a socket, a TCP listener (several readers: wireshark -k -i
 * TCP@host:port), a unix socket listener, or a TCP connection to a
 * collector. Each reader gets the stream's header first (a pcap file
 * header; nothing for JSON lines), then whole records. Nothing blocks
 * the loop: sockets and pipes are non-blocking, each reader has a bounded
 * buffer, and what does not fit is dropped and counted. A FIFO without a
 * reader and a collector that is down are retried on a timer; a host
 * name is resolved off the loop (core/resolve.h).
 *
 * Listeners have an owner: a reader on a unix socket is known by its
 * credentials (SO_PEERCRED), a TCP reader on this host by the uid of its
 * socket (the `peer_uid` hook: sock_diag); only root, the daemon's own
 * user, `allow_uids` and members of `allow_gids` are let in, each uid
 * takes at most `max_per_uid` of the `max_readers` slots, and a reader
 * whose buffer has not moved for `reader_timeout` is evicted. Readers
 * from other hosts need `allow_remote`. */
#ifndef NURS_CORE_STREAM_H
#define NURS_CORE_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>
#include <uv.h>

#include "core/safe_open.h"

struct nurs_stream;

#define NURS_STREAM_MAX_IDS 16
#define NURS_STREAM_MAX_HEADER 64
#define NURS_STREAM_DEFAULT_TIMEOUT 10.0 /* s */

struct nurs_stream_access {
    uint32_t uids[NURS_STREAM_MAX_IDS];
    uint32_t gids[NURS_STREAM_MAX_IDS];
    int n_uids, n_gids;
    bool allow_remote; /* TCP readers whose socket is not on this host */
};

/* The uid owning the socket at the other end of a TCP connection on this
 * host (local/peer as this end sees them); -1 when none is (a remote
 * peer) or it cannot be told. */
typedef int (*nurs_stream_peer_uid_fn)(const struct sockaddr *local, const struct sockaddr *peer,
                                       uint32_t *uid);

struct nurs_stream_opts {
    /* "-", "tcp://HOST:PORT" (listen, numeric address), "unix:///PATH"
     * (listen), "tcp-connect://HOST:PORT", or the path of a FIFO (made
     * when mkfifo and missing). */
    const char *target;
    size_t buffer; /* bytes queued per reader at most */
    int max_readers;
    int max_per_uid;       /* 0: max_readers / 4, at least 1 */
    double reader_timeout; /* s a reader may leave a write waiting; 0: the default */
    bool mkfifo;
    struct nurs_file_opts file; /* FIFO and unix socket mode, foreign FIFOs */
    int64_t socket_gid;         /* unix socket's group; -1: the daemon's */
    struct nurs_stream_access access;
    const void *header; /* copied; at most NURS_STREAM_MAX_HEADER bytes */
    size_t header_len;
    nurs_stream_peer_uid_fn peer_uid;
    /* Optional: a reader was added, after the header: what is written
     * now reaches it first (a format with state sends it again). */
    void (*on_reader)(void *ctx);
    /* Optional: standard output's reader went away (EPIPE). */
    void (*on_stdout_closed)(void *ctx);
    void *ctx;
};

struct nurs_stream_stats {
    uint64_t readers;     /* connected now */
    uint64_t connects;    /* readers that came (or connections made) */
    uint64_t disconnects; /* readers that went away */
    uint64_t drops;       /* records a reader's full buffer (or a down collector) lost */
    uint64_t unread;      /* records written while no reader was there to read */
    uint64_t refused;     /* readers turned away: not allowed, or no slot */
    uint64_t evicted;     /* readers that did not read for reader_timeout */
    uint64_t waits;       /* FIFO opens that found no reader */
};

/* True if target names a stream rather than a regular file. */
bool nurs_stream_is_target(const char *target, bool mkfifo);
/* For --check: a line saying what the stream may wait for (a FIFO's
 * reader), or "" when it would start at once. Opens nothing. */
void nurs_stream_check(const char *target, char *out, size_t len);

struct nurs_stream *nurs_stream_open(uv_loop_t *loop, const char *name,
                                     const struct nurs_stream_opts *o, char *err, size_t errlen);
/* New limits and access rules (a kept sink on reload); readers no longer
 * allowed are dropped. The hooks and the target stay. */
void nurs_stream_configure(struct nurs_stream *st, const struct nurs_stream_opts *o);
/* Queues `records` whole records (len bytes) for every reader. */
void nurs_stream_write(struct nurs_stream *st, const void *data, size_t len, uint64_t records);
/* Starts writing what readers have queued (they take it without the loop
 * waiting). */
void nurs_stream_flush(struct nurs_stream *st);
bool nurs_stream_has_readers(const struct nurs_stream *st);
const struct nurs_stream_stats *nurs_stream_stats(const struct nurs_stream *st);
/* Closes every handle and frees the stream once libuv let them go. What
 * readers have not taken yet is lost, and counted in drops. */
void nurs_stream_close(struct nurs_stream *st);

#endif
