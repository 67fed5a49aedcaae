/* The stream's listeners (TCP, unix socket) and who they let in. */
#include <errno.h>
#include <stdarg.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/stream_priv.h"

#define WATCH_MS 1000

static struct nurs_ratelimit refuse_rl = NURS_RATELIMIT_INIT(10000, 5);

static void peer_name(const struct sockaddr_storage *sa, char *out, size_t len)
{
    char host[64] = "?";
    int port = 0;
    if (sa->ss_family == AF_INET6) {
        uv_ip6_name((const struct sockaddr_in6 *)sa, host, sizeof host);
        port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    } else if (sa->ss_family == AF_INET) {
        uv_ip4_name((const struct sockaddr_in *)sa, host, sizeof host);
        port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
    }
    snprintf(out, len, sa->ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host, port);
}

static bool in_list(const uint32_t *ids, int n, uint32_t id)
{
    for (int i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

static bool uid_allowed(const struct nurs_stream *st, uint32_t uid)
{
    return uid == 0 || uid == (uint32_t)geteuid() ||
           in_list(st->o.access.uids, st->o.access.n_uids, uid);
}

static void refuse(struct stream_reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void refuse(struct stream_reader *r, const char *fmt, ...)
{
    struct nurs_stream *st = r->st;
    st->stats.refused++;
    if (nurs_ratelimit_check(&refuse_rl) >= 0) {
        char why[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
        nurs_warn("%s: refused reader %s: %s", st->name, r->peer, why);
    }
    nurs_stream_close_reader(r);
}

/* Slots: max_readers in all, max_per_uid for one user. */
static void admit(struct stream_reader *r)
{
    struct nurs_stream *st = r->st;
    if (st->closing) {
        nurs_stream_close_reader(r);
        return;
    }
    if (st->stats.readers >= (uint64_t)st->o.max_readers) {
        refuse(r, "already %d readers (max_readers)", st->o.max_readers);
        return;
    }
    if (r->uid_known) {
        int same = 0;
        for (struct stream_reader *o = st->readers; o; o = o->next)
            same += o->uid_known && o->uid == r->uid;
        if (same >= st->o.max_per_uid) {
            refuse(r, "uid %u has %d readers already (max_per_uid)", (unsigned)r->uid, same);
            return;
        }
    }
    if (st->kind == KIND_LISTEN)
        uv_tcp_nodelay(&r->h.tcp, 1);
    nurs_stream_add_reader(st, r, r->peer);
}

/* ---- groups of a TCP reader's uid, looked up off the loop (NSS) ---- */

static void groups_work(uv_work_t *w)
{
    struct stream_reader *r = w->data;
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (getpwuid_r(r->uid, &pw, buf, sizeof buf, &res) != 0 || !res)
        return;
    gid_t groups[256];
    int n = (int)(sizeof groups / sizeof *groups);
    if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
        n = (int)(sizeof groups / sizeof *groups);
    for (int i = 0; i < n; i++)
        if (in_list(r->st->o.access.gids, r->st->o.access.n_gids, (uint32_t)groups[i]))
            r->group_ok = true;
}

static void groups_done(uv_work_t *w, int status)
{
    struct stream_reader *r = w->data;
    if (status == 0 && r->group_ok)
        admit(r);
    else if (r->st->closing)
        nurs_stream_close_reader(r);
    else
        refuse(r, "uid %u is not allowed (allow_uids, allow_gids)", (unsigned)r->uid);
}

static void decide(struct stream_reader *r)
{
    struct nurs_stream *st = r->st;
    if (!r->uid_known || uid_allowed(st, r->uid) ||
        (st->kind == KIND_UNIX && in_list(st->o.access.gids, st->o.access.n_gids, r->gid))) {
        admit(r);
        return;
    }
    if (st->o.access.n_gids > 0) {
        r->groups.data = r;
        if (uv_queue_work(st->loop, &r->groups, groups_work, groups_done) == 0)
            return;
    }
    refuse(r, "uid %u is not allowed (allow_uids, allow_gids)", (unsigned)r->uid);
}

/* Who is at the other end: credentials of a unix peer, the uid of a TCP
 * peer's socket on this host. False when the reader is refused. */
static bool identify(struct stream_reader *r)
{
    struct nurs_stream *st = r->st;
    if (st->kind == KIND_UNIX) {
        struct ucred cred;
        socklen_t len = sizeof cred;
        uv_os_fd_t fd;
        if (uv_fileno(&r->h.handle, &fd) < 0 ||
            getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
            refuse(r, "no peer credentials");
            return false;
        }
        snprintf(r->peer, sizeof r->peer, "pid %d uid %u", (int)cred.pid, (unsigned)cred.uid);
        r->uid_known = true;
        r->uid = cred.uid;
        r->gid = cred.gid;
        return true;
    }
    struct sockaddr_storage local, peer;
    int n = sizeof peer, m = sizeof local;
    if (uv_tcp_getpeername(&r->h.tcp, (struct sockaddr *)&peer, &n) < 0 ||
        uv_tcp_getsockname(&r->h.tcp, (struct sockaddr *)&local, &m) < 0) {
        refuse(r, "no peer address");
        return false;
    }
    peer_name(&peer, r->peer, sizeof r->peer);
    uint32_t uid;
    if (st->o.peer_uid &&
        st->o.peer_uid((struct sockaddr *)&local, (struct sockaddr *)&peer, &uid) == 0) {
        r->uid_known = true;
        r->uid = uid;
        size_t l = strlen(r->peer);
        snprintf(r->peer + l, sizeof r->peer - l, " (uid %u)", (unsigned)uid);
        return true;
    }
    if (!st->o.access.allow_remote) {
        refuse(r, "not a socket of this host (allow_remote = true lets other hosts read)");
        return false;
    }
    return true;
}

static void on_connection(uv_stream_t *server, int status)
{
    struct nurs_stream *st = server->data;
    if (status < 0 || st->closing)
        return;
    struct stream_reader *r = nurs_stream_new_reader(st);
    int rc = !r ? -1
             : st->kind == KIND_UNIX ? uv_pipe_init(st->loop, &r->h.pipe, 0)
                                     : uv_tcp_init(st->loop, &r->h.tcp);
    if (rc < 0) {
        free(r);
        return;
    }
    st->handles++;
    if (uv_accept(server, &r->h.stream) < 0) {
        nurs_stream_close_reader(r);
        return;
    }
    if (identify(r))
        decide(r);
}

/* Readers that took nothing for reader_timeout while a write waited for
 * them: they do not read, and hold a slot and a buffer. A slow reader
 * makes progress (a write done, or fewer bytes left in libuv's queue). */
static void on_watch(uv_timer_t *t)
{
    struct nurs_stream *st = t->data;
    uint64_t now = uv_now(st->loop);
    uint64_t limit = (uint64_t)(st->o.reader_timeout * 1000.0);
    struct stream_reader *next;
    for (struct stream_reader *r = st->readers; r; r = next) {
        next = r->next;
        size_t queue = uv_stream_get_write_queue_size(&r->h.stream);
        if (!r->writing || r->writes_done != r->watched_writes || queue < r->watched_queue ||
            !r->progress_ms)
            r->progress_ms = now;
        r->watched_writes = r->writes_done;
        r->watched_queue = queue;
        if (r->writing && now - r->progress_ms > limit) {
            st->stats.evicted++;
            char why[64];
            snprintf(why, sizeof why, "evicted: read nothing for %.0f s", st->o.reader_timeout);
            nurs_stream_drop_reader(r, why);
        }
    }
}

void nurs_stream_recheck(struct nurs_stream *st)
{
    if (st->listening && !st->closing)
        uv_timer_start(&st->watch, on_watch, WATCH_MS, WATCH_MS);
}

/* A socket file left by an earlier run is ours to remove; anything else
 * at that path is not. */
static int clear_socket_path(const char *path, char *err, size_t errlen)
{
    struct stat sb;
    if (lstat(path, &sb) < 0)
        return 0;
    if (!S_ISSOCK(sb.st_mode) || sb.st_uid != geteuid()) {
        snprintf(err, errlen, "%s exists and is not a socket this daemon made; remove it", path);
        return -1;
    }
    if (unlink(path) < 0) {
        snprintf(err, errlen, "cannot remove the old socket %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int listen_unix(struct nurs_stream *st, char *err, size_t errlen)
{
    if (clear_socket_path(st->target, err, errlen) < 0)
        return -1;
    uv_pipe_init(st->loop, &st->listener.pipe, 0);
    st->listener.handle.data = st;
    st->handles++;
    int rc = uv_pipe_bind(&st->listener.pipe, st->target);
    if (rc < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", st->target, uv_strerror(rc));
        return -1;
    }
    st->listening = true;
    unsigned mode = st->o.file.mode ? st->o.file.mode : 0600;
    if (chmod(st->target, mode) < 0 ||
        (st->o.socket_gid >= 0 && chown(st->target, (uid_t)-1, (gid_t)st->o.socket_gid) < 0)) {
        snprintf(err, errlen, "cannot set the mode or group of %s: %s", st->target,
                 strerror(errno));
        return -1;
    }
    return 0;
}

int nurs_stream_listen(struct nurs_stream *st, char *err, size_t errlen)
{
    int rc;
    if (st->kind == KIND_UNIX) {
        if (listen_unix(st, err, errlen) < 0)
            return -1;
    } else {
        uv_tcp_init(st->loop, &st->listener.tcp);
        st->listener.handle.data = st;
        st->handles++;
        rc = uv_tcp_bind(&st->listener.tcp, (struct sockaddr *)&st->addr, 0);
        if (rc < 0) {
            snprintf(err, errlen, "cannot listen on %s: %s", st->target + strlen("tcp://"),
                     uv_strerror(rc));
            return -1;
        }
        st->listening = true;
    }
    rc = uv_listen((uv_stream_t *)&st->listener, 16, on_connection);
    if (rc < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", st->target, uv_strerror(rc));
        return -1;
    }
    uv_unref(&st->listener.handle);
    nurs_stream_recheck(st);
    nurs_info("%s: listening for readers on %s%s", st->name,
              st->kind == KIND_UNIX ? "unix://" : "", st->target);
    return 0;
}

void nurs_stream_unlisten(struct nurs_stream *st)
{
    if (st->listener.handle.type == UV_UNKNOWN_HANDLE || uv_is_closing(&st->listener.handle))
        return;
    if (st->kind == KIND_UNIX && st->listening)
        unlink(st->target);
    uv_close(&st->listener.handle, nurs_stream_handle_closed);
}
