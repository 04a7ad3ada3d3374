/* vio.c - violation kinds, the bounded violation list, and its JSON rendering (see vio.h). */
#include "vio.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sl_buf.h"

static const char *const kind_names[SL_KIND__COUNT] = {
#define SL_KIND_NAME(id, name) name,
    SL_KIND_MAP(SL_KIND_NAME)
#undef SL_KIND_NAME
};

const char *sl_kind_name(sl_kind k)
{
    return (unsigned)k < SL_KIND__COUNT ? kind_names[k] : "Unknown";
}

int sl_kind_from_name(const char *name)
{
    for (int k = 0; k < SL_KIND__COUNT; k++)
        if (strcmp(kind_names[k], name) == 0) return k;
    return -1;
}

bool sl_kind_is_warning(sl_kind k)
{
    return k == SL_KIND_DEPRECATED_EVENT;
}

void vio_list_reset(vio_list *l)
{
    l->n = 0;
    l->dropped = 0;
    l->nerrors = 0;
}

vio *vio_list_push(vio_list *l, sl_kind kind, const char *keyword)
{
    if (!sl_kind_is_warning(kind)) l->nerrors++;
    if (l->n == VIO_MAX) {
        l->dropped++;
        return NULL;
    }
    vio *v = &l->items[l->n++];
    v->kind = kind;
    v->keyword = keyword;
    v->path[0] = v->expected[0] = v->actual[0] = v->message[0] = '\0';
    return v;
}

/* ---- bounded rendering ------------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t cap, len; /* len may exceed cap - 1: counts what did not fit */
} rbuf;

static void rb_putc(rbuf *b, char c)
{
    if (b->len + 1 < b->cap) b->p[b->len] = c;
    b->len++;
}

static void rb_puts(rbuf *b, const char *s)
{
    while (*s)
        rb_putc(b, *s++);
}

static void rb_str(rbuf *b, const char *s)
{
    rb_putc(b, '"');
    for (const char *u = s; *u && b->len < b->cap; u++) {
        char esc[6];
        for (const char *q = esc, *e = sl_json_escape(esc, u, 1); q < e; q++)
            rb_putc(b, *q);
    }
    rb_putc(b, '"');
}

static void rb_num(rbuf *b, double d)
{
    char tmp[32];
    if (d == floor(d) && fabs(d) < 1e15)
        snprintf(tmp, sizeof tmp, "%.0f", d);
    else
        snprintf(tmp, sizeof tmp, "%.17g", d);
    rb_puts(b, tmp);
}

static void rb_value(rbuf *b, const cJSON *v, int depth)
{
    if (b->len >= b->cap) return;
    if (!v) {
        rb_puts(b, "null");
        return;
    }
    switch (v->type & 0xFF) {
    case cJSON_NULL:
        rb_puts(b, "null");
        break;
    case cJSON_True:
        rb_puts(b, "true");
        break;
    case cJSON_False:
        rb_puts(b, "false");
        break;
    case cJSON_Number:
        rb_num(b, v->valuedouble);
        break;
    case cJSON_String:
        rb_str(b, v->valuestring ? v->valuestring : "");
        break;
    case cJSON_Raw:
        rb_puts(b, v->valuestring ? v->valuestring : "");
        break;
    case cJSON_Array:
    case cJSON_Object: {
        bool obj = cJSON_IsObject(v);
        rb_putc(b, obj ? '{' : '[');
        if (depth > 8) {
            rb_puts(b, "...");
        } else {
            for (const cJSON *c = v->child; c && b->len < b->cap; c = c->next) {
                if (c != v->child) rb_putc(b, ',');
                if (obj) {
                    rb_str(b, c->string ? c->string : "");
                    rb_putc(b, ':');
                }
                rb_value(b, c, depth + 1);
            }
        }
        rb_putc(b, obj ? '}' : ']');
        break;
    }
    default:
        rb_puts(b, "?");
    }
}

char *vio_render(char *dst, size_t cap, const cJSON *v)
{
    if (cap == 0) return dst;
    rbuf b = {dst, cap, 0};
    rb_value(&b, v, 0);
    if (b.len < cap) {
        dst[b.len] = '\0';
    } else {
        /* Truncated: end with "..." inside the buffer. */
        size_t end = cap - 1;
        dst[end] = '\0';
        for (size_t i = 1; i <= 3 && i <= end; i++)
            dst[end - i] = '.';
    }
    return dst;
}

/* Appends `"key":"value"` (value escaped as cJSON prints strings: '"', '\\' and control
 * characters; other bytes as they are) at w; returns the new end. Room: see vio_list_to_json. */
static char *put_field(char *w, const char *key, const char *v)
{
    *w++ = '"';
    size_t kn = strlen(key);
    memcpy(w, key, kn);
    w += kn;
    memcpy(w, "\":\"", 3);
    w = sl_json_escape(w + 3, v, strlen(v));
    *w++ = '"';
    return w;
}

char *vio_list_to_json(const vio_list *l)
{
    /* Written directly (it runs for every invalid event): each byte of a value takes at most 6
     * bytes escaped; keys, quotes and punctuation fit in 96 per violation. */
    size_t cap = 3;
    for (size_t i = 0; i < l->n; i++) {
        const vio *v = &l->items[i];
        cap += 96 + 6 * (strlen(sl_kind_name(v->kind)) + strlen(v->path) +
                         (v->keyword ? strlen(v->keyword) : 0) + strlen(v->expected) +
                         strlen(v->actual) + strlen(v->message));
    }
    char *out = malloc(cap);
    if (!out) return NULL;
    char *w = out;
    *w++ = '[';
    for (size_t i = 0; i < l->n; i++) {
        const vio *v = &l->items[i];
        if (i) *w++ = ',';
        *w++ = '{';
        w = put_field(w, "kind", sl_kind_name(v->kind));
        *w++ = ',';
        w = put_field(w, "path", v->path);
        *w++ = ',';
        w = put_field(w, "keyword", v->keyword ? v->keyword : "");
        *w++ = ',';
        w = put_field(w, "expected", v->expected);
        *w++ = ',';
        w = put_field(w, "actual", v->actual);
        *w++ = ',';
        w = put_field(w, "message", v->message);
        *w++ = '}';
    }
    *w++ = ']';
    *w = 0;
    return out;
}
