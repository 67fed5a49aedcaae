/* What the kernel must be set to for conntrack export to be right, read
 * from the kernel itself: conntrack settings of a network namespace
 * (accounting, timestamps, events), the receive buffer limit against the
 * buffer asked for, how full the table is, flowtables that offload flows
 * without counters, the modules loaded and the capabilities held. Each
 * problem comes with the command that fixes it. Plain C, blocking reads
 * of /proc and one netlink listing: run it before the loop or on a
 * worker. */
#ifndef NURS_NETLINK_DOCTOR_H
#define NURS_NETLINK_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum nurs_doctor_severity {
    NURS_DOCTOR_OK,
    NURS_DOCTOR_WARN,  /* works, with a cost or a blind spot */
    NURS_DOCTOR_WRONG, /* an export would be wrong or empty */
};

struct nurs_doctor_finding {
    const char *check; /* "accounting", "timestamps", "events", "rmem_max", "table",
                          "flowtable", "module", "capability", "netns" */
    enum nurs_doctor_severity severity;
    char what[200]; /* what is set, or what is wrong */
    char fix[400];  /* the command that fixes it ("" when fine), "ip netns exec" included */
};

#define NURS_DOCTOR_MAX 16

struct nurs_doctor_report {
    struct nurs_doctor_finding f[NURS_DOCTOR_MAX];
    int n;
    /* What was read; -1 when unreadable. */
    long acct, timestamp, events, rmem_max, count, max;
};

struct nurs_doctor_opts {
    const char *netns; /* NULL: ours */
    long rcvbuf;       /* bytes a source asks for (0: the default) */
};

/* Runs every check; returns the worst severity found. */
enum nurs_doctor_severity nurs_doctor_run(const struct nurs_doctor_opts *o,
                                          struct nurs_doctor_report *r);
const char *nurs_doctor_severity_name(enum nurs_doctor_severity s);
/* nurs-lua --doctor: every check, problems with their fix. */
void nurs_doctor_print(FILE *out, const char *netns, const struct nurs_doctor_report *r);
/* At start-up: each problem as a warning. */
void nurs_doctor_log(const char *who, const char *netns, const struct nurs_doctor_report *r);

#endif
