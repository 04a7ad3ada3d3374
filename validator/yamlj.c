/* yamlj.c - YAML -> cJSON with a source position for every node (see yamlj.h).
 *
 * Driven by libyaml's event parser: build() turns the events of one node into a cJSON subtree,
 * recursing into collections (recursion depth is bounded by YAMLJ_MAX_DEPTH). Anchored nodes are
 * remembered and an alias is expanded by copying the anchored subtree (positions included), after
 * checking the node and depth budgets, so a "billion laughs" file fails fast instead of eating
 * memory. Mapping keys are checked for duplicates in a hash set keyed by (mapping id, key text),
 * which is also where anchors are indexed (id 0), so both are O(1).
 *
 * Every failure goes through yj_fail(), which records the first error only: a load produces
 * exactly one diagnostic and one SL_E* code. Nodes that must outlive their use but are not part
 * of the result (anchored keys, merge sources) are parked in a "grave" array freed at the end. */
#include "yamlj.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#define YJ_TAG_PREFIX "tag:yaml.org,2002:"
#define YJ_TAG_PREFIX_LEN (sizeof YJ_TAG_PREFIX - 1)

/* ------------------------------------------------------------------------------------------ */
/* String set keyed by (id, text): mapping keys (id = the mapping's serial) and anchors (id 0). */

typedef struct {
    const char *key; /* borrowed (a cJSON member's ->string or an anchor name); NULL = empty */
    unsigned long id;
    uint32_t hash;
    int line, col; /* mapping keys: where the key was defined (0 when merged in) */
    size_t val;    /* anchors: index into yj_ctx.anchors */
} yj_kent;

typedef struct {
    yj_kent *v;
    size_t cap, n; /* cap: 0 or a power of two */
} yj_kset;

static uint32_t yj_hash(unsigned long id, const char *s)
{
    uint32_t h = 2166136261u ^ (uint32_t)(id * 2654435761u);
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static yj_kent *yj_kslot(yj_kent *v, size_t cap, unsigned long id, const char *key, uint32_t h)
{
    size_t i = h & (cap - 1);
    while (v[i].key && !(v[i].hash == h && v[i].id == id && strcmp(v[i].key, key) == 0))
        i = (i + 1) & (cap - 1);
    return &v[i];
}

static yj_kent *yj_kfind(const yj_kset *s, unsigned long id, const char *key)
{
    if (!s->cap) return NULL;
    yj_kent *e = yj_kslot(s->v, s->cap, id, key, yj_hash(id, key));
    return e->key ? e : NULL;
}

/* Inserts (id, key) (which must not be present yet); NULL when out of memory. */
static yj_kent *yj_kadd(yj_kset *s, unsigned long id, const char *key)
{
    if ((s->n + 1) * 10 > s->cap * 7) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        yj_kent *v = calloc(cap, sizeof *v);
        if (!v) return NULL;
        for (size_t i = 0; i < s->cap; i++)
            if (s->v[i].key) *yj_kslot(v, cap, s->v[i].id, s->v[i].key, s->v[i].hash) = s->v[i];
        free(s->v);
        s->v = v;
        s->cap = cap;
    }
    uint32_t h = yj_hash(id, key);
    yj_kent *e = yj_kslot(s->v, s->cap, id, key, h);
    *e = (yj_kent){.key = key, .id = id, .hash = h};
    s->n++;
    return e;
}

/* ------------------------------------------------------------------------------------------ */
/* Load context */

typedef struct {
    char *name;        /* owned */
    const cJSON *node; /* in the result tree or the grave; lives until the load ends */
    size_t count;      /* nodes in the subtree */
    int height;        /* 0 for a scalar, 1 + max child height for a collection */
} yj_anchor;

typedef struct {
    yaml_parser_t parser;
    const char *buf;
    size_t len;
    srcmap *map; /* may be NULL */
    sl_diags *d;
    int rc; /* first error; 0 while none */
    size_t nodes;
    unsigned long next_id;
    yj_kset keys;
    yj_anchor *anchors;
    size_t nanchors, capanchors;
    cJSON *grave;
} yj_ctx;

