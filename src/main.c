/* nurs-lua: command line, signals, exit codes. */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/capability.h>
#include <sys/resource.h>

#include <uv.h>

#include "bindings/budget.h"
#include "bindings/script.h"
#include "core/host.h"
#include "core/log.h"
#include "core/notify.h"
#include "core/privileges.h"
#include "core/schema.h"
#include "core/status.h"
#include "core/workers.h"
#include "netlink/doctor.h"
#include "process/attribution.h"

/* Long options without a letter. */
#define SCHEMA_OPTION 256

/* How often STATUS= tells the service manager what flows through. */
#define STATUS_EVERY_MS 5000

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: nurs-lua [OPTIONS] SCRIPT.lua [ARGS...]\n"
            "Runs SCRIPT.lua, which subscribes to netfilter events (conntrack...) and\n"
            "routes them to sinks (JSON lines...). ARGS reach the script as `arg`.\n"
            "\n"
            "  -c, --check            load and validate the script, open nothing, exit 0/1\n"
            "  -d, --doctor [NETNS..] check the kernel settings conntrack export needs (in\n"
            "                         our namespace, or each one named), print each problem\n"
            "                         with its fix; exit 1 if an export would be wrong\n"
            "  -l, --log-level LEVEL  error, warn, info (default) or debug\n"
            "  -R, --realtime PRIO    run the loop with real-time round-robin scheduling\n"
            "                         (SCHED_RR, 1-99), as ulogd2 and conntrackd can: a\n"
            "                         burst of events is read before other work runs\n"
            "  -n, --nice N           scheduling niceness, -20 (first) to 19\n"
            "  -u, --user USER        once the script's sockets are open, run as USER,\n"
            "                         keeping only CAP_NET_ADMIN (and what process\n"
            "                         attribution needs, if the script uses it)\n"
            "  -g, --group GROUP      with --user: this group instead of USER's own\n"
            "  -r, --record FILE      record what every source receives to FILE (pcap,\n"
            "                         LINKTYPE_NETLINK); replay it with nurs.replay\n"
            "  -b, --budget SECONDS   time each callback and timer may take before it is\n"
            "                         stopped with an error (default 1; 0: no limit)\n"
            "      --load-budget SECONDS  time a script's top level may take at load and\n"
            "                         reload (default 10)\n"
            "  -m, --memory-limit SIZE  memory a script's Lua state may hold: bytes, or\n"
            "                         with K, M or G (default 512M; 0: no limit)\n"
            "      --strict-perms     refuse a script (or module directory) that users\n"
            "                         other than root and ours can change; else a warning\n"
            "      --schema json|proto  print the JSON Schema of the JSON records, or the\n"
            "                         .proto of the protobuf flow records, and exit\n"
            "  -h, --help             this help\n"
            "  -V, --version          print the version\n"
            "\n"
            "Signals: SIGHUP reloads the script (the old one keeps running if the new one\n"
            "fails) and reopens output files; SIGUSR1 logs every counter; SIGINT and\n"
            "SIGTERM flush every sink and exit 0.\n"
            "Exit status: 0 after SIGINT/SIGTERM or when nothing is left to do, 1 if the\n"
            "script failed to load or privileges could not be dropped, 2 for usage errors.\n"
            "Under systemd (Type=notify), $NOTIFY_SOCKET gets READY, RELOADING, STOPPING,\n"
            "STATUS and watchdog keep-alives; with $JOURNAL_STREAM, logs carry priorities.\n"
            "Modules: the nurs modules are built in; NURS_LUA_DIR names a directory\n"
            "whose modules are used instead. Other modules are also looked for in\n"
            "%s.\n",
            NURS_LUA_INSTALL_DIR);
}

struct signals {
    uv_signal_t hup, usr1, intr, term;
};

/* What the signal handlers and the service manager share. */
struct daemon {
    struct nurs_host host;
    struct signals sigs;
    struct nurs_notify notify;
    struct nurs_status status;
};

static void reload(struct daemon *d)
{
    nurs_notify_reloading(&d->notify);
    int rc = nurs_host_reload(&d->host);
    d->status.note = rc == 0 ? NULL : "the last reload failed, the previous script runs";
    nurs_notify_ready(&d->notify);
    nurs_status_update(&d->status);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    struct daemon *d = sig->data;
    switch (signum) {
    case SIGHUP:
        reload(d);
        break;
    case SIGUSR1:
        nurs_host_log_counters(&d->host);
        break;
    default:
        nurs_info("%s: flushing and exiting", strsignal(signum));
        nurs_host_stop(&d->host);
        break;
    }
}

static void watch_signals(struct signals *s, struct daemon *d)
{
    uv_signal_t *sigs[] = {&s->hup, &s->usr1, &s->intr, &s->term};
    int nums[] = {SIGHUP, SIGUSR1, SIGINT, SIGTERM};
    for (int i = 0; i < 4; i++) {
        uv_signal_init(d->host.loop, sigs[i]);
        sigs[i]->data = d;
        uv_signal_start(sigs[i], on_signal, nums[i]);
        /* Signals alone do not keep the daemon alive. */
        uv_unref((uv_handle_t *)sigs[i]);
    }
}

