#include "core/host.h"

#include <string.h>

#include "core/workers.h"

struct nurs_script *nurs_host_active_script(struct nurs_host *h)
{
    return h->loading ? h->loading : h->current;
}

void nurs_host_init(struct nurs_host *h, uv_loop_t *loop, const struct nurs_engine *engine)
{
    memset(h, 0, sizeof *h);
    h->loop = loop;
    h->engine = engine;
}

void nurs_host_add_flush_hook(struct nurs_host *h, struct nurs_flush_hook *hook)
{
    hook->next = h->flush_hooks;
    h->flush_hooks = hook;
}

void nurs_host_remove_flush_hook(struct nurs_host *h, struct nurs_flush_hook *hook)
{
    for (struct nurs_flush_hook **p = &h->flush_hooks; *p; p = &(*p)->next)
        if (*p == hook) {
            *p = hook->next;
            return;
        }
}

static void destroy_owned_by(struct nurs_host *h, struct nurs_script *s)
{
    struct nurs_resource *r = h->resources;
    while (r) {
        struct nurs_resource *next = r->next;
        if (r->owner == s)
            nurs_resource_destroy(r);
        r = next;
    }
}

static void script_destroy(struct nurs_host *h, struct nurs_script *s)
{
    destroy_owned_by(h, s);
    h->engine->close(s);
}

static void commit(struct nurs_host *h, struct nurs_script *s)
{
    struct nurs_script *old = h->current;
    nurs_resource_end_claims(h, s, true);
    h->current = s;
    h->plan = h->next_plan;
    if (old)
        script_destroy(h, old);
    for (struct nurs_resource *r = h->resources; r; r = r->next)
        if (r->owner == s && r->ops->committed)
            r->ops->committed(r);
}

static void abort_load(struct nurs_host *h, struct nurs_script *s)
{
    nurs_resource_end_claims(h, s, false);
    script_destroy(h, s);
}

struct nurs_worker_plan *nurs_host_plan(struct nurs_host *h)
{
    return h->loading || !h->current ? &h->next_plan : &h->plan;
}

int nurs_host_prepare(struct nurs_host *h)
{
    h->next_plan = (struct nurs_worker_plan){0};
    struct nurs_script *s = h->engine->create(h);
    if (!s)
        return -1;
    h->loading = s;
    h->starting = true;
    int rc = h->engine->run(s);
    h->starting = false;
    /* nurs.run() may have committed the script already. */
    if (h->loading != s)
        return rc;
    if (rc != 0) {
        h->loading = NULL;
        abort_load(h, s);
        return -1;
    }
    return 0;
}

void nurs_host_settle(struct nurs_host *h, bool keep)
{
    struct nurs_script *s = h->loading;
    if (!s)
        return;
    h->loading = NULL;
    if (keep)
        commit(h, s);
    else
        abort_load(h, s);
}

int nurs_host_load(struct nurs_host *h)
{
    if (nurs_host_prepare(h) < 0)
        return -1;
    nurs_host_settle(h, true);
    return 0;
}

int nurs_host_commit_early(struct nurs_host *h)
{
    if (!h->loading || h->current)
        return -1;
    struct nurs_script *s = h->loading;
    h->loading = NULL;
    commit(h, s);
    return 0;
}

int nurs_host_start_workers(struct nurs_host *h)
{
    if (h->workers || h->worker || h->check_only || h->plan.count < 2)
        return 0;
    return nurs_workers_start(h);
}

int nurs_host_reload(struct nurs_host *h)
{
    if (h->starting) {
        nurs_warn("SIGHUP: the script is still starting; reload ignored");
        return 0;
    }
    nurs_info("SIGHUP: reloading %s", h->script_path);
    int rc = h->workers ? nurs_workers_reload(h) : nurs_host_load(h);
    if (rc == 0)
        nurs_info("reloaded %s", h->script_path);
    else
        nurs_err("reload of %s failed; the running script goes on", h->script_path);
    nurs_host_reopen(h);
    return rc;
}

void nurs_host_reopen(struct nurs_host *h)
{
    for (struct nurs_resource *r = h->resources; r; r = r->next)
        if (r->ops->reopen)
            r->ops->reopen(r);
}

void nurs_host_flush(struct nurs_host *h)
{
    for (struct nurs_flush_hook *k = h->flush_hooks; k; k = k->next)
        k->flush(k);
    for (struct nurs_resource *r = h->resources; r; r = r->next)
        if (r->ops->flush)
            r->ops->flush(r);
}

void nurs_host_log_counters(struct nurs_host *h)
{
    for (struct nurs_resource *r = h->resources; r; r = r->next)
        if (!r->dormant)
            nurs_counters_log(r);
    if (h->current && h->engine->log_counters)
        h->engine->log_counters(h->current);
    if (h->workers)
        nurs_workers_log_counters(h);
}

void nurs_host_stop(struct nurs_host *h)
{
    h->stop_requested = true;
    if (h->worker) {
        /* The main loop stops every loop, in order. */
        nurs_worker_ask_stop(h->worker, h->exit_code);
        return;
    }
    uv_stop(h->loop);
}

void nurs_host_shutdown(struct nurs_host *h)
{
    if (!h->check_only) {
        for (struct nurs_resource *r = h->resources, *next; r; r = next) {
            next = r->next;
            if (r->ops->finish && r->owner == h->current)
                r->ops->finish(r);
        }
    }
    nurs_host_flush(h);
    if (!h->check_only) {
        for (struct nurs_resource *r = h->resources; r; r = r->next)
            if (r->ops->report && r->owner == h->current)
                r->ops->report(r);
        nurs_host_log_counters(h);
    }
    if (h->worker)
        nurs_worker_publish(h->worker); /* the last word on its counters */
    if (h->loading) {
        abort_load(h, h->loading);
        h->loading = NULL;
    }
    if (h->current) {
        script_destroy(h, h->current);
        h->current = NULL;
    }
    /* Let the close callbacks of every handle run. */
    uv_run(h->loop, UV_RUN_DEFAULT);
}
