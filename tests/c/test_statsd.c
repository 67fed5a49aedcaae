/* The statsd wire text against golden strings: each tag style, names
 * checked and text made safe, batching into datagrams of at most max
 * bytes, and a push of counters as deltas (|c) and levels (|g) across
 * pushes, a worker loop's, a counter that went down. */
#include <stdio.h>
#include <string.h>

#include "sinks/statsd/line.h"
#include "sinks/statsd/push.h"
#include "tap.h"

static const struct nurs_statsd_tag two[] = {{"dir", "in"}, {"proto", "tcp"}};

static const char *line(enum nurs_statsd_tags style, const char *prefix, const char *value,
                        const char *type)
{
    static char out[256];
    if (!nurs_statsd_line(out, sizeof out, style, prefix, "hits", two, 2, value, type))
        snprintf(out, sizeof out, "(too long)");
    return out;
}

static void lines(void)
{
    tap_is_str(line(NURS_STATSD_TAGS_NONE, "nurs.", "3", "c"), "nurs.hits.in.tcp:3|c",
               "none: tag values become name parts");
    tap_is_str(line(NURS_STATSD_TAGS_DOGSTATSD, "nurs.", "3", "c"),
               "nurs.hits:3|c|#dir:in,proto:tcp", "dogstatsd");
    tap_is_str(line(NURS_STATSD_TAGS_GRAPHITE, "", "2.5", "g"), "hits;dir=in;proto=tcp:2.5|g",
               "graphite, no prefix");
    tap_is_str(line(NURS_STATSD_TAGS_INFLUX, "a.", "12", "ms"), "a.hits,dir=in,proto=tcp:12|ms",
               "influx");
    char small[16];
    tap_is_int((long long)nurs_statsd_line(small, sizeof small, NURS_STATSD_TAGS_NONE, "nurs.",
                                           "hits", NULL, 0, "3", "c"),
               13, "nurs.hits:3|c is 13 bytes, in 16");
    tap_is_int((long long)nurs_statsd_line(small, 13, NURS_STATSD_TAGS_NONE, "nurs.", "hits",
                                           NULL, 0, "3", "c"),
               0, "not in 13 (its terminator)");
    tap_is_int(nurs_statsd_tags_parse("dogstatsd"), NURS_STATSD_TAGS_DOGSTATSD, "parse");
    tap_is_int(nurs_statsd_tags_parse("datadog"), -1, "an unknown style");
}