static int yj_fail(yj_ctx *c, int rc, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int yj_fail(yj_ctx *c, int rc, int line, int col, const char *fmt, ...)
{
    if (c->rc) return c->rc;
    va_list ap;
    va_start(ap, fmt);
    if (c->d) sl_diags_vadd(c->d, SL_SEV_ERROR, line, col, fmt, ap);
    va_end(ap);
    c->rc = rc;
    return rc;
}

#define YJ_LC(mark) (int)(mark).line + 1, (int)(mark).column + 1

static int yj_nomem(yj_ctx *c, yaml_mark_t m)
{
    return yj_fail(c, SL_ENOMEM, YJ_LC(m), "out of memory while loading YAML");
}

/* 1-based line:col of byte offset off in the input (reader errors carry only an offset). */
static void yj_offset_lc(const yj_ctx *c, size_t off, int *line, int *col)
{
    int l = 1, k = 1;
    if (off > c->len) off = c->len;
    for (size_t i = 0; i < off; i++) {
        unsigned char ch = (unsigned char)c->buf[i];
        if (ch == '\n') {
            l++;
            k = 1;
        } else if ((ch & 0xC0) != 0x80) {
            k++;
        }
    }
    *line = l;
    *col = k;
}

/* Byte at a libyaml mark (0-based line, column counted in characters), or -1 when unknown. Used
 * only to add a hint to messages, so an approximation is fine for non-UTF-8 input. */
static int yj_byte_at(const yj_ctx *c, yaml_mark_t m)
{
    size_t i = 0;
    for (size_t l = 0; l < m.line; l++) {
        while (i < c->len && c->buf[i] != '\n')
            i++;
        if (i >= c->len) return -1;
        i++;
    }
    for (size_t k = 0; k < m.column; k++) {
        if (i >= c->len || c->buf[i] == '\n') return -1;
        i++;
        while (i < c->len && ((unsigned char)c->buf[i] & 0xC0) == 0x80)
            i++;
    }
    return i < c->len ? (unsigned char)c->buf[i] : -1;
}

/* Turns libyaml's error state into the one diagnostic. */
static int yj_parser_fail(yj_ctx *c)
{
    const yaml_parser_t *p = &c->parser;
    const char *problem = p->problem ? p->problem : "unknown YAML error";
    switch (p->error) {
    case YAML_MEMORY_ERROR:
        return yj_fail(c, SL_ENOMEM, 0, 0, "out of memory while parsing YAML");
    case YAML_READER_ERROR: {
        int line, col;
        yj_offset_lc(c, p->problem_offset, &line, &col);
        if (p->problem_value >= 0)
            return yj_fail(c, SL_ESYNTAX, line, col, "%s (#x%X)", problem, p->problem_value);
        return yj_fail(c, SL_ESYNTAX, line, col, "%s", problem);
    }
    default: {
        const char *hint = "";
        if (yj_byte_at(c, p->problem_mark) == '\t')
            hint = " (a tab character; YAML indentation must use spaces)";
        if (p->context && p->context_mark.index == p->problem_mark.index)
            return yj_fail(c, SL_ESYNTAX, YJ_LC(p->problem_mark), "%s%s (%s)", problem, hint,
                           p->context);
        if (p->context)
            return yj_fail(c, SL_ESYNTAX, YJ_LC(p->problem_mark), "%s%s (%s at %d:%d)", problem,
                           hint, p->context, YJ_LC(p->context_mark));
        return yj_fail(c, SL_ESYNTAX, YJ_LC(p->problem_mark), "%s%s", problem, hint);
    }
    }
}

static int yj_next(yj_ctx *c, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&c->parser, ev)) return yj_parser_fail(c);
    return 0;
}

/* Counts a new node against YAMLJ_MAX_NODES and records its position. */
static int yj_track(yj_ctx *c, const cJSON *n, int line, int col)
{
    if (++c->nodes > YAMLJ_MAX_NODES)
        return yj_fail(c, SL_ELIMIT, line, col, "document has more than %d nodes", YAMLJ_MAX_NODES);
    if (c->map && srcmap_put(c->map, n, line, col))
        return yj_fail(c, SL_ENOMEM, line, col, "out of memory while loading YAML");
    return 0;
}

