#include "process/procinfo.h"

#include <stdlib.h>
#include <string.h>

#include "core/jsonw.h"

static size_t len_of(const char *s) { return s ? strlen(s) + 1 : 0; }

struct nurs_proc *nurs_proc_new(const struct nurs_proc_fields *f)
{
    const char *in[] = {f->name, f->cmdline, f->user, f->cgroup, f->unit, f->container};
    size_t total = 0;
    for (size_t i = 0; i < sizeof in / sizeof *in; i++)
        total += len_of(in[i]);
    struct nurs_proc *p = malloc(sizeof *p + total);
    if (!p)
        return NULL;
    atomic_init(&p->refs, 1);
    p->pid = f->pid;
    p->uid = f->uid;
    p->fd = f->fd;
    p->tid = f->tid;
    p->ppid = f->ppid;
    char *text = (char *)(p + 1);
    const char **out[] = {&p->name, &p->cmdline, &p->user, &p->cgroup, &p->unit, &p->container};
    for (size_t i = 0; i < sizeof in / sizeof *in; i++) {
        *out[i] = NULL;
        if (!in[i])
            continue;
        size_t n = len_of(in[i]);
        memcpy(text, in[i], n);
        *out[i] = text;
        text += n;
    }
    return p;
}

void nurs_proc_unref(struct nurs_proc *p)
{
    if (p && atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
        free(p);
}

size_t nurs_proc_clean_text(char *out, size_t cap, const char *in, size_t len)
{
    const unsigned char *s = (const unsigned char *)in;
    if (cap == 0)
        return 0;
    while (len > 0 && s[len - 1] == '\0')
        len--;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        size_t n = c >= 0x80 ? nurs_jsonw_utf8_len(s + i, len - i) : 1;
        if (o + (n ? n : 1) > cap - 1)
            break;
        if (n > 1) {
            memcpy(out + o, s + i, n);
            o += n;
            i += n;
            continue;
        }
        out[o++] = c == '\0' ? ' ' : (c < 0x20 || c == 0x7f || c >= 0x80) ? '?' : (char)c;
        i++;
    }
    out[o] = '\0';
    return o;
}

/* The next line of text: [*line, returned end) */
static const char *next_line(const char **p, const char *end)
{
    const char *line = *p;
    const char *nl = memchr(line, '\n', (size_t)(end - line));
    *p = nl ? nl + 1 : end;
    return line;
}

bool nurs_proc_status_euid(const char *text, size_t len, uint32_t *uid)
{
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *line = next_line(&p, end);
        if ((size_t)(p - line) < 4 || memcmp(line, "Uid:", 4) != 0)
            continue;
        /* "Uid:\treal\teffective\tsaved\tfs" */
        const char *q = line + 4;
        for (int field = 0; field < 2; field++) {
            while (q < p && (*q == '\t' || *q == ' '))
                q++;
            uint64_t v = 0;
            const char *digits = q;
            while (q < p && *q >= '0' && *q <= '9' && v <= 0xffffffffu)
                v = v * 10 + (uint64_t)(*q++ - '0');
            if (q == digits || v > 0xffffffffu)
                return false;
            *uid = (uint32_t)v;
        }
        return true;
    }
    return false;
}

bool nurs_proc_stat_start(const char *text, size_t len, uint64_t *ticks)
{
    /* "PID (COMM) STATE PPID ...": COMM may hold anything, ')' too. */
    const char *p = text + len;
    while (p > text && p[-1] != ')')
        p--;
    if (p == text)
        return false;
    const char *end = text + len;
    for (int field = 3; field <= 22; field++) {
        while (p < end && *p == ' ')
            p++;
        const char *word = p;
        while (p < end && *p != ' ' && *p != '\n')
            p++;
        if (p == word)
            return false;
        if (field < 22)
            continue;
        uint64_t v = 0;
        for (const char *q = word; q < p; q++) {
            if (*q < '0' || *q > '9' || v > (UINT64_MAX - 9) / 10)
                return false;
            v = v * 10 + (uint64_t)(*q - '0');
        }
        *ticks = v;
    }
    return true;
}

