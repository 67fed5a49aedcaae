/* A queued packet meets the script: its callbacks run in order, under the
 * queue's time budget, until one gives a verdict (by returning one or by
 * a method on the record); what they say becomes exactly one verdict, and
 * whatever goes wrong becomes the default verdict, counted by reason. */
#include <string.h>

#include <lauxlib.h>

#include "core/host.h"
#include "bindings/nfq_record.h"
#include "sources/nfqueue/source.h"

static const char *const verdict_names[] = {"drop", "accept", "repeat", "queue", NULL};
static const uint32_t verdict_values[] = {NURS_NFQ_DROP, NURS_NFQ_ACCEPT, NURS_NFQ_REPEAT,
                                          NURS_NFQ_QUEUE};

static int verdict_by_name(const char *name, uint32_t *v)
{
    for (int i = 0; verdict_names[i]; i++)
        if (strcmp(name, verdict_names[i]) == 0) {
            *v = verdict_values[i];
            return 0;
        }
    return -1;
}

/* An integer field of the table at idx, read raw (no metamethod can run,
 * so nothing here raises): 1 read, 0 absent, -1 not an integer in range. */
static int raw_u32(lua_State *L, int idx, const char *key, uint32_t max, uint32_t *v)
{
    lua_pushstring(L, key);
    int t = lua_rawget(L, idx);
    int isnum = 0;
    lua_Integer n = t == LUA_TNUMBER ? lua_tointegerx(L, -1, &isnum) : 0;
    lua_pop(L, 1);
    if (t == LUA_TNIL)
        return 0;
    if (!isnum || n < 0 || (lua_Unsigned)n > max)
        return -1;
    *v = (uint32_t)n;
    return 1;
}

