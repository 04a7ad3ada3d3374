/* plandiff.c - plan-to-plan changes, each classified breaking or not (see plandiff.h).
 *
 * Works on two cJSON documents from plan_emit_json_schema. Each schema is "flattened" before it
 * is compared: a local "#/$defs/Name" $ref is replaced by the definition with the $ref's
 * siblings on top, so a property that moved into a type and back compares equal. */
#include "plandiff.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sl_buf.h"
#include "sl_err.h"

#define DIFF_MAX_DEPTH 32

typedef struct {
    plandiff *d;
    const char *scope;
    const char *name;
    const cJSON *odefs, *ndefs; /* "$defs" of the old and the new schema */
    int err;
} ctx;

static void add(ctx *c, const char *path, bool breaking, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void add(ctx *c, const char *path, bool breaking, const char *fmt, ...)
{
    plandiff *d = c->d;
    if (c->err) return;
    if (sl_grow(&d->items, &d->cap, d->n + 1, sizeof *d->items)) {
        c->err = SL_ENOMEM;
        return;
    }
    plandiff_change *ch = &d->items[d->n++];
    memset(ch, 0, sizeof *ch);
    ch->scope = c->scope;
    snprintf(ch->name, sizeof ch->name, "%s", c->name ? c->name : "");
    snprintf(ch->path, sizeof ch->path, "%s", path);
    ch->breaking = breaking;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ch->message, sizeof ch->message, fmt, ap);
    va_end(ap);
    if (breaking) d->nbreaking++;
}

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* Compact JSON of v, cut to fit dst. */
static const char *text(char *dst, size_t cap, const cJSON *v)
{
    char *s = v ? cJSON_PrintUnformatted(v) : NULL;
    snprintf(dst, cap, "%s", s ? s : "(none)");
    if (s && strlen(s) >= cap && cap > 4) memcpy(dst + cap - 4, "...", 4);
    free(s);
    return dst;
}

/* s with a local "#/$defs/Name" $ref replaced by the definition (followed recursively), the
 * $ref's siblings on top. A new tree (a copy of s when there is nothing to resolve); NULL for a
 * non-object (boolean schemas are compared as they are) or out of memory. */
