#include "netlink/doctor.h"

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/capability.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nfnetlink.h>

#include "core/log.h"
#include "netlink/socket.h"

#define DEFAULT_RCVBUF (16l << 20) /* NURS_CT_DEFAULT_RCVBUF */

static struct nurs_doctor_finding *add(struct nurs_doctor_report *r, const char *check,
                                       enum nurs_doctor_severity sev)
{
    if (r->n >= NURS_DOCTOR_MAX)
        return &r->f[NURS_DOCTOR_MAX - 1];
    struct nurs_doctor_finding *f = &r->f[r->n++];
    memset(f, 0, sizeof *f);
    f->check = check;
    f->severity = sev;
    return f;
}

/* The command prefix that runs a fix inside the namespace. */
static void in_ns(const char *netns, char *buf, size_t len)
{
    if (netns && !strchr(netns, '/'))
        snprintf(buf, len, "ip netns exec %s ", netns);
    else if (netns)
        snprintf(buf, len, "nsenter --net=%s ", netns);
    else
        buf[0] = '\0';
}

static long read_long(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    long v = -1;
    if (fscanf(f, "%ld", &v) != 1)
        v = -1;
    fclose(f);
    return v;
}

static bool module_loaded(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "/sys/module/%s", name);
    if (access(path, F_OK) == 0)
        return true;
    FILE *f = fopen("/proc/modules", "re");
    if (!f)
        return false;
    char line[512];
    size_t n = strlen(name);
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strncmp(line, name, n) == 0 && line[n] == ' ';
    fclose(f);
    return found;
}

static bool has_capability(int cap)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        return false;
    char line[256];
    unsigned long long eff = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "CapEff: %llx", &eff) == 1)
            break;
    fclose(f);
    return eff & (1ull << cap);
}

/* Whether ctnetlink answers in the namespace we are in (a module, or
 * built in: /sys/module does not show every built-in one): 1 yes, 0 no,
 * -1 cannot tell (no permission). */
/* A socket with one nfnetlink request sent (a header, no attributes);
 * NULL if it cannot be. */
static struct mnl_socket *ask(uint16_t type, uint16_t flags, char *buf)
{
    struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
    if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        if (nl)
            mnl_socket_close(nl);
        return NULL;
    }
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | flags;
    nlh->nlmsg_seq = 1;
    struct nfgenmsg *nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
    nfg->nfgen_family = AF_UNSPEC;
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
        mnl_socket_close(nl);
        return NULL;
    }
    return nl;
}

static int ctnetlink_answers(void)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct mnl_socket *nl = ask(NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_GET_STATS, NLM_F_ACK, buf);
    if (!nl)
        return -1;
    int answer = -1;
    struct pollfd p = {.fd = mnl_socket_get_fd(nl), .events = POLLIN};
    ssize_t n = poll(&p, 1, 2000) > 0 ? recv(p.fd, buf, MNL_SOCKET_BUFFER_SIZE, 0) : -1;
    const struct nlmsghdr *m = (const void *)buf;
    if (n > 0 && nurs_nlmsg_ok(m, (size_t)n)) {
        if (m->nlmsg_type != NLMSG_ERROR)
            answer = 1;
        else if (m->nlmsg_len >= NLMSG_HDRLEN + sizeof(struct nlmsgerr)) {
            int e = -((const struct nlmsgerr *)mnl_nlmsg_get_payload(m))->error;
            answer = e == 0 ? 1 : e == EPERM ? -1 : 0;
        }
    }
    mnl_socket_close(nl);
    return answer;
}

/* Flowtables without the counter flag: the counters of the flows they
 * offload stop moving. -1 when nftables cannot be asked. */
static int flowtables_without_counters(char *names, size_t len)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    names[0] = '\0';
    struct mnl_socket *nl = ask(NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETFLOWTABLE, NLM_F_DUMP, buf);
    if (!nl)
        return -1;
    int count = 0;
    int fd = mnl_socket_get_fd(nl);
    for (int rounds = 0; rounds < 1000; rounds++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 2000) <= 0)
            break;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        size_t left = (size_t)n;
        for (const struct nlmsghdr *m = (const void *)buf; nurs_nlmsg_ok(m, left);
             m = nurs_nlmsg_next(m, &left)) {
            if (m->nlmsg_type == NLMSG_DONE || m->nlmsg_type == NLMSG_ERROR) {
                mnl_socket_close(nl);
                return m->nlmsg_type == NLMSG_ERROR && count == 0 ? -1 : count;
            }
            size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
            if (m->nlmsg_len < off)
                continue;
            static const int types[NFTA_FLOWTABLE_MAX + 1] = {
                [NFTA_FLOWTABLE_TABLE] = NURS_NLA_STRING,
                [NFTA_FLOWTABLE_NAME] = NURS_NLA_STRING,
                [NFTA_FLOWTABLE_FLAGS] = 4,
            };
            const struct nlattr *tb[NFTA_FLOWTABLE_MAX + 1] = {0};
            if (!nurs_nla_parse((const char *)m + off, m->nlmsg_len - off, tb, NFTA_FLOWTABLE_MAX,
                                types, false) ||
                !tb[NFTA_FLOWTABLE_TABLE] || !tb[NFTA_FLOWTABLE_NAME])
                continue;
            uint32_t flags = 0;
            if (tb[NFTA_FLOWTABLE_FLAGS]) {
                memcpy(&flags, mnl_attr_get_payload(tb[NFTA_FLOWTABLE_FLAGS]), sizeof flags);
                flags = be32toh(flags);
            }
            if (flags & NFT_FLOWTABLE_COUNTER)
                continue;
            size_t used = strlen(names);
            snprintf(names + used, len - used, "%s%s %s", used ? ", " : "",
                     mnl_attr_get_str(tb[NFTA_FLOWTABLE_TABLE]),
                     mnl_attr_get_str(tb[NFTA_FLOWTABLE_NAME]));
            count++;
        }
    }
    mnl_socket_close(nl);
    return count;
}

