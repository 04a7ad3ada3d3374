/* yamlw.c - cJSON -> YAML text (see yamlw.h). */
#include "yamlw.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FLOW_MAX 78 /* a collection goes on one line when it fits in this many bytes */

static bool is_comment(const cJSON *m)
{
    return m->string && strcmp(m->string, YAMLW_COMMENT) == 0 && cJSON_IsString(m);
}

/* A string YAML (1.1 and 1.2 core) reads back as that same string when written plain. */
static bool plain_ok(const char *s)
{
    static const char *const words[] = {"true", "false", "yes",  "no", "on", "off",
                                        "y",    "n",     "null", "~",  NULL};
    size_t n = strlen(s);
    if (n == 0 || n > 120) return false;
    char c0 = s[0];
    if (!((c0 >= 'A' && c0 <= 'Z') || (c0 >= 'a' && c0 <= 'z') || c0 == '_' || c0 == '$' ||
          c0 == '/'))
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == ' ' || c == '_' || c == '.' || c == '$' || c == '/' || c == '-' ||
                  c == '+' || c == '@';
        if (!ok) return false;
    }
    if (s[n - 1] == ' ') return false;
    for (const char *const *w = words; *w; w++)
        if (strcasecmp(*w, s) == 0) return false;
    return true;
}

static void put_string(sl_buf *o, const char *s)
{
    if (plain_ok(s)) {
        sl_buf_puts(o, s);
        return;
    }
    size_t n = strlen(s);
    if (!sl_buf_reserve(o, 6 * n + 2)) return;
    char *w = o->p + o->n;
    *w++ = '"';
    w = sl_json_escape(w, s, n);
    *w++ = '"';
    o->n = (size_t)(w - o->p);
    o->p[o->n] = '\0';
}

static void put_scalar(sl_buf *o, const cJSON *v)
{
    switch (v->type & 0xFF) {
    case cJSON_NULL:
        sl_buf_puts(o, "null");
        break;
    case cJSON_True:
        sl_buf_puts(o, "true");
        break;
    case cJSON_False:
        sl_buf_puts(o, "false");
        break;
    case cJSON_Number: {
        double d = v->valuedouble;
        if (d == floor(d) && fabs(d) < 1e15)
            sl_buf_printf(o, "%.0f", d);
        else
            sl_buf_printf(o, "%.17g", d);
        break;
    }
    case cJSON_String:
        put_string(o, v->valuestring);
        break;
    default:
        sl_buf_puts(o, "null");
    }
}

static bool is_scalar(const cJSON *v)
{
    return !cJSON_IsObject(v) && !cJSON_IsArray(v);
}

/* Flow style of v into t, nested collections included; false when it does not fit in `room`. */
static bool flow_into(sl_buf *t, const cJSON *v, size_t room, int depth)
{
    if (is_scalar(v)) {
        put_scalar(t, v);
        return t->n <= room;
    }
    if (depth > 4) return false;
    bool obj = cJSON_IsObject(v);
    sl_buf_puts(t, obj ? "{" : "[");
    for (const cJSON *m = v->child; m; m = m->next) {
        if (is_comment(m)) return false;
        if (m != v->child) sl_buf_puts(t, ", ");
        if (obj) {
            put_string(t, m->string);
            sl_buf_puts(t, ": ");
        }
        if (!flow_into(t, m, room, depth + 1)) return false;
    }
    sl_buf_puts(t, obj ? "}" : "]");
    return !t->oom && t->n <= room;
}

/* Writes v in flow style when it is a scalar or a collection that fits on a line; false
 * (nothing written) otherwise. */
static bool put_flow(sl_buf *o, const cJSON *v)
{
    if (is_scalar(v)) {
        put_scalar(o, v);
        return true;
    }
    sl_buf t = {0};
    bool fits = flow_into(&t, v, FLOW_MAX, 0);
    if (fits) sl_buf_put(o, t.p, t.n);
    sl_buf_free(&t);
    return fits;
}

static void pad(sl_buf *o, int ind)
{
    for (int i = 0; i < ind; i++)
        sl_buf_putc(o, ' ');
}

static void put_comment(sl_buf *o, const char *text, int ind)
{
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        pad(o, ind);
        sl_buf_puts(o, n ? "# " : "#");
        sl_buf_put(o, p, n);
        sl_buf_putc(o, '\n');
        p += n + (p[n] == '\n');
    }
}

static void put_map(sl_buf *o, const cJSON *v, int ind, bool first_inline);
static void put_seq(sl_buf *o, const cJSON *v, int ind);

/* The value after "key:" (or "-"), then the end of line. */
static void put_value(sl_buf *o, const cJSON *v, int ind)
{
    sl_buf_putc(o, ' ');
    if (put_flow(o, v)) {
        sl_buf_putc(o, '\n');
        return;
    }
    if (o->oom) return;
    o->p[--o->n] = '\0'; /* no trailing space before a nested block */
    sl_buf_putc(o, '\n');
    if (cJSON_IsObject(v))
        put_map(o, v, ind + 2, false);
    else
        put_seq(o, v, ind + 2);
}

static void put_map(sl_buf *o, const cJSON *v, int ind, bool first_inline)
{
    for (const cJSON *m = v->child; m; m = m->next) {
        if (is_comment(m)) {
            put_comment(o, m->valuestring, first_inline ? 0 : ind);
            if (first_inline) pad(o, ind);
            first_inline = false;
            continue;
        }
        if (!first_inline) pad(o, ind);
        first_inline = false;
        put_string(o, m->string);
        sl_buf_putc(o, ':');
        put_value(o, m, ind);
    }
}

static void put_seq(sl_buf *o, const cJSON *v, int ind)
{
    for (const cJSON *e = v->child; e; e = e->next) {
        pad(o, ind);
        sl_buf_putc(o, '-');
        if (cJSON_IsObject(e) && e->child) {
            sl_buf_putc(o, ' ');
            if (put_flow(o, e)) {
                sl_buf_putc(o, '\n');
                continue;
            }
            put_map(o, e, ind + 2, true);
        } else {
            put_value(o, e, ind);
        }
    }
}

void yamlw_write(sl_buf *out, const cJSON *v)
{
    if (cJSON_IsObject(v) && v->child)
        put_map(out, v, 0, false);
    else if (cJSON_IsArray(v) && v->child)
        put_seq(out, v, 0);
    else {
        put_flow(out, v);
        sl_buf_putc(out, '\n');
    }
}
