/* plan.c - the tracking-plan compiler and checker (see plan.h and specs/PLAN-FORMAT.md).
 *
 * Pipeline: YAML -> cJSON tree with positions (yamlj + srcmap) -> shape check of the plan's own
 * keys (unknown key = error with line:col) -> rewrite of the user's schemas (required: true
 * shorthand, additional_properties policy, #/types/X -> #/$defs/X) -> one generated, self-contained
 * JSON Schema per call kind and per planned event ("roots") -> schema_builder -> immutable
 * schema_prog.
 *
 * The generated roots are the single source of truth: the same trees are compiled for checking and
 * printed by `compile --emit json-schema`. They move the user's nodes (event properties, traits)
 * out of the YAML tree and *reference* shared ones (types, context) with cJSON references, so every
 * user node keeps its identity and thus its source position for error messages. Both trees are
 * kept alive in the plan for emit; the program itself borrows nothing from them.
 *
 * Threads: a plan is immutable after plan_load_*; checks use per-thread plan_ctx scratch. */
#include "plan.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"
#include "srcmap.h"
#include "yamlj.h"

/* ---- data ------------------------------------------------------------------------------------ */

/* One version of a versioned event (`versions:`), chosen by context.protocols.event_version. */
typedef struct {
    long num;
    int root;
    const char *deprecated; /* borrowed from the YAML tree, or NULL */
} plan_version;

typedef struct {
    char *name;
    int root;               /* for a versioned event: its default version's root */
    const char *deprecated; /* borrowed from the YAML tree, or NULL */
    char **props;           /* top-level property names (for coverage) */
    size_t nprops;
    plan_version *ver; /* NULL unless the event has `versions:` */
    size_t nver;
    long vdefault;
} plan_event;

/* A self-describing (Iglu) schema of the plan's `iglu:` section. */
typedef struct {
    char *uri; /* iglu:vendor/name/format/M-R-A */
    int root;
} plan_iglu;

enum { CALL_TRACK, CALL_IDENTIFY, CALL_PAGE, CALL_GROUP, CALL_ALIAS, CALL__COUNT };
static const char *const call_names[CALL__COUNT] = {"track", "identify", "page", "group", "alias"};

struct plan {
    atomic_int refs;
    char *name, *version;
    plan_policy policy;
    schema_prog *prog;
    int call_root[CALL__COUNT]; /* generic roots: unplanned track, identify, page/screen, ... */
    plan_event *events;         /* planned track events, in plan order */
    size_t nevents;
    uint32_t *ev_hash; /* open addressing: index+1 into events, 0 = empty */
    size_t ev_hash_cap;
    plan_event *pages; /* named pages (page and screen calls) */
    size_t npages;
    plan_iglu *iglu; /* sorted by uri */
    size_t niglu;
    cJSON *yaml; /* the plan as loaded (rewritten in place); owned */
    /* {"events":{..},"calls":{..},"pages":{..},"versions":{..},"schemas":{uri: schema}} generated
     * roots; "schemas" holds the whole-call schemas (`schema:`, `common:`) and the Iglu schemas,
     * each compiled as a document of its own and referred to by URI. Owned. */
    cJSON *gen;
};

struct plan_ctx {
    schema_ctx *sctx;
};

/* ---- small helpers --------------------------------------------------------------------------- */

typedef struct {
    sl_diags *d;
    srcmap *map;
    plan_policy policy;
    bool lint;
    const cJSON *types; /* the plan's `types` map, or NULL */
    cJSON *schemas;     /* p->gen's "schemas" */
    int nschemas;
    const char *common; /* URI of the `common:` schema, or NULL */
} comp;

static void loc(const comp *c, const cJSON *node, int *line, int *col)
{
    *line = *col = 0;
    if (c->map && node) srcmap_get(c->map, node, line, col);
}

static void err_at(comp *c, const cJSON *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void err_at(comp *c, const cJSON *node, const char *fmt, ...)
{
    int line, col;
    loc(c, node, &line, &col);
    va_list ap;
    va_start(ap, fmt);
    sl_diags_vadd(c->d, SL_SEV_ERROR, line, col, fmt, ap);
    va_end(ap);
}

static void warn_at(comp *c, const cJSON *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn_at(comp *c, const cJSON *node, const char *fmt, ...)
{
    int line, col;
    loc(c, node, &line, &col);
    va_list ap;
    va_start(ap, fmt);
    sl_diags_vadd(c->d, SL_SEV_WARNING, line, col, fmt, ap);
    va_end(ap);
}

static const char *type_name(const cJSON *v)
{
    if (!v) return "nothing";
    switch (v->type & 0xFF) {
    case cJSON_NULL:
        return "null";
    case cJSON_True:
    case cJSON_False:
        return "a boolean";
    case cJSON_Number:
        return "a number";
    case cJSON_String:
        return "a string";
    case cJSON_Array:
        return "a list";
    case cJSON_Object:
        return "a mapping";
    }
    return "a value";
}

/* Checks that every key of mapping `m` is in the NULL-terminated `allowed` list. */
static void check_keys(comp *c, const cJSON *m, const char *what, const char *const *allowed)
{
    for (const cJSON *k = m->child; k; k = k->next) {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, k->string) == 0) ok = true;
        if (!ok) {
            char list[256] = "";
            size_t n = 0;
            for (const char *const *a = allowed; *a && n < sizeof list - 40; a++)
                n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", n ? ", " : "", *a);
            err_at(c, k, "unknown key \"%s\" in %s (expected one of: %s)", k->string, what, list);
        }
    }
}

static const cJSON *get(const cJSON *m, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(m, key);
}

/* An optional string member; error if present with another type. */
static const char *opt_string(comp *c, const cJSON *m, const char *key, const char *what)
{
    const cJSON *v = get(m, key);
    if (!v) return NULL;
    if (!cJSON_IsString(v)) {
        err_at(c, v, "%s \"%s\" must be a string, got %s%s", what, key, type_name(v),
               cJSON_IsNumber(v) ? " (quote it)" : "");
        return NULL;
    }
    return v->valuestring;
}

/* A member whose value must be one of `choices`; returns its index or `def`. */
static int opt_choice(comp *c, const cJSON *m, const char *key, const char *const *choices, int def)
{
    const cJSON *v = get(m, key);
    if (!v) return def;
    if (cJSON_IsString(v))
        for (int i = 0; choices[i]; i++)
            if (strcmp(choices[i], v->valuestring) == 0) return i;
    char list[128] = "";
    size_t n = 0;
    for (int i = 0; choices[i]; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? " | " : "", choices[i]);
    if (cJSON_IsString(v))
        err_at(c, v, "invalid value \"%s\" for \"%s\" (expected %s)", v->valuestring, key, list);
    else
        err_at(c, v, "\"%s\" must be one of %s, got %s", key, list, type_name(v));
    return def;
}

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* ---- schema rewriting --------------------------------------------------------------------------
 */

/* Keywords whose value is a schema, a list of schemas, or a map of schemas. */
static const char *const kw_schema[] = {"additionalProperties",
                                        "items",
                                        "additionalItems",
                                        "contains",
                                        "not",
                                        "if",
                                        "then",
                                        "else",
                                        "propertyNames",
                                        "unevaluatedProperties",
                                        "unevaluatedItems",
                                        "contentSchema",
                                        NULL};
static const char *const kw_list[] = {"prefixItems", "allOf", "anyOf", "oneOf", NULL};
static const char *const kw_map[] = {"properties", "patternProperties", "dependentSchemas",
                                     "$defs",      "definitions",       "dependencies",
                                     NULL};

static bool in_list(const char *const *l, const char *s)
{
    for (; *l; l++)
        if (strcmp(*l, s) == 0) return true;
    return false;
}

typedef struct {
    comp *c;
    bool add_closed; /* additional_properties: reject applies here */
    bool in_context; /* context schemas are exempt from the policy */
} rw;

static void rewrite_schema(rw *r, cJSON *s, int depth, bool branch);

/* `required: true|false` inside the members of a `properties` map moves to the parent's list. */
static void lift_required(rw *r, cJSON *parent, cJSON *props)
{
    for (cJSON *p = props->child; p; p = p->next) {
        if (!cJSON_IsObject(p)) continue;
        cJSON *req = cJSON_GetObjectItemCaseSensitive(p, "required");
        if (cJSON_IsString(req)) {
            err_at(r->c, req,
                   "\"required: %s\" is a string; write required: true or false (YAML 1.2: "
                   "yes/no/on/off are strings)",
                   req->valuestring);
            cJSON_DeleteItemFromObjectCaseSensitive(p, "required");
            continue;
        }
        if (!req || !cJSON_IsBool(req)) continue;
        bool yes = cJSON_IsTrue(req);
        cJSON_DeleteItemFromObjectCaseSensitive(p, "required");
        if (!yes) continue;
        cJSON *list = cJSON_GetObjectItemCaseSensitive(parent, "required");
        if (!list) {
            list = cJSON_AddArrayToObject(parent, "required");
            if (!list) return;
        } else if (!cJSON_IsArray(list)) {
            err_at(r->c, list,
                   "\"required\" must be a list of property names when its members "
                   "use required: true");
            continue;
        }
        bool dup = false;
        for (cJSON *q = list->child; q; q = q->next)
            if (cJSON_IsString(q) && strcmp(q->valuestring, p->string) == 0) dup = true;
        if (!dup) cJSON_AddItemToArray(list, cJSON_CreateString(p->string));
    }
}

