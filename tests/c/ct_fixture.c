/* Decoding of conntrack messages the kernel sent (fixtures/, made by
 * fixtures/capture.sh): every field conntrack -L printed for an entry must
 * read the same through our field walker, and the recorded events must
 * tell the story of those entries (NEW, then DESTROY with final counters). */
#include "ct_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netlink/ct_msg.h"
#include "netlink/socket.h"
#include "records/ct_fields.h"
#include "tap.h"

#define MAX_ENTRIES 64
#define MAX_FIELDS 48

/* "key=value" pairs of one record, flattened: orig.src=..., status=A,B */
struct flat {
    char keys[MAX_FIELDS][32];
    char values[MAX_FIELDS][64];
    int n;
    char prefix[16];
    int in_array;
};

static void flat_set(struct flat *f, const char *key, const char *value)
{
    if (f->in_array >= 0) {
        char *v = f->values[f->in_array];
        size_t len = strlen(v);
        snprintf(v + len, sizeof f->values[0] - len, "%s%s", len ? "," : "", value);
        return;
    }
    if (f->n == MAX_FIELDS)
        return;
    snprintf(f->keys[f->n], sizeof f->keys[0], "%s%s", f->prefix, key);
    snprintf(f->values[f->n], sizeof f->values[0], "%s", value);
    f->n++;
}

static void f_obegin(void *ctx, const char *key)
{
    struct flat *f = ctx;
    snprintf(f->prefix, sizeof f->prefix, "%s.", key);
}
static void f_oend(void *ctx) { ((struct flat *)ctx)->prefix[0] = '\0'; }
static void f_abegin(void *ctx, const char *key)
{
    struct flat *f = ctx;
    flat_set(f, key, "");
    f->in_array = f->n - 1;
}
static void f_aend(void *ctx) { ((struct flat *)ctx)->in_array = -1; }
static void f_int(void *ctx, const char *key, long long v)
{
    char num[24];
    snprintf(num, sizeof num, "%lld", v);
    flat_set(ctx, key, num);
}
static void f_str(void *ctx, const char *key, const char *s, size_t len)
{
    char text[64];
    snprintf(text, sizeof text, "%.*s", (int)len, s);
    flat_set(ctx, key, text);
}
static const struct nurs_emit flat_emitter = {f_obegin, f_oend, f_abegin, f_aend, f_int, f_str, NULL};

static const char *flat_get(const struct flat *f, const char *key)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->keys[i], key) == 0)
            return f->values[i];
    return NULL;
}

static void flatten(struct nurs_ct_msg *m, struct flat *f)
{
    memset(f, 0, sizeof *f);
    f->in_array = -1;
    nurs_ct_emit_record(m, &flat_emitter, f);
}

unsigned char *fixture_read(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", NURS_FIXTURES, name);
    *len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    static unsigned char buf[1 << 20];
    *len = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    unsigned char *copy = malloc(*len);
    if (!copy)
        return NULL;
    memcpy(copy, buf, *len);
    return copy;
}

struct expected {
    char line[1024];
    char id[16];
};

static int load_expected(struct expected *e)
{
    char path[512];
    snprintf(path, sizeof path, "%s/ct_dump.expected", NURS_FIXTURES);
    FILE *fp = fopen(path, "r");
    int n = 0;
    while (fp && n < MAX_ENTRIES && fgets(e[n].line, sizeof e[n].line, fp)) {
        e[n].line[strcspn(e[n].line, "\n")] = '\0';
        const char *id = strstr(e[n].line, " id=");
        if (id && sscanf(id + 4, "%15s", e[n].id) == 1)
            n++;
    }
    if (fp)
        fclose(fp);
    return n;
}

static bool has_flag(const char *status, const char *flag)
{
    char list[80];
    snprintf(list, sizeof list, ",%s,", status ? status : "");
    char needle[40];
    snprintf(needle, sizeof needle, ",%s,", flag);
    return strstr(list, needle) != NULL;
}

/* Compares every key=value conntrack printed with our reading. */
static int compare(const struct expected *e, const struct flat *f)
{
    int mismatches = 0;
    char copy[sizeof e->line];
    memcpy(copy, e->line, sizeof copy);
    for (char *save, *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        *eq = '\0';
        const char *key = tok, *want = eq + 1, *got;
        char flag[4];
        if (strcmp(key, "assured") == 0) {
            snprintf(flag, sizeof flag, "%d", has_flag(flat_get(f, "status"), "ASSURED"));
            got = flag;
        } else if (strcmp(key, "unreplied") == 0) {
            snprintf(flag, sizeof flag, "%d", !has_flag(flat_get(f, "status"), "SEEN_REPLY"));
            got = flag;
        } else if (strcmp(key, "mark") == 0 && !flat_get(f, "mark")) {
            got = "0"; /* the kernel leaves a zero mark out */
        } else {
            got = flat_get(f, key);
        }
        if (!got || strcmp(got, want) != 0) {
            printf("#   id %s: %s is %s, conntrack -L says %s\n", e->id, key, got ? got : "nil",
                   want);
            mismatches++;
        }
    }
    return mismatches;
}

