/* The table of live connections an exporter keeps: lookups survive growth
 * and deletions, the size bound holds, stale entries make room. */
#include "flow_state.h"
#include "tap.h"

int main(void)
{
    struct nurs_flow_state s;
    nurs_flow_state_init(&s, 5000, 1000);
    bool all = true;
    for (uint32_t id = 1; id <= 4000; id++) {
        struct nurs_conn_state *c = nurs_flow_state_put(&s, id * 2654435761u, 10);
        all &= c && c->id == id * 2654435761u;
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
    tap_is_int((long long)s.count, 2000, "count");

    /* Churn at a steady size must not grow the table for ever. */
    size_t cap = s.cap;
    for (uint32_t round = 0; round < 200; round++) {
        for (uint32_t i = 0; i < 100; i++)
            nurs_flow_state_put(&s, 1000000 + round * 100 + i, 10);
        for (uint32_t i = 0; i < 100; i++)
            nurs_flow_state_del(&s, 1000000 + round * 100 + i);
    }
    tap_ok(s.cap == cap && s.count == 2000, "churn keeps the size (%zu slots)", s.cap);

    /* At the bound, a new entry only fits where a stale one was. */
    for (uint32_t id = 0; s.count < 5000; id++)
        nurs_flow_state_put(&s, 5000000 + id, 10);
    tap_ok(nurs_flow_state_put(&s, 42, 500) == NULL && s.full == 1, "full of live entries");
    tap_ok(nurs_flow_state_put(&s, 42, 2000) != NULL && s.evicted == 5000,
           "entries untouched past max_age make room");
    nurs_flow_state_free(&s);
    return tap_done();
}
