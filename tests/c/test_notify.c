/* The service manager protocol, against datagram sockets this test owns:
 * addresses as $NOTIFY_SOCKET writes them (paths, '@' abstract names),
 * the watchdog's conditions and its keep-alives from a turning loop; the
 * journal detection of the logger; capability names. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/capability.h>
#include <sys/stat.h>

#include <uv.h>

#include "core/log.h"
#include "core/notify.h"
#include "core/privileges.h"
#include "tap.h"

static int receiver(const char *name, struct sockaddr_un *addr, socklen_t *len)
{
    *len = nurs_notify_parse_address(name, addr);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)addr, *len) < 0) {
        printf("# bind %s: %s\n", name, strerror(errno));
        return -1;
    }
    return fd;
}

/* The next datagram, as a string ("" when none is waiting). */
static const char *next(int fd)
{
    static char buf[1024];
    ssize_t n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void addresses(void)
{
    struct sockaddr_un a;
    socklen_t len = nurs_notify_parse_address("/run/systemd/notify", &a);
    tap_is_int(len, (long long)(offsetof(struct sockaddr_un, sun_path) + 20), "a path, with its NUL");
    tap_is_str(a.sun_path, "/run/systemd/notify", "the path is copied");
    len = nurs_notify_parse_address("@abc", &a);
    tap_is_int(len, (long long)(offsetof(struct sockaddr_un, sun_path) + 4),
               "an abstract name: no NUL counted");
    tap_ok(a.sun_path[0] == '\0' && memcmp(a.sun_path + 1, "abc", 3) == 0,
           "'@' becomes the leading NUL");
    tap_is_int(nurs_notify_parse_address("", &a), 0, "empty: refused");
    tap_is_int(nurs_notify_parse_address("@", &a), 0, "'@' alone: refused");
    tap_is_int(nurs_notify_parse_address("vsock:2:1234", &a), 0, "vsock: refused");
    tap_is_int(nurs_notify_parse_address("run/notify", &a), 0, "a relative path: refused");
    char longpath[sizeof a.sun_path + 2];
    memset(longpath, 'x', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    tap_is_int(nurs_notify_parse_address(longpath, &a), 0, "a path longer than sun_path: refused");
    longpath[sizeof a.sun_path] = '\0';
    longpath[0] = '@';
    tap_ok(nurs_notify_parse_address(longpath, &a) > 0, "an abstract name may fill sun_path");
}

static void watchdog_conditions(void)
{
    tap_is_int((long long)nurs_notify_parse_watchdog("500000", NULL, 42), 500000, "no pid: ours");
    tap_is_int((long long)nurs_notify_parse_watchdog("500000", "42", 42), 500000, "our pid");
    tap_is_int((long long)nurs_notify_parse_watchdog("500000", "43", 42), 0, "another pid: not ours");
    tap_is_int((long long)nurs_notify_parse_watchdog("500000", "x", 42), 0, "a bad pid: not ours");
    tap_is_int((long long)nurs_notify_parse_watchdog(NULL, NULL, 42), 0, "unset: none");
    tap_is_int((long long)nurs_notify_parse_watchdog("5s", NULL, 42), 0, "not a number: none");
    tap_is_int((long long)nurs_notify_parse_watchdog("-1", NULL, 42), 0, "negative: none");
}

static void on_stop(uv_timer_t *t) { uv_stop(t->loop); }

static void protocol(const char *name)
{
    struct sockaddr_un a;
    socklen_t alen;
    int fd = receiver(name, &a, &alen);
    if (!tap_ok(fd >= 0, "%s: the test's socket is bound", name))
        return;
    setenv("NOTIFY_SOCKET", name, 1);
    setenv("WATCHDOG_USEC", "20000", 1);
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    struct nurs_notify n;
    nurs_notify_init(&n);
    tap_ok(nurs_notify_enabled(&n), "%s: notifications on", name);
    tap_ok(!getenv("NOTIFY_SOCKET") && !getenv("WATCHDOG_USEC") && !getenv("WATCHDOG_PID"),
           "%s: the variables are gone from the environment", name);
    tap_is_int((long long)n.watchdog_usec, 20000, "the watchdog interval");

    nurs_notify_ready(&n);
    tap_is_str(next(fd), "READY=1", "READY=1");
    nurs_notify_reloading(&n);
    const char *m = next(fd);
    unsigned long long usec = 0;
    tap_ok(sscanf(m, "RELOADING=1\nMONOTONIC_USEC=%llu", &usec) == 1 && usec > 0,
           "RELOADING=1 with MONOTONIC_USEC (got %zu bytes)", strlen(m));
    nurs_notify_status(&n, "conntrack 3 rec/s\nsecond line");
    tap_is_str(next(fd), "STATUS=conntrack 3 rec/s", "STATUS: one line");
    nurs_notify_stopping(&n);
    tap_is_str(next(fd), "STOPPING=1", "STOPPING=1");

    /* Keep-alives every 10 ms while the loop turns. */
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_timer_t stop;
    uv_timer_init(&loop, &stop);
    uv_timer_start(&stop, on_stop, 55, 0);
    nurs_notify_watchdog_start(&n, &loop);
    uv_run(&loop, UV_RUN_DEFAULT);
    int count = 0;
    while (strcmp(next(fd), "WATCHDOG=1") == 0)
        count++;
    tap_ok(count >= 3 && count <= 7, "WATCHDOG=1 every half interval: %d in 55 ms", count);
    /* The loop stands still: no keep-alive. */
    usleep(50000);
    tap_is_str(next(fd), "", "no WATCHDOG=1 while the loop does not turn");
    uv_close((uv_handle_t *)&stop, NULL);
    nurs_notify_close(&n);
    uv_run(&loop, UV_RUN_DEFAULT);
    tap_is_int(uv_loop_close(&loop), 0, "every handle closed");
    tap_is_int((long long)n.failed, 0, "nothing failed");

    /* Nobody listens any more: counted, never fatal. */
    close(fd);
    if (name[0] == '/')
        unlink(name);
    setenv("NOTIFY_SOCKET", name, 1);
    nurs_notify_init(&n);
    tap_is_int(nurs_notify_send(&n, "READY=1"), -1, "no listener: the send fails");
    tap_is_int((long long)n.failed, 1, "and is counted");
    nurs_notify_close(&n);
}

static void not_ours(void)
{
    struct nurs_notify n;
    setenv("NOTIFY_SOCKET", "@nurs-test-other", 1);
    setenv("WATCHDOG_USEC", "1000000", 1);
    setenv("WATCHDOG_PID", "1", 1);
    nurs_notify_init(&n);
    tap_is_int((long long)n.watchdog_usec, 0, "WATCHDOG_PID of another process: no watchdog");
    nurs_notify_close(&n);
    unsetenv("NOTIFY_SOCKET");
    nurs_notify_init(&n);
    tap_ok(!nurs_notify_enabled(&n), "no NOTIFY_SOCKET: off");
    tap_is_int(nurs_notify_send(&n, "READY=1"), 0, "sending is then a no-op");
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    nurs_notify_init(&n);
    tap_ok(!nurs_notify_enabled(&n), "an unusable address: off");
}

static void journal(void)
{
    char path[] = "/tmp/nurs-test-notify.XXXXXX";
    int fd = mkstemp(path);
    struct stat st;
    if (!tap_ok(fd >= 0 && fstat(fd, &st) == 0, "a file to stand for the journal"))
        return;
    char v[64];
    snprintf(v, sizeof v, "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    tap_ok(nurs_log_journal_stream(v, fd), "JOURNAL_STREAM naming the file: the journal");
    snprintf(v, sizeof v, "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino + 1);
    tap_ok(!nurs_log_journal_stream(v, fd), "another inode: not the journal");
    tap_ok(!nurs_log_journal_stream("12:34:56", fd), "garbage: not the journal");
    tap_ok(!nurs_log_journal_stream(NULL, fd), "unset: not the journal");
    close(fd);
    unlink(path);
}

static void capability_names(void)
{
    char buf[128];
    nurs_capabilities_format(1ull << CAP_NET_ADMIN | 1ull << CAP_SYS_PTRACE | 1ull << 40, buf,
                             sizeof buf);
    tap_is_str(buf, "CAP_NET_ADMIN CAP_SYS_PTRACE capability 40", "capability names");
    nurs_capabilities_format(0, buf, sizeof buf);
    tap_is_str(buf, "", "none");
}

int main(void)
{
    addresses();
    watchdog_conditions();
    char dir[] = "/tmp/nurs-test-notify.XXXXXX", path[64], abstract[64];
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/notify", dir);
    snprintf(abstract, sizeof abstract, "@nurs-test-notify-%ld", (long)getpid());
    protocol(path);
    protocol(abstract);
    rmdir(dir);
    not_ours();
    journal();
    capability_names();
    return tap_done();
}