/* $ref in plans: only "#/types/<Name>..."; rewritten to "#/$defs/<Name>..." for the generated,
 * self-contained roots. */
static void rewrite_ref(rw *r, cJSON *ref)
{
    if (!cJSON_IsString(ref)) return; /* the schema compiler reports the type error */
    const char *s = ref->valuestring;
    if (strncmp(s, "#/types/", 8) != 0) {
        err_at(r->c, ref,
               "unsupported $ref \"%s\": plans refer to reusable schemas as \"#/types/<Name>\"", s);
        return;
    }
    /* The type name is the first pointer segment (with ~1 ~0 escapes). */
    char name[256];
    size_t n = 0;
    for (const char *p = s + 8; *p && *p != '/' && n < sizeof name - 1; p++) {
        if (p[0] == '~' && p[1] == '1') {
            name[n++] = '/';
            p++;
        } else if (p[0] == '~' && p[1] == '0') {
            name[n++] = '~';
            p++;
        } else {
            name[n++] = *p;
        }
    }
    name[n] = '\0';
    if (!r->c->types || !cJSON_GetObjectItemCaseSensitive(r->c->types, name)) {
        err_at(r->c, ref, "$ref \"%s\": no type named \"%s\" in \"types\"", s, name);
        return;
    }
    size_t len = strlen(s);
    char *out = malloc(len + 2);
    if (!out) return;
    memcpy(out, "#/$defs/", 8);
    memcpy(out + 8, s + 8, len - 8 + 1);
    cJSON_SetValuestring(ref, out);
    free(out);
}

/* `branch`: s is a part of its parent's instance (allOf/anyOf/oneOf member, not, if/then/else,
 * dependentSchemas, a type definition): closing it would break composition, so only "use sites"
 * (property values, items, the roots) are closed. A use site that composes ($ref, allOf, ...)
 * is closed with unevaluatedProperties: false, which sees through the composition (and is a
 * no-op for non-objects); a plain one with additionalProperties: false. */
static void rewrite_schema(rw *r, cJSON *s, int depth, bool branch)
{
    static const char *const kw_branch_list[] = {"allOf", "anyOf", "oneOf", NULL};
    static const char *const kw_branch_one[] = {"not", "if", "then", "else", NULL};
    static const char *const kw_branch_map[] = {"dependentSchemas", "$defs", "definitions",
                                                "dependencies", NULL};
    if (!cJSON_IsObject(s) || depth > 64) return;
    cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
    if (cJSON_IsObject(props)) lift_required(r, s, props);
    cJSON *ref = cJSON_GetObjectItemCaseSensitive(s, "$ref");
    if (ref) rewrite_ref(r, ref);

    if (!branch && r->add_closed && !r->in_context && !get(s, "additionalProperties") &&
        !get(s, "unevaluatedProperties") && !get(s, "patternProperties")) {
        bool composed = get(s, "allOf") || get(s, "anyOf") || get(s, "oneOf") || get(s, "$ref") ||
                        get(s, "if") || get(s, "dependentSchemas");
        if (composed)
            cJSON_AddFalseToObject(s, "unevaluatedProperties");
        else if (cJSON_IsObject(props))
            cJSON_AddFalseToObject(s, "additionalProperties");
    }

    for (cJSON *k = s->child; k; k = k->next) {
        if (!k->string) continue;
        if (in_list(kw_branch_one, k->string)) {
            rewrite_schema(r, k, depth + 1, true);
        } else if (in_list(kw_schema, k->string) && !cJSON_IsArray(k)) {
            rewrite_schema(r, k, depth + 1, false);
        } else if ((in_list(kw_list, k->string) || !strcmp(k->string, "items")) &&
                   cJSON_IsArray(k)) { /* items: [..] is a tuple before 2020-12 */
            bool br = in_list(kw_branch_list, k->string);
            for (cJSON *e = k->child; e; e = e->next)
                rewrite_schema(r, e, depth + 1, br);
        } else if (in_list(kw_map, k->string) && cJSON_IsObject(k)) {
            bool br = in_list(kw_branch_map, k->string);
            for (cJSON *e = k->child; e; e = e->next)
                rewrite_schema(r, e, depth + 1, br);
        }
    }
}

/* Collects the names of types referenced anywhere under `s` (for the unused-type warning). */
static void mark_refs(const cJSON *s, const cJSON *types, bool *used, int depth)
{
    if (!s || depth > 128) return;
    if (s->string && strcmp(s->string, "$ref") == 0 && cJSON_IsString(s) &&
        strncmp(s->valuestring, "#/$defs/", 8) == 0) {
        const char *name = s->valuestring + 8;
        size_t n = strcspn(name, "/");
        int i = 0;
        for (const cJSON *t = types ? types->child : NULL; t; t = t->next, i++)
            if (strlen(t->string) == n && strncmp(t->string, name, n) == 0) used[i] = true;
    }
    for (const cJSON *k = s->child; k; k = k->next)
        mark_refs(k, types, used, depth + 1);
}

/* ---- generated roots ---------------------------------------------------------------------------
 */

/* A cJSON reference to `node` (shares its children), carrying node's source position. */
static cJSON *ref_to(comp *c, const cJSON *node)
{
    cJSON *r;
    if (cJSON_IsObject(node))
        r = cJSON_CreateObjectReference(node->child);
    else if (cJSON_IsArray(node))
        r = cJSON_CreateArrayReference(node->child);
    else
        r = cJSON_Duplicate(node, true);
    if (r && c->map) {
        int line, col;
        if (srcmap_get(c->map, node, &line, &col) == 0) srcmap_put(c->map, r, line, col);
    }
    return r;
}

static cJSON *str_list(const char *const *items)
{
    cJSON *a = cJSON_CreateArray();
    for (; a && *items; items++)
        cJSON_AddItemToArray(a, cJSON_CreateString(*items));
    return a;
}

/* {"$ref": uri} */
static cJSON *ref_node(const char *uri)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "$ref", uri);
    return r;
}

/* The Segment envelope of a call kind, as a JSON Schema whose violations are Invalid-Envelope. */
static cJSON *envelope(int call)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "x-sluice-kind", "Invalid-Envelope");
    cJSON_AddStringToObject(e, "type", "object");
    cJSON *props = cJSON_AddObjectToObject(e, "properties");
    cJSON *t = cJSON_AddObjectToObject(props, "type");
    if (call == CALL_PAGE) {
        static const char *const ps[] = {"page", "screen", NULL};
        cJSON_AddItemToObject(t, "enum", str_list(ps));
    } else {
        cJSON_AddStringToObject(t, "const", call_names[call]);
    }
    static const char *const ids[] = {"userId", "anonymousId"};
    for (int i = 0; i < 2; i++) {
        cJSON *id = cJSON_AddObjectToObject(props, ids[i]);
        static const char *const snn[] = {"string", "number", "null", NULL};
        cJSON_AddItemToObject(id, "type", str_list(snn));
    }
    static const char *const stamps[] = {"timestamp", "originalTimestamp", "sentAt", "receivedAt"};
    for (int i = 0; i < 4; i++) {
        cJSON *ts = cJSON_AddObjectToObject(props, stamps[i]);
        cJSON_AddStringToObject(ts, "type", "string");
        cJSON_AddStringToObject(ts, "format", "date-time");
    }
    cJSON_AddStringToObject(cJSON_AddObjectToObject(props, "messageId"), "type", "string");
    static const char *const objs[] = {"properties", "traits", "context", "integrations"};
    for (int i = 0; i < 4; i++)
        cJSON_AddStringToObject(cJSON_AddObjectToObject(props, objs[i]), "type", "object");

    const char *req[3] = {"type", NULL, NULL};
    if (call == CALL_TRACK) {
        cJSON *ev = cJSON_AddObjectToObject(props, "event");
        cJSON_AddStringToObject(ev, "type", "string");
        cJSON_AddNumberToObject(ev, "minLength", 1);
        req[1] = "event";
    } else if (call == CALL_GROUP) {
        cJSON_AddItemToObject(cJSON_AddObjectToObject(props, "groupId"), "type",
                              str_list((const char *const[]){"string", "number", NULL}));
        req[1] = "groupId";
    } else if (call == CALL_ALIAS) {
        cJSON_AddItemToObject(cJSON_AddObjectToObject(props, "previousId"), "type",
                              str_list((const char *const[]){"string", "number", NULL}));
        req[1] = "previousId";
    }
    cJSON_AddItemToObject(e, "required", str_list(req));
    /* userId or anonymousId: present and, when a string, non-empty. */
    cJSON *any = cJSON_AddArrayToObject(e, "anyOf");
    for (int i = 0; i < 2; i++) {
        cJSON *alt = cJSON_CreateObject();
        cJSON_AddItemToObject(alt, "required", str_list((const char *const[]){ids[i], NULL}));
        cJSON *p = cJSON_AddObjectToObject(alt, "properties");
        cJSON *idp = cJSON_AddObjectToObject(p, ids[i]);
        cJSON_AddItemToObject(idp, "type",
                              str_list((const char *const[]){"string", "number", NULL}));
        cJSON_AddNumberToObject(idp, "minLength", 1);
        cJSON_AddItemToArray(any, alt);
    }
    return e;
}