static cJSON *flatten(const cJSON *s, const cJSON *defs, int depth)
{
    if (!cJSON_IsObject(s)) return NULL;
    const cJSON *ref = get(s, "$ref");
    cJSON *out = NULL;
    if (cJSON_IsString(ref) && !strncmp(ref->valuestring, "#/$defs/", 8) &&
        !strchr(ref->valuestring + 8, '/') && !strchr(ref->valuestring + 8, '~') &&
        depth < DIFF_MAX_DEPTH) {
        const cJSON *t = get(defs, ref->valuestring + 8);
        if (t) out = flatten(t, defs, depth + 1);
    }
    bool resolved = out != NULL;
    if (!out) out = cJSON_CreateObject();
    if (!out) return NULL;
    for (const cJSON *k = s->child; k; k = k->next) {
        if (resolved && !strcmp(k->string, "$ref")) continue;
        cJSON *v = cJSON_Duplicate(k, true);
        if (!v) {
            cJSON_Delete(out);
            return NULL;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(out, k->string);
        cJSON_AddItemToObject(out, k->string, v);
    }
    return out;
}

enum { T_NULL = 1, T_BOOL = 2, T_OBJ = 4, T_ARR = 8, T_NUM = 16, T_STR = 32, T_INT = 64 };

static unsigned type_bit(const char *t)
{
    static const char *const names[] = {"null",   "boolean", "object", "array",
                                        "number", "string",  "integer"};
    for (unsigned i = 0; i < 7; i++)
        if (!strcmp(t, names[i])) return 1u << i;
    return 0;
}

/* The types a schema allows by its "type" keyword (all when absent). */
static unsigned type_set(const cJSON *s)
{
    const cJSON *t = get(s, "type");
    if (cJSON_IsString(t)) return type_bit(t->valuestring);
    if (!cJSON_IsArray(t)) return 127;
    unsigned m = 0;
    for (const cJSON *e = t->child; e; e = e->next)
        if (cJSON_IsString(e)) m |= type_bit(e->valuestring);
    return m;
}

static bool closed(const cJSON *s)
{
    return cJSON_IsFalse(get(s, "additionalProperties")) ||
           cJSON_IsFalse(get(s, "unevaluatedProperties"));
}

static bool in_array(const cJSON *arr, const cJSON *v)
{
    for (const cJSON *e = arr ? arr->child : NULL; e; e = e->next)
        if (cJSON_Compare(e, v, true)) return true;
    return false;
}

static bool has_string(const cJSON *arr, const char *s)
{
    for (const cJSON *e = arr ? arr->child : NULL; e; e = e->next)
        if (cJSON_IsString(e) && !strcmp(e->valuestring, s)) return true;
    return false;
}

/* path + "/" + k as a JSON Pointer, cut to fit dst. */
static void child_path(char *dst, size_t cap, const char *path, const char *k)
{
    sl_buf b = {0};
    sl_buf_puts(&b, path);
    sl_buf_ptr_seg(&b, k);
    snprintf(dst, cap, "%s", b.oom ? path : b.p);
    sl_buf_free(&b);
}

static void diff_schema(ctx *c, const cJSON *o, const cJSON *n, const char *path, int depth);

static void diff_type(ctx *c, const cJSON *o, const cJSON *n, const char *path)
{
    unsigned to = type_set(o), tn = type_set(n);
    if (to == tn) return;
    unsigned allowed = tn | ((tn & T_NUM) ? T_INT : 0);
    char a[96], b[96];
    text(a, sizeof a, get(o, "type"));
    text(b, sizeof b, get(n, "type"));
    add(c, path, (to & ~allowed) != 0, "type %s -> %s", a, b);
}

/* Appends to out, comma-separated, the values of array `from` that array `in` does not have. */
static void list_missing(sl_buf *out, const cJSON *from, const cJSON *in)
{
    for (const cJSON *e = from->child; e; e = e->next) {
        if (in_array(in, e)) continue;
        char *s = cJSON_PrintUnformatted(e);
        sl_buf_printf(out, "%s%s", out->n ? ", " : "", s ? s : "?");
        free(s);
    }
}

static void diff_values(ctx *c, const cJSON *o, const cJSON *n, const char *path)
{
    char a[160], b[160];
    const cJSON *eo = get(o, "enum"), *en = get(n, "enum");
    if (en && !eo) {
        add(c, path, true, "enum added: %s", text(a, sizeof a, en));
    } else if (eo && !en) {
        add(c, path, false, "enum removed (was %s)", text(a, sizeof a, eo));
    } else if (eo && en && !cJSON_Compare(eo, en, true)) {
        sl_buf gone = {0}, added = {0};
        list_missing(&gone, eo, en);
        list_missing(&added, en, eo);
        if (gone.n)
            add(c, path, true, "enum no longer allows %.200s%s%.80s", gone.p,
                added.n ? "; now also allows " : "", added.n ? added.p : "");
        else if (added.n)
            add(c, path, false, "enum now also allows %.200s", added.p);
        if (gone.oom || added.oom) c->err = SL_ENOMEM;
        sl_buf_free(&gone);
        sl_buf_free(&added);
    }
    const cJSON *co = get(o, "const"), *cn = get(n, "const");
    if (cn && (!co || !cJSON_Compare(co, cn, true)))
        add(c, path, true, "const %s -> %s", text(a, sizeof a, co), text(b, sizeof b, cn));
    else if (co && !cn)
        add(c, path, false, "const removed (was %s)", text(a, sizeof a, co));
}

/* minimum & co: a bound that appears or moves inward is breaking. */
static void diff_bounds(ctx *c, const cJSON *o, const cJSON *n, const char *path)
{
    static const char *const lower[] = {"minimum",  "exclusiveMinimum", "minLength",
                                        "minItems", "minProperties",    "minContains"};
    static const char *const upper[] = {"maximum",  "exclusiveMaximum", "maxLength",
                                        "maxItems", "maxProperties",    "maxContains"};
    for (int side = 0; side < 2; side++) {
        const char *const *kw = side ? upper : lower;
        for (int i = 0; i < 6; i++) {
            const cJSON *a = get(o, kw[i]), *b = get(n, kw[i]);
            if (!cJSON_IsNumber(a)) a = NULL;
            if (!cJSON_IsNumber(b)) b = NULL;
            if (!a && !b) continue;
            if (a && b && a->valuedouble == b->valuedouble) continue;
            char x[40], y[40];
            if (!a)
                add(c, path, true, "%s added: %s", kw[i], text(y, sizeof y, b));
            else if (!b)
                add(c, path, false, "%s removed (was %s)", kw[i], text(x, sizeof x, a));
            else /* moved inward: breaking */
                add(c, path,
                    side ? b->valuedouble < a->valuedouble : b->valuedouble > a->valuedouble,
                    "%s %s -> %s", kw[i], text(x, sizeof x, a), text(y, sizeof y, b));
        }
    }
}

/* pattern, format, multipleOf, uniqueItems: added or changed may reject what passed. */
static void diff_rules(ctx *c, const cJSON *o, const cJSON *n, const char *path)
{
    static const char *const kw[] = {"pattern", "format", "multipleOf", "uniqueItems"};
    for (int i = 0; i < 4; i++) {
        const cJSON *a = get(o, kw[i]), *b = get(n, kw[i]);
        if (i == 3) { /* uniqueItems: false is the same as absent */
            if (cJSON_IsFalse(a)) a = NULL;
            if (cJSON_IsFalse(b)) b = NULL;
        }
        if ((!a && !b) || (a && b && cJSON_Compare(a, b, true))) continue;
        char x[140], y[140];
        if (!b)
            add(c, path, false, "%s removed (was %s)", kw[i], text(x, sizeof x, a));
        else if (!a)
            add(c, path, true, "%s added: %s", kw[i], text(y, sizeof y, b));
        else
            add(c, path, true, "%s %s -> %s", kw[i], text(x, sizeof x, a), text(y, sizeof y, b));
    }
}

static void diff_props(ctx *c, const cJSON *o, const cJSON *n, const char *path, int depth)
{
    const cJSON *po = get(o, "properties"), *pn = get(n, "properties");
    const cJSON *ro = get(o, "required"), *rn = get(n, "required");
    bool was_closed = closed(o), now_closed = closed(n);
    char cp[256];
    if (!((type_set(o) | type_set(n)) & T_OBJ)) return; /* never an object: nothing to say */
    if (!was_closed && now_closed)
        add(c, path, true, "closed: properties the plan does not list are now rejected");
    else if (was_closed && !now_closed)
        add(c, path, false, "opened: properties the plan does not list are now accepted");
    for (const cJSON *k = po ? po->child : NULL; k; k = k->next) {
        child_path(cp, sizeof cp, path, k->string);
        const cJSON *kn = get(pn, k->string);
        if (kn) {
            diff_schema(c, k, kn, cp, depth + 1);
            continue;
        }
        if (now_closed)
            add(c, cp, true, "removed: now rejected (the object is closed)");
        else
            add(c, cp, false, "removed: still accepted, no longer checked");
    }
    for (const cJSON *k = pn ? pn->child : NULL; k; k = k->next) {
        if (get(po, k->string)) continue;
        child_path(cp, sizeof cp, path, k->string);
        if (has_string(rn, k->string))
            add(c, cp, true, "added (required)");
        else if (!was_closed)
            add(c, cp, true, "added (optional): values sent so far, unchecked, must now match");
        else
            add(c, cp, false, "added (optional)");
    }
    for (const cJSON *k = rn ? rn->child : NULL; k; k = k->next) {
        if (!cJSON_IsString(k) || has_string(ro, k->valuestring)) continue;
        if (get(pn, k->valuestring) && !get(po, k->valuestring)) continue; /* "added (required)" */
        child_path(cp, sizeof cp, path, k->valuestring);
        add(c, cp, true, "now required");
    }
    for (const cJSON *k = ro ? ro->child : NULL; k; k = k->next) {
        if (!cJSON_IsString(k) || has_string(rn, k->valuestring)) continue;
        if (get(po, k->valuestring) && !get(pn, k->valuestring)) continue; /* "removed" */
        child_path(cp, sizeof cp, path, k->valuestring);
        add(c, cp, false, "now optional");
    }
}

/* Keywords compared above, and annotations that never change what validates. */
static bool handled(const char *k)
{
    static const char *const kw[] = {"type",
                                     "enum",
                                     "const",
                                     "minimum",
                                     "exclusiveMinimum",
                                     "minLength",
                                     "minItems",
                                     "minProperties",
                                     "minContains",
                                     "maximum",
                                     "exclusiveMaximum",
                                     "maxLength",
                                     "maxItems",
                                     "maxProperties",
                                     "maxContains",
                                     "pattern",
                                     "format",
                                     "multipleOf",
                                     "uniqueItems",
                                     "properties",
                                     "required",
                                     "items",
                                     "$schema",
                                     "$id",
                                     "$defs",
                                     "$comment",
                                     "title",
                                     "description",
                                     "examples",
                                     "default",
                                     "deprecated",
                                     "readOnly",
                                     "writeOnly",
                                     "$anchor",
                                     "$dynamicAnchor"};
    for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++)
        if (!strcmp(k, kw[i])) return true;
    return false;
}