/* The settings of the namespace we are in. */
static void read_namespace(struct nurs_doctor_report *r, int *ctnetlink, int *flowtables,
                           char *ft_names, size_t ft_len)
{
    *ctnetlink = ctnetlink_answers();
    r->acct = read_long("/proc/sys/net/netfilter/nf_conntrack_acct");
    r->timestamp = read_long("/proc/sys/net/netfilter/nf_conntrack_timestamp");
    r->events = read_long("/proc/sys/net/netfilter/nf_conntrack_events");
    r->rmem_max = read_long("/proc/sys/net/core/rmem_max");
    r->count = read_long("/proc/sys/net/netfilter/nf_conntrack_count");
    r->max = read_long("/proc/sys/net/netfilter/nf_conntrack_max");
    *flowtables = flowtables_without_counters(ft_names, ft_len);
}

enum nurs_doctor_severity nurs_doctor_run(const struct nurs_doctor_opts *o,
                                          struct nurs_doctor_report *r)
{
    memset(r, 0, sizeof *r);
    char ns[300];
    in_ns(o->netns, ns, sizeof ns);
    struct nurs_doctor_finding *f;

    bool admin = has_capability(CAP_NET_ADMIN);
    f = add(r, "capability", admin ? NURS_DOCTOR_OK : NURS_DOCTOR_WRONG);
    if (admin) {
        snprintf(f->what, sizeof f->what, "CAP_NET_ADMIN held");
    } else {
        snprintf(f->what, sizeof f->what, "CAP_NET_ADMIN is missing: conntrack cannot be read");
        snprintf(f->fix, sizeof f->fix,
                 "run as root, or grant it: setcap cap_net_admin+ep $(command -v nurs-lua) "
                 "(systemd: AmbientCapabilities=CAP_NET_ADMIN)");
    }
    if (o->netns && !has_capability(CAP_SYS_ADMIN)) {
        f = add(r, "capability", NURS_DOCTOR_WRONG);
        snprintf(f->what, sizeof f->what, "CAP_SYS_ADMIN is missing: namespace %s cannot be entered",
                 o->netns);
        snprintf(f->fix, sizeof f->fix, "run as root, or grant CAP_SYS_ADMIN");
    }

    int saved = -1, flowtables = -1, ctnetlink = -1;
    char err[256], ft_names[120] = "";
    if (o->netns && nurs_netns_enter(o->netns, &saved, err, sizeof err) < 0) {
        f = add(r, "netns", NURS_DOCTOR_WRONG);
        snprintf(f->what, sizeof f->what, "%.190s", err);
        snprintf(f->fix, sizeof f->fix, "ip netns list");
        r->acct = r->timestamp = r->events = r->rmem_max = r->count = r->max = -1;
    } else {
        read_namespace(r, &ctnetlink, &flowtables, ft_names, sizeof ft_names);
        if (o->netns)
            nurs_netns_leave(saved);
    }