bool nurs_mountinfo_cgroup2(const char *text, size_t len, char *out, size_t cap)
{
    /* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - FSTYPE SOURCE OPTIONS" */
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *line = next_line(&p, end);
        const char *stop = p > line && p[-1] == '\n' ? p - 1 : p;
        const char *field[5];
        const char *q = line;
        int n = 0;
        for (; n < 5 && q < stop; n++) {
            field[n] = q;
            const char *sp = memchr(q, ' ', (size_t)(stop - q));
            q = sp ? sp + 1 : stop;
        }
        static const char sep[] = " - cgroup2 ";
        const char *dash = NULL;
        for (const char *s = q; s + sizeof sep - 1 <= stop; s++)
            if (memcmp(s, sep, sizeof sep - 1) == 0) {
                dash = s;
                break;
            }
        if (n < 5 || !dash || q == stop)
            continue;
        /* The mount point, with "\040"-style escapes for spaces and the like. */
        size_t o = 0;
        for (const char *s = field[4]; s < stop && *s != ' ';) {
            char c = *s++;
            if (c == '\\' && stop - s >= 3 && s[0] >= '0' && s[0] <= '3' && s[1] >= '0' &&
                s[1] <= '7' && s[2] >= '0' && s[2] <= '7') {
                c = (char)((s[0] - '0') << 6 | (s[1] - '0') << 3 | (s[2] - '0'));
                s += 3;
            }
            if (c == '\0' || o + 1 >= cap)
                return false;
            out[o++] = c;
        }
        if (o == 0 || out[0] != '/')
            return false;
        out[o] = '\0';
        return true;
    }
    return false;
}

static bool copy_path(const char *s, size_t n, char *out, size_t cap)
{
    if (n == 0 || n >= cap || memchr(s, '\0', n))
        return false;
    memcpy(out, s, n);
    out[n] = '\0';
    return true;
}

bool nurs_cgroup_path(const char *text, size_t len, char *out, size_t cap)
{
    /* Lines are "ID:CONTROLLERS:PATH"; "0::PATH" is the unified hierarchy. */
    const char *v2 = NULL, *systemd = NULL;
    size_t v2_len = 0, systemd_len = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *line = next_line(&p, end);
        const char *stop = p > line && p[-1] == '\n' ? p - 1 : p;
        const char *c1 = memchr(line, ':', (size_t)(stop - line));
        const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(stop - c1 - 1)) : NULL;
        if (!c2)
            continue;
        const char *path = c2 + 1;
        size_t plen = (size_t)(stop - path);
        if (c1 - line == 1 && line[0] == '0' && c2 == c1 + 1) {
            v2 = path;
            v2_len = plen;
        } else if ((size_t)(c2 - c1 - 1) == strlen("name=systemd") &&
                   memcmp(c1 + 1, "name=systemd", strlen("name=systemd")) == 0) {
            systemd = path;
            systemd_len = plen;
        }
    }
    bool v2_root = v2 && v2_len == 1 && v2[0] == '/';
    if (v2 && !(v2_root && systemd))
        return copy_path(v2, v2_len, out, cap);
    return systemd && copy_path(systemd, systemd_len, out, cap);
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* Calls fn on each component of a path, innermost first, until it
 * returns true. */
static bool each_component(const char *path, bool (*fn)(const char *c, size_t n, void *ctx),
                           void *ctx)
{
    size_t end = strlen(path);
    while (end > 0) {
        size_t start = end;
        while (start > 0 && path[start - 1] != '/')
            start--;
        if (end > start && fn(path + start, end - start, ctx))
            return true;
        end = start > 0 ? start - 1 : 0;
    }
    return false;
}

struct found {
    char *out;
    size_t cap;
};

static bool unit_component(const char *c, size_t n, void *ctx)
{
    struct found *f = ctx;
    return (ends_with(c, n, ".service") || ends_with(c, n, ".scope")) &&
           copy_path(c, n, f->out, f->cap);
}

bool nurs_cgroup_unit(const char *path, char *out, size_t cap)
{
    struct found f = {out, cap};
    return each_component(path, unit_component, &f);
}

static bool all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool container_component(const char *c, size_t n, void *ctx)
{
    struct found *f = ctx;
    static const char *const runtimes[] = {"docker-", "cri-containerd-", "crio-", "libpod-",
                                           "containerd-", ""};
    if (n > 12 && memcmp(c, "lxc.payload.", 12) == 0)
        return copy_path(c + 12, n - 12, f->out, f->cap);
    size_t k = ends_with(c, n, ".scope") ? n - strlen(".scope") : n;
    for (size_t i = 0; i < sizeof runtimes / sizeof *runtimes; i++) {
        size_t r = strlen(runtimes[i]);
        if (k == r + 64 && memcmp(c, runtimes[i], r) == 0 && all_hex(c + r, 64))
            return copy_path(c + r, 64, f->out, f->cap);
    }
    return false;
}

bool nurs_cgroup_container(const char *path, char *out, size_t cap)
{
    struct found f = {out, cap};
    return each_component(path, container_component, &f);
}

void nurs_proc_fields_cgroup(struct nurs_proc_fields *f, const char *text, size_t len,
                             struct nurs_cgroup_text *buf)
{
    if (!nurs_cgroup_path(text, len, buf->path, sizeof buf->path))
        return;
    f->cgroup = buf->path;
    if (nurs_cgroup_unit(buf->path, buf->unit, sizeof buf->unit))
        f->unit = buf->unit;
    if (nurs_cgroup_container(buf->path, buf->container, sizeof buf->container))
        f->container = buf->container;
}