static bool bool_or_absent(const cJSON *v)
{
    return !v || cJSON_IsBool(v);
}

/* Every other keyword: added or changed counts as breaking (not analysed: review it), removed
 * as not (keywords only ever add constraints). */
static void diff_other(ctx *c, const cJSON *o, const cJSON *n, const char *path)
{
    for (int side = 0; side < 2; side++) {
        const cJSON *a = side ? n : o, *b = side ? o : n;
        for (const cJSON *k = a->child; k; k = k->next) {
            if (handled(k->string)) continue;
            if ((!strcmp(k->string, "additionalProperties") ||
                 !strcmp(k->string, "unevaluatedProperties")) &&
                bool_or_absent(k) && bool_or_absent(get(b, k->string)))
                continue; /* open or closed: diff_props said it */
            const cJSON *other = get(b, k->string);
            if (side && other) continue; /* on both sides: compared once, from the old side */
            if (other && cJSON_Compare(k, other, true)) continue;
            if (!other && !side)
                add(c, path, false, "%s removed", k->string);
            else
                add(c, path, true, "%s %s: not analysed, review it", k->string,
                    other ? "changed" : "added");
        }
    }
}

static void diff_schema(ctx *c, const cJSON *o, const cJSON *n, const char *path, int depth)
{
    if (c->err) return;
    if (depth > DIFF_MAX_DEPTH) {
        if (!cJSON_Compare(o, n, true)) add(c, path, true, "changed (too deep to analyse)");
        return;
    }
    cJSON *fo = flatten(o, c->odefs, 0), *fn = flatten(n, c->ndefs, 0);
    if (!fo || !fn) { /* a boolean schema on one side (or out of memory) */
        if (cJSON_IsObject(o) && cJSON_IsObject(n))
            c->err = SL_ENOMEM;
        else if (!cJSON_Compare(o, n, true))
            add(c, path, !cJSON_IsTrue(o) || !cJSON_IsTrue(n), "schema %s -> %s",
                cJSON_IsObject(o) ? "object"
                : cJSON_IsTrue(o) ? "true"
                                  : "false",
                cJSON_IsObject(n) ? "object"
                : cJSON_IsTrue(n) ? "true"
                                  : "false");
        cJSON_Delete(fo);
        cJSON_Delete(fn);
        return;
    }
    /* allOf of the same length (a root's [envelope, whole-call schema]): member by member */
    cJSON *ao = cJSON_GetObjectItemCaseSensitive(fo, "allOf");
    cJSON *an = cJSON_GetObjectItemCaseSensitive(fn, "allOf");
    if (cJSON_IsArray(ao) && cJSON_IsArray(an) &&
        cJSON_GetArraySize(ao) == cJSON_GetArraySize(an)) {
        for (const cJSON *mo = ao->child, *mn = an->child; mo && mn; mo = mo->next, mn = mn->next)
            diff_schema(c, mo, mn, path, depth + 1);
        cJSON_DeleteItemFromObjectCaseSensitive(fo, "allOf");
        cJSON_DeleteItemFromObjectCaseSensitive(fn, "allOf");
    }
    diff_type(c, fo, fn, path);
    diff_values(c, fo, fn, path);
    diff_bounds(c, fo, fn, path);
    diff_rules(c, fo, fn, path);
    diff_props(c, fo, fn, path, depth);
    const cJSON *io = get(fo, "items"), *in = get(fn, "items");
    char cp[256];
    snprintf(cp, sizeof cp, "%s/*", path);
    if (io && in)
        diff_schema(c, io, in, cp, depth + 1);
    else if (io || in)
        add(c, cp, in != NULL && !cJSON_IsTrue(in), "items schema %s", in ? "added" : "removed");
    diff_other(c, fo, fn, path);
    cJSON_Delete(fo);
    cJSON_Delete(fn);
}