static void names(void)
{
    tap_ok(nurs_statsd_name_ok("dns.queries-A_1", 200), "letters, digits, . - _");
    const char *bad[] = {"", ".a", "a.", "a..b", "a:b", "a|b", "a b", "a#b", "a;b", "a,b", "é"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        tap_ok(!nurs_statsd_name_ok(bad[i], 200), "refused: '%s'", bad[i]);
    char long_name[202];
    memset(long_name, 'a', 201);
    long_name[201] = '\0';
    tap_ok(!nurs_statsd_name_ok(long_name, 200), "refused: 201 bytes");
    char out[32];
    nurs_statsd_safe(out, sizeof out, "[::1]:2055,a b|c=d;e#f");
    tap_is_str(out, "___1__2055_a_b_c_d_e_f", "made safe");
    nurs_statsd_safe(out, 6, "10.0.0.1/8@x");
    tap_is_str(out, "10.0.", "made safe: bounded");
}

static void batching(void)
{
    static struct nurs_statsd_batch b;
    nurs_statsd_batch_clear(&b);
    b.max = 21;
    tap_is_int(nurs_statsd_batch_add(&b, "a:1|c", 5, 1), NURS_STATSD_ADDED, "first line");
    tap_is_int(nurs_statsd_batch_add(&b, "bb:22|c", 7, 1), NURS_STATSD_ADDED, "second line");
    tap_is_int((long long)b.len, 13, "joined by one newline");
    tap_is_int(nurs_statsd_batch_add(&b, "c:1|c", 5, 1), NURS_STATSD_ADDED, "19 bytes");
    tap_is_int(nurs_statsd_batch_add(&b, "d", 1, 1), NURS_STATSD_ADDED, "21 bytes: exactly max");
    tap_is_int(nurs_statsd_batch_add(&b, "e", 1, 1), NURS_STATSD_FULL, "23 > max: full");
    char got[32];
    snprintf(got, sizeof got, "%.*s", (int)b.len, b.buf);
    tap_is_str(got, "a:1|c\nbb:22|c\nc:1|c\nd", "the datagram, no trailing newline");
    tap_is_int(b.lines, 4, "4 lines");
    nurs_statsd_batch_clear(&b);
    tap_is_int(nurs_statsd_batch_add(&b, "x:0|g\nx:-1|g", 12, 2), NURS_STATSD_ADDED,
               "two lines as one entry");
    tap_is_int(nurs_statsd_batch_add(&b, "0123456789012345678901", 22, 1), NURS_STATSD_TOO_LONG,
               "longer than max: never fits");
}

/* ---- a push ---- */

static const struct nurs_resource_ops ct_ops = {
    .kind = "conntrack", .gauges = (const char *const[]){"rcvbuf", NULL}};

static char pushed[4096];

static void collect(void *ctx, const char *l, size_t len)
{
    (void)ctx;
    size_t n = strlen(pushed);
    snprintf(pushed + n, sizeof pushed - n, "%s%.*s", n ? "\n" : "", (int)len, l);
}

static void set_res(struct nurs_res_snap *r, uint64_t in, uint64_t rcvbuf)
{
    static const char *const common[] = {"in",      "delivered", "errors",  "overruns",
                                         "dropped", "malformed", "timeouts"};
    memset(r, 0, sizeof *r);
    r->ops = &ct_ops;
    snprintf(r->name, sizeof r->name, "ct 1");
    r->n_labels = 1;
    r->labels[0].name = "netns";
    snprintf(r->labels[0].value, sizeof r->labels[0].value, "a:b");
    for (int i = 0; i < 7; i++)
        r->counters[i] = (struct nurs_extra_counter){common[i], i == 0 ? in : 0};
    r->counters[7] = (struct nurs_extra_counter){"rcvbuf", rcvbuf};
    r->n_counters = 8;
}

static const char *push(struct nurs_census *c, enum nurs_statsd_tags style,
                        struct nurs_statsd_deltas *d)
{
    pushed[0] = '\0';
    struct nurs_statsd_format f = {style, "nurs."};
    nurs_statsd_push_counters(c, &f, d, collect, NULL);
    return pushed;
}

static void pushes(void)
{
    static struct nurs_host_snap loops[2];
    struct nurs_census c = {loops, 1};
    struct nurs_statsd_deltas d = {0};
    set_res(&loops[0].res[0], 10, 4096);
    loops[0].n_res = 1;
    loops[0].script[0] = (struct nurs_extra_counter){"errors", 2};
    loops[0].script[1] = (struct nurs_extra_counter){"memory_bytes", 900};
    loops[0].n_script = 2;
    tap_is_str(push(&c, NURS_STATSD_TAGS_DOGSTATSD, &d),
               "nurs.conntrack.in:10|c|#resource:ct_1,netns:a_b\n"
               "nurs.conntrack.rcvbuf:4096|g|#resource:ct_1,netns:a_b\n"
               "nurs.script.errors:2|c\n"
               "nurs.script.memory_bytes:900|g",
               "first push: counts since start, zeros left out, levels as gauges");
    loops[0].res[0].counters[0].value = 25;
    tap_is_str(push(&c, NURS_STATSD_TAGS_DOGSTATSD, &d),
               "nurs.conntrack.in:15|c|#resource:ct_1,netns:a_b\n"
               "nurs.conntrack.rcvbuf:4096|g|#resource:ct_1,netns:a_b\n"
               "nurs.script.memory_bytes:900|g",
               "second push: the change only; an unchanged count is not sent");
    loops[0].res[0].counters[0].value = 4;
    set_res(&loops[1].res[0], 7, 0);
    loops[1].n_res = 1;
    c.n_loops = 2;
    tap_is_str(push(&c, NURS_STATSD_TAGS_NONE, &d),
               "nurs.conntrack.ct_1.in:4|c\n"
               "nurs.conntrack.ct_1.rcvbuf:4096|g\n"
               "nurs.script.memory_bytes:900|g\n"
               "nurs.conntrack.ct_1.worker1.in:7|c\n"
               "nurs.conntrack.ct_1.worker1.rcvbuf:0|g",
               "plain style: a count that went down is a reset; a worker loop's are its own");
    tap_is_str(push(&c, NURS_STATSD_TAGS_GRAPHITE, &d),
               "nurs.conntrack.rcvbuf;resource=ct_1;netns=a_b:4096|g\n"
               "nurs.script.memory_bytes:900|g\n"
               "nurs.conntrack.rcvbuf;resource=ct_1;netns=a_b;worker=1:0|g",
               "graphite style, with the worker tag");
    for (int i = 0; i < 20; i++)
        push(&c, NURS_STATSD_TAGS_NONE, &d);
    loops[0].res[0].counters[0].value = 5;
    tap_is_str(push(&c, NURS_STATSD_TAGS_NONE, &d),
               "nurs.conntrack.ct_1.in:1|c\n"
               "nurs.conntrack.ct_1.rcvbuf:4096|g\n"
               "nurs.script.memory_bytes:900|g\n"
               "nurs.conntrack.ct_1.worker1.rcvbuf:0|g",
               "values kept across the table's pruning");
    tap_is_int((long long)d.untracked, 0, "nothing untracked");
    nurs_statsd_deltas_free(&d);
}

int main(void)
{
    lines();
    names();
    batching();
    pushes();
    return tap_done();
}
