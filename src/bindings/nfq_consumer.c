/* A queued packet meets the script: its functions run in order (the
 * source calls them until one decides), under the queue's time budget,
 * until one gives a verdict (by returning one or by a method on the
 * record); what they say becomes exactly one verdict, and whatever goes
 * wrong becomes the default verdict, counted by reason. */
#include <string.h>

#include <lauxlib.h>

#include "bindings/budget.h"
#include "bindings/consumer.h"
#include "bindings/nfq_record.h"
#include "bindings/record.h"
#include "bindings/script.h"
#include "records/record.h"
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
    log_failure(s, L);
    return true;
}

/* Calls one function with the packet's view under the script's time
 * budget (shared by every function the packet reaches: the budget starts
 * with the view), and issues what it decides. */
static enum nurs_take call_nfq_function(struct nurs_consumer *c, struct nurs_resource *from,
                                        struct nurs_record *rec)
{
    struct nurs_l_consumer *lc = (struct nurs_l_consumer *)c;
    struct nurs_nfq_source *s = (struct nurs_nfq_source *)from;
    struct nurs_nfq_packet *p = rec->data;
    lua_State *L = lc->L;
    if (nurs_lua_script_of(L)->exiting)
        return NURS_TAKE_LOST; /* the script called os.exit(): the default verdict */
    struct nurs_budget *b = nurs_l_script_budget(nurs_lua_script_of(L));
    bool first = !rec->view;
    int view = nurs_l_record_view(L, rec);
    if (first) {
        b->limit_ns = s->cur.budget_ns;
        nurs_budget_start(b);
    }
    lua_State *co;
    int nres = 0;
    enum nurs_budget_rc rc = nurs_budget_call(b, L, lc->ref, view, &co, &nres);
    if (rc == NURS_BUDGET_OK) {
        bool failed = false;
        take_answer(s, p, L, co, nres, &failed);
        nurs_budget_done(b);
        return failed ? NURS_TAKE_FAILED : NURS_TAKEN;
    }
    if (rc == NURS_BUDGET_TIMEOUT)
        s->res.counters.timeouts++;
    log_failure(s, L);
    if (!p->decided) {
        p->decided = true;
        nurs_nfq_issue_default(s, p->msg->queue, p->msg->id,
                               rc == NURS_BUDGET_TIMEOUT ? NURS_NFQ_DEF_TIMEOUT
                                                         : NURS_NFQ_DEF_ERROR);
    }
    return NURS_TAKE_FAILED;
}

const struct nurs_consumer_ops nurs_l_nfq_function_ops = {
    .kinds = NURS_RECORD_NFQ,
    .take = call_nfq_function,
    .release = nurs_l_consumer_release,
};
