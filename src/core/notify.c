#include "core/notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

socklen_t nurs_notify_parse_address(const char *s, struct sockaddr_un *addr)
{
    if (!s || (s[0] != '/' && s[0] != '@'))
        return 0;
    size_t len = strlen(s);
    /* An abstract name is not NUL-terminated: its length says where it
     * ends, so it may use every byte of sun_path. */
    if (len < 2 || len > sizeof addr->sun_path - (s[0] == '/'))
        return 0;
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    memcpy(addr->sun_path, s, len);
    if (s[0] == '@')
        addr->sun_path[0] = '\0';
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (s[0] == '/'));
}

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

uint64_t nurs_notify_parse_watchdog(const char *usec, const char *wpid, long pid)
{
    uint64_t v, p;
    if (!parse_u64(usec, &v))
        return 0;
    /* Set for another process (our parent's watchdog, inherited). */
    if (wpid && *wpid && (!parse_u64(wpid, &p) || p != (uint64_t)pid))
        return 0;
    return v;
}

void nurs_notify_init(struct nurs_notify *n)
{
    memset(n, 0, sizeof *n);
    n->fd = -1;
    const char *sock = getenv("NOTIFY_SOCKET");
    if (sock && *sock) {
        n->addr_len = nurs_notify_parse_address(sock, &n->addr);
        if (!n->addr_len)
            nurs_warn("NOTIFY_SOCKET=%s: not a unix socket path or @abstract name; "
                      "the service manager will not hear from us", sock);
        else if ((n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
            nurs_warn("NOTIFY_SOCKET: socket: %s", strerror(errno));
        else
            n->watchdog_usec = nurs_notify_parse_watchdog(
                getenv("WATCHDOG_USEC"), getenv("WATCHDOG_PID"), (long)getpid());
    }
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
}

bool nurs_notify_enabled(const struct nurs_notify *n) { return n->fd >= 0; }

int nurs_notify_send(struct nurs_notify *n, const char *msg)
{
    if (n->fd < 0)
        return 0;
    ssize_t w = sendto(n->fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT,
                       (const struct sockaddr *)&n->addr, n->addr_len);
    if (w < 0) {
        /* With a watchdog this would repeat every few seconds: the first
         * failure is logged, the rest only counted. */
        if (n->failed++ == 0)
            nurs_warn("NOTIFY_SOCKET: %s (further failures only counted)", strerror(errno));
        return -1;
    }
    n->sent++;
    return 0;
}

void nurs_notify_ready(struct nurs_notify *n) { nurs_notify_send(n, "READY=1"); }

void nurs_notify_reloading(struct nurs_notify *n)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char msg[64];
    snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000u);
    nurs_notify_send(n, msg);
}

void nurs_notify_stopping(struct nurs_notify *n) { nurs_notify_send(n, "STOPPING=1"); }

void nurs_notify_status(struct nurs_notify *n, const char *line)
{
    char msg[512];
    snprintf(msg, sizeof msg, "STATUS=%.*s", (int)strcspn(line, "\n"), line);
    nurs_notify_send(n, msg);
}

static void on_watchdog(uv_timer_t *t)
{
    nurs_notify_send(t->data, "WATCHDOG=1");
}

void nurs_notify_watchdog_start(struct nurs_notify *n, uv_loop_t *loop)
{
    if (n->fd < 0 || !n->watchdog_usec || n->watchdog_started)
        return;
    uint64_t every_ms = n->watchdog_usec / 2000u;
    if (every_ms == 0)
        every_ms = 1;
    uv_timer_init(loop, &n->watchdog);
    n->watchdog.data = n;
    uv_timer_start(&n->watchdog, on_watchdog, 0, every_ms);
    uv_unref((uv_handle_t *)&n->watchdog);
    n->watchdog_started = true;
    nurs_debug("watchdog: keep-alive every %llu ms", (unsigned long long)every_ms);
}

void nurs_notify_close(struct nurs_notify *n)
{
    if (n->watchdog_started) {
        uv_close((uv_handle_t *)&n->watchdog, NULL);
        n->watchdog_started = false;
    }
    if (n->fd >= 0)
        close(n->fd);
    n->fd = -1;
}