/* Builds a root: {$schema, title, $defs: types, allOf: [envelope], properties: {part: schema,
 * context: ctx}}. `part_schema` is taken (moved in); may be NULL. */
static cJSON *make_root(comp *c, const char *title, int call, const char *part, cJSON *part_schema,
                        const cJSON *context)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "$schema", "https://json-schema.org/draft/2020-12/schema");
    cJSON_AddStringToObject(root, "title", title);
    if (c->types && c->types->child) {
        cJSON *defs = cJSON_AddObjectToObject(root, "$defs");
        for (const cJSON *t = c->types->child; t; t = t->next)
            cJSON_AddItemToObject(defs, t->string, ref_to(c, t));
    }
    cJSON *all = cJSON_AddArrayToObject(root, "allOf");
    cJSON_AddItemToArray(all, envelope(call));
    if (c->common) cJSON_AddItemToArray(all, ref_node(c->common));
    cJSON *props = cJSON_AddObjectToObject(root, "properties");
    if (part_schema) cJSON_AddItemToObject(props, part, part_schema);
    if (context) cJSON_AddItemToObject(props, "context", ref_to(c, context));
    return root;
}

/* With `policy: {dialect: D}` (D older than 2020-12), the schemas a user wrote (each property,
 * each type) are read in D: they get D's `$schema` unless they name their own. The wrapper the
 * plan generates around them stays 2020-12. */
static void mark_dialect(const comp *c, cJSON *schema)
{
    schema_dialect d = c->policy.dialect;
    if (d == DIALECT_DEFAULT || d == DIALECT_2020_12 || !cJSON_IsObject(schema)) return;
    if (cJSON_GetObjectItemCaseSensitive(schema, "$schema")) return;
    cJSON_AddStringToObject(schema, "$schema", dialect_uri(d));
}

/* A whole-call schema (`schema:`, `common:`; detached from the YAML tree and taken) becomes a
 * document of its own, "sluice:plan/schema/<n>", so its own `$ref`s, `definitions` and `$schema`
 * mean what they meant where it came from (Segment, RudderStack, a JSON Schema file). Returns the
 * URI (borrowed from the plan's tree) or NULL after an error. The plan's own rewrite (required:
 * true, closed objects, #/types refs) does not apply to it: it is taken as the JSON Schema it is.
 */
static const char *add_schema(comp *c, cJSON *schema, const char *what)
{
    if (!cJSON_IsObject(schema) && !cJSON_IsBool(schema)) {
        err_at(c, schema, "%s must be a JSON Schema (a mapping), got %s", what, type_name(schema));
        cJSON_Delete(schema);
        return NULL;
    }
    mark_dialect(c, schema);
    char uri[48];
    snprintf(uri, sizeof uri, "sluice:plan/schema/%d", c->nschemas++);
    cJSON_AddItemToObject(c->schemas, uri, schema);
    return schema->string;
}

/* Turns a plan `properties:`/`traits:` map into an object schema (the map node is moved in). */
static cJSON *object_schema(comp *c, cJSON *map, bool closed)
{
    /* No "type": "object" here: the envelope already says so (one violation, not two). */
    cJSON *s = cJSON_CreateObject();
    if (!map) map = cJSON_CreateObject(); /* no properties listed: none allowed (when closed) */
    if (map) {
        cJSON_AddItemToObject(s, "properties", map);
        if (c->map) {
            int line, col;
            if (srcmap_get(c->map, map, &line, &col) == 0) srcmap_put(c->map, s, line, col);
        }
    }
    rw r = {c, closed, false};
    rewrite_schema(&r, s, 0, false);
    for (cJSON *m = map ? map->child : NULL; m; m = m->next)
        mark_dialect(c, m);
    return s;
}

/* Detaches `key` from `owner` when it is a mapping (a `properties`/`traits` map); errors
 * otherwise. Returns the detached map or NULL. */
static cJSON *take_map(comp *c, cJSON *owner, const char *key, const char *what)
{
    cJSON *m = cJSON_GetObjectItemCaseSensitive(owner, key);
    if (!m || cJSON_IsNull(m)) return NULL;
    if (!cJSON_IsObject(m)) {
        err_at(c, m, "%s \"%s\" must be a mapping of property name to schema, got %s", what, key,
               type_name(m));
        return NULL;
    }
    for (cJSON *p = m->child; p; p = p->next)
        if (!cJSON_IsObject(p) && !cJSON_IsBool(p))
            err_at(c, p, "property \"%s\" must be a schema (a mapping), got %s", p->string,
                   type_name(p));
    return cJSON_DetachItemViaPointer(owner, m);
}

static int names_of(const cJSON *map, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!map) return 0;
    size_t cnt = (size_t)cJSON_GetArraySize(map);
    if (!cnt) return 0;
    char **v = calloc(cnt, sizeof *v);
    if (!v) return SL_ENOMEM;
    size_t i = 0;
    for (const cJSON *p = map->child; p && i < cnt; p = p->next)
        v[i++] = strdup(p->string);
    *out = v;
    *n = i;
    return 0;
}

/* ---- lint
 * ------------------------------------------------------------------------------------------ */

enum { NAME_ANY, NAME_TITLE, NAME_SNAKE, NAME_CAMEL };
static const char *const name_styles[] = {"any", "title_case", "snake_case", "camel_case", NULL};

static bool is_lower(char ch)
{
    return ch >= 'a' && ch <= 'z';
}
static bool is_upper(char ch)
{
    return ch >= 'A' && ch <= 'Z';
}
static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static bool name_ok(int style, const char *s)
{
    if (style == NAME_ANY) return true;
    if (!*s) return false;
    if (style == NAME_TITLE) {
        /* "Order Completed", "Product Added to Wishlist": words of [A-Z0-9][A-Za-z0-9]*, one
         * space apart; short function words after the first may stay lowercase. */
        static const char *const minor[] = {"a",   "an",   "and", "as",   "at", "by",
                                            "for", "from", "in",  "of",   "on", "or",
                                            "the", "to",   "via", "with", NULL};
        for (const char *p = s; *p;) {
            size_t wl = strcspn(p, " ");
            bool small = false;
            for (const char *const *m = minor; *m && p != s; m++)
                if (strlen(*m) == wl && strncmp(*m, p, wl) == 0) small = true;
            if (!small && !is_upper(*p) && !is_digit(*p)) return false;
            for (p++; *p && *p != ' '; p++)
                if (!is_lower(*p) && !is_upper(*p) && !is_digit(*p)) return false;
            if (*p == ' ') {
                p++;
                if (!*p) return false;
            }
        }
        return true;
    }
    if (style == NAME_SNAKE) { /* order_id */
        if (!is_lower(*s)) return false;
        for (const char *p = s; *p; p++) {
            if (*p == '_') {
                if (p[1] == '_' || p[1] == '\0') return false;
            } else if (!is_lower(*p) && !is_digit(*p)) {
                return false;
            }
        }
        return true;
    }
    /* camelCase: orderId */
    if (!is_lower(*s)) return false;
    for (const char *p = s; *p; p++)
        if (!is_lower(*p) && !is_upper(*p) && !is_digit(*p)) return false;
    return true;
}

static void lint_props(comp *c, int style, const cJSON *map, const char *owner)
{
    for (const cJSON *p = map ? map->child : NULL; p; p = p->next)
        if (!name_ok(style, p->string))
            warn_at(c, p, "property \"%s\" of %s is not %s", p->string, owner, name_styles[style]);
}

/* The generated root of one definition (an event, one version of it, a page, identify/group):
 * from its `part` map (properties/traits: plan rules) or from its whole-call `schema:` (JSON
 * Schema as written, e.g. imported from Segment or RudderStack). Takes those members out of
 * `def`; pe (may be NULL) gets the top-level property names for coverage. NULL: out of memory. */
