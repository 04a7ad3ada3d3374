/* import.c - peers' tracking plans -> a Sluice plan tree (see import.h).
 *
 * Each input file is read with yamlj (JSON is YAML), so every node has a line:col for messages.
 * Rules are collected per target (events by name and version, identify, group, pages, common,
 * Iglu schemas), their schemas cleaned (below), then the plan tree is assembled in a fixed order
 * with a comment on every part saying where it came from. Nodes are moved, not copied, from the
 * input trees into the plan. */
#include "import.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dialect.h"
#include "format.h"
#include "schema.h"
#include "sl_buf.h"
#include "srcmap.h"
#include "yamlj.h"
#include "yamlw.h"

typedef struct {
    import_result *r;
    import_format fmt;
    /* the file being read */
    const char *path;
    sl_diags *d;
    srcmap *map;
    size_t dropped_ids; /* Segment's `id` strings in the current file */
    /* collected */
    cJSON *events;   /* name -> [{version, def, comment}] */
    cJSON *pages;    /* name -> def (with a comment member first) */
    cJSON *iglu;     /* iglu: key -> schema */
    cJSON *common;   /* whole-call schema, or NULL */
    cJSON *calls[2]; /* identify, group defs, or NULL */
    cJSON *comments; /* parts' comments: "common", "identify", "group" -> text */
    char *name, *description;
    cJSON *trees; /* the input trees (what was not moved out), freed at the end */
    /* rudder-cli project files, resolved together once all are read */
    struct cli_doc {
        cJSON *root;
        srcmap *map; /* owned */
        size_t file; /* index into r->files (which grows: no pointers kept) */
    } * cli;
    size_t ncli, cli_cap;
} imp;

static const char *const fmt_names[] = {"segment", "rudderstack", "iglu", "jsonschema"};

int import_format_from_name(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(fmt_names[i], name) == 0) return i;
    return -1;
}

/* ---- messages -------------------------------------------------------------------------------- */

static void at(const imp *m, const cJSON *node, int *line, int *col)
{
    *line = *col = 0;
    if (m->map && node) srcmap_get(m->map, node, line, col);
}

