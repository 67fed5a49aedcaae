/* The service manager's notification protocol (sd_notify), spoken
 * directly: one datagram per state change to the unix socket named by
 * $NOTIFY_SOCKET (a path, or an abstract address written with a leading
 * '@'). No libsystemd; without $NOTIFY_SOCKET every call is a no-op.
 *
 * The watchdog ($WATCHDOG_USEC, for this process when $WATCHDOG_PID is
 * unset or ours) is kept by a timer on the event loop at half the
 * interval: a loop that stops turning (a callback that spins) stops the
 * keep-alives, and the service manager restarts the daemon. */
#ifndef NURS_CORE_NOTIFY_H
#define NURS_CORE_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include <sys/socket.h>
#include <sys/un.h>

#include <uv.h>

struct nurs_notify {
    int fd; /* -1: not under a service manager */
    struct sockaddr_un addr;
    socklen_t addr_len;
    uint64_t watchdog_usec; /* 0: no watchdog */
    uv_timer_t watchdog;
    bool watchdog_started;
    uint64_t sent, failed; /* datagrams sent, and refused (full queue, no listener) */
};

/* Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID and removes them
 * from the environment, so that processes a script starts do not talk to
 * the service manager in our name. An unusable address is logged and
 * leaves notifications off. Never fails. */
void nurs_notify_init(struct nurs_notify *n);
bool nurs_notify_enabled(const struct nurs_notify *n);

/* Sends one datagram of newline-separated VAR=value assignments, without
 * blocking. Returns 0, or -1 (counted in n->failed) if it was not sent. */
int nurs_notify_send(struct nurs_notify *n, const char *msg);

void nurs_notify_ready(struct nurs_notify *n);
/* RELOADING=1 with MONOTONIC_USEC=now, as systemd wants it. */
void nurs_notify_reloading(struct nurs_notify *n);
void nurs_notify_stopping(struct nurs_notify *n);
/* STATUS=line (one line: a newline in it ends it). */
void nurs_notify_status(struct nurs_notify *n, const char *line);

/* Starts the watchdog keep-alives on loop, if a watchdog is asked for;
 * the timer does not keep the loop alive by itself. */
void nurs_notify_watchdog_start(struct nurs_notify *n, uv_loop_t *loop);
/* Stops the timer (closed through the loop) and closes the socket. */
void nurs_notify_close(struct nurs_notify *n);

/* Parses an address as found in $NOTIFY_SOCKET into addr; returns its
 * length, or 0 if it is not a unix socket address we can use. */
socklen_t nurs_notify_parse_address(const char *s, struct sockaddr_un *addr);
/* The watchdog interval in microseconds asked of process `pid` by these
 * values of $WATCHDOG_USEC and $WATCHDOG_PID (either may be NULL); 0: none. */
uint64_t nurs_notify_parse_watchdog(const char *usec, const char *wpid, long pid);

#endif