static void diff_section(ctx *c, const cJSON *o, const cJSON *n, const char *scope, bool reject_old,
                         bool reject_new, const plan *po, const plan *pn)
{
    c->scope = scope;
    bool event = !strcmp(scope, "event");
    for (const cJSON *k = n ? n->child : NULL; k && !c->err; k = k->next) {
        c->name = k->string;
        const cJSON *ko = get(o, k->string);
        if (!ko) {
            if (event && !reject_old)
                add(c, "", true, "added: its events, accepted unchecked so far, must now match");
            else
                add(c, "", false, "added");
            continue;
        }
        if (event) { /* deprecation is a warning for senders: never breaking */
            const char *dold = plan_event_deprecated(po, k->string);
            const char *dnew = plan_event_deprecated(pn, k->string);
            if (dnew && !dold)
                add(c, "", false, "deprecated%s%.200s", dnew[0] ? ": " : "", dnew);
            else if (dold && !dnew)
                add(c, "", false, "no longer deprecated");
        }
        c->odefs = get(ko, "$defs");
        c->ndefs = get(k, "$defs");
        diff_schema(c, ko, k, "", 0);
    }
    for (const cJSON *k = o ? o->child : NULL; k && !c->err; k = k->next) {
        if (get(n, k->string)) continue;
        c->name = k->string;
        if (event)
            add(c, "", reject_new,
                reject_new ? "removed: its events are now unplanned and rejected"
                           : "removed: its events are now unplanned (accepted, unchecked)");
        else if (!strcmp(scope, "iglu"))
            add(c, "", true, "removed: data sent with this schema is now Unknown-Schema");
        else
            add(c, "", true, "removed: its calls are now checked by the generic schema");
    }
}

