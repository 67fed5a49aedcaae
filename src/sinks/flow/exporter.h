/* The flow exporter: a resource holding templates (with ids that survive
 * reloads), one or several collectors, a flush timer, and what it
 * remembers of live connections. NetFlow v9 or IPFIX. */
#ifndef NURS_SINKS_FLOW_EXPORTER_H
#define NURS_SINKS_FLOW_EXPORTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/resource.h"
#include "netlink/ct_msg.h"
#include "sinks/flow/collector.h"
#include "sinks/flow/encoder.h"
#include "sinks/flow/template.h"

struct nurs_script;
struct nurs_exporter;

#define NURS_EXPORTER_MAX_COLLECTORS 8
#define NURS_EXPORTER_MAX_TEMPLATES 16
#define NURS_STATS_TEMPLATE_ID 256
#define NURS_RELIABILITY_TEMPLATE_ID 257
#define NURS_FIRST_TEMPLATE_ID 258

/* What a reloaded script may change on a kept exporter. */
struct nurs_exporter_settings {
    /* Compiled by the caller; ids are the exporter's to give. */
    struct nurs_template templates[NURS_EXPORTER_MAX_TEMPLATES];
    int n_templates;
    double flush_s;
    unsigned refresh_packets;
    double refresh_s;
    size_t queue_max;
    struct nurs_file_opts file; /* file:// collectors: mode, foreign files */
    /* ingressVRFID / egressVRFID of a zone (zones not listed: the zone) */
    struct {
        uint16_t zone;
        uint32_t vrf;
    } vrf[64];
    int n_vrf;
};

struct nurs_exporter_opts {
    enum nurs_flow_version version;
    const char *collectors[NURS_EXPORTER_MAX_COLLECTORS];
    int n_collectors;
    uint32_t domain;
    unsigned mtu;
    size_t message_size; /* 0: from the MTU (UDP), 16 KiB (TCP, files) */
    size_t state_max;
    const char *name;
    struct nurs_exporter_settings set;
};

/* The exporter with the same version, domain and collectors that the
 * running script owns, claimed for the loading one (its templates and
 * settings apply when the load succeeds); else a new one. */
struct nurs_exporter *nurs_exporter_get(struct nurs_script *s, const struct nurs_exporter_opts *o,
                                        char *err, size_t errlen);
struct nurs_resource *nurs_exporter_resource(struct nurs_exporter *e);
struct nurs_exporter *nurs_exporter_of(struct nurs_resource *r);

/* The templates in force (pending ones while the caller is still loading). */
const struct nurs_template *nurs_exporter_templates(const struct nurs_exporter *e,
                                                    const struct nurs_script *caller, int *n);
/* The template for conntrack flows of this IP version, NULL if none. */
const struct nurs_template *nurs_exporter_ct_template(const struct nurs_exporter *e,
                                                     const struct nurs_script *caller,
                                                     uint8_t ip_version);

/* Maps a conntrack record to flow records and sends them to every
 * collector; vals[0] and vals[1] (either may be NULL) override fields of
 * the original and reply direction's records. Returns records written. */
int nurs_exporter_export_ct(struct nurs_exporter *e, struct nurs_ct_msg *m,
                            const struct nurs_template *t, const struct nurs_fvalue *vals[2]);
/* Sends one record made of the given values. */
int nurs_exporter_export_values(struct nurs_exporter *e, const struct nurs_template *t,
                                const struct nurs_fvalue *vals);
void nurs_exporter_flush(struct nurs_exporter *e);

int nurs_exporter_n_collectors(const struct nurs_exporter *e);
const struct nurs_collector *nurs_exporter_collector(const struct nurs_exporter *e, int i);
enum nurs_flow_version nurs_exporter_version(const struct nurs_exporter *e);

#endif
