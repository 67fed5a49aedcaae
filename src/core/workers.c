#include "core/workers.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "core/host.h"
#include "core/log.h"
#include "core/relay.h"

/* What the main loop asks of a worker (bits, coalesced). */
enum { CMD_RELOAD = 1, CMD_LOG = 2, CMD_PUBLISH = 4, CMD_STOP = 8 };
/* What a worker tells the main loop. */
enum { REPLY_STOP = 1, REPLY_LOGGED = 2 };
/* The outcome of a reload across the loops. */
enum { PENDING, KEEP, DROP };

#define PUBLISH_INTERVAL_MS 1000
#define MAX_SHARED_SINKS 64

struct nurs_worker {
    int id;
    struct nurs_workers *pool;
    pthread_t thread;
    bool started;   /* the thread exists (joined at stop) */
    bool reachable; /* its wake handle is open (pool lock) */
    uv_loop_t loop;
    struct nurs_host host;
    uv_async_t wake;
    uv_timer_t publish_timer;
    atomic_uint commands;
    int cpu; /* -1: not pinned */
    char name[24];
    char record_path[PATH_MAX];
    /* Published counters: the worker takes a snapshot into `scratch`,
     * then swaps it in under the lock. */
    pthread_mutex_t snap_lock;
    struct nurs_host_snap *snap, *scratch;
    struct nurs_channel ring; /* records for the main loop's shared sinks */
};

struct nurs_workers {
    struct nurs_host *main;
    int n;
    struct nurs_worker *w;
    uv_async_t reply; /* on the main loop */
    atomic_uint replies;
    atomic_int stop_code;
    atomic_int logged; /* workers that logged their counters since SIGUSR1 */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    /* With lock held: startup... */
    int loaded, load_failed;
    /* ...and the reload under way. */
    uint64_t gen;
    int prepared, prepare_failed, decision;
    /* The shared sinks, by tag (names, as the relays gave them). */
    char sink_names[MAX_SHARED_SINKS][64];
    int n_sinks;
    uint64_t relay_lost; /* relayed records for a sink the main loop lacks */
    struct nurs_ratelimit lost_rl;
};

/* ---- messages between the loops ---- */

static void post(struct nurs_worker *w, unsigned cmd)
{
    struct nurs_workers *p = w->pool;
    atomic_fetch_or(&w->commands, cmd);
    pthread_mutex_lock(&p->lock);
    if (w->reachable)
        uv_async_send(&w->wake);
    pthread_mutex_unlock(&p->lock);
}

static void post_all(struct nurs_workers *p, unsigned cmd)
{
    for (int i = 0; i < p->n; i++)
        post(&p->w[i], cmd);
}

static void reply(struct nurs_workers *p, unsigned what)
{
    atomic_fetch_or(&p->replies, what);
    uv_async_send(&p->reply);
}

/* ---- shared sinks ---- */

bool nurs_worker_relay(struct nurs_worker *w, const char *name, struct nurs_channel **ring,
                       uint32_t *tag)
{
    struct nurs_workers *p = w->pool;
    pthread_mutex_lock(&p->lock);
    int i = 0;
    while (i < p->n_sinks && strcmp(p->sink_names[i], name) != 0)
        i++;
    if (i == p->n_sinks && i < MAX_SHARED_SINKS)
        snprintf(p->sink_names[p->n_sinks++], sizeof p->sink_names[0], "%s", name);
    pthread_mutex_unlock(&p->lock);
    *ring = &w->ring;
    *tag = (uint32_t)i;
    return i < MAX_SHARED_SINKS;
}

void nurs_worker_relay_wake(struct nurs_worker *w)
{
    if (!atomic_exchange(&w->ring.signalled, true))
        uv_async_send(&w->pool->reply);
}

struct drain {
    struct nurs_workers *p;
    char names[MAX_SHARED_SINKS][64];
    int n;
};