static void msg(imp *m, sl_severity sev, const cJSON *node, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void msg(imp *m, sl_severity sev, const cJSON *node, const char *fmt, ...)
{
    int line, col;
    at(m, node, &line, &col);
    va_list ap;
    va_start(ap, fmt);
    sl_diags_vadd(m->d, sev, line, col, fmt, ap);
    va_end(ap);
}

#define ERR(m, node, ...) (msg(m, SL_SEV_ERROR, node, __VA_ARGS__), (m)->r->nerrors++)
#define LOST(m, node, ...)                                                                         \
    (msg(m, SL_SEV_WARNING, node, "not carried over: " __VA_ARGS__), (m)->r->nlost++)
#define NOTE(m, node, ...) (msg(m, SL_SEV_WARNING, node, "note: " __VA_ARGS__), (m)->r->nnotes++)

/* "file:line:col" of a node, for the comments in the plan. */
static void where(const imp *m, const cJSON *node, char *buf, size_t cap)
{
    int line, col;
    at(m, node, &line, &col);
    if (line)
        snprintf(buf, cap, "%s:%d:%d", m->path, line, col);
    else
        snprintf(buf, cap, "%s", m->path);
}

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

static const char *get_str(const cJSON *o, const char *k)
{
    const cJSON *v = get(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- schema cleaning ---------------------------------------------------------------------------
 * The schema stays the JSON Schema it is; only what Sluice's strict compiler would refuse, and
 * what means nothing, is changed: every change is a message. */

static const char *const kw_one[] = {"additionalProperties",
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
static const char *const kw_arr[] = {"prefixItems", "allOf", "anyOf", "oneOf", NULL};
static const char *const kw_map[] = {"properties", "patternProperties", "dependentSchemas",
                                     "$defs",      "definitions",       "dependencies",
                                     NULL};

static bool in(const char *const *l, const char *s)
{
    for (; *l; l++)
        if (strcmp(*l, s) == 0) return true;
    return false;
}

static int rename_key(cJSON *k, const char *prefix)
{
    size_t n = strlen(prefix) + strlen(k->string) + 1;
    char *s = malloc(n);
    if (!s) return -1;
    snprintf(s, n, "%s%s", prefix, k->string);
    if (!(k->type & cJSON_StringIsConst)) free(k->string);
    k->type &= ~cJSON_StringIsConst;
    k->string = s;
    return 0;
}

static void clean(imp *m, cJSON *s, schema_dialect dl, int depth);

static void clean_members(imp *m, cJSON *map, schema_dialect dl, int depth, bool regex_keys)
{
    for (cJSON *e = map->child; e;) {
        cJSON *next = e->next;
        char why[200];
        if (regex_keys && schema_regex_check(e->string, why, sizeof why) != 0) {
            LOST(m, e,
                 "patternProperties regex \"%s\" (%s) is not supported; this rule is "
                 "dropped",
                 e->string, why);
            cJSON_Delete(cJSON_DetachItemViaPointer(map, e));
        } else {
            clean(m, e, dl, depth + 1);
        }
        e = next;
    }
}

static void clean(imp *m, cJSON *s, schema_dialect dl, int depth)
{
    if (!cJSON_IsObject(s)) return;
    if (depth > YAMLJ_MAX_DEPTH) return;
    const char *sch = get_str(s, "$schema");
    if (sch && dialect_from_uri(sch) > 0) dl = dialect_from_uri(sch);
    for (cJSON *k = s->child; k;) {
        cJSON *next = k->next;
        const char *key = k->string;
        char why[200];
        if (strncmp(key, "x-", 2) == 0) {
            /* extensions are kept as they are */
        } else if (strcmp(key, "id") == 0 && dl != DIALECT_DRAFT04 && cJSON_IsString(k)) {
            m->dropped_ids++; /* not a keyword after draft-04: Segment's property ids */
            cJSON_Delete(cJSON_DetachItemViaPointer(s, k));
        } else if (!schema_is_keyword(key)) {
            NOTE(m, k,
                 "\"%s\" is not a JSON Schema keyword (ignored, as the spec says); kept as "
                 "\"x-%s\"",
                 key, key);
            if (rename_key(k, "x-")) m->r->nerrors++;
        } else if (strcmp(key, "format") == 0 && cJSON_IsString(k) &&
                   format_lookup(k->valuestring) < 0) {
            LOST(m, k, "format \"%s\" is not one Sluice checks; kept as \"x-format\", not enforced",
                 k->valuestring);
            if (rename_key(k, "x-")) m->r->nerrors++;
        } else if (strcmp(key, "pattern") == 0 && cJSON_IsString(k) &&
                   schema_regex_check(k->valuestring, why, sizeof why) != 0) {
            LOST(m, k, "pattern \"%s\" (%s); kept as \"x-pattern\", not enforced", k->valuestring,
                 why);
            if (rename_key(k, "x-")) m->r->nerrors++;
        } else if (in(kw_one, key)) {
            clean(m, k, dl, depth + 1);
        } else if (strcmp(key, "items") == 0) {
            if (cJSON_IsArray(k))
                for (cJSON *e = k->child; e; e = e->next)
                    clean(m, e, dl, depth + 1);
            else
                clean(m, k, dl, depth + 1);
        } else if (in(kw_arr, key) && cJSON_IsArray(k)) {
            for (cJSON *e = k->child; e; e = e->next)
                clean(m, e, dl, depth + 1);
        } else if (in(kw_map, key) && cJSON_IsObject(k)) {
            clean_members(m, k, dl, depth, strcmp(key, "patternProperties") == 0);
        }
        k = next;
    }
}

/* Cleans a schema read in dialect `dl` (unless it names its own) and makes its dialect explicit:
 * an imported schema always carries `$schema`. */
static void import_schema(imp *m, cJSON *s, schema_dialect dl)
{
    if (!cJSON_IsObject(s)) return;
    const cJSON *sch = get(s, "$schema");
    if (cJSON_IsString(sch) && dialect_from_uri(sch->valuestring) < 0)
        LOST(m, sch, "$schema \"%s\" is no dialect Sluice knows (draft-04 to 2020-12)",
             sch->valuestring);
    if (!sch) {
        /* first member, as people write it */
        cJSON *v = cJSON_CreateString(dialect_uri(dl));
        if (v) {
            v->string = strdup("$schema");
            v->next = s->child;
            if (s->child) {
                v->prev = s->child->prev;
                s->child->prev = v;
            } else {
                v->prev = v;
            }
            s->child = v;
        }
    }
    clean(m, s, dl, 0);
}

/* ---- collecting ------------------------------------------------------------------------------ */

static cJSON *detach(cJSON *o, const char *k)
{
    return cJSON_IsObject(o) ? cJSON_DetachItemFromObjectCaseSensitive(o, k) : NULL;
}

/* A definition {comment, description?, deprecated?, schema}; `schema` is taken. */
static cJSON *make_def(const char *comment, const char *description, const char *deprecated,
                       cJSON *schema)
{
    cJSON *def = cJSON_CreateObject();
    if (!def) {
        cJSON_Delete(schema);
        return NULL;
    }
    if (comment) cJSON_AddStringToObject(def, YAMLW_COMMENT, comment);
    if (description && *description) cJSON_AddStringToObject(def, "description", description);
    if (deprecated) cJSON_AddStringToObject(def, "deprecated", deprecated);
    cJSON_AddItemToObject(def, "schema", schema);
    return def;
}

static void add_event(imp *m, const char *name, long version, cJSON *def, const cJSON *node)
{
    cJSON *list = cJSON_GetObjectItemCaseSensitive(m->events, name);
    if (!list) list = cJSON_AddArrayToObject(m->events, name);
    for (cJSON *e = list ? list->child : NULL; e; e = e->next)
        if ((long)cJSON_GetObjectItem(e, "v")->valuedouble == version) {
            ERR(m, node, "event \"%s\" version %ld is defined twice", name, version);
            cJSON_Delete(def);
            return;
        }
    cJSON *e = cJSON_CreateObject();
    if (!e || !list) {
        cJSON_Delete(def);
        cJSON_Delete(e);
        m->r->nerrors++;
        return;
    }
    cJSON_AddNumberToObject(e, "v", (double)version);
    cJSON_AddItemToObject(e, "def", def);
    cJSON_AddItemToArray(list, e);
}

/* A whole-call schema for identify (0) or group (1). */
static void add_call(imp *m, int which, cJSON *def, const cJSON *node)
{
    static const char *const names[] = {"identify", "group"};
    if (m->calls[which]) {
        ERR(m, node, "a second %s rule (Sluice plans have one)", names[which]);
        cJSON_Delete(def);
        return;
    }
    m->calls[which] = def;
}

static void add_common(imp *m, cJSON *schema, const cJSON *node)
{
    if (!m->common) {
        m->common = schema;
        return;
    }
    /* several common rules: every one applies */
    if (!get(m->common, "allOf") || cJSON_GetArraySize(m->common) != 1) {
        cJSON *all = cJSON_CreateObject();
        cJSON_AddItemToArray(cJSON_AddArrayToObject(all, "allOf"), m->common);
        m->common = all;
    }
    cJSON_AddItemToArray(cJSON_GetObjectItem(m->common, "allOf"), schema);
    (void)node;
}

/* ---- Segment --------------------------------------------------------------------------------- */

static void seg_rule(imp *m, cJSON *rule, size_t index)
{
    const char *type = get_str(rule, "type");
    const char *key = get_str(rule, "key");
    const cJSON *ver = get(rule, "version");
    long version = cJSON_IsNumber(ver) ? (long)ver->valuedouble : 1;
    const char *dep_at = get_str(rule, "deprecatedAt");
    cJSON *schema = detach(rule, "jsonSchema");
    if (!type) {
        ERR(m, rule, "rule %zu has no \"type\" (TRACK, IDENTIFY, GROUP, PAGE, SCREEN, COMMON)",
            index);
        cJSON_Delete(schema);
        return;
    }
    if (!schema || cJSON_IsNull(schema)) {
        cJSON_Delete(schema);
        schema = cJSON_CreateObject(); /* a rule without a schema: anything goes */
    }
    if (!cJSON_IsObject(schema)) {
        ERR(m, rule, "rule %zu: \"jsonSchema\" must be an object", index);
        cJSON_Delete(schema);
        return;
    }
    import_schema(m, schema, DIALECT_DRAFT07);
    char w[512], comment[700], dep[128];
    where(m, rule, w, sizeof w);
    snprintf(comment, sizeof comment, "from %s: Segment %s rule%s%s%s, version %ld", w, type,
             key ? " \"" : "", key ? key : "", key ? "\"" : "", version);
    if (dep_at) snprintf(dep, sizeof dep, "deprecated in Segment on %s", dep_at);
    const char *desc = get_str(schema, "description");
    if (!strcmp(type, "TRACK")) {
        if (!key || !*key) {
            ERR(m, rule, "TRACK rule %zu has no \"key\" (the event name)", index);
            cJSON_Delete(schema);
            return;
        }
        add_event(m, key, version, make_def(comment, desc, dep_at ? dep : NULL, schema), rule);
    } else if (!strcmp(type, "IDENTIFY") || !strcmp(type, "GROUP")) {
        add_call(m, type[0] == 'G', make_def(comment, desc, NULL, schema), rule);
    } else if (!strcmp(type, "PAGE") || !strcmp(type, "SCREEN")) {
        if (!key || !*key) {
            LOST(m, rule,
                 "%s rule %zu has no \"key\": Sluice's pages are defined per page name, so a "
                 "rule for every %s call has no place",
                 type, index, type[0] == 'P' ? "page" : "screen");
            cJSON_Delete(schema);
            return;
        }
        if (cJSON_GetObjectItemCaseSensitive(m->pages, key)) {
            LOST(m, rule, "a second page/screen rule named \"%s\" (Sluice's pages apply to both)",
                 key);
            cJSON_Delete(schema);
            return;
        }
        cJSON_AddItemToObject(m->pages, key, make_def(comment, desc, NULL, schema));
    } else if (!strcmp(type, "COMMON")) {
        cJSON_AddStringToObject(m->comments, "common", comment);
        add_common(m, schema, rule);
    } else {
        LOST(m, get(rule, "type"), "rule type \"%s\" is not one Segment documents", type);
        cJSON_Delete(schema);
    }
}

/* The legacy Config API: {"rules": {"global": S, "events": [{name, version, rules}], "identify":
 * S, "group": S}} (draft-04 unless a schema says otherwise). */
static void seg_legacy(imp *m, cJSON *rules)
{
    char w[512], comment[700];
    cJSON *global = detach(rules, "global");
    if (cJSON_IsObject(global)) {
        import_schema(m, global, DIALECT_DRAFT04);
        where(m, global, w, sizeof w);
        snprintf(comment, sizeof comment, "from %s: Segment Config API global rules", w);
        cJSON_AddStringToObject(m->comments, "common", comment);
        add_common(m, global, global);
    } else {
        cJSON_Delete(global);
    }
    static const char *const calls[] = {"identify", "group"};
    for (int i = 0; i < 2; i++) {
        cJSON *s = detach(rules, calls[i]);
        if (!cJSON_IsObject(s)) {
            cJSON_Delete(s);
            continue;
        }
        import_schema(m, s, DIALECT_DRAFT04);
        where(m, s, w, sizeof w);
        snprintf(comment, sizeof comment, "from %s: Segment Config API %s rules", w, calls[i]);
        add_call(m, i, make_def(comment, NULL, NULL, s), s);
    }
    cJSON *events = cJSON_GetObjectItemCaseSensitive(rules, "events");
    size_t i = 0;
    for (cJSON *e = cJSON_IsArray(events) ? events->child : NULL; e; e = e->next, i++) {
        const char *name = get_str(e, "name");
        const cJSON *ver = get(e, "version");
        long version = cJSON_IsNumber(ver) ? (long)ver->valuedouble : 1;
        cJSON *s = detach(e, "rules");
        if (!name || !*name || !cJSON_IsObject(s)) {
            ERR(m, e, "events[%zu] needs \"name\" and \"rules\" (a JSON Schema)", i);
            cJSON_Delete(s);
            continue;
        }
        import_schema(m, s, DIALECT_DRAFT04);
        where(m, e, w, sizeof w);
        snprintf(comment, sizeof comment, "from %s: Segment Config API event \"%s\", version %ld",
                 w, name, version);
        const char *desc = get_str(e, "description");
        if (!desc) desc = get_str(s, "description");
        add_event(m, name, version, make_def(comment, desc, NULL, s), e);
    }
}

static void seg_file(imp *m, cJSON *root)
{
    cJSON *rules = root;
    if (cJSON_IsObject(root)) {
        if (!m->name && get_str(root, "display_name"))
            m->name = strdup(get_str(root, "display_name"));
        if (!m->description && get_str(root, "description"))
            m->description = strdup(get_str(root, "description"));
        const cJSON *data = get(root, "data");
        if (cJSON_IsObject(data)) {
            rules = cJSON_GetObjectItemCaseSensitive(data, "rules");
            const cJSON *tp = get(data, "trackingPlan");
            if (!m->name && get_str(tp, "name")) m->name = strdup(get_str(tp, "name"));
        } else {
            rules = cJSON_GetObjectItemCaseSensitive(root, "rules");
        }
    }
    if (cJSON_IsObject(rules)) {
        seg_legacy(m, rules);
        return;
    }
    if (!cJSON_IsArray(rules)) {
        ERR(m, root,
            "not a Segment tracking plan: expected a list of rules, {\"rules\": [..]}, "
            "{\"data\": {\"rules\": [..]}} or the Config API's {\"rules\": {\"events\": ..}}");
        return;
    }
    size_t i = 0;
    for (cJSON *r = rules->child; r; r = r->next, i++)
        seg_rule(m, r, i);
}

/* ---- RudderStack ----------------------------------------------------------------------------- */

static void rudder_file(imp *m, cJSON *root)
{
    const char *ver = get_str(root, "version");
    if (ver && !strncmp(ver, "rudder/", 7) && get_str(root, "kind")) {
        /* a rudder-cli project file: refers to the others, so all are read first */
        if (sl_grow(&m->cli, &m->cli_cap, m->ncli + 1, sizeof *m->cli)) {
            m->r->nerrors++;
            return;
        }
        m->cli[m->ncli++] = (struct cli_doc){root, m->map, (size_t)(m->d - m->r->files)};
        m->map = NULL;
        return;
    }
    if (!m->name && get_str(root, "name")) m->name = strdup(get_str(root, "name"));
    if (!m->description && get_str(root, "description"))
        m->description = strdup(get_str(root, "description"));
    cJSON *events = cJSON_GetObjectItemCaseSensitive(root, "events");
    if (!events) events = cJSON_GetObjectItemCaseSensitive((cJSON *)get(root, "rules"), "events");
    if (!cJSON_IsArray(events)) {
        ERR(m, root,
            "not a RudderStack tracking plan: expected {\"events\": [..]} (Data Catalog) or "
            "{\"rules\": {\"events\": [..]}} (Tracking Plan API)");
        return;
    }
    size_t i = 0;
    for (cJSON *e = events->child; e; e = e->next, i++) {
        const char *name = get_str(e, "name");
        const char *type = get_str(e, "eventType");
        if (!type) type = "track";
        cJSON *s = detach(e, "rules");
        if (!s) s = detach(e, "schema");
        if (!s || cJSON_IsNull(s)) {
            cJSON_Delete(s);
            s = cJSON_CreateObject();
        }
        if (!cJSON_IsObject(s)) {
            ERR(m, e, "events[%zu]: \"rules\" must be a JSON Schema object", i);
            cJSON_Delete(s);
            continue;
        }
        import_schema(m, s, DIALECT_DRAFT07);
        char w[512], comment[700];
        where(m, e, w, sizeof w);
        snprintf(comment, sizeof comment, "from %s: RudderStack %s event%s%s%s", w, type,
                 name && *name ? " \"" : "", name ? name : "", name && *name ? "\"" : "");
        const char *desc = get_str(e, "description");
        if (!strcmp(type, "track")) {
            if (!name || !*name) {
                ERR(m, e, "track event %zu has no \"name\"", i);
                cJSON_Delete(s);
                continue;
            }
            add_event(m, name, 1, make_def(comment, desc, NULL, s), e);
        } else if (!strcmp(type, "identify") || !strcmp(type, "group")) {
            add_call(m, type[0] == 'g', make_def(comment, desc, NULL, s), e);
        } else if (!strcmp(type, "page") || !strcmp(type, "screen")) {
            if (!name || !*name || cJSON_GetObjectItemCaseSensitive(m->pages, name)) {
                LOST(m, e,
                     "%s rule %zu: Sluice's pages are defined once per page name (this one has "
                     "%s)",
                     type, i, name && *name ? "a name already used" : "no name");
                cJSON_Delete(s);
                continue;
            }
            cJSON_AddItemToObject(m->pages, name, make_def(comment, desc, NULL, s));
        } else {
            LOST(m, get(e, "eventType"), "eventType \"%s\" has no rules in Sluice plans", type);
            cJSON_Delete(s);
        }
    }
}

/* ---- RudderStack CLI project (YAML) ---------------------------------------------------------
 * kinds events, properties, custom-types (and categories, ignored) and the tracking plans
 * (kind tp in rudder/0.1, tracking-plan in rudder/v1), with both reference forms:
 * {$ref: "#/properties/GROUP/ID"} and "#property:ID". Each event rule becomes the whole-call
 * schema RudderStack validates with (a JSON Schema of the call: properties or traits), written in
 * 2020-12 so that variants (a discriminator's cases) become if/then and closed objects with
 * variants use unevaluatedProperties. */

typedef struct {
    const char *kind; /* "events", "properties", "custom-types" */
    const char *group, *id;
    cJSON *node;
    size_t doc;
} cli_item;

typedef struct {
    imp *m;
    cli_item *v;
    size_t n, cap;
} cli_cat;

static void cli_use(imp *m, size_t doc)
{
    m->map = m->cli[doc].map;
    m->d = &m->r->files[m->cli[doc].file];
    m->path = m->d->file ? m->d->file : "";
}

/* The item a reference names: "#/KIND/GROUP/ID" or "#KIND1:ID" (kind1 = event, property,
 * custom-type), as a string or {$ref: ...}. */
static const cli_item *cli_find(const cli_cat *c, const cJSON *ref, const char *want)
{
    const char *r = cJSON_IsString(ref) ? ref->valuestring : get_str(ref, "$ref");
    if (!r || r[0] != '#') return NULL;
    char kind[32] = "", group[128] = "", id[128] = "";
    if (r[1] == '/') {
        if (sscanf(r, "#/%31[^/]/%127[^/]/%127s", kind, group, id) != 3) return NULL;
    } else {
        if (sscanf(r, "#%31[^:]:%127s", kind, id) != 2) return NULL;
        if (!strcmp(kind, "property")) {
            snprintf(kind, sizeof kind, "properties");
        } else { /* event -> events, custom-type -> custom-types */
            size_t k = strlen(kind);
            if (k + 1 < sizeof kind) kind[k] = 's', kind[k + 1] = 0;
        }
    }
    if (strcmp(kind, want)) return NULL;
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->v[i].kind, kind) && !strcmp(c->v[i].id, id) &&
            (!group[0] || !strcmp(c->v[i].group, group)))
            return &c->v[i];
    return NULL;
}

/* rudder-cli's config keys (camelCase in 0.1, snake_case in v1) -> JSON Schema keywords. */
static const char *cli_keyword(const char *k)
{
    static const char *const map[][2] = {{"min_length", "minLength"},
                                         {"max_length", "maxLength"},
                                         {"min_items", "minItems"},
                                         {"max_items", "maxItems"},
                                         {"unique_items", "uniqueItems"},
                                         {"multiple_of", "multipleOf"},
                                         {"exclusive_minimum", "exclusiveMinimum"},
                                         {"exclusive_maximum", "exclusiveMaximum"},
                                         {"min_properties", "minProperties"},
                                         {"max_properties", "maxProperties"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(k, map[i][0])) return map[i][1];
    return k;
}

static cJSON *cli_type_schema(cli_cat *c, const cli_item *it, int depth);
static cJSON *cli_props(cli_cat *c, const cJSON *entries, const cJSON *variants, int additional,
                        bool part, int depth);

/* The items of an array property: a type list or a custom type. */
static cJSON *cli_items(cli_cat *c, const cJSON *it, int depth)
{
    if (cJSON_IsString(it) && it->valuestring[0] == '#') {
        const cli_item *ct = cli_find(c, it, "custom-types");
        if (!ct) {
            ERR(c->m, it, "item type %s: no such custom type in the project", it->valuestring);
            return cJSON_CreateObject();
        }
        return cli_type_schema(c, ct, depth + 1);
    }
    cJSON *s = cJSON_CreateObject();
    if (cJSON_IsString(it)) cJSON_AddStringToObject(s, "type", it->valuestring);
    if (cJSON_IsArray(it)) cJSON_AddItemToObject(s, "type", cJSON_Duplicate(it, true));
    return s;
}

/* `type: X`, `type: "a,b"`, `types: [..]` and the config of a property or custom type into s. */
static void cli_typed(cli_cat *c, cJSON *s, const cJSON *def, int depth)
{
    const cJSON *t = get(def, "type");
    const cJSON *ts = get(def, "types");
    if (cJSON_IsString(t) && t->valuestring[0] == '#') {
        const cli_item *ct = cli_find(c, t, "custom-types");
        if (!ct) {
            ERR(c->m, t, "type %s: no such custom type in the project", t->valuestring);
            return;
        }
        cJSON *x = cli_type_schema(c, ct, depth + 1);
        cJSON_AddItemToArray(cJSON_AddArrayToObject(s, "allOf"), x);
    } else if (cJSON_IsString(t) && strchr(t->valuestring, ',')) {
        cJSON *arr = cJSON_AddArrayToObject(s, "type");
        for (const char *p = t->valuestring; *p;) {
            while (*p == ' ' || *p == ',')
                p++;
            const char *e = p;
            while (*e && *e != ',' && *e != ' ')
                e++;
            if (e > p) {
                char buf[32];
                snprintf(buf, sizeof buf, "%.*s", (int)(e - p), p);
                cJSON_AddItemToArray(arr, cJSON_CreateString(buf));
            }
            p = e;
        }
    } else if (cJSON_IsString(t) && t->valuestring[0]) {
        cJSON_AddStringToObject(s, "type", t->valuestring);
    } else if (cJSON_IsArray(ts)) {
        cJSON_AddItemToObject(s, "type", cJSON_Duplicate(ts, true));
    }
    const cJSON *cfg = get(def, "config");
    if (!cfg) cfg = get(def, "propConfig");
    for (const cJSON *k = cfg ? cfg->child : NULL; k; k = k->next) {
        if (!strcmp(k->string, "itemTypes") || !strcmp(k->string, "item_types") ||
            !strcmp(k->string, "item_type")) {
            cJSON_AddItemToObject(s, "items", cli_items(c, k, depth));
            continue;
        }
        const char *kw = cli_keyword(k->string);
        if (!schema_is_keyword(kw)) {
            LOST(c->m, k, "config key \"%s\" is no JSON Schema keyword", k->string);
            continue;
        }
        if (get(s, kw)) cJSON_DeleteItemFromObjectCaseSensitive(s, kw);
        cJSON_AddItemToObject(s, kw, cJSON_Duplicate(k, true));
    }
    const cJSON *item = get(def, "item_type");
    if (item && !get(s, "items")) cJSON_AddItemToObject(s, "items", cli_items(c, item, depth));
}

/* A custom type as a schema: its type and config, its properties, its variants. */
static cJSON *cli_type_schema(cli_cat *c, const cli_item *it, int depth)
{
    if (depth > 32) {
        ERR(c->m, it->node, "custom type %s refers to itself", it->id);
        return cJSON_CreateObject();
    }
    cJSON *s = cJSON_CreateObject();
    cli_typed(c, s, it->node, depth);
    const cJSON *props = get(it->node, "properties");
    if (cJSON_IsArray(props)) {
        cJSON *o = cli_props(c, props, get(it->node, "variants"), -1, true, depth + 1);
        cJSON *allof = cJSON_GetObjectItemCaseSensitive(s, "allOf");
        if (!allof) allof = cJSON_AddArrayToObject(s, "allOf");
        cJSON_AddItemToArray(allof, o);
    }
    return s;
}

/* One property entry of a rule or custom type: {$ref|property: REF, required, properties}. */
static const cli_item *cli_entry(cli_cat *c, const cJSON *e, cJSON *props, cJSON *req, int depth)
{
    const cJSON *ref = get(e, "property");
    if (!ref) ref = e;
    const cli_item *pi = cli_find(c, ref, "properties");
    if (!pi) {
        ERR(c->m, e, "property reference %s: no such property in the project",
            get_str(e, "property") ? get_str(e, "property")
            : get_str(e, "$ref")   ? get_str(e, "$ref")
                                   : "(none)");
        return NULL;
    }
    const char *name = get_str(pi->node, "name");
    if (!name) name = pi->id;
    cJSON *ps = cJSON_CreateObject();
    const char *desc = get_str(pi->node, "description");
    if (desc) cJSON_AddStringToObject(ps, "description", desc);
    cli_typed(c, ps, pi->node, depth);
    const cJSON *nested = get(e, "properties");
    if (cJSON_IsArray(nested)) {
        const cJSON *ap = get(e, "additional_properties");
        cJSON *o =
            cli_props(c, nested, NULL, cJSON_IsBool(ap) ? cJSON_IsTrue(ap) : -1, true, depth + 1);
        cJSON *allof = cJSON_GetObjectItemCaseSensitive(ps, "allOf");
        if (!allof) allof = cJSON_AddArrayToObject(ps, "allOf");
        cJSON_AddItemToArray(allof, o);
    }
    if (get(props, name)) {
        ERR(c->m, e, "property \"%s\" is listed twice", name);
        cJSON_Delete(ps);
        return pi;
    }
    cJSON_AddItemToObject(props, name, ps);
    if (cJSON_IsTrue(get(e, "required")) && req)
        cJSON_AddItemToArray(req, cJSON_CreateString(name));
    return pi;
}

static const char *cli_name(const cli_item *it)
{
    const char *n = get_str(it->node, "name");
    return n ? n : it->id;
}

/* {properties, required} of entries; with part=false also the object type and, when
 * additional == 0, the closing (unevaluatedProperties, so variants' properties count). Variants:
 * allOf of if/then per case and if/else for the default. */
static cJSON *cli_props(cli_cat *c, const cJSON *entries, const cJSON *variants, int additional,
                        bool part, int depth)
{
    cJSON *o = cJSON_CreateObject();
    if (!part) cJSON_AddStringToObject(o, "type", "object");
    cJSON *props = cJSON_AddObjectToObject(o, "properties");
    cJSON *req = cJSON_AddArrayToObject(o, "required");
    for (const cJSON *e = entries ? entries->child : NULL; e; e = e->next)
        cli_entry(c, e, props, req, depth);
    for (const cJSON *v = cJSON_IsArray(variants) ? variants->child : NULL; v; v = v->next) {
        const cli_item *d = cli_find(c, get(v, "discriminator"), "properties");
        if (!d) {
            ERR(c->m, v, "variant: its discriminator names no property of the project");
            continue;
        }
        const char *dn = cli_name(d);
        cJSON *allof = cJSON_GetObjectItemCaseSensitive(o, "allOf");
        if (!allof) allof = cJSON_AddArrayToObject(o, "allOf");
        cJSON *all_match = cJSON_CreateArray();
        const cJSON *cases = get(v, "cases");
        for (const cJSON *k = cJSON_IsArray(cases) ? cases->child : NULL; k; k = k->next) {
            const cJSON *match = get(k, "match");
            cJSON *rule = cJSON_CreateObject();
            cJSON *iff = cJSON_AddObjectToObject(rule, "if");
            cJSON *dp = cJSON_AddObjectToObject(cJSON_AddObjectToObject(iff, "properties"), dn);
            cJSON_AddItemToObject(dp, "enum",
                                  cJSON_IsArray(match) ? cJSON_Duplicate(match, true)
                                                       : cJSON_CreateArray());
            cJSON_AddItemToArray(cJSON_AddArrayToObject(iff, "required"), cJSON_CreateString(dn));
            for (const cJSON *x = cJSON_IsArray(match) ? match->child : NULL; x; x = x->next)
                cJSON_AddItemToArray(all_match, cJSON_Duplicate(x, true));
            cJSON_AddItemToObject(rule, "then",
                                  cli_props(c, get(k, "properties"), NULL, -1, true, depth + 1));
            cJSON_AddItemToArray(allof, rule);
        }
        const cJSON *def = get(v, "default");
        const cJSON *dprops = cJSON_IsArray(def) ? def : get(def, "properties");
        if (dprops) {
            cJSON *rule = cJSON_CreateObject();
            cJSON *iff = cJSON_AddObjectToObject(rule, "if");
            cJSON_AddItemToObject(
                cJSON_AddObjectToObject(cJSON_AddObjectToObject(iff, "properties"), dn), "enum",
                all_match);
            cJSON_AddItemToArray(cJSON_AddArrayToObject(iff, "required"), cJSON_CreateString(dn));
            cJSON_AddItemToObject(rule, "else", cli_props(c, dprops, NULL, -1, true, depth + 1));
            cJSON_AddItemToArray(allof, rule);
        } else {
            cJSON_Delete(all_match);
        }
    }
    if (!part && additional == 0) cJSON_AddFalseToObject(o, "unevaluatedProperties");
    if (cJSON_GetArraySize(req) == 0) cJSON_DeleteItemFromObjectCaseSensitive(o, "required");
    return o;
}

/* One event rule of a tracking plan -> the plan's event, page or call. */
static void cli_rule(cli_cat *c, const cJSON *rule, const char *plan_name)
{
    imp *m = c->m;
    const cJSON *evref = get(rule, "event");
    const cli_item *ev = cli_find(c, evref, "events");
    if (!ev) {
        ERR(m, rule, "rule %s: its event names no event of the project",
            get_str(rule, "id") ? get_str(rule, "id") : "(no id)");
        return;
    }
    const char *type = get_str(ev->node, "event_type");
    if (!type) type = get_str(ev->node, "eventType");
    if (!type) type = "track";
    const cJSON *ap = get(rule, "additional_properties");
    if (!ap) ap = get(rule, "allow_unplanned");
    if (!ap && cJSON_IsObject(evref)) ap = get(evref, "allow_unplanned");
    int additional = cJSON_IsBool(ap) ? cJSON_IsTrue(ap) : 1;
    bool traits = !strcmp(type, "identify") || !strcmp(type, "group");
    cJSON *po = cli_props(c, get(rule, "properties"), get(rule, "variants"), additional, false, 0);
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "$schema", dialect_uri(DIALECT_2020_12));
    cJSON_AddStringToObject(s, "type", "object");
    bool must = get(po, "required") != NULL;
    cJSON_AddItemToObject(cJSON_AddObjectToObject(s, "properties"),
                          traits ? "traits" : "properties", po);
    if (must)
        cJSON_AddItemToArray(cJSON_AddArrayToObject(s, "required"),
                             cJSON_CreateString(traits ? "traits" : "properties"));
    import_schema(m, s, DIALECT_2020_12);
    const char *name = cli_name(ev);
    char w[512], comment[800];
    where(m, rule, w, sizeof w);
    snprintf(comment, sizeof comment, "from %s: rudder-cli tracking plan %s, rule %s (%s event %s)",
             w, plan_name, get_str(rule, "id") ? get_str(rule, "id") : "?", type, name);
    const char *desc = get_str(ev->node, "description");
    if (!strcmp(type, "track"))
        add_event(m, name, 1, make_def(comment, desc, NULL, s), rule);
    else if (traits)
        add_call(m, type[0] == 'g', make_def(comment, desc, NULL, s), rule);
    else if ((!strcmp(type, "page") || !strcmp(type, "screen")) &&
             !cJSON_GetObjectItemCaseSensitive(m->pages, name))
        cJSON_AddItemToObject(m->pages, name, make_def(comment, desc, NULL, s));
    else {
        LOST(m, rule, "%s rule for \"%s\" has no place in a Sluice plan", type, name);
        cJSON_Delete(s);
    }
}

/* Resolves the project: catalog first, then every tracking plan's rules. */
static void cli_project(imp *m)
{
    cli_cat c = {.m = m};
    static const char *const kinds[][2] = {
        {"events", "events"}, {"properties", "properties"}, {"custom-types", "types"}};
    for (size_t d = 0; d < m->ncli; d++) {
        cli_use(m, d);
        const char *kind = get_str(m->cli[d].root, "kind");
        const char *group = get_str(get(m->cli[d].root, "metadata"), "name");
        for (int k = 0; k < 3; k++) {
            if (strcmp(kind, kinds[k][0])) continue;
            const cJSON *list = get(get(m->cli[d].root, "spec"), kinds[k][1]);
            if (!cJSON_IsArray(list)) {
                ERR(m, m->cli[d].root, "kind %s: expected spec.%s: [..]", kind, kinds[k][1]);
                continue;
            }
            for (cJSON *it = list->child; it; it = it->next) {
                const char *id = get_str(it, "id");
                if (!id) {
                    ERR(m, it, "a %s entry without an id", kind);
                    continue;
                }
                if (sl_grow(&c.v, &c.cap, c.n + 1, sizeof *c.v)) {
                    m->r->nerrors++;
                    goto out;
                }
                c.v[c.n++] = (cli_item){kinds[k][0], group ? group : "", id, it, d};
            }
        }
    }
    size_t nplans = 0;
    for (size_t d = 0; d < m->ncli; d++) {
        const char *kind = get_str(m->cli[d].root, "kind");
        if (strcmp(kind, "tp") && strcmp(kind, "tracking-plan")) continue;
        cli_use(m, d);
        nplans++;
        const cJSON *spec = get(m->cli[d].root, "spec");
        const char *pname = get_str(spec, "display_name");
        if (!pname) pname = get_str(spec, "id");
        if (!pname) pname = "?";
        if (!m->name) m->name = strdup(get_str(spec, "id") ? get_str(spec, "id") : pname);
        if (!m->description && get_str(spec, "description"))
            m->description = strdup(get_str(spec, "description"));
        const cJSON *rules = get(spec, "rules");
        for (const cJSON *r = cJSON_IsArray(rules) ? rules->child : NULL; r; r = r->next) {
            const char *rt = get_str(r, "type");
            if (rt && strcmp(rt, "event_rule")) {
                LOST(m, r, "rule type \"%s\" (only event_rule is read)", rt);
                continue;
            }
            cli_rule(&c, r, pname);
        }
    }
    if (!nplans && m->ncli) {
        cli_use(m, 0);
        ERR(m, m->cli[0].root,
            "a rudder-cli project without a tracking plan (kind tp or "
            "tracking-plan)");
    }
out:
    free(c.v);
    m->map = NULL;
}

/* ---- Iglu ------------------------------------------------------------------------------------ */

/* Moves every member of `from` to the end of `to`. */
static void move_members(cJSON *to, cJSON *from)
{
    while (from->child) {
        cJSON *k = cJSON_DetachItemViaPointer(from, from->child);
        char *ks = k->string;
        bool owned = !(k->type & cJSON_StringIsConst);
        k->string = NULL;
        cJSON_AddItemToObject(to, ks, k);
        if (owned) free(ks);
    }
}

static void iglu_file(imp *m, cJSON *root)
{
    const cJSON *self = get(root, "self");
    const char *v = get_str(self, "vendor"), *n = get_str(self, "name"),
               *f = get_str(self, "format"), *ver = get_str(self, "version");
    if (!v || !n || !f || !ver) {
        ERR(m, self ? self : root,
            "not a self-describing schema: \"self\" needs vendor, name, format and version");
        return;
    }
    /* In Iglu layout the path says the same: .../vendor/name/format/version */
    char tail[1024];
    snprintf(tail, sizeof tail, "/%s/%s/%s/%s", v, n, f, ver);
    size_t pl = strlen(m->path), tl = strlen(tail);
    if (strstr(m->path, "schemas/") && (pl < tl || strcmp(m->path + pl - tl, tail) != 0))
        ERR(m, self, "self says %s but the file is %s (Iglu resolves schemas by path)", tail + 1,
            m->path);
    char key[1100];
    snprintf(key, sizeof key, "iglu:%s/%s/%s/%s", v, n, f, ver);
    if (cJSON_GetObjectItemCaseSensitive(m->iglu, key)) {
        ERR(m, self, "%s is defined twice", key);
        return;
    }
    char w[512], comment[700];
    where(m, root, w, sizeof w);
    snprintf(comment, sizeof comment, "from %s", w);
    cJSON *def = cJSON_CreateObject();
    if (!def) return;
    cJSON_AddStringToObject(def, YAMLW_COMMENT, comment);
    cJSON *self_node = cJSON_DetachItemFromObjectCaseSensitive(root, "self");
    import_schema(m, root, DIALECT_DRAFT04);
    /* $schema first, then self (the plan checks it against the key), then the rest */
    cJSON *sch = cJSON_DetachItemFromObjectCaseSensitive(root, "$schema");
    if (sch) cJSON_AddItemToObject(def, "$schema", sch);
    cJSON_AddItemToObject(def, "self", self_node);
    move_members(def, root);
    cJSON_AddItemToObject(m->iglu, key, def);
}

/* ---- plain JSON Schemas ---------------------------------------------------------------------- */

static void jsonschema_file(imp *m, cJSON *root)
{
    if (!cJSON_IsObject(root)) {
        ERR(m, root, "not a JSON Schema (an object)");
        return;
    }
    char name[512];
    const char *title = get_str(root, "title");
    if (title && *title) {
        snprintf(name, sizeof name, "%s", title);
    } else {
        const char *b = strrchr(m->path, '/');
        snprintf(name, sizeof name, "%s", b ? b + 1 : m->path);
        char *dot = strrchr(name, '.');
        if (dot && dot != name) *dot = '\0';
    }
    import_schema(m, root, DIALECT_DRAFT07);
    schema_dialect dl = dialect_from_uri(get_str(root, "$schema"));
    /* The file describes the properties: it becomes properties' schema, a resource of its own
     * (its `$id`) so its `#/...` references keep pointing into it. */
    if (!get(root, "$id") && !get(root, "id")) {
        char id[700];
        const char *b = strrchr(m->path, '/');
        snprintf(id, sizeof id, "sluice:import/%s", b ? b + 1 : m->path);
        cJSON_AddStringToObject(root, dl == DIALECT_DRAFT04 ? "id" : "$id", id);
    }
    const char *desc = get_str(root, "description");
    char w[512], comment[700];
    where(m, root, w, sizeof w);
    snprintf(comment, sizeof comment, "from %s: the schema of the event's properties", w);
    cJSON *whole = cJSON_CreateObject();
    cJSON_AddStringToObject(whole, "$schema", dialect_uri(dl > 0 ? dl : DIALECT_DRAFT07));
    cJSON *props = cJSON_AddObjectToObject(whole, "properties");
    char *d = desc ? strdup(desc) : NULL;
    cJSON *moved = cJSON_CreateObject(); /* root's members, under properties.properties */
    move_members(moved, root);
    cJSON_AddItemToObject(props, "properties", moved);
    add_event(m, name, 1, make_def(comment, d, NULL, whole), root);
    free(d);
}

/* ---- files ----------------------------------------------------------------------------------- */

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the files under `dir` (recursively, sorted) that `want` accepts. */
static int walk(const char *dir, bool (*want)(const char *name), char ***list, size_t *n,
                size_t *cap, int depth)
{
    if (depth > 16) return 0;
    DIR *d = opendir(dir);
    if (!d) return -1;
    char **names = NULL;
    size_t nn = 0, nc = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        if (sl_grow(&names, &nc, nn + 1, sizeof *names)) break;
        names[nn++] = strdup(e->d_name);
    }
    closedir(d);
    if (nn) qsort(names, nn, sizeof *names, name_cmp);
    for (size_t i = 0; i < nn; i++) {
        size_t l = strlen(dir) + strlen(names[i]) + 2;
        char *p = malloc(l);
        if (p) snprintf(p, l, "%s/%s", dir, names[i]);
        struct stat st;
        if (p && stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            walk(p, want, list, n, cap, depth + 1);
            free(p);
        } else if (p && want(names[i]) && sl_grow(list, cap, *n + 1, sizeof **list) == 0) {
            (*list)[(*n)++] = p;
        } else {
            free(p);
        }
        free(names[i]);
    }
    free(names);
    return 0;
}

static bool want_json(const char *name)
{
    size_t l = strlen(name);
    return l > 5 && strcmp(name + l - 5, ".json") == 0;
}

/* Iglu layout: the version is the file name, M-R-A, no extension. */
/* rudder-cli projects: YAML files (and JSON exports beside them). */
static bool want_yaml(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && !strcmp(name + n - 5, ".yaml")) || (n > 4 && !strcmp(name + n - 4, ".yml")) ||
           want_json(name);
}

