#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/host.h"
#include "core/notify.h"

/* Appends to buf at *pos, never past len; the line is cut, not broken. */
static void append(char *buf, size_t len, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
    if (*pos >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
    va_end(ap);
    if (n > 0)
        *pos += (size_t)n < len - *pos ? (size_t)n : len - *pos - 1;
}

void nurs_status_format(struct nurs_status *st, char *buf, size_t len)
{
    struct {
        const char *kind;
        uint64_t in;
    } now[NURS_STATUS_KINDS];
    int n = 0;
    uint64_t overruns = 0, dropped = 0, errors = 0, timeouts = 0;
    for (struct nurs_resource *r = st->host->resources; r; r = r->next) {
        const struct nurs_counters *c = &r->counters;
        overruns += c->overruns;
        dropped += c->dropped + c->malformed;
        errors += c->errors;
        timeouts += c->timeouts;
        int k = 0;
        while (k < n && strcmp(now[k].kind, r->ops->kind) != 0)
            k++;
        if (k == n) {
            if (n == NURS_STATUS_KINDS)
                continue;
            now[n].kind = r->ops->kind;
            now[n++].in = 0;
        }
        now[k].in += c->in;
    }

    uint64_t ms = nurs_monotonic_ms();
    double secs = st->last_ms && ms > st->last_ms ? (double)(ms - st->last_ms) / 1000.0 : 0;
    size_t pos = 0;
    buf[0] = '\0';
    if (st->note)
        append(buf, len, &pos, "%s; ", st->note);
    for (int k = 0; k < n; k++) {
        uint64_t before = 0;
        for (int j = 0; j < st->n_prev; j++)
            if (strcmp(st->prev[j].kind, now[k].kind) == 0)
                before = st->prev[j].in;
        /* A reload replaced resources: their counters started again. */
        uint64_t delta = now[k].in >= before ? now[k].in - before : now[k].in;
        append(buf, len, &pos, "%s%s %.0f rec/s", k ? ", " : "", now[k].kind,
               secs > 0 ? (double)delta / secs : 0.0);
    }
    if (n == 0)
        append(buf, len, &pos, "no sources or sinks");
    append(buf, len, &pos, "; lost %llu (overruns %llu, dropped %llu), errors %llu (timeouts %llu)",
           (unsigned long long)(overruns + dropped), (unsigned long long)overruns,
           (unsigned long long)dropped, (unsigned long long)errors, (unsigned long long)timeouts);
    memcpy(st->prev, now, sizeof now[0] * (size_t)n);
    st->n_prev = n;
    st->last_ms = ms;
}

void nurs_status_update(struct nurs_status *st)
{
    if (!st->notify || !nurs_notify_enabled(st->notify))
        return;
    char line[400];
    nurs_status_format(st, line, sizeof line);
    nurs_notify_status(st->notify, line);
}

static void on_tick(uv_timer_t *t) { nurs_status_update(t->data); }

void nurs_status_start(struct nurs_status *st, struct nurs_host *h, struct nurs_notify *n,
                       unsigned every_ms)
{
    memset(st, 0, sizeof *st);
    st->host = h;
    st->notify = n;
    if (!nurs_notify_enabled(n))
        return;
    uv_timer_init(h->loop, &st->timer);
    st->timer.data = st;
    uv_timer_start(&st->timer, on_tick, 0, every_ms);
    uv_unref((uv_handle_t *)&st->timer);
    st->started = true;
}

void nurs_status_close(struct nurs_status *st)
{
    if (st->started)
        uv_close((uv_handle_t *)&st->timer, NULL);
    st->started = false;
}
