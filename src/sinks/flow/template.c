#include "sinks/flow/template.h"

#include "sinks/flow/encoder.h"

#include <stdio.h>
#include <string.h>

void nurs_template_init(struct nurs_template *t, const char *name)
{
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name ? name : "");
}

static int append(struct nurs_template *t, const struct nurs_ie *ie, unsigned len, char *err,
                  size_t errlen)
{
    if (t->n == NURS_TEMPLATE_MAX) {
        snprintf(err, errlen, "template '%s': more than %d elements", t->name,
                 NURS_TEMPLATE_MAX);
        return -1;
    }
    if (len == 0)
        len = ie->length;
    if (!nurs_ie_length_ok(ie, len)) {
        snprintf(err, errlen, "template '%s': element %s (%s) cannot be %u bytes long", t->name,
                 ie->name, nurs_ie_type_name((enum nurs_ie_type)ie->type), len);
        return -1;
    }
    for (int i = 0; i < t->n; i++) {
        if (t->f[i].ie.id == ie->id && t->f[i].ie.pen == ie->pen) {
            snprintf(err, errlen, "template '%s': element %s appears twice", t->name, ie->name);
            return -1;
        }
    }
    struct nurs_tfield *f = &t->f[t->n++];
    f->ie = *ie;
    f->ie.length = (uint16_t)len;
    snprintf(f->name, sizeof f->name, "%s", ie->name);
    f->ie.name = NULL;
    f->reverse = ie->pen == NURS_PEN_REVERSE;
    nurs_enc_plan_field(f);
    if (len == NURS_IE_VARLEN) {
        t->varlen = true;
        t->min_record_len += 1;
    } else {
        t->min_record_len += len;
    }
    return 0;
}

int nurs_template_add(struct nurs_template *t, const char *name, unsigned len, char *err,
                      size_t errlen)
{
    struct nurs_ie ie;
    if (!nurs_ie_lookup(name, &ie)) {
        snprintf(err, errlen, "template '%s': unknown information element '%s'", t->name, name);
        return -1;
    }
    return append(t, &ie, len, err, errlen);
}

int nurs_template_add_custom(struct nurs_template *t, const char *name, uint16_t id,
                             uint32_t pen, enum nurs_ie_type type, unsigned len, char *err,
                             size_t errlen)
{
    if (id == 0 || id > 0x7fff) {
        snprintf(err, errlen, "template '%s': element %s: id must be 1..32767", t->name, name);
        return -1;
    }
    if (strlen(name) >= sizeof t->f[0].name) {
        snprintf(err, errlen, "template '%s': element name too long", t->name);
        return -1;
    }
    struct nurs_ie ie = {.name = name, .id = id, .pen = pen, .type = (uint8_t)type,
                         .length = (uint16_t)len, .source = FS_NONE};
    return append(t, &ie, len, err, errlen);
}

int nurs_template_finish(struct nurs_template *t, bool v9, char *err, size_t errlen)
{
    if (t->n == 0) {
        snprintf(err, errlen, "template '%s' has no elements", t->name);
        return -1;
    }
    bool v4 = false, v6 = false;
    for (int i = 0; i < t->n; i++) {
        const struct nurs_tfield *f = &t->f[i];
        v4 |= f->ie.ip_version == 4 && (f->ie.type == IE_T_IPV4);
        v6 |= f->ie.ip_version == 6 && (f->ie.type == IE_T_IPV6);
        t->biflow |= f->reverse;
        t->process |= nurs_ie_is_process(&f->ie);
        if (v9 && f->ie.pen != 0 && !nurs_ie_is_process(&f->ie)) {
            snprintf(err, errlen,
                     "template '%s': %s is an enterprise element, which NetFlow v9 cannot "
                     "carry (use IPFIX)",
                     t->name, f->name);
            return -1;
        }
        if (v9 && f->ie.length == NURS_IE_VARLEN) {
            snprintf(err, errlen,
                     "template '%s': NetFlow v9 has no variable-length fields; give %s a "
                     "length, e.g. {\"%s\", 32}",
                     t->name, f->name, f->name);
            return -1;
        }
    }
    if (v4 && v6) {
        snprintf(err, errlen,
                 "template '%s' mixes IPv4 and IPv6 addresses; declare one template per "
                 "family",
                 t->name);
        return -1;
    }
    t->ip_version = v4 ? 4 : v6 ? 6 : 0;
    return 0;
}

int nurs_template_find(const struct nurs_template *t, const char *name)
{
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->f[i].name, name) == 0)
            return i;
    return -1;
}

bool nurs_template_same(const struct nurs_template *a, const struct nurs_template *b)
{
    if (a->n != b->n || a->scope_n != b->scope_n)
        return false;
    for (int i = 0; i < a->n; i++)
        if (a->f[i].ie.id != b->f[i].ie.id || a->f[i].ie.pen != b->f[i].ie.pen ||
            a->f[i].ie.length != b->f[i].ie.length)
            return false;
    return true;
}

void nurs_template_set_process_pen(struct nurs_template *t, uint32_t pen)
{
    for (int i = 0; i < t->n; i++)
        if (nurs_ie_is_process(&t->f[i].ie) && t->f[i].ie.pen != 0)
            t->f[i].ie.pen = pen;
}
