/* The verdict methods of NFQUEUE records (rec:accept(), :drop(),
 * :verdict(), :hold()); the record's fields are its class's
 * (sources/nfqueue/record.c). */
#include "bindings/nfq_record.h"

#include <lauxlib.h>

#include "bindings/record.h"
#include "sources/nfqueue/record.h"

/* ---- verdict methods ---- */

/* The packet of the live record at 1 that has no verdict yet. */
static struct nurs_nfq_packet *undecided(lua_State *L)
{
    struct nurs_l_view *v = nurs_l_view_check(L, 1, &nurs_nfq_class);
    struct nurs_nfq_packet *p = (struct nurs_nfq_packet *)nurs_l_view_data(v);
    if (p->decided)
        luaL_error(L, "this packet %s", p->held ? "is held: decide it with queue:verdict(ticket, ...)"
                                                : "has its verdict already");
    return p;
}

static int give(struct nurs_nfq_packet *p, const struct nurs_nfq_decision *d)
{
    p->decided = true;
    nurs_nfq_issue(p->src, p->msg->queue, p->msg->id, d);
    return 0;
}

/* rec:verdict(v): v as a callback would return it */
static int rec_verdict(lua_State *L)
{
    struct nurs_nfq_packet *p = undecided(L);
    struct nurs_nfq_decision d;
    char err[160];
    luaL_checkany(L, 2);
    if (nurs_nfq_decision_from(L, 2, &d, err, sizeof err) < 0)
        return luaL_argerror(L, 2, err);
    return give(p, &d);
}

/* rec:accept([{mark =, ctmark =}]) */
static int rec_accept(lua_State *L)
{
    struct nurs_nfq_packet *p = undecided(L);
    struct nurs_nfq_decision d = {.verdict = NURS_NFQ_ACCEPT};
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        char err[160];
        lua_pushliteral(L, "verdict");
        bool has_verdict = lua_rawget(L, 2) != LUA_TNIL;
        lua_pop(L, 1);
        if (has_verdict)
            return luaL_argerror(L, 2, "accept takes mark and ctmark; for another verdict use :verdict()");
        if (nurs_nfq_decision_from(L, 2, &d, err, sizeof err) < 0)
            return luaL_argerror(L, 2, err);
    }
    return give(p, &d);
}

static int rec_drop(lua_State *L)
{
    struct nurs_nfq_packet *p = undecided(L);
    struct nurs_nfq_decision d = {.verdict = NURS_NFQ_DROP};
    return give(p, &d);
}

/* rec:hold() -> ticket: the verdict comes later, from queue:verdict(). */
static int rec_hold(lua_State *L)
{
    struct nurs_nfq_packet *p = undecided(L);
    char err[128];
    if (nurs_nfq_hold(p->src, p->msg->queue, p->msg->id, err, sizeof err) < 0)
        return luaL_error(L, "hold: %s", err);
    p->decided = p->held = true;
    lua_pushinteger(L, nurs_nfq_ticket(p->msg->queue, p->msg->id));
    return 1;
}

void nurs_nfq_record_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"verdict", rec_verdict},
        {"accept", rec_accept},
        {"drop", rec_drop},
        {"hold", rec_hold},
        {NULL, NULL},
    };
    nurs_l_record_class(L, &nurs_nfq_class, methods);
}
