/* dialect.c - rewriting draft-04/06/07 and 2019-09 schemas into 2020-12 (see dialect.h).
 * Only schema positions are visited (the values of properties are never mistaken for keywords);
 * every rewrite is local to one schema object, plus the $ref strings that point into definitions.
 */
#include "dialect.h"

#include <stdbool.h>
#include <string.h>

static const struct {
    const char *uri;
    schema_dialect d;
} known_uris[] = {
    {"json-schema.org/draft-04/schema", DIALECT_DRAFT04},
    {"json-schema.org/draft-06/schema", DIALECT_DRAFT06},
    {"json-schema.org/draft-07/schema", DIALECT_DRAFT07},
    {"json-schema.org/draft/2019-09/schema", DIALECT_2019_09},
    {"json-schema.org/draft/2020-12/schema", DIALECT_2020_12},
    {"iglucentral.com/schemas/com.snowplowanalytics.self-desc/schema/jsonschema/1-0-0",
     DIALECT_DRAFT04},
};

schema_dialect dialect_from_uri(const char *uri)
{
    if (!strncmp(uri, "http://", 7))
        uri += 7;
    else if (!strncmp(uri, "https://", 8))
        uri += 8;
    else
        return DIALECT_UNKNOWN;
    size_t n = strlen(uri);
    if (n && uri[n - 1] == '#') n--;
    for (size_t i = 0; i < sizeof known_uris / sizeof known_uris[0]; i++)
        if (strlen(known_uris[i].uri) == n && !strncmp(uri, known_uris[i].uri, n))
            return known_uris[i].d;
    return DIALECT_UNKNOWN;
}

schema_dialect dialect_from_name(const char *s)
{
    if (!strncmp(s, "draft-", 6))
        s += 6;
    else if (!strncmp(s, "draft", 5))
        s += 5;
    if (!strcmp(s, "04") || !strcmp(s, "4")) return DIALECT_DRAFT04;
    if (!strcmp(s, "06") || !strcmp(s, "6")) return DIALECT_DRAFT06;
    if (!strcmp(s, "07") || !strcmp(s, "7")) return DIALECT_DRAFT07;
    if (!strcmp(s, "2019-09")) return DIALECT_2019_09;
    if (!strcmp(s, "2020-12")) return DIALECT_2020_12;
    return DIALECT_UNKNOWN;
}

const char *dialect_uri(schema_dialect d)
{
    switch (d) {
    case DIALECT_DRAFT04:
        return "http://json-schema.org/draft-04/schema#";
    case DIALECT_DRAFT06:
        return "http://json-schema.org/draft-06/schema#";
    case DIALECT_DRAFT07:
        return "http://json-schema.org/draft-07/schema#";
    case DIALECT_2019_09:
        return "https://json-schema.org/draft/2019-09/schema";
    default:
        return "https://json-schema.org/draft/2020-12/schema";
    }
}

const char *dialect_name(schema_dialect d)
{
    switch (d) {
    case DIALECT_DRAFT04:
        return "draft-04";
    case DIALECT_DRAFT06:
        return "draft-06";
    case DIALECT_DRAFT07:
        return "draft-07";
    case DIALECT_2019_09:
        return "2019-09";
    case DIALECT_2020_12:
    case DIALECT_DEFAULT:
        return "2020-12";
    default:
        return "unknown";
    }
}

/* The placeholder anchor a 2019-09 `$recursiveAnchor: true` becomes. */
#define REC_ANCHOR "__sluice_recursive"

static void drop(cJSON *o, const char *k)
{
    cJSON_DeleteItemFromObjectCaseSensitive(o, k);
}

static int up(cJSON *node, schema_dialect d, bool is_root, bool rec_on, bool is_top);

static int up_map(cJSON *m, schema_dialect d, bool rec_on)
{
    if (!cJSON_IsObject(m)) return 0;
    for (cJSON *c = m->child; c; c = c->next)
        if (up(c, d, false, rec_on, false)) return -1;
    return 0;
}

