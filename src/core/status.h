/* The one-line summary a service manager shows (systemctl status): what
 * every kind of resource handles per second and what was lost, from the
 * resources' counters, sent as STATUS= every few seconds. */
#ifndef NURS_CORE_STATUS_H
#define NURS_CORE_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct nurs_host;
struct nurs_notify;

#define NURS_STATUS_KINDS 8

struct nurs_status {
    struct nurs_host *host;
    struct nurs_notify *notify;
    uv_timer_t timer;
    bool started;
    uint64_t last_ms;
    struct {
        const char *kind;
        uint64_t in;
    } prev[NURS_STATUS_KINDS];
    int n_prev;
    const char *note; /* shown first while set ("last reload failed...") */
};

/* Sends the summary now and every `every_ms` while notifications are on;
 * the timer does not keep the loop alive by itself. */
void nurs_status_start(struct nurs_status *st, struct nurs_host *h, struct nurs_notify *n,
                       unsigned every_ms);
/* Sends the summary now (after a reload, with a new note). */
void nurs_status_update(struct nurs_status *st);
void nurs_status_close(struct nurs_status *st);

/* Writes the summary into buf: "conntrack 1200 rec/s, json 1200 rec/s;
 * lost 0 (overruns 0, dropped 0), errors 0 (timeouts 0)"; rates since the
 * previous call. Errors count the calls that time budgets stopped too. */
void nurs_status_format(struct nurs_status *st, char *buf, size_t len);

#endif