static bool want_iglu(const char *name)
{
    int a, b, c;
    char end;
    return sscanf(name, "%d-%d-%d%c", &a, &b, &c, &end) == 3;
}

static sl_diags *new_file(import_result *r, const char *path)
{
    sl_diags *nd = realloc(r->files, (r->nfiles + 1) * sizeof *nd);
    if (!nd) return NULL;
    r->files = nd;
    sl_diags_init(&r->files[r->nfiles], path);
    return &r->files[r->nfiles++];
}

static void read_one(imp *m, const char *path)
{
    m->d = new_file(m->r, path);
    if (!m->d) {
        m->r->nerrors++;
        return;
    }
    m->path = m->d->file ? m->d->file : path;
    m->map = srcmap_new();
    m->dropped_ids = 0;
    cJSON *root = NULL;
    int rc = yamlj_load_file(path, m->map, &root, m->d);
    if (rc) {
        m->r->nerrors++;
        srcmap_free(m->map);
        m->map = NULL;
        return;
    }
    switch (m->fmt) {
    case IMPORT_SEGMENT:
        seg_file(m, root);
        break;
    case IMPORT_RUDDERSTACK:
        rudder_file(m, root);
        break;
    case IMPORT_IGLU:
        iglu_file(m, root);
        break;
    case IMPORT_JSONSCHEMA:
        jsonschema_file(m, root);
        break;
    }
    if (m->dropped_ids)
        NOTE(m, NULL,
             "%zu \"id\" annotations dropped (not a keyword after draft-04; Segment and JSON "
             "Schema generators add them, they change no verdict)",
             m->dropped_ids);
    cJSON_AddItemToArray(m->trees, root);
    srcmap_free(m->map);
    m->map = NULL;
}