static int up_arr(cJSON *a, schema_dialect d, bool rec_on)
{
    if (!cJSON_IsArray(a)) return 0;
    for (cJSON *c = a->child; c; c = c->next)
        if (up(c, d, false, rec_on, false)) return -1;
    return 0;
}

/* Pointers into rewritten places: "/definitions/" -> "/$defs/", "/items/<n>" -> "/prefixItems/<n>"
 * (only an array of items has an index under it), after the '#' of a $ref. */
static int fix_ref(cJSON *ref)
{
    if (!cJSON_IsString(ref)) return 0;
    const char *s = ref->valuestring, *h = strchr(s, '#');
    if (!h || (!strstr(h, "/definitions/") && !strstr(h, "/items/"))) return 0;
    char buf[2048];
    size_t o = (size_t)(h - s);
    if (o >= sizeof buf) return 0;
    memcpy(buf, s, o);
    for (const char *p = h; *p;) {
        const char *from = NULL, *to = NULL;
        if (!strncmp(p, "/definitions/", 13))
            from = "/definitions/", to = "/$defs/";
        else if (!strncmp(p, "/items/", 7) && p[7] >= '0' && p[7] <= '9')
            from = "/items/", to = "/prefixItems/";
        const char *add = from ? to : p;
        size_t n = from ? strlen(to) : 1;
        if (o + n + 1 > sizeof buf) return 0;
        memcpy(buf + o, add, n);
        o += n;
        p += from ? strlen(from) : 1;
    }
    buf[o] = 0;
    return cJSON_SetValuestring(ref, buf) ? 0 : -1;
}

static int rename_key(cJSON *o, const char *from, const char *to)
{
    cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(o, from);
    if (!v) return 0;
    drop(o, to);
    cJSON_AddItemToObject(o, to, v);
    return 0;
}

/* is_root: node is the root of a schema resource; rec_on: the resource it is in has
 * `$recursiveAnchor: true` at its root (2019-09). */
