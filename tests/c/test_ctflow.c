/* The conntrack-to-flow mapping on its own, without an exporter: which
 * events make flows, the flows' start and end times (the kernel's
 * timestamps, else what earlier events and exports noted, else the
 * clock), end reasons, and the records that make none. */
#include <arpa/inet.h>
#include <string.h>

#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "ct_build.h"
#include "netlink/ct_msg.h"
#include "sinks/flow/ctflow.h"
#include "tap.h"

static uint64_t fake_now;
static uint64_t clock_reads;
static uint64_t fake_clock(void)
{
    clock_reads++;
    return fake_now;
}

static char buf[8192] __attribute__((aligned(4)));

/* A TCP entry 10.0.0.1:1000 -> 10.0.0.2:80, id 9. */
static struct ct_build_opts entry(int type, uint16_t flags)
{
    return (struct ct_build_opts){.family = AF_INET, .msg_type = type, .flags = flags,
                                  .proto = 6, .src = "10.0.0.1", .dst = "10.0.0.2",
                                  .sport = 1000, .dport = 80, .id = 9,
                                  .status = IPS_CONFIRMED | IPS_ASSURED,
                                  .tcp_state = TCP_CONNTRACK_TIME_WAIT};
}

static enum nurs_ct_flow_outcome map(struct nurs_ct_flow_ctx *ctx, const struct ct_build_opts *o,
                                     bool dump, bool final, struct nurs_flow f[2], bool *known)
{
    static struct nurs_ct_msg m;
    const char *why;
    if (nurs_ct_msg_parse(&m, ct_build(buf, o), dump, &why) < 0)
        return (enum nurs_ct_flow_outcome)-1;
    m.final = final;
    return nurs_ct_flow_map(ctx, &m, f, known);
}

static void test_times_without_kernel_stamps(void)
{
    struct nurs_flow_state state;
    nurs_flow_state_init(&state, 64, 1000000000000ull);
    struct nurs_ct_flow_ctx ctx = {.state = &state, .clock_ns = fake_clock};
    struct nurs_flow f[2];
    bool known;

    fake_now = 1000;
    struct ct_build_opts o = entry(IPCTNL_MSG_CT_NEW, NLM_F_CREATE | NLM_F_EXCL);
    tap_is_int(map(&ctx, &o, false, false, f, &known), NURS_CT_FLOWS_NOTED, "NEW: noted");
    tap_is_int(state.t.count, 1, "NEW: its start is remembered");

    fake_now = 5000;
    o = entry(IPCTNL_MSG_CT_NEW, 0); /* a dump entry */
    o.packets[0] = 3, o.bytes[0] = 300, o.packets[1] = 2, o.bytes[1] = 200;
    tap_is_int(map(&ctx, &o, true, false, f, &known), NURS_CT_FLOWS, "dump: flows");
    tap_ok(known && f[0].start_ns == 1000 && f[0].end_ns == 5000 &&
               f[0].end_reason == NURS_END_ACTIVE && f[1].start_ns == 1000,
           "dump: an active timeout from the noted start to now");

    fake_now = 9000;
    o = entry(IPCTNL_MSG_CT_DELETE, 0);
    o.packets[0] = 1, o.bytes[0] = 60;
    tap_is_int(map(&ctx, &o, false, false, f, &known), NURS_CT_FLOWS, "DESTROY: flows");
    tap_ok(f[0].start_ns == 5000 && f[0].end_ns == 9000 && f[0].end_reason == NURS_END_OF_FLOW,
           "DESTROY: from the last export to now, ended with the TCP close");
    tap_ok(f[0].packets == 1 && f[1].packets == 0, "the reply direction sent nothing");
    tap_is_int(state.t.count, 0, "DESTROY: the connection is forgotten");

    fake_now = 10000;
    tap_is_int(map(&ctx, &o, false, false, f, &known), NURS_CT_FLOWS, "unknown DESTROY: flows");
    tap_ok(!known && f[0].start_ns == 10000 && f[0].end_ns == 10000,
           "a connection never seen starts when it ends, and says so");
    nurs_flow_state_free(&state);
}

static void test_kernel_stamps_and_skips(void)
{
    struct nurs_flow_state state;
    nurs_flow_state_init(&state, 64, 1000000000000ull);
    struct nurs_ct_flow_ctx ctx = {.state = &state, .clock_ns = fake_clock};
    struct nurs_flow f[2];
    bool known;

    struct ct_build_opts o = entry(IPCTNL_MSG_CT_DELETE, 0);
    o.packets[0] = 4, o.bytes[0] = 400, o.packets[1] = 4, o.bytes[1] = 800;
    o.start_ns = 111, o.stop_ns = 222;
    clock_reads = 0;
    tap_is_int(map(&ctx, &o, false, false, f, &known), NURS_CT_FLOWS, "stamped DESTROY: flows");
    tap_ok(known && f[0].start_ns == 111 && f[0].end_ns == 222 && f[1].end_ns == 222,
           "the kernel's timestamps are the flow's times");
    tap_is_int(clock_reads, 0, "the clock is not read when the kernel's times tell");
    tap_ok(ctx.kernel_timestamps, "the kernel is known to stamp entries");

    o = entry(IPCTNL_MSG_CT_NEW, NLM_F_CREATE | NLM_F_EXCL);
    tap_is_int(map(&ctx, &o, false, false, f, &known), NURS_CT_FLOWS_NOTED, "NEW: noted");
    tap_is_int(state.t.count, 0, "NEW is not remembered once the kernel stamps entries");

    fake_now = 7000;
    o = entry(IPCTNL_MSG_CT_NEW, 0); /* a dump entry */
    o.packets[0] = 2, o.bytes[0] = 100;
    o.start_ns = 50;
    tap_is_int(map(&ctx, &o, true, true, f, &known), NURS_CT_FLOWS, "exit dump: flows");
    tap_ok(f[0].end_reason == NURS_END_FORCED && f[0].start_ns == 50 && f[0].end_ns == 7000,
           "the dump at exit ends flows as forced, now");

    o = entry(IPCTNL_MSG_CT_DELETE, 0); /* no counters: accounting off */
    tap_is_int(map(&ctx, &o, false, false, f, &known), NURS_CT_FLOWS_NO_COUNTERS,
               "an entry without counters makes no flow");
    o.packets[0] = 0, o.bytes[0] = 0;
    o.bytes[0] = 1; /* counters present, no packet */
    tap_is_int(map(&ctx, &o, false, false, f, &known), NURS_CT_FLOWS_EMPTY,
               "an entry without packets makes no flow");
    nurs_flow_state_free(&state);
}

int main(void)
{
    test_times_without_kernel_stamps();
    test_kernel_stamps_and_skips();
    return tap_done();
}