static cJSON *def_root(comp *c, cJSON *def, const char *title, int call, const char *part,
                       bool closed, const cJSON *context, int prop_style, plan_event *pe)
{
    cJSON *sch = cJSON_DetachItemFromObjectCaseSensitive(def, "schema");
    cJSON *map = NULL;
    if (sch && get(def, part))
        err_at(c, sch, "\"%s\" has both \"%s\" and \"schema\"; use one of them", title, part);
    else if (!sch)
        map = take_map(c, def, part, call == CALL_PAGE ? "page key" : "event key");
    lint_props(c, prop_style, map, title);
    if (pe) {
        const cJSON *names = map;
        if (sch) { /* a whole-call schema: {properties: {<part>: {properties: {...}}}} */
            const cJSON *pp = get(get(sch, "properties"), part);
            names = cJSON_IsObject(get(pp, "properties")) ? get(pp, "properties") : NULL;
        }
        if (names_of(names, &pe->props, &pe->nprops)) {
            cJSON_Delete(sch);
            cJSON_Delete(map);
            return NULL;
        }
    }
    cJSON *root =
        make_root(c, title, call, part, sch ? NULL : object_schema(c, map, closed), context);
    if (sch) {
        const char *uri = add_schema(c, sch, "\"schema\"");
        if (uri)
            cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(root, "allOf"), ref_node(uri));
    }
    return root;
}

/* A version number (`versions:` keys, `default_version`, context.protocols.event_version):
 * a positive integer, written as a number or as digits. -1 otherwise. */
static long version_str(const char *s)
{
    if (!s || !*s || strlen(s) > 9) return -1;
    long n = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        n = n * 10 + (*s - '0');
    }
    return n >= 1 ? n : -1;
}

static long version_num(const cJSON *v)
{
    if (cJSON_IsNumber(v))
        return v->valuedouble >= 1 && v->valuedouble <= 1e9 &&
                       v->valuedouble == (double)(long)v->valuedouble
                   ? (long)v->valuedouble
                   : -1;
    return cJSON_IsString(v) ? version_str(v->valuestring) : -1;
}

/* ---- loading -----------------------------------------------------------------------------------
 */

static void event_cleanup(plan_event *e)
{
    free(e->name);
    free(e->ver);
    for (size_t i = 0; i < e->nprops; i++)
        free(e->props[i]);
    free(e->props);
}

static void plan_free(plan *p)
{
    if (!p) return;
    schema_prog_free(p->prog);
    for (size_t i = 0; i < p->nevents; i++)
        event_cleanup(&p->events[i]);
    for (size_t i = 0; i < p->npages; i++)
        event_cleanup(&p->pages[i]);
    for (size_t i = 0; i < p->niglu; i++)
        free(p->iglu[i].uri);
    free(p->iglu);
    free(p->events);
    free(p->pages);
    free(p->ev_hash);
    free(p->name);
    free(p->version);
    cJSON_Delete(p->gen); /* first: it references nodes of the YAML tree */
    cJSON_Delete(p->yaml);
    free(p);
}

static int build_index(plan *p)
{
    size_t cap = 16;
    while (cap < p->nevents * 2)
        cap *= 2;
    p->ev_hash = calloc(cap, sizeof *p->ev_hash);
    if (!p->ev_hash) return SL_ENOMEM;
    p->ev_hash_cap = cap;
    for (size_t i = 0; i < p->nevents; i++) {
        size_t h = hash_str(p->events[i].name) & (cap - 1);
        while (p->ev_hash[h])
            h = (h + 1) & (cap - 1);
        p->ev_hash[h] = (uint32_t)i + 1;
    }
    return 0;
}

static const plan_event *find_event(const plan *p, const char *name)
{
    if (!p->ev_hash_cap) return NULL;
    size_t h = hash_str(name) & (p->ev_hash_cap - 1);
    for (uint32_t ix; (ix = p->ev_hash[h]) != 0; h = (h + 1) & (p->ev_hash_cap - 1))
        if (strcmp(p->events[ix - 1].name, name) == 0) return &p->events[ix - 1];
    return NULL;
}

static const plan_event *find_page(const plan *p, const char *name)
{
    for (size_t i = 0; i < p->npages; i++)
        if (strcmp(p->pages[i].name, name) == 0) return &p->pages[i];
    return NULL;
}

/* Removes exact duplicate diagnostics (a type's error is found once per root using it). */
static void dedupe(sl_diags *d)
{
    size_t w = 0;
    for (size_t i = 0; i < d->n; i++) {
        bool dup = false;
        for (size_t j = 0; j < w && !dup; j++)
            dup = d->v[j].line == d->v[i].line && d->v[j].col == d->v[i].col &&
                  d->v[j].sev == d->v[i].sev && strcmp(d->v[j].msg, d->v[i].msg) == 0;
        if (dup) {
            if (d->v[i].sev == SL_SEV_ERROR)
                d->nerrors--;
            else
                d->nwarnings--;
            free(d->v[i].msg);
        } else {
            d->v[w++] = d->v[i];
        }
    }
    d->n = w;
}

/* An Iglu schema key: iglu:vendor/name/format/MODEL-REVISION-ADDITION. Fills the four parts'
 * lengths (vendor, name, format, version) into part/len when they are not NULL. */
static bool iglu_key_ok(const char *s, const char **part, size_t *len)
{
    if (strncmp(s, "iglu:", 5) != 0) return false;
    s += 5;
    for (int i = 0; i < 4; i++) {
        size_t n = i < 3 ? strcspn(s, "/") : strlen(s);
        if (n == 0 || (i < 3 && s[n] != '/')) return false;
        if (part) part[i] = s, len[i] = n;
        if (i == 3) { /* M-R-A: three non-negative integers */
            const char *v = s;
            for (int k = 0; k < 3; k++) {
                if (*v < '0' || *v > '9') return false;
                while (*v >= '0' && *v <= '9')
                    v++;
                if (k < 2 && *v++ != '-') return false;
            }
            if (*v) return false;
        }
        s += n + (i < 3);
    }
    return true;
}

/* The `iglu:` section: each member becomes a root compiled with its key as base URI (so Iglu
 * schemas may $ref each other by key). Its `self` block, when present, must name the same key
 * and is then taken out (it is not a keyword); without `$schema` a schema is draft-04, as Iglu's
 * meta-schema is. Nonzero only when memory ran out. */
static int compile_iglu(plan *p, comp *c, const cJSON *sec)
{
    if (!sec) return 0;
    if (!cJSON_IsObject(sec)) {
        err_at(c, sec, "\"iglu\" must be a mapping of iglu: URI to self-describing schema, got %s",
               type_name(sec));
        return 0;
    }
    cJSON *g_iglu = cJSON_AddObjectToObject(p->gen, "iglu");
    p->iglu = calloc((size_t)cJSON_GetArraySize(sec) + 1, sizeof *p->iglu);
    if (!p->iglu || !g_iglu) return SL_ENOMEM;
    static const char *const self_keys[] = {"vendor", "name", "format", "version"};
    for (cJSON *m = sec->child; m; m = m->next) {
        const char *part[4];
        size_t len[4];
        if (!iglu_key_ok(m->string, part, len)) {
            err_at(c, m,
                   "\"%s\" is not an Iglu schema key (expected "
                   "iglu:vendor/name/jsonschema/MODEL-REVISION-ADDITION, e.g. "
                   "iglu:com.acme/checkout/jsonschema/1-0-0)",
                   m->string);
            continue;
        }
        if (!cJSON_IsObject(m)) {
            err_at(c, m, "Iglu schema \"%s\" must be a JSON Schema (a mapping), got %s", m->string,
                   type_name(m));
            continue;
        }
        cJSON *self = cJSON_GetObjectItemCaseSensitive(m, "self");
        if (self) {
            for (int i = 0; i < 4 && cJSON_IsObject(self); i++) {
                const cJSON *f = get(self, self_keys[i]);
                if (!cJSON_IsString(f) || strlen(f->valuestring) != len[i] ||
                    strncmp(f->valuestring, part[i], len[i]) != 0)
                    err_at(c, f ? f : self,
                           "self.%s of Iglu schema \"%s\" must be \"%.*s\" (the key it is "
                           "filed under)",
                           self_keys[i], m->string, (int)len[i], part[i]);
            }
            if (!cJSON_IsObject(self))
                err_at(c, self, "\"self\" must be a mapping {vendor, name, format, version}");
            cJSON_Delete(cJSON_DetachItemViaPointer(m, self));
        }
        if (!get(m, "$schema")) cJSON_AddStringToObject(m, "$schema", dialect_uri(DIALECT_DRAFT04));
        plan_iglu *pi = &p->iglu[p->niglu++];
        pi->uri = strdup(m->string);
        pi->root = -1;
        if (!pi->uri) return SL_ENOMEM;
        cJSON_AddItemToObject(g_iglu, m->string, ref_to(c, m));
    }
    return 0;
}

static int iglu_cmp(const void *a, const void *b)
{
    return strcmp(((const plan_iglu *)a)->uri, ((const plan_iglu *)b)->uri);
}