/* ---- assembling ------------------------------------------------------------------------------ */

static cJSON *build_events(imp *m)
{
    cJSON *out = cJSON_CreateObject();
    for (cJSON *ev = m->events->child; ev && out; ev = ev->next) {
        size_t nver = (size_t)cJSON_GetArraySize(ev);
        cJSON *first = cJSON_GetObjectItem(ev->child, "def");
        long v1 = (long)cJSON_GetObjectItem(ev->child, "v")->valuedouble;
        if (nver == 1 && v1 == 1) {
            cJSON_AddItemToObject(out, ev->string, cJSON_DetachItemViaPointer(ev->child, first));
            continue;
        }
        /* several versions: chosen by context.protocols.event_version, default 1 */
        cJSON *def = cJSON_CreateObject();
        cJSON *vers = cJSON_CreateObject();
        bool has1 = false;
        long lowest = v1;
        const char *desc = NULL;
        for (cJSON *e = ev->child; e; e = e->next) {
            long v = (long)cJSON_GetObjectItem(e, "v")->valuedouble;
            has1 |= v == 1;
            if (v < lowest) lowest = v;
            cJSON *d = cJSON_DetachItemFromObject(e, "def");
            const char *dd = get_str(d, "description");
            if (dd && !desc) desc = dd;
            char k[24];
            snprintf(k, sizeof k, "%ld", v);
            cJSON_AddItemToObject(vers, k, d);
        }
        if (desc) cJSON_AddStringToObject(def, "description", desc);
        if (!has1) cJSON_AddNumberToObject(def, "default_version", (double)lowest);
        cJSON_AddItemToObject(def, "versions", vers);
        cJSON_AddItemToObject(out, ev->string, def);
    }
    return out;
}