static void deliver_relayed(void *ctx, uint32_t tag, const void *data, size_t len)
{
    struct drain *d = ctx;
    struct nurs_workers *p = d->p;
    const char *name = tag < (uint32_t)d->n ? d->names[tag] : "";
    if (nurs_relay_deliver(p->main, name, data, len))
        return;
    p->relay_lost++;
    if (nurs_ratelimit_check(&p->lost_rl) >= 0)
        nurs_warn("a worker loop wrote to the shared sink '%s', which the main loop does not "
                  "have (%llu records lost so far): declare it in every loop alike",
                  name, (unsigned long long)p->relay_lost);
}

static void drain_rings(struct nurs_workers *p)
{
    struct drain d = {.p = p};
    for (int i = 0; i < p->n; i++) {
        atomic_store(&p->w[i].ring.signalled, false);
        /* Names after the flag: a sink's first record comes after its name. */
        pthread_mutex_lock(&p->lock);
        memcpy(d.names, p->sink_names, sizeof d.names);
        d.n = p->n_sinks;
        pthread_mutex_unlock(&p->lock);
        nurs_channel_drain(&p->w[i].ring, deliver_relayed, &d);
    }
}

void nurs_worker_ask_stop(struct nurs_worker *w, int exit_code)
{
    atomic_store(&w->pool->stop_code, exit_code);
    reply(w->pool, REPLY_STOP);
}

/* ---- counters ---- */

static void publish(struct nurs_worker *w)
{
    nurs_host_snap_take(w->scratch, &w->host);
    pthread_mutex_lock(&w->snap_lock);
    struct nurs_host_snap *t = w->snap;
    w->snap = w->scratch;
    w->scratch = t;
    pthread_mutex_unlock(&w->snap_lock);
}

void nurs_worker_publish(struct nurs_worker *w) { publish(w); }

static void on_publish_timer(uv_timer_t *t) { publish(t->data); }

int nurs_workers_count(const struct nurs_host *main)
{
    return main->workers ? main->workers->n : 0;
}

bool nurs_workers_snapshot(const struct nurs_host *main, int id, struct nurs_host_snap *out)
{
    struct nurs_workers *p = main->workers;
    if (!p || id < 1 || id > p->n)
        return false;
    struct nurs_worker *w = &p->w[id - 1];
    pthread_mutex_lock(&w->snap_lock);
    memcpy(out, w->snap, sizeof *out);
    pthread_mutex_unlock(&w->snap_lock);
    return true;
}

bool nurs_workers_sum(const struct nurs_host *main, const char *name, struct nurs_res_snap *out,
                      int *n_workers)
{
    struct nurs_workers *p = main->workers;
    *n_workers = 0;
    for (int i = 0; p && i < p->n; i++) {
        struct nurs_worker *w = &p->w[i];
        pthread_mutex_lock(&w->snap_lock);
        const struct nurs_res_snap *r = nurs_host_snap_find(w->snap, name);
        if (r && (*n_workers)++ == 0)
            *out = *r;
        else if (r)
            nurs_res_snap_add(out, r);
        pthread_mutex_unlock(&w->snap_lock);
    }
    return *n_workers > 0;
}

/* The counters of every resource and script summed over the workers,
 * each logged once, in the order the first worker that has it lists it. */
static void log_sums(struct nurs_workers *p)
{
    struct nurs_host_snap *all = calloc((size_t)p->n, sizeof *all);
    if (!all)
        return;
    for (int i = 0; i < p->n; i++)
        nurs_workers_snapshot(p->main, i + 1, &all[i]);
    char suffix[48];
    snprintf(suffix, sizeof suffix, " (%d workers)", p->n);
    for (int i = 0; i < p->n; i++) {
        for (int r = 0; r < all[i].n_res; r++) {
            const char *name = all[i].res[r].name;
            bool seen = false;
            for (int j = 0; j < i && !seen; j++)
                seen = nurs_host_snap_find(&all[j], name) != NULL;
            if (seen)
                continue;
            struct nurs_res_snap sum = all[i].res[r];
            for (int j = i + 1; j < p->n; j++) {
                const struct nurs_res_snap *o = nurs_host_snap_find(&all[j], name);
                if (o)
                    nurs_res_snap_add(&sum, o);
            }
            nurs_res_snap_log(&sum, suffix);
        }
    }
    struct nurs_res_snap script = {.name = "script"};
    for (int i = 0; i < p->n; i++) {
        struct nurs_res_snap one = {.n_counters = all[i].n_script};
        memcpy(one.counters, all[i].script, sizeof all[i].script);
        nurs_res_snap_add(&script, &one);
    }
    nurs_res_snap_log(&script, suffix);
    free(all);
}