/* Before the script runs, so that every thread started later (libuv's
 * workers, the NFQUEUE budget watchdog) inherits it. Returns 0 or -1. */
static int set_scheduling(int realtime, int nice_value, bool set_nice)
{
    if (set_nice && setpriority(PRIO_PROCESS, 0, nice_value) < 0) {
        fprintf(stderr, "nurs-lua: --nice %d: %s\n", nice_value, strerror(errno));
        return -1;
    }
    if (realtime) {
        struct sched_param sp = {.sched_priority = realtime};
        if (sched_setscheduler(0, SCHED_RR, &sp) < 0) {
            fprintf(stderr, "nurs-lua: --realtime %d: %s%s\n", realtime, strerror(errno),
                    errno == EPERM ? " (needs CAP_SYS_NICE)" : "");
            return -1;
        }
    }
    return 0;
}

static bool parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

static bool parse_seconds(const char *s, uint64_t *ns)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= 0 && v <= 86400))
        return false;
    *ns = (uint64_t)(v * 1e9 + 0.5);
    return true;
}

static bool parse_size(const char *s, size_t *bytes)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno || *s == '-')
        return false;
    int shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: break;
    }
    if (*end || v > (SIZE_MAX >> shift))
        return false;
    *bytes = (size_t)(v << shift);
    return true;
}

static void unwatch_signals(struct signals *s)
{
    uv_signal_t *sigs[] = {&s->hup, &s->usr1, &s->intr, &s->term};
    for (int i = 0; i < 4; i++)
        uv_close((uv_handle_t *)sigs[i], NULL);
}

/* --doctor [NETNS...] */
static int run_doctor(int n, char **netns)
{
    enum nurs_doctor_severity worst = NURS_DOCTOR_OK;
    for (int i = 0; i < (n ? n : 1); i++) {
        struct nurs_doctor_report r;
        struct nurs_doctor_opts o = {.netns = n ? netns[i] : NULL};
        enum nurs_doctor_severity s = nurs_doctor_run(&o, &r);
        nurs_doctor_print(stdout, o.netns, &r);
        if (s > worst)
            worst = s;
    }
    printf("%s\n", worst == NURS_DOCTOR_WRONG ? "an export would be wrong: see the fixes above"
                    : worst == NURS_DOCTOR_WARN ? "exports are right; see the warnings above"
                                                : "all good");
    return worst == NURS_DOCTOR_WRONG ? 1 : 0;
}

