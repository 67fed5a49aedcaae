/* Verdicts on their way to the kernel, and packets held for a later one.
 *
 * Decisions are queued and sent together: at once per packet, or in batch
 * mode at the end of each receive batch, where runs of consecutive packet
 * ids with the same verdict and mark go as one NFQNL_MSG_VERDICT_BATCH.
 * The kernel applies a batch verdict to every packet of the queue with an
 * id up to the given one, so a run is only batched when no packet below
 * its end is still undecided here (held); sorting the queued decisions by
 * id first makes every lower one go out before the batch message. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/host.h"
#include "sources/nfqueue/source.h"

#define SEND_BUF_SIZE 65536

static bool serial_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }

static int queue_index(const struct nurs_nfq_source *s, uint16_t queue)
{
    for (int i = 0; i < s->cur.n_queues; i++)
        if (s->cur.queues[i] == queue)
            return i;
    return -1;
}

void nurs_nfq_issue(struct nurs_nfq_source *s, uint16_t queue, uint32_t id,
                    const struct nurs_nfq_decision *d)
{
    if (s->n_out == s->cap_out) {
        int cap = s->cap_out ? s->cap_out * 2 : 64;
        struct nurs_nfq_out *grown = realloc(s->out, (size_t)cap * sizeof *grown);
        if (!grown) {
            /* Send what we have to make room; the verdict must not be lost. */
            nurs_nfq_flush(s);
        } else {
            s->out = grown;
            s->cap_out = cap;
        }
    }
    s->out[s->n_out++] = (struct nurs_nfq_out){queue, id, *d};
    if (d->set_ctmark && !s->ct_glue && s->nl.fd >= 0) {
        s->st.ctmark_ignored++;
        if (nurs_ratelimit_check(&s->kernel_rl) >= 0)
            nurs_warn("%s: this kernel ignores conntrack marks in verdicts (it lacks "
                      "CONFIG_NETFILTER_NETLINK_GLUE_CT); %llu so far",
                      s->res.name, (unsigned long long)s->st.ctmark_ignored);
    }
    uint32_t v = d->verdict & 0xffff;
    if (v < sizeof s->st.verdicts / sizeof *s->st.verdicts)
        s->st.verdicts[v]++;
    if (!s->cur.batch)
        nurs_nfq_flush(s);
}

void nurs_nfq_issue_default(struct nurs_nfq_source *s, uint16_t queue, uint32_t id,
                            enum nurs_nfq_default_reason why)
{
    s->st.defaults[why]++;
    nurs_nfq_issue(s, queue, id, &s->cur.deflt);
}

static void send_verdicts(struct nurs_nfq_source *s, const void *buf, size_t len)
{
    if (len == 0 || s->nl.fd < 0)
        return;
    for (int attempt = 0; attempt < 4; attempt++) {
        if (send(s->nl.fd, buf, len, 0) >= 0)
            return;
        if (errno != EINTR && errno != EAGAIN && errno != ENOBUFS && errno != ENOMEM)
            break;
    }
    s->st.send_errors++;
    long long suppressed = nurs_ratelimit_check(&s->kernel_rl);
    if (suppressed >= 0)
        nurs_err("%s: cannot send verdicts to the kernel: %s (those packets wait in the "
                 "kernel queue)",
                 s->res.name, strerror(errno));
}

static bool same_decision(const struct nurs_nfq_decision *a, const struct nurs_nfq_decision *b)
{
    return a->verdict == b->verdict && a->set_mark == b->set_mark &&
           (!a->set_mark || a->mark == b->mark) && !a->set_ctmark && !b->set_ctmark;
}

static int by_queue_then_id(const void *pa, const void *pb)
{
    const struct nurs_nfq_out *a = pa, *b = pb;
    if (a->queue != b->queue)
        return a->queue < b->queue ? -1 : 1;
    if (a->id == b->id)
        return 0;
    return serial_le(a->id, b->id) ? -1 : 1;
}

/* The lowest held packet id of each queue (index as in o.queues). */
static void lowest_held(const struct nurs_nfq_source *s, bool *any, uint32_t *low)
{
    memset(any, 0, sizeof(bool) * NURS_NFQ_MAX_QUEUES);
    for (int i = s->held_head; i < s->n_held && s->live_held; i++) {
        const struct nurs_nfq_held *h = &s->held[i];
        int q = queue_index(s, h->queue);
        if (!h->live || q < 0)
            continue;
        if (!any[q] || serial_le(h->id, low[q]))
            low[q] = h->id;
        any[q] = true;
    }
}

