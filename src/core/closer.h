/* Freeing an owner once everything it closes has closed: libuv closes a
 * handle asynchronously, and an owner with several handles (and children
 * that close their own) may only be freed after the last close callback.
 * One count per close in flight, plus one for the owner while it starts
 * them, so that closes finishing at once cannot free it early. Handles
 * that were never initialized (zeroed memory) or are closing already are
 * skipped: libuv knows, so the owner keeps no flags of its own. */
#ifndef NURS_CORE_CLOSER_H
#define NURS_CORE_CLOSER_H

#include <stdbool.h>

#include <uv.h>

struct nurs_closer {
    int pending;
    void (*done)(void *owner);
    void *owner;
};

/* Starts closing: done(owner) runs once nurs_closer_end() was called and
 * every close started in between has finished. */
static inline void nurs_closer_begin(struct nurs_closer *c, void (*done)(void *), void *owner)
{
    c->pending = 1;
    c->done = done;
    c->owner = owner;
}

/* One more thing to wait for (a child that calls nurs_closer_release). */
static inline void nurs_closer_hold(struct nurs_closer *c) { c->pending++; }

static inline void nurs_closer_release(struct nurs_closer *c)
{
    if (--c->pending == 0)
        c->done(c->owner);
}

/* For children that take a `void (*)(void *)` callback and its argument. */
static inline void nurs_closer_release_cb(void *closer) { nurs_closer_release(closer); }

static inline void nurs_closer_on_close(uv_handle_t *h) { nurs_closer_release(h->data); }

/* True if h was initialized and is not closing yet. */
static inline bool nurs_handle_open(const uv_handle_t *h)
{
    return h->type != UV_UNKNOWN_HANDLE && !uv_is_closing(h);
}

/* Closes h (its callbacks stop: its data now points at the closer). */
static inline void nurs_closer_close(struct nurs_closer *c, void *handle)
{
    uv_handle_t *h = handle;
    if (!nurs_handle_open(h))
        return;
    c->pending++;
    h->data = c;
    uv_close(h, nurs_closer_on_close);
}

static inline void nurs_closer_end(struct nurs_closer *c) { nurs_closer_release(c); }

#endif