/* Whole-call schemas (`schema:`, `common:`) are documents of their own that the roots $ref by
 * URI ("sluice:plan/schema/N", numbered in plan order): each such $ref in a root's allOf is
 * replaced by a copy of its document, so a change inside one is compared like any other. */
static int inline_docs(cJSON *doc)
{
    const cJSON *schemas = get(doc, "schemas");
    static const char *const parts[] = {"events", "calls", "pages", "versions"};
    for (int i = 0; i < 4; i++)
        for (cJSON *root = get(doc, parts[i]) ? get(doc, parts[i])->child : NULL; root;
             root = root->next) {
            cJSON *all = cJSON_GetObjectItemCaseSensitive(root, "allOf");
            for (cJSON *m = cJSON_IsArray(all) ? all->child : NULL; m; m = m->next) {
                const char *ref = cJSON_GetStringValue(get(m, "$ref"));
                const cJSON *target = ref ? get(schemas, ref) : NULL;
                if (!target || cJSON_GetArraySize(m) != 1) continue;
                cJSON *copy = cJSON_Duplicate(target, true);
                if (!copy) return SL_ENOMEM;
                cJSON_DeleteItemFromObjectCaseSensitive(copy, "$id");
                cJSON_ReplaceItemViaPointer(all, m, copy);
                m = copy;
            }
        }
    return 0;
}

int plandiff_run(const plan *old_plan, const plan *new_plan, plandiff *d)
{
    cJSON *o = plan_emit_json_schema(old_plan), *n = plan_emit_json_schema(new_plan);
    ctx c = {.d = d, .err = (o && n) ? 0 : SL_ENOMEM};
    if (!c.err) c.err = inline_docs(o);
    if (!c.err) c.err = inline_docs(n);
    if (!c.err) {
        const char *uo = cJSON_GetStringValue(get(o, "unplanned_events"));
        const char *un = cJSON_GetStringValue(get(n, "unplanned_events"));
        bool reject_old = uo && !strcmp(uo, "reject"), reject_new = un && !strcmp(un, "reject");
        c.scope = "policy";
        c.name = "";
        if (reject_old != reject_new)
            add(&c, "", reject_new, "unplanned events: %s -> %s", reject_old ? "reject" : "allow",
                reject_new ? "reject" : "allow");
        diff_section(&c, get(o, "events"), get(n, "events"), "event", reject_old, reject_new,
                     old_plan, new_plan);
        diff_section(&c, get(o, "calls"), get(n, "calls"), "call", reject_old, reject_new, old_plan,
                     new_plan);
        diff_section(&c, get(o, "pages"), get(n, "pages"), "page", reject_old, reject_new, old_plan,
                     new_plan);
        diff_section(&c, get(o, "versions"), get(n, "versions"), "event", reject_old, reject_new,
                     old_plan, new_plan);
        diff_section(&c, get(o, "iglu"), get(n, "iglu"), "iglu", reject_old, reject_new, old_plan,
                     new_plan);
    }
    cJSON_Delete(o);
    cJSON_Delete(n);
    return c.err;
}

void plandiff_free(plandiff *d)
{
    free(d->items);
    memset(d, 0, sizeof *d);
}