void nurs_nfq_flush(struct nurs_nfq_source *s)
{
    static unsigned char buf[SEND_BUF_SIZE] __attribute__((aligned(4)));
    if (s->n_out == 0)
        return;
    bool held_any[NURS_NFQ_MAX_QUEUES];
    uint32_t held_low[NURS_NFQ_MAX_QUEUES];
    if (s->cur.batch && s->n_out > 1) {
        qsort(s->out, (size_t)s->n_out, sizeof *s->out, by_queue_then_id);
        lowest_held(s, held_any, held_low);
    }
    size_t used = 0;
    for (int i = 0; i < s->n_out;) {
        const struct nurs_nfq_out *first = &s->out[i];
        int j = i + 1;
        if (s->cur.batch) {
            while (j < s->n_out && s->out[j].queue == first->queue &&
                   s->out[j].id == s->out[j - 1].id + 1 && same_decision(&s->out[j].d, &first->d))
                j++;
            int q = queue_index(s, first->queue);
            if (j - i > 1 && q >= 0 && held_any[q] && serial_le(held_low[q], s->out[j - 1].id))
                j = i + 1; /* a held packet is below: one by one */
        }
        if (used + NURS_NFQ_MSG_MAX > sizeof buf) {
            send_verdicts(s, buf, used);
            used = 0;
        }
        struct nlmsghdr *nlh;
        if (j - i > 1) {
            nlh = nurs_nfq_put_verdict_batch(buf + used, first->queue, s->out[j - 1].id,
                                             &first->d);
            s->st.batch_msgs++;
        } else {
            nlh = nurs_nfq_put_verdict(buf + used, first->queue, first->id, &first->d);
            s->st.verdict_msgs++;
        }
        used += NLMSG_ALIGN(nlh->nlmsg_len);
        i = j;
    }
    send_verdicts(s, buf, used);
    s->n_out = 0;
}

/* ---- held packets ---- */

static uint64_t now_ms(const struct nurs_nfq_source *s) { return uv_now(s->res.host->loop); }

static void on_hold_timer(uv_timer_t *t)
{
    nurs_nfq_expire_held(t->data);
}

static void arm_timer(struct nurs_nfq_source *s)
{
    if (s->live_held == 0) {
        uv_timer_stop(&s->hold_timer);
        return;
    }
    uint64_t due = s->held[s->held_head].deadline_ms, now = now_ms(s);
    uv_timer_start(&s->hold_timer, on_hold_timer, due > now ? due - now : 0, 0);
}

/* Drops decided entries from the front. */
static void trim(struct nurs_nfq_source *s)
{
    while (s->held_head < s->n_held && !s->held[s->held_head].live)
        s->held_head++;
    if (s->held_head == s->n_held)
        s->held_head = s->n_held = 0;
}

int nurs_nfq_hold(struct nurs_nfq_source *s, uint16_t queue, uint32_t id, char *err,
                  size_t errlen)
{
    if (s->live_held >= s->cur.hold_max) {
        snprintf(err, errlen, "%d packets are held already (hold_max)", s->cur.hold_max);
        return -1;
    }
    if (s->n_held == s->cap_held) {
        if (s->held_head > 0) {
            memmove(s->held, s->held + s->held_head,
                    (size_t)(s->n_held - s->held_head) * sizeof *s->held);
            s->n_held -= s->held_head;
            s->held_head = 0;
        }
        if (s->n_held == s->cap_held) {
            int cap = s->cap_held ? s->cap_held * 2 : 64;
            struct nurs_nfq_held *grown = realloc(s->held, (size_t)cap * sizeof *grown);
            if (!grown) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            s->held = grown;
            s->cap_held = cap;
        }
    }
    bool was_empty = s->live_held == 0;
    s->held[s->n_held++] = (struct nurs_nfq_held){queue, id, true, now_ms(s) + s->cur.hold_ms};
    s->live_held++;
    if (was_empty)
        arm_timer(s);
    return 0;
}

bool nurs_nfq_release(struct nurs_nfq_source *s, int64_t ticket,
                      const struct nurs_nfq_decision *d)
{
    if (ticket < 0)
        return false;
    uint16_t queue = (uint16_t)(ticket >> 32);
    uint32_t id = (uint32_t)ticket;
    for (int i = s->held_head; i < s->n_held; i++) {
        struct nurs_nfq_held *h = &s->held[i];
        if (h->live && h->id == id && h->queue == queue) {
            h->live = false;
            s->live_held--;
            bool was_head = i == s->held_head;
            trim(s);
            if (was_head)
                arm_timer(s);
            nurs_nfq_issue(s, queue, id, d);
            return true;
        }
    }
    return false;
}