static void test_dump(const struct expected *e, int n_expected)
{
    size_t len;
    unsigned char *data = fixture_read("ct_dump.bin", &len);
    if (!tap_ok(data != NULL, "ct_dump.bin readable"))
        return;
    int entries = 0, matched = 0, mismatches = 0;
    bool saw_helper = false, saw_zone = false, saw_mark = false, saw_icmp = false, saw_v6 = false;
    size_t left = len;
    for (const struct nlmsghdr *nlh = (void *)data; nurs_nlmsg_ok(nlh, left);
         nlh = nurs_nlmsg_next(nlh, &left)) {
        struct nurs_ct_msg m;
        const char *why;
        if (nurs_ct_msg_parse(&m, nlh, true, &why) < 0)
            continue;
        entries++;
        struct flat f;
        flatten(&m, &f);
        const char *id = flat_get(&f, "id");
        for (int i = 0; i < n_expected; i++) {
            if (id && strcmp(e[i].id, id) == 0) {
                matched++;
                mismatches += compare(&e[i], &f);
            }
        }
        const char *helper = flat_get(&f, "helper");
        if (helper) {
            saw_helper = true;
            tap_is_str(helper, "ftp", "helper of the FTP control connection");
            tap_is_str(flat_get(&f, "orig.dport"), "21", "helper sits on port 21");
        }
        saw_zone |= flat_get(&f, "zone") != NULL;
        saw_mark |= flat_get(&f, "mark") && strcmp(flat_get(&f, "mark"), "42") == 0;
        saw_v6 |= strcmp(flat_get(&f, "family"), "ipv6") == 0;
        if (strcmp(flat_get(&f, "proto"), "icmp") == 0) {
            saw_icmp = true;
            tap_is_str(flat_get(&f, "orig.type"), "8", "icmp echo request type");
            tap_is_str(flat_get(&f, "reply.type"), "0", "icmp echo reply type");
            tap_ok(flat_get(&f, "orig.icmp_id") != NULL, "icmp id present");
        }
        tap_is_str(flat_get(&f, "event"), "dump", "dumped entries read as event 'dump'");
        tap_ok(flat_get(&f, "start") != NULL, "timestamp start present (timestamping on)");
    }
    tap_is_int(entries, n_expected, "dump holds as many entries as conntrack -L listed");
    tap_is_int(matched, n_expected, "every listed entry found by id");
    tap_is_int(mismatches, 0, "every field conntrack -L printed reads the same");
    tap_ok(saw_helper && saw_zone && saw_mark && saw_icmp && saw_v6,
           "fixtures cover helper, zone, mark, icmp and ipv6");
    free(data);
}

static void test_events(const struct expected *e, int n_expected)
{
    size_t len;
    unsigned char *data = fixture_read("ct_events.bin", &len);
    if (!tap_ok(data != NULL, "ct_events.bin readable"))
        return;
    int count[4] = {0};
    int destroyed_listed = 0, new_listed = 0, counter_mismatch = 0;
    size_t left = len;
    for (const struct nlmsghdr *nlh = (void *)data; nurs_nlmsg_ok(nlh, left);
         nlh = nurs_nlmsg_next(nlh, &left)) {
        struct nurs_ct_msg m;
        const char *why;
        if (nurs_ct_msg_parse(&m, nlh, false, &why) < 0)
            continue;
        count[m.event]++;
        struct flat f;
        flatten(&m, &f);
        const char *id = flat_get(&f, "id");
        for (int i = 0; i < n_expected; i++) {
            if (!id || strcmp(e[i].id, id) != 0)
                continue;
            if (m.event == NURS_CT_EVENT_NEW)
                new_listed++;
            if (m.event == NURS_CT_EVENT_DESTROY) {
                destroyed_listed++;
                /* Nothing flowed between the dump and the flush. */
                char want[64];
                const char *keys[] = {"orig.packets", "orig.bytes", "reply.packets", "reply.bytes"};
                for (int k = 0; k < 4; k++) {
                    const char *at = strstr(e[i].line, keys[k]);
                    if (!at || sscanf(at + strlen(keys[k]) + 1, "%63s", want) != 1 ||
                        !flat_get(&f, keys[k]) || strcmp(flat_get(&f, keys[k]), want) != 0)
                        counter_mismatch++;
                }
                tap_ok(flat_get(&f, "stop") != NULL, "destroy of %s carries a stop time", id);
            }
        }
    }
    tap_is_int(new_listed, n_expected, "a NEW event for every listed entry");
    tap_is_int(destroyed_listed, n_expected, "a DESTROY event for every listed entry");
    tap_is_int(counter_mismatch, 0, "DESTROY counters equal the dump's");
    tap_ok(count[NURS_CT_EVENT_UPDATE] > 0, "UPDATE events decoded (%d)", count[NURS_CT_EVENT_UPDATE]);
    free(data);
}

void test_kernel_fixtures(void)
{
    static struct expected e[MAX_ENTRIES];
    int n = load_expected(e);
    if (!tap_ok(n > 0, "ct_dump.expected lists entries (%d)", n))
        return;
    test_dump(e, n);
    test_events(e, n);
}