/* Adds n to the grave (kept alive until the end of the load, then freed). Takes n. */
static int yj_bury(yj_ctx *c, cJSON *n, yaml_mark_t m)
{
    if (!cJSON_AddItemToArray(c->grave, n)) {
        cJSON_Delete(n);
        return yj_nomem(c, m);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Scalars: the YAML 1.2 core schema */

static bool yj_is_null(const char *s, size_t n)
{
    return n == 0 || (n == 1 && s[0] == '~') || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

/* 1 = true, 0 = false, -1 = not a boolean. */
static int yj_bool(const char *s)
{
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) return 1;
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) return 0;
    return -1;
}

static bool yj_all(const char *s, const char *set)
{
    if (!*s) return false;
    return strspn(s, set) == strlen(s);
}

#define YJ_DIGITS "0123456789"

/* Integer form: 10 = decimal, 8 = 0o octal, 16 = 0x hex, 0 = not an integer. */
static int yj_int_form(const char *s)
{
    if (s[0] == '0' && s[1] == 'o') return yj_all(s + 2, "01234567") ? 8 : 0;
    if (s[0] == '0' && s[1] == 'x') return yj_all(s + 2, YJ_DIGITS "abcdefABCDEF") ? 16 : 0;
    if (*s == '-' || *s == '+') s++;
    return yj_all(s, YJ_DIGITS) ? 10 : 0;
}

/* Float form: 1 = finite, 2 = infinity, 3 = NaN, 0 = not a float. */
static int yj_float_form(const char *s)
{
    if (!strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN")) return 3;
    if (*s == '-' || *s == '+') s++;
    if (!strcmp(s, ".inf") || !strcmp(s, ".Inf") || !strcmp(s, ".INF")) return 2;
    /* ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
    size_t ip = strspn(s, YJ_DIGITS);
    s += ip;
    if (*s == '.') {
        size_t fp = strspn(s + 1, YJ_DIGITS);
        if (!ip && !fp) return 0;
        s += 1 + fp;
    } else if (!ip) {
        return 0;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+') s++;
        size_t ep = strspn(s, YJ_DIGITS);
        if (!ep) return 0;
        s += ep;
    }
    return *s == '\0' ? 1 : 0;
}

/* Parses a number already known to be of integer form `base` or float form 1. */
static int yj_number(yj_ctx *c, const char *s, int base, yaml_mark_t m, double *out)
{
    if (base == 8) {
        uint64_t v = 0;
        for (const char *p = s + 2; *p; p++) {
            if (v > (UINT64_MAX >> 3))
                return yj_fail(c, SL_ESYNTAX, YJ_LC(m), "octal integer %s is out of range", s);
            v = v * 8 + (uint64_t)(*p - '0');
        }
        *out = (double)v;
        return 0;
    }
    /* strtod rounds correctly, including decimal integers past 2^53 and C99 hex (0x...). */
    char *end;
    double v = strtod(s, &end);
    if (!isfinite(v))
        return yj_fail(c, SL_ESYNTAX, YJ_LC(m), "number %s is not representable in JSON", s);
    *out = v;
    return 0;
}

/* "!!int" for core tags, the tag itself otherwise. */
static void yj_tag_name(const char *tag, char *buf, size_t size)
{
    if (strncmp(tag, YJ_TAG_PREFIX, YJ_TAG_PREFIX_LEN) == 0)
        snprintf(buf, size, "!!%s", tag + YJ_TAG_PREFIX_LEN);
    else
        snprintf(buf, size, "%s", tag);
}

/* Core tag suffix ("str", "map"...) of tag, or NULL for any other tag. */
static const char *yj_core_tag(const char *tag)
{
    static const char *const core[] = {"str", "null", "bool", "int", "float", "map", "seq"};
    if (strncmp(tag, YJ_TAG_PREFIX, YJ_TAG_PREFIX_LEN) != 0) return NULL;
    for (size_t i = 0; i < sizeof core / sizeof *core; i++)
        if (strcmp(tag + YJ_TAG_PREFIX_LEN, core[i]) == 0) return core[i];
    return NULL;
}

/* Checks a collection's tag: none, "!", or the matching core tag (want: "map" or "seq"). */
static int yj_check_coll_tag(yj_ctx *c, const yaml_char_t *utag, const char *want, yaml_mark_t m)
{
    const char *tag = (const char *)utag;
    if (!tag || strcmp(tag, "!") == 0) return 0;
    const char *core = yj_core_tag(tag);
    char name[128];
    yj_tag_name(tag, name, sizeof name);
    if (!core) return yj_fail(c, SL_ESYNTAX, YJ_LC(m), "unsupported tag %s", name);
    if (strcmp(core, want) != 0)
        return yj_fail(c, SL_ESYNTAX, YJ_LC(m), "tag %s cannot be applied to a %s", name,
                       want[0] == 'm' ? "mapping" : "sequence");
    return 0;
}

/* The cJSON value of a scalar event (not tracked yet). */
static int yj_scalar(yj_ctx *c, const yaml_event_t *ev, cJSON **out)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    yaml_mark_t m = ev->start_mark;
    const char *want = NULL; /* core type forced by an explicit tag */
    *out = NULL;

    if (memchr(s, '\0', n))
        return yj_fail(c, SL_ESYNTAX, YJ_LC(m), "scalar contains a NUL character (\\0)");
    if (tag && strcmp(tag, "!") != 0) {
        char name[128];
        yj_tag_name(tag, name, sizeof name);
        want = yj_core_tag(tag);
        if (!want) return yj_fail(c, SL_ESYNTAX, YJ_LC(m), "unsupported tag %s", name);
        if (!strcmp(want, "map") || !strcmp(want, "seq"))
            return yj_fail(c, SL_ESYNTAX, YJ_LC(m), "tag %s cannot be applied to a scalar", name);
    } else if (tag || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        want = "str"; /* quoted, block, or "!": always a string */
    }

    if (!want || !strcmp(want, "null")) {
        if (yj_is_null(s, n)) {
            *out = cJSON_CreateNull();
            goto made;
        }
        if (want) goto mismatch;
    }
    if (!want || !strcmp(want, "bool")) {
        int b = yj_bool(s);
        if (b >= 0) {
            *out = cJSON_CreateBool(b);
            goto made;
        }
        if (want) goto mismatch;
    }
    if (!want || !strcmp(want, "int") || !strcmp(want, "float")) {
        int base = yj_int_form(s);
        int ff = base ? 0 : yj_float_form(s);
        if (want && !strcmp(want, "int") && !base) goto mismatch;
        if (ff == 2 || ff == 3)
            return yj_fail(c, SL_ESYNTAX, YJ_LC(m), "%s is not representable in JSON", s);
        if (base || ff == 1) {
            double v = 0;
            int rc = yj_number(c, s, base, m, &v);
            if (rc) return rc;
            *out = cJSON_CreateNumber(v);
            goto made;
        }
        if (want) goto mismatch;
    }
    *out = cJSON_CreateString(s);
made:
    return *out ? 0 : yj_nomem(c, m);
mismatch:
    return yj_fail(c, SL_ESYNTAX, YJ_LC(m), "\"%.64s\" is not a valid !!%s", s, want);
}

/* ------------------------------------------------------------------------------------------ */
/* Anchors and aliases */

/* Node count and height of a subtree. */
static void yj_stats(const cJSON *n, size_t *count, int *height)
{
    size_t cnt = 1;
    int h = 0;
    if (cJSON_IsArray(n) || cJSON_IsObject(n)) {
        h = 1;
        for (const cJSON *ch = n->child; ch; ch = ch->next) {
            size_t cc;
            int hh;
            yj_stats(ch, &cc, &hh);
            cnt += cc;
            if (hh + 1 > h) h = hh + 1;
        }
    }
    *count = cnt;
    *height = h;
}

/* Remembers node under anchor `name` (a later definition of the same name wins). */
static int yj_anchor_add(yj_ctx *c, const yaml_char_t *name, const cJSON *node, yaml_mark_t m)
{
    if (c->nanchors == c->capanchors) {
        size_t cap = c->capanchors ? c->capanchors * 2 : 16;
        yj_anchor *v = realloc(c->anchors, cap * sizeof *v);
        if (!v) return yj_nomem(c, m);
        c->anchors = v;
        c->capanchors = cap;
    }
    yj_anchor *a = &c->anchors[c->nanchors];
    a->name = strdup((const char *)name);
    if (!a->name) return yj_nomem(c, m);
    a->node = node;
    yj_stats(node, &a->count, &a->height);
    c->nanchors++;
    yj_kent *e = yj_kfind(&c->keys, 0, a->name);
    if (!e) e = yj_kadd(&c->keys, 0, a->name);
    if (!e) return yj_nomem(c, m);
    e->key = a->name; /* the set entry now borrows the newest copy of the name */
    e->val = c->nanchors - 1;
    return 0;
}

/* Copies the positions of src's subtree onto its duplicate dst. */
static int yj_copy_pos(yj_ctx *c, const cJSON *src, const cJSON *dst)
{
    int line, col;
    if (srcmap_get(c->map, src, &line, &col) == 0 && srcmap_put(c->map, dst, line, col))
        return SL_ENOMEM;
    for (src = src->child, dst = dst->child; src && dst; src = src->next, dst = dst->next)
        if (yj_copy_pos(c, src, dst)) return SL_ENOMEM;
    return 0;
}

/* A counted, positioned copy of src; its root is recorded at line:col. */
static int yj_copy(yj_ctx *c, const cJSON *src, size_t count, int line, int col, yaml_mark_t m,
                   cJSON **out)
{
    int rc = 0;
    *out = cJSON_Duplicate(src, 1);
    if (!*out) return yj_nomem(c, m);
    if (c->map && yj_copy_pos(c, src, *out)) rc = yj_nomem(c, m);
    c->nodes += count - 1;
    if (!rc) rc = yj_track(c, *out, line, col);
    if (rc) {
        cJSON_Delete(*out);
        *out = NULL;
    }
    return rc;
}

static int yj_alias(yj_ctx *c, const yaml_event_t *ev, int depth, int line, int col, cJSON **out)
{
    const char *name = (const char *)ev->data.alias.anchor;
    yaml_mark_t m = ev->start_mark;
    yj_kent *e = yj_kfind(&c->keys, 0, name);
    if (!e) return yj_fail(c, SL_ESYNTAX, YJ_LC(m), "undefined alias *%s", name);
    const yj_anchor *a = &c->anchors[e->val];
    if (a->count > YAMLJ_MAX_NODES - c->nodes)
        return yj_fail(c, SL_ELIMIT, YJ_LC(m),
                       "alias *%s expands to too many nodes (%zu; the document limit is %d)", name,
                       a->count, YAMLJ_MAX_NODES);
    if (depth + a->height > YAMLJ_MAX_DEPTH)
        return yj_fail(c, SL_ELIMIT, YJ_LC(m), "alias *%s nests deeper than %d levels", name,
                       YAMLJ_MAX_DEPTH);
    return yj_copy(c, a->node, a->count, line, col, m, out);
}

/* ------------------------------------------------------------------------------------------ */
/* Collections */

static int yj_build(yj_ctx *c, const yaml_event_t *ev, int depth, int line, int col, cJSON **out);

static int yj_sequence(yj_ctx *c, int depth, cJSON *arr)
{
    for (;;) {
        yaml_event_t ev;
        int rc = yj_next(c, &ev);
        if (rc) return rc;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        cJSON *item;
        rc = yj_build(c, &ev, depth + 1, YJ_LC(ev.start_mark), &item);
        if (!rc && !cJSON_AddItemToArray(arr, item)) {
            cJSON_Delete(item);
            rc = yj_nomem(c, ev.start_mark);
        }
        yaml_event_delete(&ev);
        if (rc) return rc;
    }
}

/* Is this key event the merge key "<<" (plain, untagged or !!merge)? */
static bool yj_is_merge_key(const yaml_event_t *k)
{
    const char *tag = (const char *)k->data.scalar.tag;
    if (strcmp((const char *)k->data.scalar.value, "<<") != 0) return false;
    if (tag) return strcmp(tag, YJ_TAG_PREFIX "merge") == 0;
    return k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

typedef struct {
    const cJSON **v;
    size_t n, cap;
} yj_srcs;

static int yj_srcs_push(yj_ctx *c, yj_srcs *s, const cJSON *src, yaml_mark_t m)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        const cJSON **v = realloc(s->v, cap * sizeof *v);
        if (!v) return yj_nomem(c, m);
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = src;
    return 0;
}

/* Copies the members of the merge sources that obj (mapping `id`) does not define yet; earlier
 * sources win over later ones, explicit keys over all of them. */
static int yj_apply_merges(yj_ctx *c, cJSON *obj, unsigned long id, const yj_srcs *s, yaml_mark_t m,
                           int ml, int mc)
{
    for (size_t i = 0; i < s->n; i++) {
        for (const cJSON *mem = s->v[i]->child; mem; mem = mem->next) {
            if (yj_kfind(&c->keys, id, mem->string)) continue;
            size_t count;
            int height, line = 0, col = 0;
            yj_stats(mem, &count, &height);
            if (count > YAMLJ_MAX_NODES - c->nodes)
                return yj_fail(c, SL_ELIMIT, ml, mc,
                               "merge (<<) expands to too many nodes (the document limit is %d)",
                               YAMLJ_MAX_NODES);
            srcmap_get(c->map, mem, &line, &col);
            cJSON *copy;
            int rc = yj_copy(c, mem, count, line, col, m, &copy);
            if (rc) {
                cJSON_Delete(copy);
                return rc;
            }
            if (!cJSON_AddItemToArray(obj, copy)) { /* keeps copy->string: the member's key */
                cJSON_Delete(copy);
                return yj_nomem(c, m);
            }
            if (!yj_kadd(&c->keys, id, copy->string)) return yj_nomem(c, m);
        }
    }
    return 0;
}

#define YJ_MERGE_MSG "the value of a merge key (<<) must be a mapping or a sequence of mappings"

/* A merge source given by an alias: the anchored mapping itself, not copied (an anchored node is
 * complete when registered and never changes afterwards). */
static int yj_merge_alias(yj_ctx *c, const yaml_event_t *ev, int depth, int line, int col,
                          yj_srcs *srcs)
{
    const char *name = (const char *)ev->data.alias.anchor;
    yj_kent *e = yj_kfind(&c->keys, 0, name);
    if (!e) return yj_fail(c, SL_ESYNTAX, YJ_LC(ev->start_mark), "undefined alias *%s", name);
    const yj_anchor *a = &c->anchors[e->val];
    if (!cJSON_IsObject(a->node)) return yj_fail(c, SL_ESYNTAX, line, col, YJ_MERGE_MSG);
    if (depth + a->height > YAMLJ_MAX_DEPTH)
        return yj_fail(c, SL_ELIMIT, YJ_LC(ev->start_mark), "alias *%s nests deeper than %d levels",
                       name, YAMLJ_MAX_DEPTH);
    return yj_srcs_push(c, srcs, a->node, ev->start_mark);
}

/* A merge source written in place (or anything unusual, e.g. an anchored sequence): built,
 * parked in the grave, and its mapping(s) pushed as sources. */
static int yj_merge_built(yj_ctx *c, const yaml_event_t *ev, int depth, int line, int col,
                          yj_srcs *srcs)
{
    cJSON *v;
    int rc = yj_build(c, ev, depth, line, col, &v);
    if (rc) return rc;
    rc = yj_bury(c, v, ev->start_mark);
    if (rc) return rc;
    if (cJSON_IsObject(v)) return yj_srcs_push(c, srcs, v, ev->start_mark);
    if (!cJSON_IsArray(v)) return yj_fail(c, SL_ESYNTAX, line, col, YJ_MERGE_MSG);
    for (const cJSON *it = v->child; it; it = it->next)
        if (!cJSON_IsObject(it)) return yj_fail(c, SL_ESYNTAX, line, col, YJ_MERGE_MSG);
    for (const cJSON *it = v->child; it; it = it->next)
        if ((rc = yj_srcs_push(c, srcs, it, ev->start_mark))) return rc;
    return 0;
}

/* The value of a "<<" key at line:col, whose first event is ev: a mapping, or a sequence of
 * mappings; aliases among them are used without copying. */
static int yj_merge_value(yj_ctx *c, const yaml_event_t *ev, int depth, int line, int col,
                          yj_srcs *srcs)
{
    if (ev->type == YAML_ALIAS_EVENT) return yj_merge_alias(c, ev, depth, line, col, srcs);
    if (ev->type != YAML_SEQUENCE_START_EVENT || ev->data.sequence_start.anchor)
        return yj_merge_built(c, ev, depth, line, col, srcs);
    int rc = yj_check_coll_tag(c, ev->data.sequence_start.tag, "seq", ev->start_mark);
    while (!rc) {
        yaml_event_t it;
        if ((rc = yj_next(c, &it))) break;
        if (it.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&it);
            break;
        }
        if (it.type == YAML_ALIAS_EVENT)
            rc = yj_merge_alias(c, &it, depth, line, col, srcs);
        else if (it.type == YAML_MAPPING_START_EVENT)
            rc = yj_merge_built(c, &it, depth, line, col, srcs);
        else
            rc = yj_fail(c, SL_ESYNTAX, line, col, YJ_MERGE_MSG);
        yaml_event_delete(&it);
    }
    return rc;
}

static int yj_mapping(yj_ctx *c, int depth, cJSON *obj)
{
    unsigned long id = ++c->next_id;
    yj_srcs srcs = {0};
    bool merged = false;
    int ml = 0, mc = 0; /* position of the "<<" key */
    int rc = 0;
    for (;;) {
        yaml_event_t k, v;
        if ((rc = yj_next(c, &k))) break;
        if (k.type == YAML_MAPPING_END_EVENT) {
            rc = yj_apply_merges(c, obj, id, &srcs, k.start_mark, ml, mc);
            yaml_event_delete(&k);
            break;
        }
        int kl = (int)k.start_mark.line + 1, kc = (int)k.start_mark.column + 1;
        if (k.type == YAML_ALIAS_EVENT)
            rc = yj_fail(c, SL_ESYNTAX, kl, kc, "alias *%s cannot be used as a mapping key",
                         (const char *)k.data.alias.anchor);
        else if (k.type != YAML_SCALAR_EVENT)
            rc = yj_fail(c, SL_ESYNTAX, kl, kc,
                         "a %s cannot be used as a mapping key (keys must be scalars)",
                         k.type == YAML_MAPPING_START_EVENT ? "mapping" : "sequence");
        if (rc) {
            yaml_event_delete(&k);
            break;
        }
        const char *key = (const char *)k.data.scalar.value;
        bool is_merge = yj_is_merge_key(&k);
        yj_kent *dup = is_merge ? NULL : yj_kfind(&c->keys, id, key);
        if (memchr(key, '\0', k.data.scalar.length))
            rc = yj_fail(c, SL_ESYNTAX, kl, kc, "mapping key contains a NUL character (\\0)");
        else if (dup && dup->line)
            rc = yj_fail(c, SL_ESYNTAX, kl, kc, "duplicate key \"%s\" (first defined at %d:%d)",
                         key, dup->line, dup->col);
        else if (dup || (is_merge && merged))
            rc = yj_fail(c, SL_ESYNTAX, kl, kc, "duplicate key \"%s\"", key);
        else if (k.data.scalar.anchor || k.data.scalar.tag) {
            /* An anchored key can be aliased as a value; a tagged key must still be valid. */
            cJSON *kn;
            rc = yj_scalar(c, &k, &kn);
            if (!rc) rc = yj_bury(c, kn, k.start_mark);
            if (!rc) rc = yj_track(c, kn, kl, kc);
            if (!rc && k.data.scalar.anchor)
                rc = yj_anchor_add(c, k.data.scalar.anchor, kn, k.start_mark);
        }
        if (!rc) rc = yj_next(c, &v);
        if (rc) {
            yaml_event_delete(&k);
            break;
        }
        if (is_merge) {
            merged = true;
            ml = kl;
            mc = kc;
            rc = yj_merge_value(c, &v, depth, kl, kc, &srcs);
        } else {
            cJSON *item;
            rc = yj_build(c, &v, depth + 1, kl, kc, &item);
            if (!rc) {
                if (!cJSON_AddItemToObject(obj, key, item)) {
                    cJSON_Delete(item);
                    rc = yj_nomem(c, k.start_mark);
                } else {
                    /* the set borrows the member's own copy of the key */
                    yj_kent *e = yj_kadd(&c->keys, id, item->string);
                    if (!e) {
                        rc = yj_nomem(c, k.start_mark);
                    } else {
                        e->line = kl;
                        e->col = kc;
                    }
                }
            }
        }
        yaml_event_delete(&k);
        yaml_event_delete(&v);
        if (rc) break;
    }
    free(srcs.v);
    return rc;
}

/* Builds the node whose first event is ev (still owned by the caller) and records it at line:col.
 * depth = collections enclosing the node. On error *out is NULL. */
static int yj_build(yj_ctx *c, const yaml_event_t *ev, int depth, int line, int col, cJSON **out)
{
    int rc;
    const yaml_char_t *anchor = NULL;
    *out = NULL;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        anchor = ev->data.scalar.anchor;
        rc = yj_scalar(c, ev, out);
        if (!rc) rc = yj_track(c, *out, line, col);
        break;
    case YAML_ALIAS_EVENT:
        return yj_alias(c, ev, depth, line, col, out);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
        if (depth + 1 > YAMLJ_MAX_DEPTH)
            return yj_fail(c, SL_ELIMIT, YJ_LC(ev->start_mark), "nesting is deeper than %d levels",
                           YAMLJ_MAX_DEPTH);
        anchor = seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
        rc = yj_check_coll_tag(c, seq ? ev->data.sequence_start.tag : ev->data.mapping_start.tag,
                               seq ? "seq" : "map", ev->start_mark);
        if (rc) return rc;
        *out = seq ? cJSON_CreateArray() : cJSON_CreateObject();
        if (!*out) return yj_nomem(c, ev->start_mark);
        rc = yj_track(c, *out, line, col);
        if (!rc) rc = seq ? yj_sequence(c, depth, *out) : yj_mapping(c, depth, *out);
        break;
    }
    default: /* cannot happen: libyaml only starts nodes with the events above */
        return yj_fail(c, SL_ESYNTAX, YJ_LC(ev->start_mark), "unexpected YAML event %d",
                       (int)ev->type);
    }
    if (!rc && anchor) rc = yj_anchor_add(c, anchor, *out, ev->start_mark);
    if (rc) {
        cJSON_Delete(*out);
        *out = NULL;
    }
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Entry points */