/* --user: the script's sockets are open; what a reload needs is kept. */
static int drop_privileges(const struct nurs_identity *id)
{
    uint64_t keep = 1ull << CAP_NET_ADMIN;
    if (nurs_attribution_live())
        keep |= 1ull << CAP_SYS_PTRACE | 1ull << CAP_DAC_READ_SEARCH;
    char err[256], names[128];
    if (nurs_privileges_drop(id, keep, err, sizeof err) < 0) {
        nurs_err("%s", err);
        return -1;
    }
    nurs_capabilities_format(keep, names, sizeof names);
    nurs_info("running as user %s (uid %u, gid %u) with %s", id->user, (unsigned)id->uid,
              (unsigned)id->gid, names);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"check", no_argument, NULL, 'c'},
        {"doctor", no_argument, NULL, 'd'},
        {"log-level", required_argument, NULL, 'l'},
        {"record", required_argument, NULL, 'r'},
        {"realtime", required_argument, NULL, 'R'},
        {"nice", required_argument, NULL, 'n'},
        {"user", required_argument, NULL, 'u'},
        {"group", required_argument, NULL, 'g'},
        {"budget", required_argument, NULL, 'b'},
        {"load-budget", required_argument, NULL, 'B'},
        {"memory-limit", required_argument, NULL, 'm'},
        {"strict-perms", no_argument, NULL, 'S'},
        {"schema", required_argument, NULL, SCHEMA_OPTION},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    bool check = false, set_nice = false, doctor = false;
    const char *record = NULL, *user = NULL, *group = NULL;
    int realtime = 0, nice_value = 0;
    int opt;
    nurs_log_detect_journal();
    /* '+': options end at the script name; the rest belongs to the script. */
    struct nurs_lua_options lua = {
        .budget_ns = NURS_DEFAULT_BUDGET_NS,
        .load_budget_ns = NURS_DEFAULT_LOAD_BUDGET_NS,
        .memory_limit = NURS_DEFAULT_MEMORY_LIMIT,
    };
    while ((opt = getopt_long(argc, argv, "+cdl:r:R:n:u:g:b:m:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'b':
        case 'B':
            if (!parse_seconds(optarg, opt == 'b' ? &lua.budget_ns : &lua.load_budget_ns)) {
                fprintf(stderr, "nurs-lua: --%s takes seconds, from 0 to 86400\n",
                        opt == 'b' ? "budget" : "load-budget");
                return 2;
            }
            break;
        case 'm':
            if (!parse_size(optarg, &lua.memory_limit)) {
                fprintf(stderr, "nurs-lua: --memory-limit takes a size (512M, 1G...)\n");
                return 2;
            }
            break;
        case 'S':
            lua.strict_perms = true;
            break;
        case 'c':
            check = true;
            break;
        case 'd':
            doctor = true;
            break;
        case 'l': {
            int lvl = nurs_log_parse_level(optarg);
            if (lvl < 0) {
                fprintf(stderr, "nurs-lua: unknown log level '%s'\n", optarg);
                return 2;
            }
            nurs_log_set_level((enum nurs_log_level)lvl);
            break;
        }
        case 'r':
            record = optarg;
            break;
        case 'R':
            if (!parse_int(optarg, 1, 99, &realtime)) {
                fprintf(stderr, "nurs-lua: --realtime takes a priority from 1 to 99\n");
                return 2;
            }
            break;
        case 'n':
            if (!parse_int(optarg, -20, 19, &nice_value)) {
                fprintf(stderr, "nurs-lua: --nice takes a number from -20 to 19\n");
                return 2;
            }
            set_nice = true;
            break;
        case 'u':
            user = optarg;
            break;
        case 'g':
            group = optarg;
            break;
        case SCHEMA_OPTION:
            if (strcmp(optarg, "json") == 0) {
                fputs(nurs_schema_json, stdout);
            } else if (strcmp(optarg, "proto") == 0) {
                fputs(nurs_schema_proto, stdout);
            } else {
                fprintf(stderr, "nurs-lua: --schema takes json or proto\n");
                return 2;
            }
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("nurs-lua %s\n", NURS_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (doctor)
        return run_doctor(argc - optind, argv + optind);
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    if (group && !user) {
        fprintf(stderr, "nurs-lua: --group needs --user\n");
        return 2;
    }
    struct nurs_identity id;
    char err[256];
    if (user && nurs_identity_lookup(&id, user, group, err, sizeof err) < 0) {
        fprintf(stderr, "nurs-lua: %s\n", err);
        return 2;
    }

    if (!check && set_scheduling(realtime, nice_value, set_nice) < 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    nurs_capabilities_clear_ambient();
    static struct daemon d;
    struct nurs_host *host = &d.host;
    nurs_notify_init(&d.notify);
    const char *lua_dir = getenv("NURS_LUA_DIR");
    bool lua_dir_override = lua_dir && *lua_dir;
    if (!lua_dir_override)
        lua_dir = NURS_LUA_INSTALL_DIR;
    if (strlen(lua_dir) >= PATH_MAX) {
        fprintf(stderr, "nurs-lua: NURS_LUA_DIR is too long\n");
        return 2;
    }
    lua.lua_dir = lua_dir;
    lua.lua_dir_override = lua_dir_override;
    nurs_host_init(host, uv_default_loop(), nurs_lua_engine(&lua));
    host->check_only = check;
    host->record_path = record;
    host->script_path = argv[optind];
    host->script_argc = argc - optind - 1;
    host->script_argv = argv + optind + 1;
    /* Worker loops load within their load budget; a margin for the rest. */
    host->load_wait_ms = lua.load_budget_ns ? lua.load_budget_ns / 1000000 + 5000 : 600000;

    watch_signals(&d.sigs, &d);
    /* From the start: a script's own nurs.run() turns the loop too. */
    if (!check)
        nurs_notify_watchdog_start(&d.notify, host->loop);
    int rc = nurs_host_load(host);
    int stop_signo = nurs_budget_stop_signal();
    if (rc < 0 && !check && stop_signo) {
        /* The operator stopped a slow start: a stop, not a failure
         * (systemd marks a unit failed on exit 1). */
        nurs_info("%s while the script was loading: exiting",
                  stop_signo == SIGINT ? "SIGINT" : "SIGTERM");
        rc = 0;
        host->exit_code = 0;
        host->stop_requested = true;
    }
    if (rc == 0 && check)
        printf("%s: OK\n", host->script_path);
    if (rc == 0 && !check && user && drop_privileges(&id) < 0)
        rc = -1;
    /* After the drop: the worker threads are born with what is left
     * (capabilities are per thread). */
    if (rc == 0 && !check && !host->stop_requested)
        rc = nurs_host_start_workers(host);
    if (rc == 0 && !check && !host->stop_requested) {
        /* Every source the script declared is open. */
        nurs_notify_ready(&d.notify);
        nurs_status_start(&d.status, host, &d.notify, STATUS_EVERY_MS);
        host->in_callback = true;
        uv_run(host->loop, UV_RUN_DEFAULT);
        host->in_callback = false;
    }
    if (!check)
        nurs_notify_stopping(&d.notify);
    /* The worker loops first: what they hand the main loop's shared sinks
     * gets there before those close. */
    nurs_workers_stop(host);
    unwatch_signals(&d.sigs);
    nurs_host_shutdown(host);
    nurs_status_close(&d.status);
    nurs_notify_close(&d.notify);
    uv_run(host->loop, UV_RUN_NOWAIT);
    uv_loop_close(host->loop);
    return rc == 0 ? host->exit_code : 1;
}