void nurs_workers_log_counters(struct nurs_host *main)
{
    struct nurs_workers *p = main->workers;
    atomic_store(&p->logged, 0);
    post_all(p, CMD_LOG);
}

static void on_reply(uv_async_t *a)
{
    struct nurs_workers *p = a->data;
    unsigned what = atomic_exchange(&p->replies, 0);
    drain_rings(p);
    if (what & REPLY_LOGGED)
        log_sums(p);
    if ((what & REPLY_STOP) && !p->main->stop_requested) {
        p->main->exit_code = atomic_load(&p->stop_code);
        nurs_info("a worker loop's script asked to stop: flushing and exiting");
        nurs_host_stop(p->main);
    }
}

/* ---- reload ---- */

static uint64_t deadline_after(uint64_t ms, struct timespec *ts)
{
    clock_gettime(CLOCK_REALTIME, ts);
    uint64_t ns = (uint64_t)ts->tv_nsec + (ms % 1000) * 1000000u;
    ts->tv_sec += (time_t)(ms / 1000 + ns / 1000000000u);
    ts->tv_nsec = (long)(ns % 1000000000u);
    return ms;
}

/* In the worker: load the new script, say how it went, wait for the
 * verdict of every loop, keep it or drop it. The loop does not turn
 * meanwhile: packets wait in the kernel, as they do while the main loop
 * loads a script. */
static void worker_reload(struct nurs_worker *w)
{
    struct nurs_workers *p = w->pool;
    pthread_mutex_lock(&p->lock);
    uint64_t gen = p->gen;
    bool dropped = p->decision == DROP;
    pthread_mutex_unlock(&p->lock);
    if (dropped)
        nurs_info("the new script failed in another loop: not loaded here");
    int rc = dropped ? -1 : nurs_host_prepare(&w->host);
    struct timespec until;
    deadline_after(w->host.load_wait_ms, &until);
    pthread_mutex_lock(&p->lock);
    if (gen == p->gen) {
        p->prepared++;
        p->prepare_failed += rc < 0;
        pthread_cond_broadcast(&p->cond);
    }
    while (gen == p->gen && p->decision == PENDING)
        if (pthread_cond_timedwait(&p->cond, &p->lock, &until) == ETIMEDOUT)
            break;
    bool keep = rc == 0 && gen == p->gen && p->decision == KEEP;
    pthread_mutex_unlock(&p->lock);
    if (rc == 0) {
        nurs_host_settle(&w->host, keep);
        if (!keep)
            nurs_info("the new script loaded here but not in every loop: the running one goes on");
    }
    nurs_host_reopen(&w->host);
    publish(w);
}

int nurs_workers_reload(struct nurs_host *main)
{
    struct nurs_workers *p = main->workers;
    pthread_mutex_lock(&p->lock);
    p->gen++;
    p->prepared = p->prepare_failed = 0;
    p->decision = PENDING;
    pthread_mutex_unlock(&p->lock);
    /* The workers load while the main loop does. */
    post_all(p, CMD_RELOAD);
    int rc = nurs_host_prepare(main);
    if (rc == 0 && main->next_plan.count != p->n) {
        nurs_err("the new script asks for %d worker loops where %d run: changing the number "
                 "of workers takes a restart",
                 main->next_plan.count < 2 ? 0 : main->next_plan.count, p->n);
        rc = -1;
    }
    struct timespec until;
    deadline_after(main->load_wait_ms, &until);
    pthread_mutex_lock(&p->lock);
    while (rc == 0 && p->prepared < p->n && p->prepare_failed == 0)
        if (pthread_cond_timedwait(&p->cond, &p->lock, &until) == ETIMEDOUT)
            break;
    int waiting = p->n - p->prepared, failed = p->prepare_failed;
    p->decision = rc == 0 && waiting == 0 && failed == 0 ? KEEP : DROP;
    bool keep = p->decision == KEEP;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    if (rc == 0 && !keep)
        nurs_err("the new script failed in %d worker loop%s%s%.0d%s: every loop keeps its "
                 "running script",
                 failed, failed == 1 ? "" : "s", waiting ? " and " : "", waiting,
                 waiting ? " did not answer in time" : "");
    if (rc == 0)
        nurs_host_settle(main, keep);
    return keep ? 0 : -1;
}