static int up(cJSON *node, schema_dialect d, bool is_root, bool rec_on, bool is_top)
{
    if (!cJSON_IsObject(node)) return 0;
    cJSON *sch = cJSON_GetObjectItemCaseSensitive(node, "$schema");
    if (cJSON_IsString(sch)) {
        schema_dialect nd = dialect_from_uri(sch->valuestring);
        if (nd > 0) d = nd;
    }
    if (d == DIALECT_2020_12) goto children; /* nested resources may still be older */
    if (cJSON_IsString(sch) || is_top)       /* where a dialect starts: for `compile --dump` */
        if (!cJSON_AddStringToObject(node, "x-sluice-dialect", dialect_name(d))) return -1;
    bool pre2019 = d == DIALECT_DRAFT04 || d == DIALECT_DRAFT06 || d == DIALECT_DRAFT07;

    /* Identifiers: draft-04's `id`; "#name" ids are anchors. */
    if (pre2019) drop(node, "$anchor");
    if (d == DIALECT_DRAFT04) {
        drop(node, "$id");
        rename_key(node, "id", "$id");
    }
    cJSON *id = cJSON_GetObjectItemCaseSensitive(node, "$id");
    if (cJSON_IsString(id) && id->valuestring[0] == '#' && pre2019) {
        cJSON *a = cJSON_CreateString(id->valuestring + 1);
        if (!a) return -1;
        drop(node, "$id");
        drop(node, "$anchor");
        cJSON_AddItemToObject(node, "$anchor", a);
    } else if (cJSON_IsString(id)) {
        is_root = true; /* a new resource: $recursiveRef "#" now means its root */
        rec_on = false;
    }

    if (pre2019) {
        /* Keywords this draft does not have are plain unknown keywords: ignored. */
        static const char *const later[] = {
            "dependentRequired", "dependentSchemas", "minContains",    "maxContains",
            "prefixItems",       "$dynamicRef",      "$dynamicAnchor", "$recursiveRef",
            "$recursiveAnchor",  "$vocabulary"};
        for (size_t i = 0; i < sizeof later / sizeof later[0]; i++)
            drop(node, later[i]);
        if (d == DIALECT_DRAFT04) {
            drop(node, "const");
            drop(node, "contains");
            drop(node, "propertyNames");
            drop(node, "examples");
        }
        if (d != DIALECT_DRAFT07) {
            drop(node, "if");
            drop(node, "then");
            drop(node, "else");
        }
        /* $ref: its siblings are ignored (definitions stay, for pointers into them; unevaluated*
         * and x-sluice-* too: a plan closes a $ref use site with unevaluatedProperties). */
        cJSON *ref = cJSON_GetObjectItemCaseSensitive(node, "$ref");
        if (ref) {
            for (cJSON *c = node->child, *nx; c; c = nx) {
                nx = c->next;
                if (strcmp(c->string, "$ref") && strcmp(c->string, "definitions") &&
                    strncmp(c->string, "unevaluated", 11) && strncmp(c->string, "x-sluice-", 9))
                    cJSON_Delete(cJSON_DetachItemViaPointer(node, c));
            }
            if (fix_ref(ref)) return -1;
        }
        rename_key(node, "definitions", "$defs");
        /* draft-04: boolean exclusive bounds modify minimum/maximum. */
        if (d == DIALECT_DRAFT04) {
            static const char *const b[2][2] = {{"exclusiveMinimum", "minimum"},
                                                {"exclusiveMaximum", "maximum"}};
            for (int i = 0; i < 2; i++) {
                cJSON *ex = cJSON_GetObjectItemCaseSensitive(node, b[i][0]);
                if (!ex) continue;
                bool on = cJSON_IsTrue(ex);
                cJSON *lim = cJSON_GetObjectItemCaseSensitive(node, b[i][1]);
                if (!cJSON_IsBool(ex)) continue;
                drop(node, b[i][0]);
                if (on && cJSON_IsNumber(lim))
                    cJSON_AddItemToObject(node, b[i][0], cJSON_DetachItemViaPointer(node, lim));
            }
        }
        /* dependencies: arrays are dependentRequired, schemas dependentSchemas. */
        cJSON *deps = cJSON_DetachItemFromObjectCaseSensitive(node, "dependencies");
        if (cJSON_IsObject(deps)) {
            cJSON *req = cJSON_CreateObject(), *sch2 = cJSON_CreateObject();
            if (!req || !sch2) {
                cJSON_Delete(req);
                cJSON_Delete(sch2);
                cJSON_Delete(deps);
                return -1;
            }
            while (deps->child) {
                cJSON *c = cJSON_DetachItemViaPointer(deps, deps->child);
                cJSON_AddItemToObject(cJSON_IsArray(c) ? req : sch2, c->string, c);
            }
            if (req->child)
                cJSON_AddItemToObject(node, "dependentRequired", req);
            else
                cJSON_Delete(req);
            if (sch2->child)
                cJSON_AddItemToObject(node, "dependentSchemas", sch2);
            else
                cJSON_Delete(sch2);
        }
        cJSON_Delete(deps);
    } else { /* 2019-09 */
        if (fix_ref(cJSON_GetObjectItemCaseSensitive(node, "$ref"))) return -1;
        rename_key(node, "definitions", "$defs");
        drop(node, "prefixItems");
        drop(node, "$dynamicRef");
        drop(node, "$dynamicAnchor");
        cJSON *ra = cJSON_GetObjectItemCaseSensitive(node, "$recursiveAnchor");
        if (cJSON_IsTrue(ra) && is_root) { /* only at a resource root does it take effect */
            drop(node, "$recursiveAnchor");
            if (!cJSON_AddStringToObject(node, "$dynamicAnchor", REC_ANCHOR)) return -1;
            rec_on = true;
        } else {
            drop(node, "$recursiveAnchor");
        }
        cJSON *rr = cJSON_DetachItemFromObjectCaseSensitive(node, "$recursiveRef");
        if (cJSON_IsString(rr)) {
            bool hash = !strcmp(rr->valuestring, "#");
            cJSON *nr = cJSON_CreateString(hash && rec_on ? "#" REC_ANCHOR : rr->valuestring);
            if (!nr) {
                cJSON_Delete(rr);
                return -1;
            }
            cJSON_AddItemToObject(node, hash && rec_on ? "$dynamicRef" : "$ref", nr);
        }
        cJSON_Delete(rr);
    }
    /* items: an array of schemas is prefixItems, and additionalItems then is items. */
    cJSON *items = cJSON_GetObjectItemCaseSensitive(node, "items");
    if (cJSON_IsArray(items)) {
        rename_key(node, "items", "prefixItems");
        rename_key(node, "additionalItems", "items");
    } else {
        drop(node, "additionalItems");
    }
    drop(node, "$schema");

children:; /* Recurse into schema positions. */
    static const char *const maps[] = {"properties", "patternProperties", "$defs",
                                       "dependentSchemas"};
    static const char *const one[] = {
        "items", "additionalProperties",  "contains",         "propertyNames", "not", "if", "then",
        "else",  "unevaluatedProperties", "unevaluatedItems", "contentSchema"};
    static const char *const arrs[] = {"prefixItems", "allOf", "anyOf", "oneOf"};
    for (size_t i = 0; i < sizeof maps / sizeof maps[0]; i++)
        if (up_map(cJSON_GetObjectItemCaseSensitive(node, maps[i]), d, rec_on)) return -1;
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++)
        if (up(cJSON_GetObjectItemCaseSensitive(node, one[i]), d, false, rec_on, false)) return -1;
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++)
        if (up_arr(cJSON_GetObjectItemCaseSensitive(node, arrs[i]), d, rec_on)) return -1;
    return 0;
}

