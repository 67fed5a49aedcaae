/* Script-defined metrics (names and labels per the Prometheus data model,
 * bounded label sets, values kept across a reload that defines a metric
 * the same way), the listen address syntax, and the /proc probe. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sinks/metrics/probe.h"
#include "sinks/metrics/registry.h"
#include "sinks/metrics/server.h"
#include "tap.h"

static struct nurs_mseries *series(struct nurs_mfamily *f, const char *a, const char *b)
{
    const char *v[] = {a, b};
    size_t l[] = {a ? strlen(a) : 0, b ? strlen(b) : 0};
    return nurs_mfamily_series(f, v, l);
}

static void names(void)
{
    static const char *const good[] = {"a", "_x", "x:y", "Abc_1", "a1:b2_"};
    static const char *const bad[] = {"", "1a", "a-b", "a b", "ä", "a.b"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        tap_ok(nurs_metric_name_valid(good[i]), "metric name '%s' is valid", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        tap_ok(!nurs_metric_name_valid(bad[i]), "metric name '%s' is not", bad[i]);
    tap_ok(nurs_label_name_valid("code") && nurs_label_name_valid("_a1"), "label names");
    tap_ok(!nurs_label_name_valid("__name") && !nurs_label_name_valid("a:b") &&
               !nurs_label_name_valid("9") && !nurs_label_name_valid(""),
           "label names: no __ prefix, colon, leading digit, empty");
}

static void define_errors(void)
{
    struct nurs_mregistry reg;
    nurs_mregistry_init(&reg);
    char err[256];
    const struct {
        struct nurs_mspec spec;
        const char *says;
    } cases[] = {
        {{.name = "bad-name", .type = NURS_METRIC_COUNTER}, "invalid metric name"},
        {{.name = "nurs_mine", .type = NURS_METRIC_GAUGE}, "reserved"},
        {{.name = "process_x", .type = NURS_METRIC_GAUGE}, "reserved"},
        {{.name = "x_total", .type = NURS_METRIC_GAUGE}, "only counters end in _total"},
        {{.name = "x_bucket", .type = NURS_METRIC_HISTOGRAM}, "ends in '_bucket'"},
        {{.name = "x", .type = NURS_METRIC_GAUGE, .labels = {"__a"}, .n_labels = 1},
         "invalid label name"},
        {{.name = "x", .type = NURS_METRIC_GAUGE, .labels = {"a", "a"}, .n_labels = 2},
         "given twice"},
        {{.name = "x", .type = NURS_METRIC_HISTOGRAM, .labels = {"le"}, .n_labels = 1},
         "'le' is the histogram's own"},
        {{.name = "x", .type = NURS_METRIC_HISTOGRAM, .buckets = (const double[]){1, 1},
          .n_buckets = 2},
         "increasing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        err[0] = '\0';
        struct nurs_mfamily *f = nurs_mregistry_define(&reg, &cases[i].spec, false, err, sizeof err);
        tap_ok(!f && strstr(err, cases[i].says), "'%s' refused: %s", cases[i].spec.name, err);
    }
    struct nurs_mfamily *c = nurs_mregistry_define(
        &reg, &(struct nurs_mspec){.name = "hits_total", .type = NURS_METRIC_COUNTER}, false, err,
        sizeof err);
    tap_ok(c && strcmp(c->name, "hits") == 0, "a counter's _total is taken off its name");
    struct nurs_mfamily *again = nurs_mregistry_define(
        &reg, &(struct nurs_mspec){.name = "hits", .type = NURS_METRIC_COUNTER}, false, err,
        sizeof err);
    tap_ok(again == c, "defined again the same way: the same metric");
    tap_ok(!nurs_mregistry_define(&reg, &(struct nurs_mspec){.name = "hits", .type = NURS_METRIC_GAUGE},
                                  false, err, sizeof err) &&
               strstr(err, "clashes"),
           "the same name as another type clashes: %s", err);
    tap_ok(!nurs_mregistry_define(&reg,
                                  &(struct nurs_mspec){.name = "hits_total", .type = NURS_METRIC_GAUGE},
                                  false, err, sizeof err),
           "a gauge named like a counter's sample is refused");
    nurs_mfamily_unref(c);
    nurs_mfamily_unref(again);
    nurs_mregistry_clear(&reg);
}

static void cardinality(void)
{
    struct nurs_mregistry reg;
    nurs_mregistry_init(&reg);
    char err[256];
    struct nurs_mspec spec = {.name = "req", .type = NURS_METRIC_COUNTER, .labels = {"a", "b"},
                              .n_labels = 2, .max_series = 3};
    struct nurs_mfamily *f = nurs_mregistry_define(&reg, &spec, false, err, sizeof err);
    struct nurs_mseries *s1 = series(f, "x", "y");
    tap_ok(s1 && series(f, "x", "y") == s1, "the same labels find the same series");
    tap_ok(series(f, "xy", "") != s1, "values are not merely concatenated");
    tap_ok(series(f, "z", "") != NULL, "a third series");
    tap_ok(series(f, "w", "") == NULL && f->refused == 1, "a fourth is refused and counted");
    tap_ok(series(f, "x", "y") == s1 && f->refused == 1, "known ones still work");
    char big[NURS_METRICS_MAX_VALUE_LEN + 2];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    struct nurs_mspec spec2 = {.name = "big", .type = NURS_METRIC_GAUGE, .labels = {"a"},
                               .n_labels = 1};
    struct nurs_mfamily *g = nurs_mregistry_define(&reg, &spec2, false, err, sizeof err);
    tap_ok(series(g, big, NULL) == NULL && g->refused == 1, "a too long label value is refused");
    /* Many series: the table grows and every one is found again. */
    struct nurs_mspec spec3 = {.name = "many", .type = NURS_METRIC_GAUGE, .labels = {"i"},
                               .n_labels = 1, .max_series = 5000};
    struct nurs_mfamily *m = nurs_mregistry_define(&reg, &spec3, false, err, sizeof err);
    int found = 0;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 5000; i++) {
            char v[16];
            snprintf(v, sizeof v, "%d", i);
            struct nurs_mseries *s = series(m, v, NULL);
            if (round == 0 && s)
                s->value = i;
            else if (s && s->value == i)
                found++;
        }
    }
    tap_is_int(found, 5000, "5000 series, each found again with its value");
    nurs_mfamily_unref(f);
    nurs_mfamily_unref(g);
    nurs_mfamily_unref(m);
    nurs_mregistry_clear(&reg);
}