/* ---- the worker's thread ---- */

static void on_wake(uv_async_t *a)
{
    struct nurs_worker *w = a->data;
    unsigned cmd = atomic_exchange(&w->commands, 0);
    if (cmd & CMD_RELOAD)
        worker_reload(w);
    if (cmd & CMD_LOG) {
        nurs_host_log_counters(&w->host);
        publish(w);
        if (atomic_fetch_add(&w->pool->logged, 1) + 1 == w->pool->n)
            reply(w->pool, REPLY_LOGGED);
    }
    if (cmd & CMD_PUBLISH)
        publish(w);
    if (cmd & CMD_STOP)
        uv_stop(&w->loop);
}

static void pin(struct nurs_worker *w)
{
    if (w->cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(w->cpu, &set);
    int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (rc != 0)
        nurs_warn("cannot pin to CPU %d: %s", w->cpu, strerror(rc));
}

static void *worker_main(void *arg)
{
    struct nurs_worker *w = arg;
    struct nurs_workers *p = w->pool;
    /* The process's signals go to the main loop; the watchdog's (the
     * real-time ones) must reach this thread. */
    sigset_t mask;
    sigfillset(&mask);
    for (int s = SIGRTMIN; s <= SIGRTMAX; s++)
        sigdelset(&mask, s);
    pthread_sigmask(SIG_SETMASK, &mask, NULL);
    nurs_log_set_thread_name(w->name);
    pin(w);
    int rc = nurs_host_load(&w->host);
    if (rc == 0)
        publish(w);
    pthread_mutex_lock(&p->lock);
    p->loaded++;
    p->load_failed += rc < 0;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    if (rc == 0 && !w->host.stop_requested) {
        w->host.in_callback = true;
        uv_timer_start(&w->publish_timer, on_publish_timer, PUBLISH_INTERVAL_MS,
                       PUBLISH_INTERVAL_MS);
        uv_run(&w->loop, UV_RUN_DEFAULT);
        w->host.in_callback = false;
    }
    pthread_mutex_lock(&p->lock);
    w->reachable = false;
    pthread_mutex_unlock(&p->lock);
    uv_close((uv_handle_t *)&w->wake, NULL);
    uv_close((uv_handle_t *)&w->publish_timer, NULL);
    /* Verdicts for what is pending, flushes, counters (published). */
    nurs_host_shutdown(&w->host);
    if (uv_loop_close(&w->loop) != 0)
        nurs_warn("handles left open at exit");
    if (w->host.engine->thread_end)
        w->host.engine->thread_end();
    return NULL;
}

/* ---- the pool ---- */

static int init_worker(struct nurs_workers *p, int i)
{
    struct nurs_host *main = p->main;
    struct nurs_worker *w = &p->w[i];
    w->id = i + 1;
    w->pool = p;
    snprintf(w->name, sizeof w->name, "worker %d", w->id);
    w->cpu = main->plan.n_cpus ? main->plan.cpus[i % main->plan.n_cpus] : -1;
    w->snap = calloc(1, sizeof *w->snap);
    w->scratch = calloc(1, sizeof *w->scratch);
    if (!w->snap || !w->scratch || nurs_channel_init(&w->ring, NURS_RELAY_RING_SIZE) < 0 ||
        uv_loop_init(&w->loop) != 0)
        return -1;
    pthread_mutex_init(&w->snap_lock, NULL);
    nurs_host_init(&w->host, &w->loop, main->engine);
    w->host.script_path = main->script_path;
    w->host.script_argc = main->script_argc;
    w->host.script_argv = main->script_argv;
    w->host.load_wait_ms = main->load_wait_ms;
    if (main->record_path) {
        /* One recording per loop: FILE.1, FILE.2... */
        snprintf(w->record_path, sizeof w->record_path, "%s.%d", main->record_path, w->id);
        w->host.record_path = w->record_path;
    }
    w->host.worker = w;
    w->host.worker_id = w->id;
    w->host.worker_count = p->n;
    uv_async_init(&w->loop, &w->wake, on_wake);
    w->wake.data = w;
    uv_timer_init(&w->loop, &w->publish_timer);
    w->publish_timer.data = w;
    uv_unref((uv_handle_t *)&w->publish_timer);
    w->reachable = true;
    return 0;
}

static void free_pool(struct nurs_workers *p)
{
    for (int i = 0; i < p->n; i++) {
        free(p->w[i].snap);
        free(p->w[i].scratch);
        nurs_channel_free(&p->w[i].ring);
        if (p->w[i].reachable || p->w[i].started)
            pthread_mutex_destroy(&p->w[i].snap_lock);
    }
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p->w);
    free(p);
}