static int compile_plan(plan *p, comp *c)
{
    cJSON *y = p->yaml;
    if (!cJSON_IsObject(y)) {
        err_at(c, y, "a plan must be a YAML mapping with at least \"sluice: 1\" and \"plan\"");
        return SL_EPLAN;
    }
    static const char *const top_keys[] = {
        "sluice",  "plan",   "version",  "description", "owner", "policy", "lint", "types",
        "context", "events", "identify", "group",       "pages", "common", "iglu", NULL};
    check_keys(c, y, "the plan", top_keys);

    const cJSON *ver = get(y, "sluice");
    if (!ver)
        err_at(c, y, "missing \"sluice: 1\" (the plan format version)");
    else if (!cJSON_IsNumber(ver) || ver->valuedouble != 1) {
        char shown[64];
        vio_render(shown, sizeof shown, ver);
        err_at(c, ver, "unsupported plan format \"sluice: %s\" (this Sluice reads version 1)",
               shown);
    }
    const char *name = opt_string(c, y, "plan", "plan key");
    if (!get(y, "plan")) err_at(c, y, "missing \"plan: <name>\"");
    const char *version = opt_string(c, y, "version", "plan key");
    opt_string(c, y, "description", "plan key");
    opt_string(c, y, "owner", "plan key");
    p->name = strdup(name ? name : "");
    p->version = strdup(version ? version : "");

    /* policy */
    static const char *const allow_choices[] = {"reject", "allow", NULL};
    static const char *const viol_choices[] = {"quarantine", "forward", NULL};
    p->policy = (plan_policy){PLAN_REJECT, PLAN_REJECT, PLAN_QUARANTINE, DIALECT_DEFAULT};
    const cJSON *pol = get(y, "policy");
    if (pol && !cJSON_IsObject(pol)) {
        err_at(c, pol, "\"policy\" must be a mapping, got %s", type_name(pol));
    } else if (pol) {
        static const char *const pk[] = {"unplanned_events", "additional_properties",
                                         "on_violation", "dialect", NULL};
        check_keys(c, pol, "policy", pk);
        p->policy.unplanned_events = opt_choice(c, pol, "unplanned_events", allow_choices, 0);
        p->policy.additional_properties =
            opt_choice(c, pol, "additional_properties", allow_choices, 0);
        p->policy.on_violation = opt_choice(c, pol, "on_violation", viol_choices, 0);
        static const char *const dialect_choices[] = {"2020-12",  "2019-09",  "draft-07",
                                                      "draft-06", "draft-04", NULL};
        static const schema_dialect dialect_of[] = {
            DIALECT_2020_12, DIALECT_2019_09, DIALECT_DRAFT07, DIALECT_DRAFT06, DIALECT_DRAFT04};
        if (get(pol, "dialect"))
            p->policy.dialect = dialect_of[opt_choice(c, pol, "dialect", dialect_choices, 0)];
    }
    c->policy = p->policy;

    /* lint settings */
    int ev_style = NAME_ANY, prop_style = NAME_ANY;
    bool need_desc = true;
    const cJSON *lint = get(y, "lint");
    if (lint && !cJSON_IsObject(lint)) {
        err_at(c, lint, "\"lint\" must be a mapping, got %s", type_name(lint));
    } else if (lint) {
        static const char *const lk[] = {"event_names", "property_names", "require_descriptions",
                                         NULL};
        check_keys(c, lint, "lint", lk);
        ev_style = opt_choice(c, lint, "event_names", name_styles, NAME_ANY);
        prop_style = opt_choice(c, lint, "property_names", name_styles, NAME_ANY);
        const cJSON *rd = get(lint, "require_descriptions");
        if (rd && !cJSON_IsBool(rd))
            err_at(c, rd, "\"require_descriptions\" must be true or false");
        else if (rd)
            need_desc = cJSON_IsTrue(rd);
    }

    /* types: rewritten in place, referenced by every root */
    cJSON *types = cJSON_GetObjectItemCaseSensitive(y, "types");
    if (types && !cJSON_IsObject(types)) {
        err_at(c, types, "\"types\" must be a mapping of type name to schema, got %s",
               type_name(types));
        types = NULL;
    }
    c->types = types;
    bool closed = p->policy.additional_properties == PLAN_REJECT;
    for (cJSON *t = types ? types->child : NULL; t; t = t->next) {
        if (!cJSON_IsObject(t) && !cJSON_IsBool(t)) {
            err_at(c, t, "type \"%s\" must be a schema (a mapping), got %s", t->string,
                   type_name(t));
            continue;
        }
        rw r = {c, closed, false};
        rewrite_schema(&r, t, 0, true); /* closed where used, not where defined */
        mark_dialect(c, t);
    }

    /* context: a schema, exempt from the additional_properties policy */
    cJSON *context = cJSON_GetObjectItemCaseSensitive(y, "context");
    if (context && !cJSON_IsObject(context) && !cJSON_IsBool(context)) {
        err_at(c, context, "\"context\" must be a schema (a mapping), got %s", type_name(context));
        context = NULL;
    }
    if (context) {
        rw r = {c, false, true};
        rewrite_schema(&r, context, 0, false);
    }

    p->gen = cJSON_CreateObject();
    cJSON *g_events = cJSON_AddObjectToObject(p->gen, "events");
    cJSON *g_calls = cJSON_AddObjectToObject(p->gen, "calls");
    cJSON *g_pages = cJSON_AddObjectToObject(p->gen, "pages");
    c->schemas = cJSON_AddObjectToObject(p->gen, "schemas");
    if (!g_pages || !c->schemas) return SL_ENOMEM;

    /* common: a whole-call schema every call must also pass (Segment's Common JSON Schema) */
    cJSON *common = cJSON_DetachItemFromObjectCaseSensitive(y, "common");
    if (common) c->common = add_schema(c, common, "\"common\"");

    /* events */
    static const char *const ek[] = {
        "description",           "owner",    "deprecated",      "tags", "properties", "schema",
        "additional_properties", "versions", "default_version", NULL};
    static const char *const vk[] = {"description",           "deprecated", "properties", "schema",
                                     "additional_properties", NULL};
    cJSON *g_versions = cJSON_AddObjectToObject(p->gen, "versions");
    cJSON *events = cJSON_GetObjectItemCaseSensitive(y, "events");
    if (events && !cJSON_IsObject(events)) {
        err_at(c, events, "\"events\" must be a mapping of event name to definition, got %s",
               type_name(events));
        events = NULL;
    }
    size_t nev = events ? (size_t)cJSON_GetArraySize(events) : 0;
    p->events = calloc(nev ? nev : 1, sizeof *p->events);
    if (!p->events || !g_versions) return SL_ENOMEM;
    for (cJSON *e = events ? events->child : NULL; e; e = e->next) {
        if (cJSON_IsNull(e)) {
            e->type = cJSON_Object; /* "Event Name:" with nothing: no properties */
        }
        if (!cJSON_IsObject(e)) {
            err_at(c, e, "event \"%s\" must be a mapping (description, properties, ...), got %s",
                   e->string, type_name(e));
            continue;
        }
        check_keys(c, e, "an event", ek);
        if (!name_ok(ev_style, e->string))
            warn_at(c, e, "event name \"%s\" is not %s", e->string, name_styles[ev_style]);
        if (!get(e, "description") && need_desc)
            warn_at(c, e, "event \"%s\" has no description", e->string);
        opt_string(c, e, "description", "event key");
        opt_string(c, e, "owner", "event key");
        const char *dep = NULL;
        const cJSON *depv = get(e, "deprecated");
        if (cJSON_IsString(depv))
            dep = depv->valuestring;
        else if (cJSON_IsTrue(depv))
            dep = "";
        else if (depv && !cJSON_IsFalse(depv))
            err_at(c, depv, "\"deprecated\" must be a message string or true");
        int ev_allow = opt_choice(c, e, "additional_properties", allow_choices,
                                  (int)p->policy.additional_properties);

        plan_event *pe = &p->events[p->nevents++];
        pe->name = strdup(e->string);
        pe->deprecated = dep;
        pe->root = -1;
        const cJSON *vers = get(e, "versions");
        if (!vers) {
            if (get(e, "default_version"))
                err_at(c, get(e, "default_version"),
                       "\"default_version\" needs \"versions\" in the same event");
            cJSON *root = def_root(c, e, e->string, CALL_TRACK, "properties",
                                   ev_allow == PLAN_REJECT, context, prop_style, pe);
            if (!root) return SL_ENOMEM;
            /* The generated root says which event it is for, for standalone use (Ajv). */
            cJSON *rp = cJSON_GetObjectItemCaseSensitive(root, "properties");
            cJSON_AddStringToObject(cJSON_AddObjectToObject(rp, "event"), "const", e->string);
            cJSON_AddItemToObject(g_events, e->string, root);
            continue;
        }
        /* versions: {N: {properties | schema, ...}}; the one used is context.protocols.
         * event_version, else default_version (else 1, as Segment Protocols does). */
        if (!cJSON_IsObject(vers) || !vers->child) {
            err_at(c, vers, "\"versions\" must be a mapping of version number to definition");
            continue;
        }
        if (get(e, "properties") || get(e, "schema"))
            err_at(c, vers,
                   "event \"%s\" has \"versions\": its properties or schema go inside each "
                   "version",
                   e->string);
        const cJSON *dv = get(e, "default_version");
        pe->vdefault = dv ? version_num(dv) : 1;
        if (dv && pe->vdefault < 0) err_at(c, dv, "\"default_version\" must be a positive integer");
        pe->ver = calloc((size_t)cJSON_GetArraySize(vers), sizeof *pe->ver);
        if (!pe->ver) return SL_ENOMEM;
        bool have_default = false;
        for (cJSON *v = vers->child; v; v = v->next) {
            long num = version_str(v->string);
            if (num < 0) {
                err_at(c, v, "version \"%s\" of event \"%s\" must be a positive integer", v->string,
                       e->string);
                continue;
            }
            if (cJSON_IsNull(v)) v->type = cJSON_Object;
            if (!cJSON_IsObject(v)) {
                err_at(c, v, "version %ld of event \"%s\" must be a mapping, got %s", num,
                       e->string, type_name(v));
                continue;
            }
            check_keys(c, v, "an event version", vk);
            opt_string(c, v, "description", "version key");
            plan_version *pv = &pe->ver[pe->nver++];
            pv->num = num;
            pv->root = -1;
            pv->deprecated = dep;
            const cJSON *vdep = get(v, "deprecated");
            if (cJSON_IsString(vdep))
                pv->deprecated = vdep->valuestring;
            else if (cJSON_IsTrue(vdep))
                pv->deprecated = "";
            else if (vdep && !cJSON_IsFalse(vdep))
                err_at(c, vdep, "\"deprecated\" must be a message string or true");
            bool v_closed =
                opt_choice(c, v, "additional_properties", allow_choices, ev_allow) == PLAN_REJECT;
            char title[300];
            snprintf(title, sizeof title, "%s (version %ld)", e->string, num);
            bool is_default = num == pe->vdefault;
            have_default |= is_default;
            cJSON *root = def_root(c, v, title, CALL_TRACK, "properties", v_closed, context,
                                   prop_style, is_default && !pe->props ? pe : NULL);
            if (!root) return SL_ENOMEM;
            cJSON *rp = cJSON_GetObjectItemCaseSensitive(root, "properties");
            cJSON_AddStringToObject(cJSON_AddObjectToObject(rp, "event"), "const", e->string);
            cJSON_AddItemToObject(g_versions, title, root);
        }
        if (!have_default && pe->vdefault > 0)
            err_at(c, dv ? dv : vers, "event \"%s\" has no version %ld%s", e->string, pe->vdefault,
                   dv ? "" : " (the default when \"default_version\" is not set)");
    }

    /* identify / group: {traits: map} or {schema: whole-call schema} */
    static const char *const tk[] = {"description", "traits", "schema", "additional_properties",
                                     NULL};
    const int tcalls[2] = {CALL_IDENTIFY, CALL_GROUP};
    for (int i = 0; i < 2; i++) {
        const char *key = call_names[tcalls[i]];
        cJSON *sec = cJSON_GetObjectItemCaseSensitive(y, key);
        cJSON *root = NULL;
        if (sec && !cJSON_IsObject(sec)) {
            err_at(c, sec, "\"%s\" must be a mapping with \"traits\", got %s", key, type_name(sec));
        } else if (sec) {
            check_keys(c, sec, key, tk);
            bool t_closed = opt_choice(c, sec, "additional_properties", allow_choices,
                                       (int)p->policy.additional_properties) == PLAN_REJECT;
            root = def_root(c, sec, key, tcalls[i], "traits", t_closed, context, prop_style, NULL);
            if (!root) return SL_ENOMEM;
        }
        if (!root) root = make_root(c, key, tcalls[i], "traits", NULL, context);
        cJSON_AddItemToObject(g_calls, key, root);
    }
    cJSON_AddItemToObject(g_calls, "track",
                          make_root(c, "track (any event)", CALL_TRACK, NULL, NULL, context));
    cJSON_AddItemToObject(g_calls, "page",
                          make_root(c, "page/screen (any name)", CALL_PAGE, NULL, NULL, context));
    cJSON_AddItemToObject(g_calls, "alias", make_root(c, "alias", CALL_ALIAS, NULL, NULL, context));

    /* pages: name -> {description, properties | schema} */
    cJSON *pages = cJSON_GetObjectItemCaseSensitive(y, "pages");
    if (pages && !cJSON_IsObject(pages)) {
        err_at(c, pages, "\"pages\" must be a mapping of page name to definition, got %s",
               type_name(pages));
        pages = NULL;
    }
    size_t npg = pages ? (size_t)cJSON_GetArraySize(pages) : 0;
    p->pages = calloc(npg ? npg : 1, sizeof *p->pages);
    if (!p->pages) return SL_ENOMEM;
    static const char *const pgk[] = {"description", "properties", "schema",
                                      "additional_properties", NULL};
    for (cJSON *pg = pages ? pages->child : NULL; pg; pg = pg->next) {
        if (cJSON_IsNull(pg)) pg->type = cJSON_Object;
        if (!cJSON_IsObject(pg)) {
            err_at(c, pg, "page \"%s\" must be a mapping, got %s", pg->string, type_name(pg));
            continue;
        }
        check_keys(c, pg, "a page", pgk);
        bool pg_closed = opt_choice(c, pg, "additional_properties", allow_choices,
                                    (int)p->policy.additional_properties) == PLAN_REJECT;
        plan_event *pe = &p->pages[p->npages++];
        pe->name = strdup(pg->string);
        pe->root = -1;
        cJSON *root =
            def_root(c, pg, pg->string, CALL_PAGE, "properties", pg_closed, context, NAME_ANY, pe);
        if (!root) return SL_ENOMEM;
        cJSON_AddStringToObject(
            cJSON_AddObjectToObject(cJSON_GetObjectItemCaseSensitive(root, "properties"), "name"),
            "const", pg->string);
        cJSON_AddItemToObject(g_pages, pg->string, root);
    }

    /* iglu: {"iglu:vendor/name/jsonschema/M-R-A": self-describing schema} */
    if (compile_iglu(p, c, get(y, "iglu"))) return SL_ENOMEM;

    /* unused types (after every $ref was rewritten) */
    if (types && types->child) {
        size_t nt = (size_t)cJSON_GetArraySize(types);
        bool *used = calloc(nt, sizeof *used);
        if (!used) return SL_ENOMEM;
        for (const cJSON *k = y->child; k; k = k->next)
            if (k != types) mark_refs(k, types, used, 0);
        mark_refs(types, types, used, 0); /* types used by other types */
        mark_refs(p->gen, types, used, 0);
        size_t i = 0;
        for (const cJSON *t = types->child; t; t = t->next, i++)
            if (!used[i]) warn_at(c, t, "type \"%s\" is never used", t->string);
        free(used);
    }

    if (c->d->nerrors) return SL_EPLAN;

    /* compile every root into one program */
    schema_opts so = {.strict = true,
                      .assert_formats = true,
                      .dialect = p->policy.dialect,
                      .locate = c->map ? srcmap_locate : NULL,
                      .locate_ud = c->map};
    schema_builder *b = schema_builder_new(&so);
    if (!b) return SL_ENOMEM;
    int rc = 0;
    char uri[64];
    int n = 0;
    for (int call = 0; call < CALL__COUNT; call++) {
        const cJSON *r = get(g_calls, call_names[call]);
        snprintf(uri, sizeof uri, "sluice:plan/%d", n++);
        p->call_root[call] = schema_builder_add(b, r, uri, c->d);
    }
    size_t i = 0;
    const cJSON *ge = g_events->child; /* one per unversioned event, in order */
    for (; ge && i < p->nevents; i++) {
        if (p->events[i].ver) continue;
        snprintf(uri, sizeof uri, "sluice:plan/%d", n++);
        p->events[i].root = schema_builder_add(b, ge, uri, c->d);
        ge = ge->next;
    }
    i = 0;
    for (const cJSON *r = g_pages->child; r; r = r->next, i++) {
        snprintf(uri, sizeof uri, "sluice:plan/%d", n++);
        p->pages[i].root = schema_builder_add(b, r, uri, c->d);
    }
    const cJSON *r = g_versions->child;
    for (i = 0; i < p->nevents; i++) {
        plan_event *pe = &p->events[i];
        for (size_t j = 0; j < pe->nver && r; j++, r = r->next) {
            snprintf(uri, sizeof uri, "sluice:plan/%d", n++);
            pe->ver[j].root = schema_builder_add(b, r, uri, c->d);
            if (pe->ver[j].num == pe->vdefault) pe->root = pe->ver[j].root;
        }
    }
    for (r = c->schemas->child; r; r = r->next)
        schema_builder_add(b, r, r->string, c->d);
    i = 0;
    for (r = get(p->gen, "iglu") ? get(p->gen, "iglu")->child : NULL; r; r = r->next, i++)
        p->iglu[i].root = schema_builder_add(b, r, r->string, c->d);
    if (p->niglu) qsort(p->iglu, p->niglu, sizeof *p->iglu, iglu_cmp);
    if (c->d->nerrors == 0) rc = schema_builder_finish(b, &p->prog, c->d);
    schema_builder_free(b);
    if (rc == 0 && c->d->nerrors) rc = SL_EPLAN;
    if (rc == 0) rc = build_index(p);
    return rc;
}