void nurs_nfq_release_all(struct nurs_nfq_source *s, enum nurs_nfq_default_reason why)
{
    for (int i = s->held_head; i < s->n_held; i++) {
        struct nurs_nfq_held *h = &s->held[i];
        if (h->live) {
            h->live = false;
            nurs_nfq_issue_default(s, h->queue, h->id, why);
        }
    }
    s->live_held = 0;
    s->held_head = s->n_held = 0;
    if (nurs_handle_open((uv_handle_t *)&s->hold_timer))
        uv_timer_stop(&s->hold_timer);
}

void nurs_nfq_expire_held(struct nurs_nfq_source *s)
{
    uint64_t now = now_ms(s);
    uint64_t expired = 0;
    while (s->held_head < s->n_held && s->held[s->held_head].deadline_ms <= now) {
        struct nurs_nfq_held *h = &s->held[s->held_head++];
        if (!h->live)
            continue;
        h->live = false;
        s->live_held--;
        expired++;
        nurs_nfq_issue_default(s, h->queue, h->id, NURS_NFQ_DEF_HOLD);
    }
    trim(s);
    nurs_nfq_flush(s);
    arm_timer(s);
    if (expired && nurs_ratelimit_check(&s->default_rl) >= 0)
        nurs_warn("%s: %llu held packets got the default verdict (%s) after hold_timeout",
                  s->res.name, (unsigned long long)expired,
                  nurs_nfq_verdict_name(s->cur.deflt.verdict));
}

void nurs_nfq_each_held(const struct nurs_nfq_source *s, void (*fn)(void *ctx, int64_t ticket),
                        void *ctx)
{
    for (int i = s->held_head; i < s->n_held; i++)
        if (s->held[i].live)
            fn(ctx, nurs_nfq_ticket(s->held[i].queue, s->held[i].id));
}

void nurs_nfq_verdicts_free(struct nurs_nfq_source *s)
{
    free(s->out);
    free(s->held);
    s->out = NULL;
    s->held = NULL;
    s->n_out = s->cap_out = s->n_held = s->cap_held = s->held_head = s->live_held = 0;
}

int nurs_nfq_extra_counters(const struct nurs_resource *r, struct nurs_extra_counter *out)
{
    const struct nurs_nfq_source *s = (const struct nurs_nfq_source *)r;
    const struct nurs_nfq_stats *st = &s->st;
    static const char *const default_names[NURS_NFQ_DEF_COUNT] = {
        [NURS_NFQ_DEF_ERROR] = "default_error",       [NURS_NFQ_DEF_TIMEOUT] = "default_timeout",
        [NURS_NFQ_DEF_NONE] = "default_none",         [NURS_NFQ_DEF_MALFORMED] = "default_malformed",
        [NURS_NFQ_DEF_HOLD] = "default_hold_timeout", [NURS_NFQ_DEF_RELOAD] = "default_reload",
        [NURS_NFQ_DEF_EXIT] = "default_exit",         [NURS_NFQ_DEF_CONFIG] = "default_config",
    };
    int n = 0;
    out[n++] = (struct nurs_extra_counter){"accept", st->verdicts[NURS_NFQ_ACCEPT]};
    out[n++] = (struct nurs_extra_counter){"drop", st->verdicts[NURS_NFQ_DROP]};
    out[n++] = (struct nurs_extra_counter){"repeat", st->verdicts[NURS_NFQ_REPEAT]};
    out[n++] = (struct nurs_extra_counter){"requeue", st->verdicts[NURS_NFQ_QUEUE]};
    uint64_t total = 0;
    for (int i = 0; i < NURS_NFQ_DEF_COUNT; i++)
        total += st->defaults[i];
    out[n++] = (struct nurs_extra_counter){"defaults", total};
    for (int i = 0; i < NURS_NFQ_DEF_COUNT; i++)
        out[n++] = (struct nurs_extra_counter){default_names[i], st->defaults[i]};
    out[n++] = (struct nurs_extra_counter){"held", (uint64_t)s->live_held};
    out[n++] = (struct nurs_extra_counter){"verdict_msgs", st->verdict_msgs};
    out[n++] = (struct nurs_extra_counter){"batch_msgs", st->batch_msgs};
    out[n++] = (struct nurs_extra_counter){"kernel_errors", st->kernel_errors};
    out[n++] = (struct nurs_extra_counter){"send_errors", st->send_errors};
    out[n++] = (struct nurs_extra_counter){"ctmark_ignored", st->ctmark_ignored};
    out[n++] = (struct nurs_extra_counter){"rcvbuf", (uint64_t)s->nl.rcvbuf};
    return n;
}