static void on_reply_closed(uv_handle_t *h) { free_pool(h->data); }

static void log_start(const struct nurs_workers *p)
{
    char where[256] = "";
    for (int i = 0; i < p->n && p->w[i].cpu >= 0; i++)
        snprintf(where + strlen(where), sizeof where - strlen(where), "%sworker %d on CPU %d",
                 i ? ", " : " (", p->w[i].id, p->w[i].cpu);
    nurs_info("%d worker loops run the script%s%s; each logs the queues and groups it owns",
              p->n, where, *where ? ")" : "");
}

int nurs_workers_start(struct nurs_host *main)
{
    int n = main->plan.count;
    struct nurs_workers *p = calloc(1, sizeof *p);
    if (!p || !(p->w = calloc((size_t)n, sizeof *p->w))) {
        free(p);
        nurs_err("cannot start %d worker loops: out of memory", n);
        return -1;
    }
    p->main = main;
    p->n = n;
    p->lost_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 3);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    uv_async_init(main->loop, &p->reply, on_reply);
    p->reply.data = p;
    /* Referenced: the main loop runs as long as the workers do, even
     * with nothing of its own to wait for. */
    main->workers = p;
    main->worker_count = n;
    int started = 0;
    sigset_t all, old;
    sigfillset(&all);
    for (int i = 0; i < n; i++) {
        if (init_worker(p, i) < 0)
            break;
        /* Born with every signal blocked; the thread opens the ones it takes. */
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int rc = pthread_create(&p->w[i].thread, NULL, worker_main, &p->w[i]);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0) {
            uv_close((uv_handle_t *)&p->w[i].wake, NULL);
            uv_close((uv_handle_t *)&p->w[i].publish_timer, NULL);
            uv_run(&p->w[i].loop, UV_RUN_DEFAULT);
            uv_loop_close(&p->w[i].loop);
            p->w[i].reachable = false;
            break;
        }
        p->w[i].started = true;
        started++;
    }
    struct timespec until;
    deadline_after(main->load_wait_ms, &until);
    pthread_mutex_lock(&p->lock);
    while (p->loaded < started && p->load_failed == 0)
        if (pthread_cond_timedwait(&p->cond, &p->lock, &until) == ETIMEDOUT)
            break;
    bool ok = started == n && p->loaded == n && p->load_failed == 0;
    pthread_mutex_unlock(&p->lock);
    if (!ok) {
        nurs_err("%s: the worker loops could not all start (%d of %d loaded the script)",
                 main->script_path, p->loaded - p->load_failed, n);
        nurs_workers_stop(main);
        return -1;
    }
    log_start(p);
    return 0;
}

void nurs_workers_stop(struct nurs_host *main)
{
    struct nurs_workers *p = main->workers;
    if (!p)
        return;
    post_all(p, CMD_STOP);
    for (int i = 0; i < p->n; i++)
        if (p->w[i].started)
            pthread_join(p->w[i].thread, NULL);
    drain_rings(p); /* what they wrote last */
    log_sums(p);
    main->workers = NULL;
    uv_close((uv_handle_t *)&p->reply, on_reply_closed);
}