int nurs_nfq_decision_from(lua_State *L, int idx, struct nurs_nfq_decision *d, char *err,
                           size_t errlen)
{
    memset(d, 0, sizeof *d);
    idx = lua_absindex(L, idx);
    if (!lua_checkstack(L, 4)) {
        snprintf(err, errlen, "stack overflow");
        return -1;
    }
    if (lua_type(L, idx) == LUA_TSTRING) {
        const char *name = lua_tostring(L, idx);
        if (verdict_by_name(name, &d->verdict) < 0 || d->verdict == NURS_NFQ_QUEUE) {
            snprintf(err, errlen, "unknown verdict '%.40s' (accept, drop, repeat, or a table "
                                  "like {verdict = \"accept\", mark = 1})", name);
            return -1;
        }
        return 0;
    }
    if (lua_type(L, idx) != LUA_TTABLE) {
        snprintf(err, errlen, "a verdict is \"accept\", \"drop\", \"repeat\" or a table, not a %s",
                 luaL_typename(L, idx));
        return -1;
    }
    static const char *const keys[] = {"verdict", "mark", "ctmark", "queue", NULL};
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        bool known = false;
        if (lua_type(L, -1) == LUA_TSTRING)
            for (int i = 0; keys[i] && !known; i++)
                known = strcmp(lua_tostring(L, -1), keys[i]) == 0;
        if (!known) {
            snprintf(err, errlen, "unknown verdict key '%.40s' (verdict, mark, ctmark, queue)",
                     lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, -1));
            lua_pop(L, 1);
            return -1;
        }
    }
    lua_pushliteral(L, "verdict");
    int t = lua_rawget(L, idx);
    const char *name = t == LUA_TSTRING ? lua_tostring(L, -1) : "accept";
    int bad = t != LUA_TSTRING && t != LUA_TNIL;
    bad = bad || verdict_by_name(name, &d->verdict) < 0;
    if (bad) {
        snprintf(err, errlen, "unknown verdict '%.40s' (accept, drop, repeat, queue)",
                 t == LUA_TSTRING ? name : luaL_typename(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    lua_pop(L, 1);
    int rc = raw_u32(L, idx, "mark", UINT32_MAX, &d->mark);
    if (rc < 0) {
        snprintf(err, errlen, "mark must be an integer from 0 to 0xffffffff");
        return -1;
    }
    d->set_mark = rc > 0;
    rc = raw_u32(L, idx, "ctmark", UINT32_MAX, &d->ctmark);
    if (rc < 0) {
        snprintf(err, errlen, "ctmark must be an integer from 0 to 0xffffffff");
        return -1;
    }
    d->set_ctmark = rc > 0;
    uint32_t q = 0;
    rc = raw_u32(L, idx, "queue", 65535, &q);
    if (rc < 0 || (rc > 0) != (d->verdict == NURS_NFQ_QUEUE)) {
        snprintf(err, errlen, "%s", rc < 0 ? "queue must be an integer from 0 to 65535"
                                  : rc > 0 ? "queue is only for the verdict \"queue\""
                                           : "the verdict \"queue\" needs a queue number");
        return -1;
    }
    if (d->verdict == NURS_NFQ_QUEUE)
        d->verdict |= q << 16;
    return 0;
}

static void log_failure(struct nurs_nfq_source *s, lua_State *L)
{
    nurs_log_lua_error(L, &s->res.error_rl, s->res.name);
}

/* What a callback returned, at co index -nres. Returns true once the
 * packet is decided. */
static bool take_answer(struct nurs_nfq_source *s, struct nurs_nfq_packet *p, lua_State *L,
                        lua_State *co, int nres, bool *failed)
{
    if (nres == 0 || lua_isnil(co, -nres) || s->res.closing)
        return p->decided; /* closed from the callback: the packet had the default */
    char err[160];
    if (p->decided) {
        /* The verdict a method gave stands; a second one is a mistake to show. */
        lua_pushfstring(L, "%s: the callback returned a verdict for a packet it already %s",
                        s->res.name, p->held ? "held" : "decided with a method");
    } else {
        struct nurs_nfq_decision d;
        if (nurs_nfq_decision_from(co, -nres, &d, err, sizeof err) == 0) {
            p->decided = true;
            nurs_nfq_issue(s, p->msg->queue, p->msg->id, &d);
            return true;
        }
        lua_pushfstring(L, "%s: callback returned a bad verdict: %s", s->res.name, err);
        p->decided = true;
        nurs_nfq_issue_default(s, p->msg->queue, p->msg->id, NURS_NFQ_DEF_ERROR);
    }
    *failed = true;
    s->res.counters.errors++;
    log_failure(s, L);
    return true;
}

void nurs_nfq_dispatch(struct nurs_nfq_source *s, const struct nurs_nfq_msg *m)
{
    struct nurs_resource *r = &s->res;
    if (r->cb.n == 0) {
        nurs_nfq_issue_default(s, m->queue, m->id, NURS_NFQ_DEF_NONE);
        return;
    }
    lua_State *L = r->cb.L;
    struct nurs_nfq_packet p = {.src = s, .msg = m};
    s->cur = &p;
    int rec = lua_gettop(L) + 1;
    struct nurs_pkt_record *ud = nurs_nfq_record_push(L, &p);
    nurs_budget_start(&s->budget);
    bool failed = false;
    for (int i = 0; i < r->cb.n && !p.decided && !r->closing; i++) {
        lua_State *co;
        int nres = 0;
        enum nurs_budget_rc rc = nurs_budget_call(&s->budget, L, r->cb.refs[i], rec, &co, &nres);
        if (rc == NURS_BUDGET_OK) {
            take_answer(s, &p, L, co, nres, &failed);
            nurs_budget_done(&s->budget);
            continue;
        }
        failed = true;
        r->counters.errors++;
        if (rc == NURS_BUDGET_TIMEOUT)
            s->st.timeouts++;
        log_failure(s, L);
        if (!p.decided) {
            p.decided = true;
            nurs_nfq_issue_default(s, m->queue, m->id,
                                   rc == NURS_BUDGET_TIMEOUT ? NURS_NFQ_DEF_TIMEOUT
                                                             : NURS_NFQ_DEF_ERROR);
        }
        break;
    }
    if (!p.decided) {
        p.decided = true;
        nurs_nfq_issue_default(s, m->queue, m->id, NURS_NFQ_DEF_NONE);
    }
    if (!failed)
        r->counters.delivered++;
    nurs_pkt_record_expire(ud);
    lua_settop(L, rec - 1);
    s->cur = NULL;
    if (r->closing) /* closed from the callback, which ran in this coroutine */
        nurs_budget_release(&s->budget);
}