static void histogram(void)
{
    struct nurs_mregistry reg;
    nurs_mregistry_init(&reg);
    char err[256];
    struct nurs_mfamily *h = nurs_mregistry_define(
        &reg, &(struct nurs_mspec){.name = "lat", .type = NURS_METRIC_HISTOGRAM}, false, err,
        sizeof err);
    tap_is_int(h->n_bounds, 11, "default buckets: Prometheus's eleven");
    struct nurs_mseries *s = series(h, NULL, NULL);
    nurs_mseries_observe(h, s, 0.005); /* on a bound: that bucket (le is <=) */
    nurs_mseries_observe(h, s, 0.0051);
    nurs_mseries_observe(h, s, 11);
    nurs_mseries_observe(h, s, -3);
    tap_ok(s->buckets[0] == 2 && s->buckets[1] == 1 && s->buckets[11] == 1,
           "observations land in the first bucket whose bound is >= them");
    struct nurs_mfamily *inf = nurs_mregistry_define(
        &reg,
        &(struct nurs_mspec){.name = "x", .type = NURS_METRIC_HISTOGRAM,
                             .buckets = (const double[]){1, 2, 1.0 / 0.0}, .n_buckets = 3},
        false, err, sizeof err);
    tap_ok(inf && inf->n_bounds == 2, "a last bucket of +Inf is implied, not doubled");
    struct nurs_expo w;
    nurs_expo_init(&w, NURS_EXPO_TEXT, 1 << 20);
    nurs_mregistry_write(&reg, &w);
    tap_ok(w.len > 0 && strstr(w.buf, "lat_bucket{le=\"+Inf\"} 4\nlat_sum 8.0101\nlat_count 4\n"),
           "written with +Inf, sum and count");
    nurs_expo_free(&w);
    nurs_mfamily_unref(h);
    nurs_mfamily_unref(inf);
    nurs_mregistry_clear(&reg);
}

/* A reload: the new script defines "kept" the same way, "changed" with
 * other labels, and not "gone"; values of "kept" survive. */