static int yj_document(yj_ctx *c, cJSON **out)
{
    yaml_event_t ev;
    int rc = yj_next(c, &ev); /* STREAM-START */
    if (rc) return rc;
    yaml_event_delete(&ev);
    if ((rc = yj_next(c, &ev))) return rc;
    if (ev.type == YAML_STREAM_END_EVENT) { /* no document at all: null */
        yaml_event_delete(&ev);
        *out = cJSON_CreateNull();
        if (!*out) return yj_fail(c, SL_ENOMEM, 1, 1, "out of memory while loading YAML");
        return yj_track(c, *out, 1, 1);
    }
    yaml_event_delete(&ev); /* DOCUMENT-START */
    if ((rc = yj_next(c, &ev))) return rc;
    rc = yj_build(c, &ev, 0, YJ_LC(ev.start_mark), out);
    yaml_event_delete(&ev);
    if (rc) return rc;
    /* Read DOCUMENT-END and the start of whatever follows (STREAM-END or the next document), so
     * trailing junk after the first document's root is an error; later documents' contents are
     * never parsed. */
    for (int i = 0; i < 2; i++) {
        if ((rc = yj_next(c, &ev))) return rc;
        yaml_event_delete(&ev);
    }
    return 0;
}

int yamlj_load(const char *buf, size_t len, srcmap *map, cJSON **out, sl_diags *d)
{
    yj_ctx c = {.buf = buf, .len = len, .map = map, .d = d};
    cJSON *root = NULL;
    *out = NULL;
    if (!buf && len)
        return yj_fail(&c, SL_EUSAGE, 0, 0, "yamlj_load: NULL buffer with length %zu", len);
    if (!buf) buf = c.buf = "";
    if (len > YAMLJ_MAX_BYTES)
        return yj_fail(&c, SL_ELIMIT, 0, 0, "YAML input is larger than %u bytes",
                       (unsigned)YAMLJ_MAX_BYTES);
    if (!yaml_parser_initialize(&c.parser))
        return yj_fail(&c, SL_ENOMEM, 0, 0, "out of memory while parsing YAML");
    c.grave = cJSON_CreateArray();
    if (!c.grave) {
        yaml_parser_delete(&c.parser);
        return yj_fail(&c, SL_ENOMEM, 0, 0, "out of memory while loading YAML");
    }
    yaml_parser_set_input_string(&c.parser, (const unsigned char *)buf, len);
    int rc = yj_document(&c, &root);
    if (rc) {
        cJSON_Delete(root);
        root = NULL;
    }
    cJSON_Delete(c.grave);
    for (size_t i = 0; i < c.nanchors; i++)
        free(c.anchors[i].name);
    free(c.anchors);
    free(c.keys.v);
    yaml_parser_delete(&c.parser);
    *out = root;
    return rc;
}

int yamlj_load_file(const char *path, srcmap *map, cJSON **out, sl_diags *d)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        if (d) sl_diags_add(d, SL_SEV_ERROR, 0, 0, "cannot open %s: %s", path, strerror(e));
        return e == ENOENT ? SL_ENOTFOUND : SL_EIO;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (len == cap) {
            if (cap > YAMLJ_MAX_BYTES) {
                if (d)
                    sl_diags_add(d, SL_SEV_ERROR, 0, 0, "%s is larger than %u bytes", path,
                                 (unsigned)YAMLJ_MAX_BYTES);
                rc = SL_ELIMIT;
                goto out;
            }
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                if (d) sl_diags_add(d, SL_SEV_ERROR, 0, 0, "out of memory reading %s", path);
                rc = SL_ENOMEM;
                goto out;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        if (d) sl_diags_add(d, SL_SEV_ERROR, 0, 0, "cannot read %s: %s", path, strerror(errno));
        rc = SL_EIO;
        goto out;
    }
    rc = yamlj_load(buf ? buf : "", len, map, out, d);
out:
    free(buf);
    fclose(f);
    return rc;
}