/* The schema positions of a node, for dialect_scan (same lists as up() and all drafts' names). */
static const char *const scan_maps[] = {"properties",  "patternProperties", "$defs",
                                        "definitions", "dependentSchemas",  "dependencies"};
static const char *const scan_one[] = {"items",
                                       "additionalItems",
                                       "additionalProperties",
                                       "contains",
                                       "propertyNames",
                                       "not",
                                       "if",
                                       "then",
                                       "else",
                                       "unevaluatedProperties",
                                       "unevaluatedItems",
                                       "contentSchema"};
static const char *const scan_arrs[] = {"items", "prefixItems", "allOf", "anyOf", "oneOf"};

static void scan(const cJSON *n, int *older, const cJSON **bad, int depth)
{
    if (!cJSON_IsObject(n) || depth > 64) return;
    const cJSON *sch = cJSON_GetObjectItemCaseSensitive(n, "$schema");
    if (cJSON_IsString(sch)) {
        schema_dialect d = dialect_from_uri(sch->valuestring);
        if (d == DIALECT_UNKNOWN && !*bad) *bad = sch;
        if (d > 0 && d != DIALECT_2020_12) *older = 1;
    }
    for (size_t i = 0; i < sizeof scan_maps / sizeof scan_maps[0]; i++) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(n, scan_maps[i]);
        for (const cJSON *c = cJSON_IsObject(m) ? m->child : NULL; c; c = c->next)
            scan(c, older, bad, depth + 1);
    }
    for (size_t i = 0; i < sizeof scan_one / sizeof scan_one[0]; i++)
        scan(cJSON_GetObjectItemCaseSensitive(n, scan_one[i]), older, bad, depth + 1);
    for (size_t i = 0; i < sizeof scan_arrs / sizeof scan_arrs[0]; i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(n, scan_arrs[i]);
        for (const cJSON *c = cJSON_IsArray(a) ? a->child : NULL; c; c = c->next)
            scan(c, older, bad, depth + 1);
    }
}

bool dialect_scan(const cJSON *root, schema_dialect d, const cJSON **unknown)
{
    int older = d != DIALECT_DEFAULT && d != DIALECT_2020_12;
    *unknown = NULL;
    scan(root, &older, unknown, 0);
    return older != 0;
}

int dialect_upgrade(cJSON *root, schema_dialect d)
{
    if (d == DIALECT_DEFAULT) d = DIALECT_2020_12;
    return up(root, d, true, false, true);
}