static void reload(void)
{
    struct nurs_mregistry reg;
    nurs_mregistry_init(&reg);
    char err[256];
    struct nurs_mspec kept = {.name = "kept", .type = NURS_METRIC_COUNTER};
    struct nurs_mspec changed = {.name = "changed", .type = NURS_METRIC_GAUGE};
    struct nurs_mspec changed2 = {.name = "changed", .type = NURS_METRIC_GAUGE,
                                  .labels = {"a"}, .n_labels = 1};
    struct nurs_mspec gone = {.name = "gone", .type = NURS_METRIC_GAUGE};
    struct nurs_mfamily *k = nurs_mregistry_define(&reg, &kept, false, err, sizeof err);
    struct nurs_mfamily *c = nurs_mregistry_define(&reg, &changed, false, err, sizeof err);
    struct nurs_mfamily *g = nurs_mregistry_define(&reg, &gone, false, err, sizeof err);
    series(k, NULL, NULL)->value = 41;

    struct nurs_mfamily *k2 = nurs_mregistry_define(&reg, &kept, true, err, sizeof err);
    struct nurs_mfamily *c2 = nurs_mregistry_define(&reg, &changed2, true, err, sizeof err);
    tap_ok(k2 == k, "defined the same way while loading: the same family");
    tap_ok(c2 && c2 != c, "defined differently while loading: a new family beside the old");
    struct nurs_expo w;
    nurs_expo_init(&w, NURS_EXPO_TEXT, 1 << 20);
    nurs_mregistry_write(&reg, &w);
    tap_ok(strstr(w.buf, "TYPE changed gauge") && !strstr(w.buf, "changed{"),
           "while loading, scrapes see the running script's definitions");
    nurs_expo_free(&w);

    nurs_mregistry_commit(&reg, true);
    tap_ok(c->dead && g->dead && !k->dead && !c2->dead && reg.n_families == 2,
           "adopted: what the new script did not define is gone");
    tap_ok(nurs_mfamily_find(k, NULL, NULL) && nurs_mfamily_find(k, NULL, NULL)->value == 41,
           "and what it defined the same way kept its value");
    tap_ok(series(g, NULL, NULL) == NULL, "a gone family takes no series");
    nurs_mfamily_unref(c);
    nurs_mfamily_unref(g);

    /* A failed load gives back what it defined. */
    struct nurs_mspec extra = {.name = "extra", .type = NURS_METRIC_GAUGE};
    struct nurs_mfamily *e = nurs_mregistry_define(&reg, &extra, true, err, sizeof err);
    nurs_mregistry_commit(&reg, false);
    tap_ok(e->dead && !k->dead && !c2->dead && reg.n_families == 2,
           "failed load: its new families go, the running ones stay");
    nurs_mfamily_unref(e);
    nurs_mfamily_unref(k);
    nurs_mfamily_unref(k2);
    nurs_mfamily_unref(c2);
    nurs_mregistry_clear(&reg);
}

static void listen_syntax(void)
{
    static const struct {
        const char *text;
        int family;
        const char *ip;
        unsigned port;
    } good[] = {
        {"127.0.0.1:9464", AF_INET, "127.0.0.1", 9464},
        {"9100", AF_INET, "127.0.0.1", 9100},
        {"localhost:1", AF_INET, "127.0.0.1", 1},
        {"[::1]:9464", AF_INET6, "::1", 9464},
        {"*:9464", AF_INET6, "::", 9464},
        {"0.0.0.0:80", AF_INET, "0.0.0.0", 80},
        {"1.2.3.4:0", AF_INET, "1.2.3.4", 0},
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        struct sockaddr_storage a;
        socklen_t len;
        char err[128], ip[64] = "";
        int rc = nurs_metrics_parse_listen(good[i].text, &a, &len, err, sizeof err);
        unsigned port = 0;
        if (rc == 0 && a.ss_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)&a)->sin_addr, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in *)&a)->sin_port);
        } else if (rc == 0) {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&a)->sin6_addr, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
        }
        tap_ok(rc == 0 && a.ss_family == good[i].family && strcmp(ip, good[i].ip) == 0 &&
                   port == good[i].port,
               "listen '%s' -> %s port %u", good[i].text, ip, port);
    }
    static const char *const bad[] = {"", "host.example:9464", "::1:9464", "1.2.3.4:-1",
                                      "1.2.3.4:70000", "1.2.3.4:", ":9464", "[::1]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct sockaddr_storage a;
        socklen_t len;
        char err[128] = "";
        tap_ok(nurs_metrics_parse_listen(bad[i], &a, &len, err, sizeof err) < 0 && err[0],
               "listen '%s' refused: %s", bad[i], err);
    }
}

static void probe(void)
{
    struct nurs_probe p = {.n_ct = 2};
    snprintf(p.ct[1].netns, sizeof p.ct[1].netns, "/nonexistent/netns");
    nurs_probe_read(&p);
    tap_ok(p.mem_ok && p.rss_bytes > 0 && p.virtual_bytes >= p.rss_bytes, "memory read");
    tap_ok(p.fds_ok && p.open_fds >= 3 && p.max_fds >= p.open_fds, "fds read");
    tap_ok(p.start_time > 1e9, "start time read");
    tap_ok(!p.ct[1].ok && strstr(p.ct[1].err, "/nonexistent/netns"),
           "a namespace that is not there says so: %s", p.ct[1].err);
    bool have_ct = access("/proc/sys/net/netfilter/nf_conntrack_count", R_OK) == 0;
    tap_ok(p.ct[0].ok == have_ct && (!have_ct || p.ct[0].max > 0),
           "our conntrack table read when there is one");
}

int main(void)
{
    names();
    define_errors();
    cardinality();
    histogram();
    reload();
    listen_syntax();
    probe();
    return tap_done();
}
