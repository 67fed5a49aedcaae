#include "sinks/metrics/collect.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/census.h"
#include "core/host.h"

#ifndef NURS_VERSION
#define NURS_VERSION "unknown"
#endif

/* A resource as the scrape sees it: copied once, so that families that
 * gather one counter across every resource read each resource once. A
 * worker loop's resources come from the copy the worker published, with
 * a `worker` label. */
struct snapshot {
    struct nurs_res_snap r;
    char kind[64]; /* as a metric name part */
    char worker[12];
    struct nurs_label labels[3 + NURS_MAX_RESOURCE_LABELS];
    int n_labels;
    const struct nurs_extra_counter *extra; /* the kind's own, after the common ones */
    int n_extra;
    bool written[NURS_MAX_EXTRA_COUNTERS];
};

#define N_COMMON NURS_N_COMMON

static void name_part(char *out, size_t len, const char *s)
{
    size_t i = 0;
    for (; s[i] && i + 1 < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        out[i] = ok ? c : '_';
    }
    out[i] = '\0';
}

/* Labels for s->r, taken already; worker 0: the main loop's own. */
static void label_snapshot(struct snapshot *s, int worker)
{
    const struct nurs_res_snap *r = &s->r;
    name_part(s->kind, sizeof s->kind, r->ops->kind);
    s->labels[s->n_labels++] = (struct nurs_label){"resource", r->name};
    s->labels[s->n_labels++] = (struct nurs_label){"kind", r->ops->kind};
    for (int i = 0; i < r->n_labels && i < NURS_MAX_RESOURCE_LABELS; i++)
        s->labels[s->n_labels++] = (struct nurs_label){r->labels[i].name, r->labels[i].value};
    if (worker) {
        snprintf(s->worker, sizeof s->worker, "%d", worker);
        s->labels[s->n_labels++] = (struct nurs_label){"worker", s->worker};
    }
    s->extra = r->counters + N_COMMON;
    s->n_extra = r->n_counters > N_COMMON ? r->n_counters - N_COMMON : 0;
}

static const struct {
    const char *name, *help;
} common[N_COMMON] = {
    /* In the order of nurs_resource_counters(). */
    {"nurs_resource_in",
     "Records received from the kernel (sources) or given to the sink (sinks)."},
    {"nurs_resource_delivered",
     "Records handed to every callback without error (sources) or written out (sinks)."},
    {"nurs_resource_errors", "Lua errors in callbacks (sources), write errors (sinks)."},
    {"nurs_resource_overruns",
     "Kernel receive buffer overruns (ENOBUFS): events the kernel could not queue were lost."},
    {"nurs_resource_dropped", "Records lost for any other counted reason."},
    {"nurs_resource_malformed", "Messages that failed to decode and were skipped."},
    {"nurs_resource_timeouts",
     "Calls of the script's functions stopped at their time budget (also in errors)."},
};

static void write_common(struct nurs_expo *w, const struct snapshot *s, int n)
{
    for (size_t c = 0; c < sizeof common / sizeof *common; c++) {
        nurs_expo_family(w, common[c].name, NURS_METRIC_COUNTER, common[c].help);
        for (int i = 0; i < n; i++)
            nurs_expo_uint(w, s[i].labels, s[i].n_labels, s[i].r.counters[c].value);
    }
}

/* nurs_<kind>_<name>, one family per kind and name, gathered across the
 * resources of that kind (whose lists may differ: attribution adds its
 * own to a source that has it). */
static void write_extra(struct nurs_expo *w, struct snapshot *s, int n)
{
    for (int i = 0; i < n; i++) {
        for (int e = 0; e < s[i].n_extra; e++) {
            if (s[i].written[e])
                continue;
            const char *ename = s[i].extra[e].name;
            char part[64], family[160], help[256];
            name_part(part, sizeof part, ename);
            snprintf(family, sizeof family, "nurs_%s_%s", s[i].kind, part);
            bool gauge = nurs_census_res_level(&s[i].r, N_COMMON + e);
            snprintf(help, sizeof help, "The %s %s '%s' (see nurs.counters()).", s[i].r.ops->kind,
                     gauge ? "level" : "counter", ename);
            nurs_expo_family(w, family, gauge ? NURS_METRIC_GAUGE : NURS_METRIC_COUNTER, help);
            for (int j = i; j < n; j++) {
                if (strcmp(s[j].r.ops->kind, s[i].r.ops->kind) != 0)
                    continue;
                for (int k = 0; k < s[j].n_extra; k++) {
                    if (!s[j].written[k] && strcmp(s[j].extra[k].name, ename) == 0) {
                        s[j].written[k] = true;
                        nurs_expo_uint(w, s[j].labels, s[j].n_labels, s[j].extra[k].value);
                    }
                }
            }
        }
    }
}

