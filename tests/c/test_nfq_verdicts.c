/* Verdicts as the kernel would receive them: the source's socket is one
 * end of a socketpair, and every message sent is read back from the
 * other. Batch verdicts cover every packet up to their id in the kernel,
 * so the checks that matter are which packets each message decides. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netfilter/nfnetlink.h>
#include <uv.h>

#include "core/host.h"
#include "netlink/socket.h"
#include "sources/nfqueue/source.h"
#include "tap.h"

struct sent {
    int type; /* NFQNL_MSG_VERDICT or _BATCH */
    uint16_t queue;
    uint32_t id, verdict, mark;
    bool has_mark, has_ct;
};

static int peer = -1;

static int attrs_cb(const struct nlattr *a, void *data)
{
    const struct nlattr **tb = data;
    if (mnl_attr_get_type(a) <= NFQA_MAX)
        tb[mnl_attr_get_type(a)] = a;
    return MNL_CB_OK;
}

/* Reads every message sent since the last call; returns how many, and the
 * number of datagrams (sends) in *sends. */
static int read_sent(struct sent *out, int max, int *sends)
{
    unsigned char buf[65536] __attribute__((aligned(4)));
    int n = 0;
    *sends = 0;
    ssize_t len;
    while ((len = recv(peer, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
        (*sends)++;
        size_t left = (size_t)len;
        for (const struct nlmsghdr *nlh = (const void *)buf; nurs_nlmsg_ok(nlh, left) && n < max;
             nlh = nurs_nlmsg_next(nlh, &left)) {
            const struct nlattr *tb[NFQA_MAX + 1] = {0};
            mnl_attr_parse(nlh, sizeof(struct nfgenmsg), attrs_cb, tb);
            const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
            const struct nfqnl_msg_verdict_hdr *vh = mnl_attr_get_payload(tb[NFQA_VERDICT_HDR]);
            out[n++] = (struct sent){
                .type = NFNL_MSG_TYPE(nlh->nlmsg_type),
                .queue = ntohs(nfg->res_id),
                .id = ntohl(vh->id),
                .verdict = ntohl(vh->verdict),
                .has_mark = tb[NFQA_MARK] != NULL,
                .mark = tb[NFQA_MARK] ? ntohl(mnl_attr_get_u32(tb[NFQA_MARK])) : 0,
                .has_ct = tb[NFQA_CT] != NULL,
            };
        }
    }
    return n;
}

static const struct nurs_nfq_decision ACCEPT = {.verdict = NURS_NFQ_ACCEPT};
static const struct nurs_nfq_decision DROP = {.verdict = NURS_NFQ_DROP};

static bool is(const struct sent *s, int type, uint16_t q, uint32_t id, uint32_t verdict)
{
    return s->type == type && s->queue == q && s->id == id && s->verdict == verdict;
}

int main(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) < 0)
        return 1;
    peer = sv[1];
    struct nurs_host host;
    nurs_host_init(&host, uv_default_loop(), NULL);
    struct nurs_nfq_source *s = calloc(1, sizeof *s);
    s->res.host = &host;
    snprintf(s->res.name, sizeof s->res.name, "test");
    s->nl.fd = sv[0];
    s->ct_glue = true;
    s->cur.n_queues = 2;
    s->cur.queues[0] = 3;
    s->cur.queues[1] = 4;
    s->cur.deflt = ACCEPT;
    s->cur.hold_ms = 60000;
    s->cur.hold_max = 4;
    s->out = malloc(64 * sizeof *s->out);
    s->cap_out = 64;
    s->kernel_rl = s->default_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 5);
    uv_timer_init(host.loop, &s->hold_timer);
    s->hold_timer.data = s;
    struct sent got[256];
    int sends;

    /* One by one: each verdict its own message, sent at once. */
    for (uint32_t id = 1; id <= 3; id++)
        nurs_nfq_issue(s, 3, id, &ACCEPT);
    int n = read_sent(got, 256, &sends);
    tap_ok(n == 3 && sends == 3 && is(&got[2], NFQNL_MSG_VERDICT, 3, 3, NURS_NFQ_ACCEPT),
           "without batch: one message and one send per packet");

    /* Batch mode: a run of ids with one verdict is one batch message. */
    s->cur.batch = true;
    for (uint32_t id = 4; id <= 8; id++)
        nurs_nfq_issue(s, 3, id, &ACCEPT);
    tap_is_int(read_sent(got, 256, &sends), 0, "batch mode waits for the flush");
    nurs_nfq_flush(s);
    n = read_sent(got, 256, &sends);
    tap_ok(n == 1 && sends == 1 && is(&got[0], NFQNL_MSG_VERDICT_BATCH, 3, 8, NURS_NFQ_ACCEPT),
           "ids 4-8 accepted: one batch verdict up to 8");

    /* Runs break where the verdict or mark changes. */
    struct nurs_nfq_decision marked = {.verdict = NURS_NFQ_ACCEPT, .set_mark = true, .mark = 9};
    nurs_nfq_issue(s, 3, 9, &ACCEPT);
    nurs_nfq_issue(s, 3, 10, &ACCEPT);
    nurs_nfq_issue(s, 3, 11, &DROP);
    nurs_nfq_issue(s, 3, 12, &marked);
    nurs_nfq_issue(s, 3, 13, &marked);
    nurs_nfq_flush(s);
    n = read_sent(got, 256, &sends);
    tap_ok(n == 3 && sends == 1 && is(&got[0], NFQNL_MSG_VERDICT_BATCH, 3, 10, NURS_NFQ_ACCEPT) &&
               is(&got[1], NFQNL_MSG_VERDICT, 3, 11, NURS_NFQ_DROP) &&
               is(&got[2], NFQNL_MSG_VERDICT_BATCH, 3, 13, NURS_NFQ_ACCEPT) &&
               got[2].has_mark && got[2].mark == 9 && !got[0].has_mark,
           "accept 9-10, drop 11, accept with mark 12-13: three messages in one send");

    /* A held packet below a run: the run goes one by one, or the batch
     * verdict would decide the held packet too. */
    char err[128];
    tap_ok(nurs_nfq_hold(s, 3, 14, err, sizeof err) == 0, "hold 14");
    nurs_nfq_issue(s, 3, 15, &ACCEPT);
    nurs_nfq_issue(s, 3, 16, &ACCEPT);
    nurs_nfq_flush(s);
    n = read_sent(got, 256, &sends);
    tap_ok(n == 2 && is(&got[0], NFQNL_MSG_VERDICT, 3, 15, NURS_NFQ_ACCEPT) &&
               is(&got[1], NFQNL_MSG_VERDICT, 3, 16, NURS_NFQ_ACCEPT),
           "with 14 held, 15 and 16 are decided one by one");
    tap_ok(!nurs_nfq_release(s, nurs_nfq_ticket(4, 14), &DROP), "a ticket of another queue is unknown");
    tap_ok(nurs_nfq_release(s, nurs_nfq_ticket(3, 14), &DROP), "14 released");
    tap_ok(!nurs_nfq_release(s, nurs_nfq_ticket(3, 14), &DROP), "and only once");
    nurs_nfq_flush(s);
    n = read_sent(got, 256, &sends);
    tap_ok(n == 1 && is(&got[0], NFQNL_MSG_VERDICT, 3, 14, NURS_NFQ_DROP), "14 dropped");

    /* Decided out of order, and on two queues: sorted, batched per queue. */
    nurs_nfq_issue(s, 4, 2, &ACCEPT);
    nurs_nfq_issue(s, 3, 18, &ACCEPT);
    nurs_nfq_issue(s, 4, 1, &ACCEPT);
    nurs_nfq_issue(s, 3, 17, &ACCEPT);
    nurs_nfq_flush(s);
    n = read_sent(got, 256, &sends);
    tap_ok(n == 2 && is(&got[0], NFQNL_MSG_VERDICT_BATCH, 3, 18, NURS_NFQ_ACCEPT) &&
               is(&got[1], NFQNL_MSG_VERDICT_BATCH, 4, 2, NURS_NFQ_ACCEPT),
           "queue 3: 17-18 and queue 4: 1-2, one batch each");

    /* A conntrack mark cannot ride a batch verdict. */
    struct nurs_nfq_decision ct = {.verdict = NURS_NFQ_ACCEPT, .set_ctmark = true, .ctmark = 1};
    nurs_nfq_issue(s, 3, 19, &ct);
    nurs_nfq_issue(s, 3, 20, &ct);
    nurs_nfq_flush(s);
    n = read_sent(got, 256, &sends);
    tap_ok(n == 2 && got[0].type == NFQNL_MSG_VERDICT && got[0].has_ct && got[1].has_ct,
           "ctmark verdicts go one by one");

    /* Serial order across the 32-bit wrap. */
    nurs_nfq_issue(s, 3, 0, &ACCEPT);
    nurs_nfq_issue(s, 3, 0xffffffff, &ACCEPT);
    nurs_nfq_flush(s);
    n = read_sent(got, 256, &sends);
    tap_ok(n == 1 && is(&got[0], NFQNL_MSG_VERDICT_BATCH, 3, 0, NURS_NFQ_ACCEPT),
           "ids 0xffffffff and 0 are a run ending at 0");

    /* hold_max, then the default verdict for every held packet. */
    for (uint32_t id = 30; id < 34; id++)
        nurs_nfq_hold(s, 3, id, err, sizeof err);
    tap_ok(nurs_nfq_hold(s, 3, 34, err, sizeof err) < 0, "hold_max refuses a fifth (%s)", err);
    nurs_nfq_release_all(s, NURS_NFQ_DEF_EXIT);
    nurs_nfq_flush(s);
    n = read_sent(got, 256, &sends);
    tap_ok(n == 1 && is(&got[0], NFQNL_MSG_VERDICT_BATCH, 3, 33, NURS_NFQ_ACCEPT),
           "the four held packets get the default verdict together");
    tap_is_int((long long)s->st.defaults[NURS_NFQ_DEF_EXIT], 4, "counted as exit defaults");
    tap_is_int(s->live_held, 0, "nothing held");

    /* Held past hold_timeout: the default verdict. */
    s->cur.hold_ms = 0;
    nurs_nfq_hold(s, 3, 40, err, sizeof err);
    uv_update_time(host.loop);
    nurs_nfq_expire_held(s);
    n = read_sent(got, 256, &sends);
    tap_ok(n == 1 && is(&got[0], NFQNL_MSG_VERDICT, 3, 40, NURS_NFQ_ACCEPT),
           "an expired hold gets the default verdict");
    tap_is_int((long long)s->st.defaults[NURS_NFQ_DEF_HOLD], 1, "counted as a hold timeout");

    uv_close((uv_handle_t *)&s->hold_timer, NULL);
    uv_run(host.loop, UV_RUN_DEFAULT);
    nurs_nfq_verdicts_free(s);
    free(s);
    close(sv[0]);
    close(sv[1]);
    uv_loop_close(host.loop);
    return tap_done();
}