/* Hoists a definition's comment out of it into the parent mapping, before its key. */
static void hoist_comments(cJSON *map)
{
    for (cJSON *e = map ? map->child : NULL; e; e = e->next) {
        cJSON *c = cJSON_GetObjectItemCaseSensitive(e, YAMLW_COMMENT);
        if (!c || !e->string || strcmp(e->string, YAMLW_COMMENT) == 0) continue;
        cJSON_DetachItemViaPointer(e, c);
        /* insert before e */
        c->prev = e->prev;
        c->next = e;
        if (map->child == e) {
            map->child = c;
        } else {
            e->prev->next = c;
        }
        e->prev = c;
    }
    /* versions: the comment stays inside each version (it has several) */
}

static void add_commented(cJSON *plan, const char *key, cJSON *v, const char *comment)
{
    if (!v) return;
    if (comment) cJSON_AddStringToObject(plan, YAMLW_COMMENT, comment);
    cJSON_AddItemToObject(plan, key, v);
}

static cJSON *assemble(imp *m)
{
    cJSON *p = cJSON_CreateObject();
    if (!p) return NULL;
    char head[512];
    snprintf(head, sizeof head,
             "Imported by `sluice import %s` from %zu file%s. Each part says where it came from.\n"
             "Schemas are kept as the JSON Schema they are (their own $schema dialect), as\n"
             "whole-call `schema:` rules; see docs/MIGRATING.md.",
             fmt_names[m->fmt], m->r->nfiles, m->r->nfiles == 1 ? "" : "s");
    cJSON_AddStringToObject(p, YAMLW_COMMENT, head);
    cJSON_AddNumberToObject(p, "sluice", 1);
    cJSON_AddStringToObject(p, "plan", m->name ? m->name : "imported");
    if (m->description) cJSON_AddStringToObject(p, "description", m->description);
    cJSON *pol = cJSON_CreateObject();
    cJSON_AddStringToObject(pol, "unplanned_events", m->fmt == IMPORT_IGLU ? "allow" : "reject");
    add_commented(p, "policy", pol,
                  m->fmt == IMPORT_IGLU
                      ? "Iglu schemas check self-describing JSON; no track events are planned"
                      : "events the source did not plan are Unplanned-Event violations");
    const cJSON *cc = get(m->comments, "common");
    add_commented(p, "common", m->common, cc ? cc->valuestring : NULL);
    m->common = NULL;
    static const char *const calls[] = {"identify", "group"};
    for (int i = 0; i < 2; i++) {
        cJSON *def = m->calls[i];
        if (!def) continue;
        cJSON *c = cJSON_DetachItemFromObjectCaseSensitive(def, YAMLW_COMMENT);
        add_commented(p, calls[i], def, c ? c->valuestring : NULL);
        if (c) {
            /* the comment string was copied by AddStringToObject */
            cJSON_Delete(c);
        }
        m->calls[i] = NULL;
    }
    if (m->events->child) {
        cJSON *ev = build_events(m);
        hoist_comments(ev);
        cJSON_AddItemToObject(p, "events", ev);
    }
    if (m->pages->child) {
        cJSON *pg = m->pages;
        m->pages = cJSON_CreateObject();
        hoist_comments(pg);
        cJSON_AddItemToObject(p, "pages", pg);
    }
    if (m->iglu->child) {
        cJSON *ig = m->iglu;
        m->iglu = cJSON_CreateObject();
        hoist_comments(ig);
        cJSON_AddItemToObject(p, "iglu", ig);
    }
    return p;
}