int plan_load_mem(const char *yaml, size_t len, const char *name, bool lint, plan **out,
                  sl_diags *d)
{
    *out = NULL;
    plan *p = calloc(1, sizeof *p);
    srcmap *map = srcmap_new();
    if (!p || !map) {
        free(p);
        srcmap_free(map);
        return SL_ENOMEM;
    }
    atomic_init(&p->refs, 1);
    /* Compile into a private list: lint warnings only reach `d` when asked for. */
    sl_diags local;
    sl_diags_init(&local, name);
    int rc = yamlj_load(yaml, len, map, &p->yaml, &local);
    if (rc == 0) {
        comp c = {.d = &local, .map = map, .lint = lint};
        rc = compile_plan(p, &c);
        if (rc == 0 && local.nerrors) rc = SL_EPLAN;
    }
    dedupe(&local);
    sl_diags_sort(&local);
    for (size_t i = 0; i < local.n; i++)
        if (lint || local.v[i].sev == SL_SEV_ERROR)
            sl_diags_add(d, local.v[i].sev, local.v[i].line, local.v[i].col, "%s", local.v[i].msg);
    sl_diags_cleanup(&local);
    srcmap_free(map);
    if (rc) {
        plan_free(p);
        return rc < 0 ? rc : SL_EPLAN;
    }
    *out = p;
    return 0;
}

