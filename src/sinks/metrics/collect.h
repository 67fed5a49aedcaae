/* The whole of a scrape: the counters of every source and sink with
 * their labels, the kernel's and the process's figures, build info and
 * the metrics the script defined, written with the exposition writer. */
#ifndef NURS_SINKS_METRICS_COLLECT_H
#define NURS_SINKS_METRICS_COLLECT_H

#include "sinks/metrics/expo.h"
#include "sinks/metrics/probe.h"
#include "sinks/metrics/registry.h"

struct nurs_host;

/* probe may be NULL (nothing read yet); reg may be NULL. Returns 0, or -1
 * when out of memory. */
int nurs_metrics_collect(struct nurs_expo *w, const struct nurs_host *h,
                         const struct nurs_probe *probe, const struct nurs_mregistry *reg);

#endif
