/* The claim/adopt protocol on its own, with scripts written in C: a reload
 * that declares a resource again keeps the resource itself, its kernel
 * socket and what waits in the socket's buffer, and swaps in the new
 * script's settings and consumers only once the new script has loaded; a
 * reload that fails leaves everything as it was; what the new script does
 * not declare again is destroyed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/host.h"
#include "core/resource.h"
#include "tap.h"

struct test_settings {
    int level;
};

struct test_source {
    struct nurs_resource res;
    struct test_settings cur, next;
    int fd; /* stands for a netlink socket: what it holds must survive */
    int adopted, given_back, destroyed;
};

static int destroyed_total;

static void destroy(struct nurs_resource *r)
{
    struct test_source *s = (struct test_source *)r;
    close(s->fd);
    destroyed_total++;
    free(s);
}

static void adopted(struct nurs_resource *r) { ((struct test_source *)r)->adopted++; }
static void given_back(struct nurs_resource *r) { ((struct test_source *)r)->given_back++; }

static const struct nurs_resource_ops test_ops = {
    .kind = "test",
    .destroy = destroy,
    NURS_SETTINGS_IN(struct test_source),
    .adopted = adopted,
    .given_back = given_back,
};

/* A consumer a script makes (as the bindings make one per function). */
struct test_consumer {
    struct nurs_consumer base;
    int *released;
};

static int released_count;

static void release_consumer(struct nurs_consumer *c)
{
    (*((struct test_consumer *)c)->released)++;
    free(c);
}

static enum nurs_take take(struct nurs_consumer *c, struct nurs_resource *from,
                           struct nurs_record *rec)
{
    (void)c, (void)from, (void)rec;
    return NURS_TAKEN;
}

static const struct nurs_consumer_ops consumer_ops = {.kinds = 1, .take = take,
                                                      .release = release_consumer};

static int peer = -1; /* the other end of the current source's socket */

/* What a script declares: the source "k" at `level` (get-or-adopt), with
 * one consumer; it fails after declaring when `fail`. */
struct test_script {
    struct nurs_script base;
    int level;
    bool fail;
    bool declare;
};

static struct test_script *next_script;
static struct test_source *declared;

static struct test_source *get_source(struct nurs_script *s, int level)
{
    struct test_settings set = {level};
    struct nurs_resource *r = nurs_resource_claim(s, &test_ops, "k", &set);
    struct test_source *src = (struct test_source *)r;
    if (!r) {
        src = calloc(1, sizeof *src);
        int sv[2];
        socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
        src->fd = sv[0];
        peer = sv[1];
        nurs_resource_init(&src->res, &test_ops, s, NULL, "k", &set);
    }
    struct test_consumer *c = malloc(sizeof *c);
    c->base.ops = &consumer_ops;
    c->released = &released_count;
    nurs_consumers_add(nurs_resource_consumers_of(&src->res, s), &c->base);
    return src;
}

static struct nurs_script *create(struct nurs_host *h)
{
    struct test_script *s = next_script;
    s->base.host = h;
    return &s->base;
}

/* Settings seen while the script loads: its own, and the running one's. */
static int level_for_loader, level_for_owner;

static int run(struct nurs_script *script)
{
    struct test_script *s = (struct test_script *)script;
    if (s->declare) {
        declared = get_source(script, s->level);
        const struct test_settings *mine = nurs_resource_settings(&declared->res, script);
        const struct test_settings *owners = nurs_resource_settings(&declared->res, NULL);
        level_for_loader = mine->level;
        level_for_owner = owners->level;
    }
    return s->fail ? -1 : 0;
}

static void close_script(struct nurs_script *s) { (void)s; }

static const struct nurs_engine engine = {.create = create, .run = run, .close = close_script};

static int load(struct nurs_host *h, struct test_script *s)
{
    next_script = s;
    return nurs_host_load(h);
}

int main(void)
{
    struct nurs_host h;
    nurs_host_init(&h, uv_default_loop(), &engine);

    struct test_script a = {.level = 1, .declare = true};
    tap_ok(load(&h, &a) == 0, "first script loads");
    struct test_source *first = declared;
    const struct test_settings *set = nurs_resource_settings(&first->res, &a.base);
    tap_is_int(set->level, 1, "its settings are in force");
    tap_ok(send(peer, "kept", 4, 0) == 4, "a datagram waits in the socket's buffer");
    int fd = first->fd;

    struct test_script b = {.level = 2, .declare = true};
    tap_ok(load(&h, &b) == 0, "a reload that declares the source again loads");
    tap_ok(declared == first, "the same resource is kept");
    tap_is_int(first->fd, fd, "with the same socket");
    char buf[8] = {0};
    tap_ok(recv(first->fd, buf, sizeof buf, MSG_DONTWAIT) == 4 && memcmp(buf, "kept", 4) == 0,
           "what waited in its buffer is still there");
    tap_is_int(first->cur.level, 2, "the new script's settings are in force");
    tap_is_int(level_for_loader, 2, "while it loaded, the new script saw its own settings");
    tap_is_int(level_for_owner, 1, "...and the running one still had its own");
    tap_is_int(first->adopted, 1, "the kind was told once");
    tap_is_int(first->res.consumers.n, 1, "the new script's consumer replaced the old one's");
    tap_is_int(released_count, 1, "the old script's consumer was released");

    struct test_script c = {.level = 3, .declare = true, .fail = true};
    tap_ok(load(&h, &c) != 0, "a reload that fails");
    tap_is_int(level_for_loader, 3, "claimed the source with its settings while it loaded");
    tap_ok(first->cur.level == 2 && first->res.owner == &b.base && !first->res.claimant,
           "the source goes on as it was, owned by the running script");
    tap_is_int(first->given_back, 1, "the kind was told it was given back");
    tap_ok(first->res.consumers.n == 1 && released_count == 2,
           "the failed script's consumer was released, the running one's kept");
    tap_ok(send(peer, "more", 4, 0) == 4 && recv(first->fd, buf, sizeof buf, MSG_DONTWAIT) == 4,
           "its socket still works");

    struct test_script d = {.declare = false};
    tap_ok(load(&h, &d) == 0, "a reload that declares nothing");
    tap_is_int(destroyed_total, 1, "the source it did not declare again is destroyed");
    nurs_host_shutdown(&h);
    close(peer);
    return tap_done();
}
