/* The table of live connections an exporter keeps (an id table): lookups survive growth
 * and deletions, the size bound holds, stale entries make room. */
#include "sinks/flow/flow_state.h"
#include "tap.h"

struct holder {
    struct nurs_idtable_head head;
    long value;
};

static long dropped;
static void drop_holder(void *e) { dropped += ((struct holder *)e)->value; }

int main(void)
{
    struct nurs_flow_state s;
    nurs_flow_state_init(&s, 5000, 1000);
    bool all = true;
    for (uint32_t id = 1; id <= 4000; id++) {
        struct nurs_conn_state *c = nurs_flow_state_put(&s, id * 2654435761u, 10);
        all &= c && c->head.id == id * 2654435761u;
        if (c)
            c->start_ns = id;
    }
    tap_ok(all, "4000 entries in, table grown");
    for (uint32_t id = 1; id <= 4000; id += 2)
        nurs_flow_state_del(&s, id * 2654435761u);
    all = true;
    for (uint32_t id = 1; id <= 4000; id++) {
        struct nurs_conn_state *c = nurs_flow_state_get(&s, id * 2654435761u);
        all &= id % 2 ? c == NULL : c && c->start_ns == id;
    }
    tap_ok(all, "deleted ones gone, the others intact");
    tap_is_int((long long)s.t.count, 2000, "count");

    /* Churn at a steady size must not grow the table for ever. */
    size_t cap = s.t.cap;
    for (uint32_t round = 0; round < 200; round++) {
        for (uint32_t i = 0; i < 100; i++)
            nurs_flow_state_put(&s, 1000000 + round * 100 + i, 10);
        for (uint32_t i = 0; i < 100; i++)
            nurs_flow_state_del(&s, 1000000 + round * 100 + i);
    }
    tap_ok(s.t.cap == cap && s.t.count == 2000, "churn keeps the size (%zu slots)", s.t.cap);

    /* At the bound, a new entry only fits where a stale one was. */
    for (uint32_t id = 0; s.t.count < 5000; id++)
        nurs_flow_state_put(&s, 5000000 + id, 10);
    tap_ok(nurs_flow_state_put(&s, 42, 500) == NULL && s.t.full == 1, "full of live entries");
    tap_ok(nurs_flow_state_put(&s, 42, 2000) != NULL && s.t.evicted == 5000,
           "entries untouched past max_age make room");
    nurs_flow_state_free(&s);

    /* A table whose entries hold something: what it drops by itself (stale
     * entries, and all at free) goes through `drop`; deletions do not. */
    struct nurs_idtable t;
    nurs_idtable_init(&t, sizeof(struct holder), 4, 100, drop_holder);
    for (uint32_t id = 1; id <= 4; id++)
        ((struct holder *)nurs_idtable_put(&t, id, 0))->value = id;
    nurs_idtable_del(&t, 2);
    tap_is_int(dropped, 0, "a deletion leaves the entry to the caller");
    ((struct holder *)nurs_idtable_put(&t, 5, 450))->value = 5;
    struct holder *h = nurs_idtable_put(&t, 6, 500);
    tap_is_int(dropped, 1 + 3 + 4, "stale entries 1, 3 and 4 dropped to make room for 6; 5 kept");
    tap_ok(h && h->value == 0, "a new entry starts zeroed");
    h->value = 6;
    nurs_idtable_free(&t);
    tap_is_int(dropped, 1 + 3 + 4 + 5 + 6, "free drops what is left");
    return tap_done();
}