static void write_conntrack_tables(struct nurs_expo *w, const struct nurs_probe *p)
{
    static const struct {
        const char *name, *help;
        bool max;
    } fams[] = {
        {"nurs_conntrack_table_entries",
         "Entries in the kernel's conntrack table of the namespace a source listens in.", false},
        {"nurs_conntrack_table_limit", "The kernel's limit of that table (nf_conntrack_max).",
         true},
    };
    int ok = 0;
    for (int i = 0; i < p->n_ct; i++)
        ok += p->ct[i].ok;
    if (ok == 0)
        return;
    for (size_t f = 0; f < sizeof fams / sizeof *fams; f++) {
        nurs_expo_family(w, fams[f].name, NURS_METRIC_GAUGE, fams[f].help);
        for (int i = 0; i < p->n_ct; i++) {
            const struct nurs_probe_ct *c = &p->ct[i];
            if (c->ok)
                nurs_expo_uint(w, &(struct nurs_label){"netns", c->netns[0] ? c->netns : NULL},
                               1, fams[f].max ? c->max : c->count);
        }
    }
}

/* nurs_script_<name>_total: the running script's own counters (errors
 * and timeouts of its timer callbacks, memory refused), and its memory as
 * gauges (nurs_script_memory_bytes...): the main loop's state, then each
 * worker loop's (scripts[i], labelled with its number). */
static void write_script(struct nurs_expo *w, const struct nurs_host_snap *scripts, int n_loops)
{
    const struct nurs_host_snap *main = &scripts[0];
    for (int i = 0; i < main->n_script; i++) {
        const char *name = main->script[i].name;
        char part[64], family[96], help[128];
        name_part(part, sizeof part, name);
        snprintf(family, sizeof family, "nurs_script_%s", part);
        bool level = nurs_census_script_level(name);
        snprintf(help, sizeof help, "The script's %s '%s'.", level ? "level" : "counter", name);
        nurs_expo_family(w, family, level ? NURS_METRIC_GAUGE : NURS_METRIC_COUNTER, help);
        nurs_expo_uint(w, NULL, 0, main->script[i].value);
        for (int k = 1; k < n_loops; k++) {
            char id[12];
            snprintf(id, sizeof id, "%d", k);
            for (int j = 0; j < scripts[k].n_script; j++)
                if (strcmp(scripts[k].script[j].name, name) == 0)
                    nurs_expo_uint(w, &(struct nurs_label){"worker", id}, 1,
                                   scripts[k].script[j].value);
        }
    }
}

static void gauge(struct nurs_expo *w, const char *name, const char *help, double v)
{
    nurs_expo_family(w, name, NURS_METRIC_GAUGE, help);
    nurs_expo_double(w, NULL, 0, v);
}

/* The names Prometheus client libraries use, so that dashboards made for
 * them work. */
static void write_process(struct nurs_expo *w, const struct nurs_probe *p)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    nurs_expo_family(w, "process_cpu_seconds", NURS_METRIC_COUNTER,
                     "Total user and system CPU time spent in seconds.");
    nurs_expo_double(w, NULL, 0, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
    if (!p)
        return;
    if (p->mem_ok) {
        gauge(w, "process_resident_memory_bytes", "Resident memory size in bytes.",
              (double)p->rss_bytes);
        gauge(w, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
              (double)p->virtual_bytes);
    }
    if (p->fds_ok) {
        gauge(w, "process_open_fds", "Number of open file descriptors.", (double)p->open_fds);
        gauge(w, "process_max_fds", "Maximum number of open file descriptors.",
              (double)p->max_fds);
    }
    if (p->start_time > 0)
        gauge(w, "process_start_time_seconds",
              "Start time of the process since unix epoch in seconds.", p->start_time);
}

int nurs_metrics_collect(struct nurs_expo *w, const struct nurs_host *h,
                         const struct nurs_probe *probe, const struct nurs_mregistry *reg)
{
    struct nurs_census c;
    if (nurs_census_take(&c, h) < 0)
        return -1;
    const struct nurs_host_snap *loops = c.loops;
    int n_loops = c.n_loops, n = 0;
    for (int k = 0; k < n_loops; k++)
        n += loops[k].n_res;
    struct snapshot *s = calloc(n ? (size_t)n : 1, sizeof *s);
    if (!s) {
        nurs_census_free(&c);
        return -1;
    }
    /* The order the script declared them in, loop after loop. */
    int i = 0;
    for (int k = 0; k < n_loops; k++)
        for (int j = 0; j < loops[k].n_res; j++) {
            s[i].r = loops[k].res[j];
            label_snapshot(&s[i++], k);
        }

    nurs_expo_family(w, "nurs_build_info", NURS_METRIC_GAUGE,
                     "Always 1; its label says which version of nurs-lua runs.");
    nurs_expo_uint(w, &(struct nurs_label){"version", NURS_VERSION}, 1, 1);
    write_common(w, s, n);
    write_extra(w, s, n);
    free(s);
    if (probe)
        write_conntrack_tables(w, probe);
    write_script(w, loops, n_loops);
    nurs_census_free(&c);
    write_process(w, probe);
    if (reg) {
        nurs_mregistry_write(reg, w);
        nurs_mregistry_write_refused(reg, w);
    }
    nurs_expo_finish(w);
    return 0;
}