    bool conntrack = module_loaded("nf_conntrack");
    f = add(r, "module", conntrack && ctnetlink != 0 ? NURS_DOCTOR_OK : NURS_DOCTOR_WRONG);
    if (f->severity == NURS_DOCTOR_OK) {
        snprintf(f->what, sizeof f->what, "conntrack and its netlink interface are there");
    } else {
        snprintf(f->what, sizeof f->what, "%s is not loaded: no conntrack events",
                 conntrack ? "nf_conntrack_netlink" : "nf_conntrack");
        snprintf(f->fix, sizeof f->fix, "modprobe nf_conntrack_netlink");
    }
    if (r->acct >= 0) {
        f = add(r, "accounting", r->acct ? NURS_DOCTOR_OK : NURS_DOCTOR_WRONG);
        snprintf(f->what, sizeof f->what,
                 r->acct ? "nf_conntrack_acct=1: entries carry packet and byte counters"
                         : "nf_conntrack_acct=0: entries carry no counters, exporters send no flows");
        if (!r->acct)
            snprintf(f->fix, sizeof f->fix, "%ssysctl -w net.netfilter.nf_conntrack_acct=1", ns);
    }
    if (r->timestamp >= 0) {
        f = add(r, "timestamps", r->timestamp ? NURS_DOCTOR_OK : NURS_DOCTOR_WARN);
        snprintf(f->what, sizeof f->what,
                 r->timestamp ? "nf_conntrack_timestamp=1: flows start and end when the kernel says"
                              : "nf_conntrack_timestamp=0: flow times come from when events are "
                                "read; connections older than the daemon start when they end");
        if (!r->timestamp)
            snprintf(f->fix, sizeof f->fix, "%ssysctl -w net.netfilter.nf_conntrack_timestamp=1",
                     ns);
    }
    if (r->events >= 0) {
        f = add(r, "events", r->events == 1 ? NURS_DOCTOR_OK
                             : r->events == 0 ? NURS_DOCTOR_WRONG
                                              : NURS_DOCTOR_WARN);
        snprintf(f->what, sizeof f->what, "%s",
                 r->events == 1 ? "nf_conntrack_events=1: every entry reports its events"
                 : r->events == 0
                     ? "nf_conntrack_events=0: no conntrack events at all"
                     : "nf_conntrack_events=2: entries created while no listener was subscribed "
                       "never report their end");
        if (r->events != 1)
            snprintf(f->fix, sizeof f->fix, "%ssysctl -w net.netfilter.nf_conntrack_events=1", ns);
    }
    long want = o->rcvbuf > 0 ? o->rcvbuf : DEFAULT_RCVBUF;
    if (r->rmem_max >= 0) {
        bool small = r->rmem_max < want;
        f = add(r, "rmem_max", !small ? NURS_DOCTOR_OK : admin ? NURS_DOCTOR_WARN : NURS_DOCTOR_WRONG);
        if (!small)
            snprintf(f->what, sizeof f->what, "net.core.rmem_max=%ld covers the %ld bytes asked",
                     r->rmem_max, want);
        else
            snprintf(f->what, sizeof f->what,
                     "net.core.rmem_max=%ld is below the %ld-byte receive buffer asked: %s",
                     r->rmem_max, want,
                     admin ? "nurs-lua forces it (CAP_NET_ADMIN), other listeners get less"
                           : "buffers are cut to it and bursts are lost");
        if (small)
            snprintf(f->fix, sizeof f->fix, "sysctl -w net.core.rmem_max=%ld", want);
    }
    if (r->count >= 0 && r->max > 0) {
        bool full = r->count * 10 >= r->max * 9;
        f = add(r, "table", full ? NURS_DOCTOR_WARN : NURS_DOCTOR_OK);
        snprintf(f->what, sizeof f->what, "%ld of %ld entries in use%s", r->count, r->max,
                 full ? ": new connections are dropped when it is full" : "");
        if (full)
            snprintf(f->fix, sizeof f->fix, "sysctl -w net.netfilter.nf_conntrack_max=%ld",
                     r->max * 2);
    }
    if (flowtables > 0) {
        f = add(r, "flowtable", NURS_DOCTOR_WRONG);
        snprintf(f->what, sizeof f->what,
                 "flowtable %s offloads flows without counters: their counters stop moving",
                 ft_names);
        snprintf(f->fix, sizeof f->fix,
                 "%snft list flowtables, then add the flowtable again with `counter` in its body",
                 ns);
    } else if (flowtables == 0 && module_loaded("nf_flow_table")) {
        f = add(r, "flowtable", NURS_DOCTOR_OK);
        snprintf(f->what, sizeof f->what, "flowtables count what they offload");
    }
    enum nurs_doctor_severity worst = NURS_DOCTOR_OK;
    for (int i = 0; i < r->n; i++)
        if (r->f[i].severity > worst)
            worst = r->f[i].severity;
    return worst;
}

void nurs_doctor_print(FILE *out, const char *netns, const struct nurs_doctor_report *r)
{
    fprintf(out, "%s:\n", netns ? netns : "our network namespace");
    for (int i = 0; i < r->n; i++) {
        const struct nurs_doctor_finding *f = &r->f[i];
        static const char *const marks[] = {"ok   ", "WARN ", "WRONG"};
        fprintf(out, "  %s %-10s %s\n", marks[f->severity], f->check, f->what);
        if (f->fix[0])
            fprintf(out, "        %-10s fix: %s\n", "", f->fix);
    }
}

void nurs_doctor_log(const char *who, const char *netns, const struct nurs_doctor_report *r)
{
    for (int i = 0; i < r->n; i++) {
        const struct nurs_doctor_finding *f = &r->f[i];
        if (f->severity != NURS_DOCTOR_OK)
            nurs_warn("%s: %s%s%s (fix: %s)", who, netns ? netns : "", netns ? ": " : "",
                      f->what, f->fix);
    }
}

const char *nurs_doctor_severity_name(enum nurs_doctor_severity s)
{
    static const char *const names[] = {"ok", "warn", "wrong"};
    return names[s];
}
