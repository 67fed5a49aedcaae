/* A librdkafka producer on the libuv loop: messages are handed over
 * without blocking (a full queue refuses and counts), delivery reports and
 * librdkafka's logs are served on the loop when librdkafka signals a pipe
 * (uv_poll), and closing flushes with a bounded wait on a worker thread. */
#ifndef NURS_SINKS_KAFKA_PRODUCER_H
#define NURS_SINKS_KAFKA_PRODUCER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/resource.h"

#define NURS_KAFKA_MAX_PROPS 64

struct nurs_kafka_producer_opts {
    const char *brokers;
    const char *topic;
    /* librdkafka properties (global or topic), name and value, set in
     * this order after the producer's own. */
    const char *props[NURS_KAFKA_MAX_PROPS][2];
    int n_props;
    double flush_timeout_s; /* the longest wait for deliveries at close */
    const char *name;       /* for log messages */
    /* Also counted here, when not NULL: delivered (acknowledged
     * messages), errors (failed deliveries), dropped (refused messages). */
    struct nurs_counters *counters;
};

struct nurs_kafka_stats {
    uint64_t produced;   /* handed to librdkafka */
    uint64_t delivered;  /* acknowledged by the broker (delivery report) */
    uint64_t failed;     /* delivery failed (timed out, refused, purged at close) */
    uint64_t queue_full; /* refused: the queue was at its bound */
    uint64_t refused;    /* refused for another reason (too large, unknown topic...) */
    uint64_t unsent;     /* not delivered within the flush timeout at close */
};

struct nurs_kafka_producer;

/* "host:port,host:port" (ports optional, IPv6 in brackets, a
 * PLAINTEXT:// SSL:// SASL_PLAINTEXT:// SASL_SSL:// prefix allowed);
 * 0, or -1 with a message. */
int nurs_kafka_brokers_check(const char *brokers, char *err, size_t errlen);
/* Checks the options as librdkafka would take them, starting nothing
 * (for --check and before a producer is made); 0 or -1 with a message. */
int nurs_kafka_producer_check(const struct nurs_kafka_producer_opts *o, char *err,
                              size_t errlen);
struct nurs_kafka_producer *nurs_kafka_producer_new(uv_loop_t *loop,
                                                    const struct nurs_kafka_producer_opts *o,
                                                    char *err, size_t errlen);
/* Queues one message (payload and key are copied). 0, or -1 when refused
 * (counted in queue_full or refused). */
int nurs_kafka_producer_send(struct nurs_kafka_producer *p, const void *key, size_t key_len,
                             const void *payload, size_t len);
/* Waits (blocking, at most the flush timeout) until everything queued is
 * delivered or failed; for the exit. Counts what is left in unsent. */
void nurs_kafka_producer_flush(struct nurs_kafka_producer *p);
/* Messages queued or in flight. */
uint64_t nurs_kafka_producer_in_flight(const struct nurs_kafka_producer *p);
const struct nurs_kafka_stats *nurs_kafka_producer_stats(const struct nurs_kafka_producer *p);
/* Stops serving on the loop, then flushes (bounded, unless flushed
 * already) and destroys the producer on a worker thread; done(arg) runs
 * on the loop when it is gone. */
void nurs_kafka_producer_close(struct nurs_kafka_producer *p, void (*done)(void *), void *arg);

#endif
