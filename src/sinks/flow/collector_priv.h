/* Internals shared by the collector's stream (collector.c) and its TCP
 * transport (collector_tcp.c). */
#ifndef NURS_SINKS_FLOW_COLLECTOR_PRIV_H
#define NURS_SINKS_FLOW_COLLECTOR_PRIV_H

#include <sys/socket.h>

#include "core/closer.h"
#include "core/outfile.h"
#include "core/resolve.h"
#include "core/stream.h"
#include "sinks/flow/collector.h"

/* Finished UDP messages wait for one sendmmsg until this many are ready or
 * the loop has handled what woke it up. */
#define UDP_BATCH 32

/* A finished message waiting for (or being written to) a TCP collector. */
struct nurs_qmsg {
    struct nurs_qmsg *next;
    uv_write_t req;
    struct nurs_collector *c;
    struct nurs_msg_tally tally;
    size_t len;
    uint8_t data[];
};

enum nurs_tcp_state { NURS_TCP_DOWN, NURS_TCP_CONNECTING, NURS_TCP_UP, NURS_TCP_CLOSING };

struct nurs_tcp {
    bool started; /* timers initialized (not under --check) */
    uv_tcp_t handle;
    uv_connect_t connect_req;
    uv_timer_t retry;
    bool handle_open; /* handle initialized and not yet closed */
    enum nurs_tcp_state state;
    unsigned backoff_ms; /* the wait after the next failure */
    unsigned delay_ms;   /* the wait before the attempt now scheduled */
    uint64_t up_since_ms;
    bool failing;        /* the last attempt failed: the next failure is not logged */
    uint64_t resets;     /* connections lost once up */
    struct nurs_qmsg *head, *tail; /* waiting for a connection */
    size_t queued_bytes;
    size_t inflight_bytes; /* handed to libuv, not yet written */
    int inflight;
    uv_timer_t linger; /* bounds how long closing waits for the queue */
    int last_error;
};

/* A file or a FIFO (collector_file.c). */
struct nurs_file_target {
    struct nurs_outfile out;
    bool open; /* out is open */
    struct nurs_stream *stream;
};

/* A collector given by host name (collector_name.c). */
struct nurs_collector_name {
    char *host, *port; /* NULL: a numeric address */
    struct nurs_resolve *resolving;
    uv_timer_t retry;
    bool failing;
    uint64_t failures;
};

struct nurs_collector {
    uv_loop_t *loop;
    const struct nurs_export_conf *conf;
    enum nurs_transport transport;
    char *spec;
    char *path; /* files */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    bool resolved; /* addr holds the collector's address */
    struct nurs_collector_name name;
    int fd; /* UDP socket */
    struct nurs_tcp tcp;
    struct nurs_file_target file;

    uint8_t *slots; /* UDP: UDP_BATCH message buffers, sent with one sendmmsg */
    uint8_t *buf;   /* the slot of the message being filled */
    size_t cap;
    struct mmsghdr mmsg[UDP_BATCH];
    struct iovec iov[UDP_BATCH];
    struct nurs_msg_tally batch_tally[UDP_BATCH];
    int batched;
    struct nurs_enc enc;
    bool open; /* a message is being filled */
    uint32_t sequence;
    uint64_t packets_since_templates;
    uint64_t templates_sent_ms, stats_sent_ms;
    bool templates_due, stats_due;
    uint16_t withdraw[64];
    int n_withdraw;

    struct nurs_collector_stats stats;
    struct nurs_ratelimit error_rl;
    bool closing;
    void (*done)(void *arg);
    void *done_arg;
    struct nurs_closer closer; /* frees it once its handles are closed */
};

/* Puts a finished message on the wire now: patches its sequence number
 * (they count what is sent, in the order it is sent) and counts it. */
void nurs_collector_stamp(struct nurs_collector *c, uint8_t *msg, uint32_t data_records);
/* The flows of a message that could not be sent. */
void nurs_collector_lost(struct nurs_collector *c, const struct nurs_msg_tally *t, int err,
                         const char *what);
/* A message put on the wire. */
void nurs_collector_counted(struct nurs_collector *c, size_t len, const struct nurs_msg_tally *t);
/* Builds a message holding only templates (and statistics), for a new TCP
 * connection; returns its length (0 if none fits). */
size_t nurs_collector_templates_message(struct nurs_collector *c, uint8_t *buf, size_t cap,
                                        struct nurs_msg_tally *tally);

/* UDP transport: a socket connected to addr. */
int nurs_udp_open(struct nurs_collector *c, char *err, size_t errlen);

/* Host names */
int nurs_name_init(struct nurs_collector *c, const char *host, const char *port, bool check_only,
                   char *err, size_t errlen);
void nurs_name_resolve(struct nurs_collector *c);
void nurs_name_close(struct nurs_collector *c);
void nurs_name_free(struct nurs_collector *c);

/* File transport */
int nurs_file_open(struct nurs_collector *c, char *err, size_t errlen);
void nurs_file_send(struct nurs_collector *c, uint8_t *msg, size_t len,
                    const struct nurs_msg_tally *tally);
void nurs_file_reopen(struct nurs_collector *c);
void nurs_file_flush(struct nurs_collector *c);
void nurs_file_close(struct nurs_collector *c);
const char *nurs_file_state(const struct nurs_collector *c);

/* TCP transport */
void nurs_tcp_start(struct nurs_collector *c);
void nurs_tcp_send(struct nurs_collector *c, const uint8_t *msg, size_t len,
                   const struct nurs_msg_tally *tally);
void nurs_tcp_close(struct nurs_collector *c);
const char *nurs_tcp_state_name(const struct nurs_collector *c);

#endif
