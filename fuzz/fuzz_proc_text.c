/* libFuzzer target: arbitrary bytes as the /proc files process attribution
 * reads (comm, cmdline, status, cgroup, stat, mountinfo), made into a process record the
 * way the /proc reader does, which is then exported in NetFlow v9 (strings
 * cut to fixed lengths) and IPFIX (variable length) records whose set
 * lengths must add up. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "process/procinfo.h"
#include "sinks/flow/encoder.h"
#include "sinks/flow/ie.h"
#include "sinks/flow/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {
    "sourceProcessId", "sourceProcessName", "sourceProcessCommandLine", "sourceProcessUserId",
    "sourceProcessUserName", "sourceProcessCgroup", "sourceProcessUnit",
    "sourceProcessContainerId", "destinationProcessName", "destinationProcessContainerId",
    "userName", NULL};

static void build(struct nurs_template *t, bool v9)
{
    char err[256];
    nurs_template_init(t, "fuzz");
    nurs_template_add(t, "protocolIdentifier", 0, err, sizeof err);
    for (const char *const *n = names; *n; n++) {
        struct nurs_ie ie;
        nurs_ie_lookup(*n, &ie);
        nurs_template_add(t, *n, v9 && ie.type == IE_T_STRING ? 7 : 0, err, sizeof err);
    }
    if (nurs_template_finish(t, v9, err, sizeof err) < 0)
        abort();
    t->id = 300;
}

static void encode(const struct nurs_template *t, enum nurs_flow_version v,
                   const struct nurs_flow *f)
{
    static uint8_t buf[65536];
    struct nurs_enc e;
    nurs_enc_begin(&e, v, buf, sizeof buf, 0);
    nurs_enc_add_template(&e, t);
    nurs_enc_add_record(&e, t, f, NULL, NULL);
    size_t len = nurs_enc_finish(&e, &(struct nurs_enc_header){0});
    size_t off = v == NURS_IPFIX ? NURS_IPFIX_HEADER_LEN : NURS_V9_HEADER_LEN;
    while (off < len) {
        size_t set = (size_t)buf[off + 2] << 8 | buf[off + 3];
        if (set < 4 || set % 4 || off + set > len)
            abort();
        off += set;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct nurs_template t9, tx;
    static bool built;
    if (!built) {
        build(&t9, true);
        build(&tx, false);
        built = true;
    }
    const char *text = (const char *)data;
    char name[16], cmdline[300];
    struct nurs_cgroup_text cg;
    struct nurs_proc_fields f = {.pid = 1, .uid = NURS_UID_UNKNOWN, .fd = 3};
    nurs_proc_status_euid(text, size, &f.uid);
    if (nurs_proc_clean_text(name, sizeof name, text, size))
        f.name = name;
    if (nurs_proc_clean_text(cmdline, sizeof cmdline, text, size))
        f.cmdline = f.user = cmdline;
    nurs_proc_fields_cgroup(&f, text, size, &cg);
    /* What the BPF side reads: /proc/PID/stat, /proc/self/mountinfo. */
    uint64_t ticks;
    if (nurs_proc_stat_start(text, size, &ticks))
        f.tid = (uint32_t)ticks;
    char mnt[64];
    if (nurs_mountinfo_cgroup2(text, size, mnt, sizeof mnt) && strlen(mnt) >= sizeof mnt)
        abort();
    struct nurs_proc *p = nurs_proc_new(&f);
    if (!p)
        return 0;
    struct nurs_flow flow = {.ip_version = 4, .proto = 6, .src_proc = p, .dst_proc = p,
                             .local_proc = p};
    encode(&t9, NURS_NETFLOW9, &flow);
    encode(&tx, NURS_IPFIX, &flow);
    nurs_proc_unref(p);
    return 0;
}
