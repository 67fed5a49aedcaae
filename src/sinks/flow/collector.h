/* One collector of an exporter: a transport (UDP, TCP with reconnect and a
 * bounded queue, or an RFC 5655 file) and the message stream sent over it
 * (the message being filled, its sequence numbers, when templates are due).
 * Each collector has its own stream, so that every transport session gets
 * the templates and sequence numbers its protocol rules ask for. */
#ifndef NURS_SINKS_FLOW_COLLECTOR_H
#define NURS_SINKS_FLOW_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/log.h"
#include "core/resource.h"
#include "core/safe_open.h"
#include "sinks/flow/encoder.h"

/* What was lost before the collectors: the exporter counts it, every
 * collector reports it in its reliability statistics. */
struct nurs_export_losses {
    uint64_t kernel_flows;    /* connections that ended inside a kernel overrun (resync) */
    uint64_t kernel_overruns; /* overruns of the sources feeding the exporter */
    uint64_t ignored_packets, ignored_octets; /* of flows no template took */
};

/* What the exporter shares with its collectors; they read it when they
 * build a message, so changes (a reload's templates) apply at once. */
struct nurs_export_conf {
    enum nurs_flow_version version;
    uint32_t domain;
    uint64_t uptime_base_ms;
    const struct nurs_template *templates;
    int n_templates;
    struct nurs_template stats;       /* options template: RFC 7011 4.1 statistics */
    struct nurs_template reliability; /* options template: RFC 7011 4.3 reliability */
    const struct nurs_export_losses *losses;
    unsigned refresh_packets;   /* UDP: templates again after this many messages */
    uint64_t refresh_ms;        /* templates (UDP) and statistics (all) this often */
    size_t message_size;        /* 0: from the MTU */
    unsigned mtu;
    size_t queue_max;           /* TCP: bytes waiting for the collector; a FIFO's reader */
    struct nurs_file_opts file; /* file:// */
    struct nurs_counters *counters; /* the exporter's: records lost count as dropped */
};

enum nurs_transport { NURS_TRANSPORT_UDP, NURS_TRANSPORT_TCP, NURS_TRANSPORT_FILE };

struct nurs_collector_stats {
    uint64_t messages;     /* messages put on the wire (or the file) */
    uint64_t bytes;
    uint64_t records;      /* data records in those messages */
    uint64_t flows;        /* ...of them flow records */
    uint64_t lost_records; /* flow records in messages that could not be sent */
    uint64_t lost_packets, lost_octets; /* ...their packets and octets */
    uint64_t lost_messages;
    uint64_t send_errors;
    uint64_t connects; /* TCP connections made, files opened */
    uint64_t templates; /* template sets sent */
};

struct nurs_collector;

/* Parses "host:port", "[v6addr]:port", "udp://...", "tcp://..." or
 * "file:///path" and opens the transport; host names are resolved in the
 * background (collector_name.c), TCP connects in the background. NULL
 * with the reason in err. */
struct nurs_collector *nurs_collector_new(uv_loop_t *loop, const char *spec,
                                          const struct nurs_export_conf *conf, bool check_only,
                                          char *err, size_t errlen);
const char *nurs_collector_spec(const struct nurs_collector *c);
enum nurs_transport nurs_collector_transport(const struct nurs_collector *c);
const struct nurs_collector_stats *nurs_collector_stats(const struct nurs_collector *c);
/* "connected", "connecting", "waiting to reconnect", "open", "error"... */
const char *nurs_collector_state(const struct nurs_collector *c);
size_t nurs_collector_queued_bytes(const struct nurs_collector *c);

/* Adds a data record to the message being filled, sending the message
 * first when full. False if the record cannot fit any message. */
bool nurs_collector_add(struct nurs_collector *c, const struct nurs_template *t,
                        const struct nurs_flow *fwd, const struct nurs_flow *rev,
                        const struct nurs_fvalue *vals);
/* Sends the message being filled, if it holds anything, and every
 * finished one. */
void nurs_collector_flush(struct nurs_collector *c);
/* Sends the finished UDP messages that wait for a batch (the loop calls it
 * once per turn, so none waits longer). */
void nurs_collector_send_batch(struct nurs_collector *c);
/* Templates changed: send the new set before the next record (and, on TCP
 * and files, withdraw the ids no longer used). */
void nurs_collector_templates_changed(struct nurs_collector *c, const uint16_t *withdrawn,
                                      int n_withdrawn);
/* A reload kept the collector: its host name is resolved again, the old
 * address in use until the new one comes. */
void nurs_collector_refresh(struct nurs_collector *c);
/* Files: reopen (log rotation); the new file starts with templates. */
void nurs_collector_reopen(struct nurs_collector *c);
/* Flushes, then closes; `done` runs once every handle is released (TCP
 * gets a bounded time to hand over what is queued). */
void nurs_collector_close(struct nurs_collector *c, void (*done)(void *arg), void *arg);

#endif