int plan_load_file(const char *path, bool lint, plan **out, sl_diags *d)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        sl_diags_add(d, SL_SEV_ERROR, 0, 0, "cannot open plan: %m");
        return SL_EIO;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            if (cap > (64u << 20)) {
                sl_diags_add(d, SL_SEV_ERROR, 0, 0, "plan file larger than 64 MiB");
                free(buf);
                fclose(f);
                return SL_ELIMIT;
            }
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return SL_ENOMEM;
            }
            buf = nb;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0) break;
    }
    bool ioerr = ferror(f);
    fclose(f);
    if (ioerr) {
        free(buf);
        sl_diags_add(d, SL_SEV_ERROR, 0, 0, "cannot read plan");
        return SL_EIO;
    }
    int rc = plan_load_mem(buf ? buf : "", len, path, lint, out, d);
    free(buf);
    return rc;
}

plan *plan_retain(plan *p)
{
    atomic_fetch_add(&p->refs, 1);
    return p;
}

void plan_release(plan *p)
{
    if (p && atomic_fetch_sub(&p->refs, 1) == 1) plan_free(p);
}

const plan_policy *plan_get_policy(const plan *p)
{
    return &p->policy;
}
const char *plan_get_name(const plan *p)
{
    return p->name;
}
const char *plan_get_version(const plan *p)
{
    return p->version;
}

size_t plan_event_count(const plan *p)
{
    return p->nevents;
}

const char *plan_event_name(const plan *p, size_t i)
{
    return i < p->nevents ? p->events[i].name : NULL;
}

const char *plan_event_deprecated(const plan *p, const char *name)
{
    const plan_event *pe = find_event(p, name);
    return pe ? pe->deprecated : NULL;
}

/* ---- checking
 * ------------------------------------------------------------------------------------ */

plan_ctx *plan_ctx_new(void)
{
    plan_ctx *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->sctx = schema_ctx_new();
    if (!c->sctx) {
        free(c);
        return NULL;
    }
    return c;
}

void plan_ctx_free(plan_ctx *c)
{
    if (!c) return;
    schema_ctx_free(c->sctx);
    free(c);
}

static void add_vio(vio_list *out, sl_kind kind, const char *keyword, const char *path,
                    const cJSON *actual, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void add_vio(vio_list *out, sl_kind kind, const char *keyword, const char *path,
                    const cJSON *actual, const char *fmt, ...)
{
    vio *v = vio_list_push(out, kind, keyword);
    if (!v) return;
    snprintf(v->path, sizeof v->path, "%s", path);
    if (actual) vio_render(v->actual, sizeof v->actual, actual);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->message, sizeof v->message, fmt, ap);
    va_end(ap);
}

static int call_of(const char *type)
{
    if (!strcmp(type, "track")) return CALL_TRACK;
    if (!strcmp(type, "identify")) return CALL_IDENTIFY;
    if (!strcmp(type, "page") || !strcmp(type, "screen")) return CALL_PAGE;
    if (!strcmp(type, "group")) return CALL_GROUP;
    if (!strcmp(type, "alias")) return CALL_ALIAS;
    return -1;
}

/* The version of a versioned event a call asks for: context.protocols.event_version (a positive
 * integer, or digits), else the event's default. NULL after an Unplanned-Event violation for a
 * version the plan does not have. */
static const plan_version *pick_version(const plan_event *pe, const cJSON *event, vio_list *out)
{
    const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(event, "context");
    const cJSON *prot =
        cJSON_IsObject(ctx) ? cJSON_GetObjectItemCaseSensitive(ctx, "protocols") : NULL;
    const cJSON *v =
        cJSON_IsObject(prot) ? cJSON_GetObjectItemCaseSensitive(prot, "event_version") : NULL;
    long num = v ? version_num(v) : pe->vdefault;
    for (size_t i = 0; i < pe->nver && num > 0; i++)
        if (pe->ver[i].num == num) return &pe->ver[i];
    char list[96] = "";
    size_t n = 0;
    for (size_t i = 0; i < pe->nver && n < sizeof list - 16; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%ld", i ? ", " : "", pe->ver[i].num);
    if (num > 0)
        add_vio(out, SL_KIND_UNPLANNED_EVENT, "event_version", "/context/protocols/event_version",
                v, "version %ld of event \"%.64s\" is not in the tracking plan (it has %s)", num,
                pe->name, list);
    else
        add_vio(out, SL_KIND_UNPLANNED_EVENT, "event_version", "/context/protocols/event_version",
                v, "event_version must be a positive integer (event \"%.64s\" has versions %s)",
                pe->name, list);
    return NULL;
}

int plan_check(const plan *p, const cJSON *event, plan_ctx *ctx, vio_list *out)
{
    vio_list_reset(out);
    if (!cJSON_IsObject(event)) {
        add_vio(out, SL_KIND_INVALID_ENVELOPE, "type", "", event,
                "an event must be a JSON object, got %s", type_name(event));
        return (int)out->nerrors;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(event, "type");
    if (!cJSON_IsString(type)) {
        add_vio(out, SL_KIND_INVALID_ENVELOPE, "required", "/type", type,
                type ? "\"type\" must be a string" : "required property \"type\" is missing");
        return (int)out->nerrors;
    }
    int call = call_of(type->valuestring);
    if (call < 0) {
        add_vio(out, SL_KIND_INVALID_ENVELOPE, "enum", "/type", type,
                "unknown call type \"%.64s\" (expected track, identify, page, screen, group, "
                "alias)",
                type->valuestring);
        return (int)out->nerrors;
    }
    int root = p->call_root[call];
    if (call == CALL_TRACK) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(event, "event");
        if (cJSON_IsString(name) && name->valuestring[0]) {
            const plan_event *pe = find_event(p, name->valuestring);
            const char *dep = pe ? pe->deprecated : NULL;
            if (pe && pe->nver) {
                const plan_version *pv = pick_version(pe, event, out);
                root = pv ? pv->root : root; /* an unknown version: envelope checks only */
                dep = pv ? pv->deprecated : NULL;
            } else if (pe) {
                root = pe->root;
            }
            if (pe) {
                if (dep)
                    add_vio(out, SL_KIND_DEPRECATED_EVENT, "deprecated", "/event", name,
                            "event \"%.64s\" is deprecated%s%.128s", name->valuestring,
                            dep[0] ? ": " : "", dep);
            } else if (p->policy.unplanned_events == PLAN_REJECT) {
                add_vio(out, SL_KIND_UNPLANNED_EVENT, "events", "/event", name,
                        "event \"%.64s\" is not in the tracking plan", name->valuestring);
            }
        }
    } else if (call == CALL_PAGE) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(event, "name");
        const plan_event *pg = cJSON_IsString(name) ? find_page(p, name->valuestring) : NULL;
        if (pg) root = pg->root;
    }
    int rc = schema_validate(p->prog, root, event, ctx->sctx, out, "");
    if (rc < 0) return rc;
    /* The envelope's only anyOf is "userId or anonymousId": say so in words. */
    for (size_t i = 0; i < out->n; i++) {
        vio *v = &out->items[i];
        if (v->kind == SL_KIND_INVALID_ENVELOPE && v->keyword && !strcmp(v->keyword, "anyOf") &&
            v->path[0] == '\0') {
            snprintf(v->expected, sizeof v->expected, "userId or anonymousId");
            snprintf(v->message, sizeof v->message,
                     "either \"userId\" or \"anonymousId\" must be a non-empty string");
        }
    }
    return (int)out->nerrors;
}