int import_run(import_format f, const char *const *paths, size_t npaths, const char *name,
               import_result *r)
{
    memset(r, 0, sizeof *r);
    imp m = {.r = r, .fmt = f};
    m.events = cJSON_CreateObject();
    m.pages = cJSON_CreateObject();
    m.iglu = cJSON_CreateObject();
    m.comments = cJSON_CreateObject();
    m.trees = cJSON_CreateArray();
    if (name) m.name = strdup(name);
    int rc = 0;
    if (!m.events || !m.pages || !m.iglu || !m.comments || !m.trees) rc = SL_ENOMEM;
    for (size_t i = 0; i < npaths && !rc; i++) {
        struct stat st;
        if (stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode) && f != IMPORT_SEGMENT) {
            char **list = NULL;
            size_t n = 0, cap = 0;
            walk(paths[i],
                 f == IMPORT_IGLU          ? want_iglu
                 : f == IMPORT_RUDDERSTACK ? want_yaml
                                           : want_json,
                 &list, &n, &cap, 0);
            if (n == 0) {
                sl_diags *d = new_file(r, paths[i]);
                if (d)
                    sl_diags_add(d, SL_SEV_ERROR, 0, 0, "no %s found in this folder",
                                 f == IMPORT_IGLU ? "Iglu schema (schemas/vendor/name/jsonschema/"
                                                    "M-R-A)"
                                 : f == IMPORT_RUDDERSTACK ? "*.yaml, *.yml or *.json file"
                                                           : "*.json file");
                r->nerrors++;
            }
            for (size_t j = 0; j < n; j++) {
                read_one(&m, list[j]);
                free(list[j]);
            }
            free(list);
        } else {
            read_one(&m, paths[i]);
        }
    }
    if (!rc && m.ncli) cli_project(&m);
    for (size_t i = 0; i < m.ncli; i++)
        srcmap_free(m.cli[i].map);
    free(m.cli);
    if (!rc && r->nerrors == 0) {
        r->plan = assemble(&m);
        if (!r->plan) rc = SL_ENOMEM;
    }
    if (!rc && r->nerrors) rc = SL_EPLAN;
    cJSON_Delete(m.events);
    cJSON_Delete(m.pages);
    cJSON_Delete(m.iglu);
    cJSON_Delete(m.comments);
    cJSON_Delete(m.common);
    cJSON_Delete(m.calls[0]);
    cJSON_Delete(m.calls[1]);
    cJSON_Delete(m.trees);
    free(m.name);
    free(m.description);
    return rc;
}

void import_result_free(import_result *r)
{
    cJSON_Delete(r->plan);
    for (size_t i = 0; i < r->nfiles; i++)
        sl_diags_cleanup(&r->files[i]);
    free(r->files);
    memset(r, 0, sizeof *r);
}