static int iglu_find(const plan *p, const char *uri)
{
    size_t lo = 0, hi = p->niglu;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int r = strcmp(p->iglu[mid].uri, uri);
        if (r == 0) return p->iglu[mid].root;
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

size_t plan_iglu_count(const plan *p)
{
    return p->niglu;
}

int plan_check_selfdesc(const plan *p, const cJSON *sd, plan_ctx *ctx, vio_list *out,
                        const char *path)
{
    size_t before = out->nerrors;
    char at[VIO_PATH_MAX];
    const cJSON *schema =
        cJSON_IsObject(sd) ? cJSON_GetObjectItemCaseSensitive(sd, "schema") : NULL;
    const cJSON *data = cJSON_IsObject(sd) ? cJSON_GetObjectItemCaseSensitive(sd, "data") : NULL;
    if (!cJSON_IsString(schema) || !data) {
        snprintf(at, sizeof at, "%s%s", path,
                 cJSON_IsObject(sd) ? (data ? "/schema" : "/data") : "");
        add_vio(
            out, SL_KIND_INVALID_ENVELOPE, "required", at, sd,
            "a self-describing JSON must be an object {\"schema\": \"iglu:...\", \"data\": ...}");
        return (int)(out->nerrors - before);
    }
    int root = iglu_find(p, schema->valuestring);
    if (root < 0) {
        snprintf(at, sizeof at, "%s/schema", path);
        add_vio(out, SL_KIND_UNKNOWN_SCHEMA, "schema", at, schema,
                iglu_key_ok(schema->valuestring, NULL, NULL)
                    ? "schema %.200s is not in the tracking plan's iglu section"
                    : "\"%.200s\" is not an Iglu schema URI (iglu:vendor/name/format/M-R-A)",
                schema->valuestring);
        return (int)(out->nerrors - before);
    }
    snprintf(at, sizeof at, "%s/data", path);
    int rc = schema_validate(p->prog, root, data, ctx->sctx, out, at);
    if (rc < 0) return rc;
    return (int)(out->nerrors - before);
}

/* ---- coverage
 * -------------------------------------------------------------------------------------- */

struct plan_cover {
    const plan *p;
    bool *ev_seen;
    bool **prop_seen;
};

plan_cover *plan_cover_new(const plan *p)
{
    plan_cover *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->p = p;
    c->ev_seen = calloc(p->nevents + 1, sizeof *c->ev_seen);
    c->prop_seen = calloc(p->nevents + 1, sizeof *c->prop_seen);
    if (!c->ev_seen || !c->prop_seen) goto fail;
    for (size_t i = 0; i < p->nevents; i++) {
        c->prop_seen[i] = calloc(p->events[i].nprops + 1, sizeof **c->prop_seen);
        if (!c->prop_seen[i]) goto fail;
    }
    return c;
fail:
    plan_cover_free(c);
    return NULL;
}

void plan_cover_free(plan_cover *c)
{
    if (!c) return;
    if (c->prop_seen)
        for (size_t i = 0; i < c->p->nevents; i++)
            free(c->prop_seen[i]);
    free(c->prop_seen);
    free(c->ev_seen);
    free(c);
}

void plan_cover_note(plan_cover *c, const cJSON *event)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(event, "type");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(event, "event");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "track") != 0 || !cJSON_IsString(name))
        return;
    const plan_event *pe = find_event(c->p, name->valuestring);
    if (!pe) return;
    size_t i = (size_t)(pe - c->p->events);
    c->ev_seen[i] = true;
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(event, "properties");
    for (const cJSON *k = cJSON_IsObject(props) ? props->child : NULL; k; k = k->next)
        for (size_t j = 0; j < pe->nprops; j++)
            if (strcmp(pe->props[j], k->string) == 0) c->prop_seen[i][j] = true;
}

cJSON *plan_cover_report(const plan_cover *c)
{
    cJSON *r = cJSON_CreateObject();
    if (!r) return NULL;
    size_t seen = 0;
    cJSON *unseen = cJSON_AddArrayToObject(r, "events_unseen");
    cJSON *props = cJSON_AddObjectToObject(r, "properties_unseen");
    for (size_t i = 0; i < c->p->nevents; i++) {
        const plan_event *pe = &c->p->events[i];
        if (!c->ev_seen[i]) {
            cJSON_AddItemToArray(unseen, cJSON_CreateString(pe->name));
            continue;
        }
        seen++;
        cJSON *list = NULL;
        for (size_t j = 0; j < pe->nprops; j++) {
            if (c->prop_seen[i][j]) continue;
            if (!list) list = cJSON_AddArrayToObject(props, pe->name);
            cJSON_AddItemToArray(list, cJSON_CreateString(pe->props[j]));
        }
    }
    cJSON_AddNumberToObject(r, "events_planned", (double)c->p->nevents);
    cJSON_AddNumberToObject(r, "events_seen", (double)seen);
    return r;
}

/* ---- dump and emit
 * --------------------------------------------------------------------------------- */

void plan_dump(const plan *p, FILE *out)
{
    static const char *const allow[] = {"reject", "allow"};
    static const char *const viol[] = {"quarantine", "forward"};
    fprintf(out, "plan %s version %s\n", p->name, p->version[0] ? p->version : "-");
    fprintf(out, "policy unplanned_events=%s additional_properties=%s on_violation=%s\n",
            allow[p->policy.unplanned_events], allow[p->policy.additional_properties],
            viol[p->policy.on_violation]);
    if (p->policy.dialect != DIALECT_DEFAULT)
        fprintf(out, "policy dialect=%s (schemas without $schema)\n",
                dialect_name(p->policy.dialect));
    fprintf(out, "calls\n");
    for (int i = 0; i < CALL__COUNT; i++)
        fprintf(out, "  %-9s -> root %d\n", call_names[i], p->call_root[i]);
    fprintf(out, "events (%zu)\n", p->nevents);
    for (size_t i = 0; i < p->nevents; i++)
        fprintf(out, "  \"%s\" -> root %d%s%s\n", p->events[i].name, p->events[i].root,
                p->events[i].deprecated ? " deprecated: " : "",
                p->events[i].deprecated ? p->events[i].deprecated : "");
    fprintf(out, "pages (%zu)\n", p->npages);
    for (size_t i = 0; i < p->npages; i++)
        fprintf(out, "  \"%s\" -> root %d\n", p->pages[i].name, p->pages[i].root);
    schema_prog_dump(p->prog, out);
}

static void strip_ext(cJSON *s)
{
    for (cJSON *k = s ? s->child : NULL; k;) {
        cJSON *next = k->next;
        if (k->string && strncmp(k->string, "x-sluice-", 9) == 0)
            cJSON_Delete(cJSON_DetachItemViaPointer(s, k)); /* x-sluice-kind, x-sluice-dialect */
        else
            strip_ext(k);
        k = next;
    }
}

cJSON *plan_emit_json_schema(const plan *p)
{
    cJSON *r = cJSON_CreateObject();
    if (!r) return NULL;
    cJSON_AddStringToObject(r, "plan", p->name);
    cJSON_AddStringToObject(r, "version", p->version);
    cJSON_AddStringToObject(r, "unplanned_events",
                            p->policy.unplanned_events == PLAN_REJECT ? "reject" : "allow");
    /* "schemas" and "iglu" hold documents the roots refer to by URI (whole-call `schema:` and
     * `common:`, Iglu schemas): each carries that URI as its $id, so a validator that loads
     * them (Ajv's addSchema) resolves the references. */
    static const char *const parts[] = {"events", "calls", "pages", "versions", "schemas", "iglu"};
    for (int i = 0; i < 6; i++) {
        if (!get(p->gen, parts[i])) continue;
        cJSON *copy = cJSON_Duplicate(get(p->gen, parts[i]), true);
        if (!copy) {
            cJSON_Delete(r);
            return NULL;
        }
        /* Schemas of an older dialect are emitted as their 2020-12 rewrite (dialect.h). */
        for (cJSON *root = copy->child; root; root = root->next) {
            const cJSON *unknown;
            if (dialect_scan(root, DIALECT_2020_12, &unknown) &&
                dialect_upgrade(root, DIALECT_2020_12)) {
                cJSON_Delete(copy);
                cJSON_Delete(r);
                return NULL;
            }
        }
        strip_ext(copy);
        for (cJSON *root = i >= 4 ? copy->child : NULL; root; root = root->next)
            if (cJSON_IsObject(root) && !get(root, "$id"))
                cJSON_AddItemToObject(root, "$id", cJSON_CreateString(root->string));
        cJSON_AddItemToObject(r, parts[i], copy);
    }
    return r;
}
