/* schema.c - JSON Schema 2020-12 engine: compiler, linker, interpreter and disassembler.
 *
 * Compile: every subschema (object or boolean) becomes one entry of a schema table holding a range
 * of ops (schema_ops.h); operands index pools owned by the program (strings, int lists, named
 * schema lists, property tables, copied JSON constants, PCRE2 regexes). Each input node is
 * compiled once (memoised by node address), so cyclic $refs link by schema index. $ref targets
 * are resolved at finish against a resource table built by a scan of every root (base URIs from
 * $id, $anchor, $dynamicAnchor, JSON Pointers with ~0 ~1 and %-escapes).
 *
 * Performance: properties, patternProperties, additionalProperties and required (up to 64
 * names) are one PROPS op, a single pass over the instance's members with a hashed (>= 12
 * names) or scanned property table; type/range checks and $ref run inline in v_schema's loop;
 * regexes use the PCRE2 JIT directly; nothing is formatted unless a violation is recorded.
 *
 * Run: the interpreter walks ops of a schema over a cJSON instance. With a violation list it
 * reports every violation (with a JSON Pointer kept as a stack of borrowed segments, rendered only
 * when something is recorded); without one it stops at the first failure. anyOf/oneOf/not/if/
 * contains/propertyNames branches run quietly. Annotations for unevaluated* are tracked only
 * under schemas that use them: a bitset over the children of the instance, taken from a stack in
 * schema_ctx and merged from successful subschemas only.
 *
 * Ownership: a schema_prog owns everything it points to; it never points into input trees.
 * A schema_ctx is per thread; the program is read-only after finish. */
#include "schema.h"
#include "format.h"
#include "schema_ops.h"
#include "sl_buf.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#define SCHEMA_MAX_DEPTH 512  /* nested schema evaluations (guards cyclic refs without progress) */
#define SCHEMA_MAX_NODES 2048 /* scan recursion depth of input trees */
#define SCHEMA_PROPS_HASH_MIN 12 /* property tables this big are hashed; smaller: scanned */

/* ==== vectors ================================================================================ */

#define VEC(T, name)                                                                               \
    T *name;                                                                                       \
    size_t n_##name, cap_##name

/* Appends val; evaluates to its index or -1 when out of memory. */
#define VPUSH(o, name, val)                                                                        \
    (sl_grow(&(o)->name, &(o)->cap_##name, (o)->n_##name + 1, sizeof *(o)->name)                   \
         ? -1                                                                                      \
         : ((o)->name[(o)->n_##name] = (val), (int)(o)->n_##name++))

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* ==== pointer map (node address -> int) ======================================================= */

typedef struct {
    const void **k;
    int32_t *v;
    size_t cap, n;
} pmap;

static size_t ptr_hash(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

static int32_t pmap_get(const pmap *m, const void *k)
{
    if (!m->cap) return -1;
    for (size_t i = ptr_hash(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->k[i]) return -1;
        if (m->k[i] == k) return m->v[i];
    }
}

static int pmap_put(pmap *m, const void *k, int32_t v)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 64;
        const void **nk = calloc(nc, sizeof *nk);
        int32_t *nv = calloc(nc, sizeof *nv);
        if (!nk || !nv) {
            free(nk);
            free(nv);
            return SL_ENOMEM;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->k[i]) continue;
            size_t j = ptr_hash(m->k[i]) & (nc - 1);
            while (nk[j])
                j = (j + 1) & (nc - 1);
            nk[j] = m->k[i];
            nv[j] = m->v[i];
        }
        free(m->k);
        free(m->v);
        m->k = nk;
        m->v = nv;
        m->cap = nc;
    }
    size_t i = ptr_hash(k) & (m->cap - 1);
    while (m->k[i] && m->k[i] != k)
        i = (i + 1) & (m->cap - 1);
    if (!m->k[i]) m->n++;
    m->k[i] = k;
    m->v[i] = v;
    return 0;
}

static void pmap_free(pmap *m)
{
    free(m->k);
    free(m->v);
    memset(m, 0, sizeof *m);
}

/* ==== program ================================================================================= */

typedef struct {
    uint8_t code;
    int32_t a, b, c;
    double n;
} sop;

enum {
    SF_FALSE = 1,         /* boolean schema false */
    SF_UEP = 2,           /* has unevaluatedProperties: collects annotations for objects */
    SF_UEI = 4,           /* has unevaluatedItems: collects annotations for arrays */
    SF_DIALECT_SHIFT = 8, /* bits 8..11: the schema_dialect a resource was written in, when older
                           * (dialect.c marks it "x-sluice-dialect"); for the disassembly only */
};

typedef struct {
    int32_t op0, nops;
    int32_t kind; /* sl_kind override or -1 */
    int32_t resource;
    uint32_t flags;
    char *loc; /* schema location (URI + JSON Pointer), for the disassembly */
} sschema;

typedef struct {
    char *s;
    size_t len;
} sstr;

typedef struct {
    int32_t key;    /* string id (properties, dependentSchemas) or regex id (patternProperties) */
    int32_t schema; /* -1: a required name without a subschema */
    int32_t req;    /* bit of this name in the PROPS op's required set, or -1 */
} snamed;

typedef struct {
    int32_t prop; /* string id */
    int32_t a, n; /* string ids in ints[a..a+n) */
} sdepreq;

typedef struct {
    int32_t p0, np;     /* named[p0..p0+np): properties */
    int32_t h0, hn;     /* ints[h0..h0+hn): hash slots -> index into the properties, or -1 */
    int32_t pat0, npat; /* named[pat0..]: (regex, schema) */
    int32_t additional; /* schema or -1 */
    int32_t req0, nreq; /* required names folded in: string ids in ints[req0..req0+nreq) */
} sprops;

typedef struct {
    pcre2_code *code;
    int32_t src; /* string id */
    bool jit;
} sregex;

typedef struct {
    int32_t resource, name, schema;
} sdyn;

struct schema_prog {
    VEC(sop, ops);
    VEC(sschema, schemas);
    VEC(sstr, strs);
    VEC(int32_t, ints);
    VEC(snamed, named);
    VEC(sdepreq, depreq);
    VEC(sprops, props);
    VEC(sregex, regexes);
    VEC(cJSON *, consts);
    VEC(char *, resources);
    VEC(sdyn, dyns);
    VEC(int32_t, roots);
    bool has_dynref;
};

static const char *const op_names[] = {
#define X(name, kw, kind, args) #name,
    SCHEMA_OP_LIST(X)
#undef X
};
static const char *const op_keywords[] = {
#define X(name, kw, kind, args) kw,
    SCHEMA_OP_LIST(X)
#undef X
};
static const sl_kind op_kinds[] = {
#define X(name, kw, kind, args) SL_KIND_##kind,
    SCHEMA_OP_LIST(X)
#undef X
};
static const int op_args[] = {
#define X(name, kw, kind, args) SCHEMA_ARGS_##args,
    SCHEMA_OP_LIST(X)
#undef X
};

/* Type mask bits (TYPE op operand and instance types). */
enum {
    T_NULL = 1,
    T_BOOLEAN = 2,
    T_OBJECT = 4,
    T_ARRAY = 8,
    T_NUMBER = 16,
    T_STRING = 32,
    T_INTEGER = 64,
};
static const char *const type_names[] = {"null",   "boolean", "object", "array",
                                         "number", "string",  "integer"};

static int str_add_n(schema_prog *p, const char *s, size_t len)
{
    char *d = malloc(len + 1);
    if (!d) return SL_ENOMEM;
    memcpy(d, s, len);
    d[len] = '\0';
    int id = VPUSH(p, strs, ((sstr){d, len}));
    if (id < 0) {
        free(d);
        return SL_ENOMEM;
    }
    return id;
}

static int str_add(schema_prog *p, const char *s)
{
    return str_add_n(p, s, strlen(s));
}

/* Interned: the same text always gets the same id (used for anchor names). */
static int str_intern(schema_prog *p, const char *s)
{
    for (size_t i = 0; i < p->n_strs; i++)
        if (strcmp(p->strs[i].s, s) == 0) return (int)i;
    return str_add(p, s);
}

static int resource_intern(schema_prog *p, const char *uri)
{
    for (size_t i = 0; i < p->n_resources; i++)
        if (strcmp(p->resources[i], uri) == 0) return (int)i;
    char *d = xstrdup(uri);
    if (!d) return SL_ENOMEM;
    int id = VPUSH(p, resources, d);
    if (id < 0) free(d);
    return id < 0 ? SL_ENOMEM : id;
}

void schema_prog_free(schema_prog *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->n_schemas; i++)
        free(p->schemas[i].loc);
    for (size_t i = 0; i < p->n_strs; i++)
        free(p->strs[i].s);
    for (size_t i = 0; i < p->n_regexes; i++)
        pcre2_code_free(p->regexes[i].code);
    for (size_t i = 0; i < p->n_consts; i++)
        cJSON_Delete(p->consts[i]);
    for (size_t i = 0; i < p->n_resources; i++)
        free(p->resources[i]);
    free(p->ops);
    free(p->schemas);
    free(p->strs);
    free(p->ints);
    free(p->named);
    free(p->depreq);
    free(p->props);
    free(p->regexes);
    free(p->consts);
    free(p->resources);
    free(p->dyns);
    free(p->roots);
    free(p);
}

int schema_prog_root_count(const schema_prog *p)
{
    return (int)p->n_roots;
}

/* ==== URIs (RFC 3986 section 5) =============================================================== */

typedef struct {
    const char *scheme, *auth, *path, *query, *frag;
    size_t nscheme, nauth, npath, nquery, nfrag;
    bool has_scheme, has_auth, has_query, has_frag;
} uri_parts;

static void uri_parse(const char *s, uri_parts *u)
{
    memset(u, 0, sizeof *u);
    const char *p = s;
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
        const char *q = p;
        while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
               *q == '+' || *q == '-' || *q == '.')
            q++;
        if (*q == ':') {
            u->has_scheme = true;
            u->scheme = p;
            u->nscheme = (size_t)(q - p);
            p = q + 1;
        }
    }
    if (p[0] == '/' && p[1] == '/') {
        p += 2;
        u->has_auth = true;
        u->auth = p;
        while (*p && *p != '/' && *p != '?' && *p != '#')
            p++;
        u->nauth = (size_t)(p - u->auth);
    }
    u->path = p;
    while (*p && *p != '?' && *p != '#')
        p++;
    u->npath = (size_t)(p - u->path);
    if (*p == '?') {
        u->has_query = true;
        u->query = ++p;
        while (*p && *p != '#')
            p++;
        u->nquery = (size_t)(p - u->query);
    }
    if (*p == '#') {
        u->has_frag = true;
        u->frag = p + 1;
        u->nfrag = strlen(u->frag);
    }
}

/* RFC 3986 5.2.4 over in[0..n), appended to out. */
static void remove_dots(sl_buf *out, const char *in, size_t n)
{
    size_t start = out->n;
    size_t i = 0;
    while (i < n && !out->oom) {
        const char *s = in + i;
        size_t left = n - i;
        if (left >= 3 && !strncmp(s, "../", 3)) {
            i += 3;
        } else if (left >= 2 && !strncmp(s, "./", 2)) {
            i += 2;
        } else if ((left >= 3 && !strncmp(s, "/./", 3)) || (left == 2 && !strncmp(s, "/.", 2))) {
            i += 2;
            if (left == 2) {
                sl_buf_put(out, "/", 1);
                break;
            }
        } else if ((left >= 4 && !strncmp(s, "/../", 4)) || (left == 3 && !strncmp(s, "/..", 3))) {
            i += 3;
            while (out->n > start && out->p[out->n - 1] != '/')
                out->n--;
            if (out->n > start) out->n--;
            if (left == 3) {
                sl_buf_put(out, "/", 1);
                break;
            }
        } else if ((left == 1 && s[0] == '.') || (left == 2 && !strncmp(s, "..", 2))) {
            break;
        } else {
            size_t j = 1;
            while (j < left && s[j] != '/')
                j++;
            if (s[0] != '/') {
                j = 0;
                while (j < left && s[j] != '/')
                    j++;
            }
            sl_buf_put(out, s, j);
            i += j;
        }
    }
    if (!out->oom && out->p) out->p[out->n] = '\0';
}

/* Resolves ref against base; returns a malloc'd absolute URI (NULL on out of memory). */
static char *uri_resolve(const char *base, const char *ref)
{
    uri_parts B, R;
    uri_parse(base, &B);
    uri_parse(ref, &R);
    sl_buf o = {0};
    sl_buf_puts(&o, "");
    const uri_parts *S = R.has_scheme ? &R : &B; /* scheme source */
    if (S->has_scheme) {
        sl_buf_put(&o, S->scheme, S->nscheme);
        sl_buf_put(&o, ":", 1);
    }
    if (R.has_scheme || R.has_auth) {
        const uri_parts *A = &R;
        if (A->has_auth) {
            sl_buf_put(&o, "//", 2);
            sl_buf_put(&o, A->auth, A->nauth);
        }
        remove_dots(&o, R.path, R.npath);
        if (R.has_query) {
            sl_buf_put(&o, "?", 1);
            sl_buf_put(&o, R.query, R.nquery);
        }
    } else {
        if (B.has_auth) {
            sl_buf_put(&o, "//", 2);
            sl_buf_put(&o, B.auth, B.nauth);
        }
        if (R.npath == 0) {
            sl_buf_put(&o, B.path, B.npath);
            const uri_parts *Q = R.has_query ? &R : &B;
            if (Q->has_query) {
                sl_buf_put(&o, "?", 1);
                sl_buf_put(&o, Q->query, Q->nquery);
            }
        } else {
            if (R.path[0] == '/') {
                remove_dots(&o, R.path, R.npath);
            } else {
                sl_buf m = {0};
                sl_buf_puts(&m, "");
                if (B.has_auth && B.npath == 0) {
                    sl_buf_put(&m, "/", 1);
                } else {
                    size_t k = B.npath;
                    while (k > 0 && B.path[k - 1] != '/')
                        k--;
                    sl_buf_put(&m, B.path, k);
                }
                sl_buf_put(&m, R.path, R.npath);
                if (m.oom)
                    o.oom = true;
                else
                    remove_dots(&o, m.p, m.n);
                sl_buf_free(&m);
            }
            if (R.has_query) {
                sl_buf_put(&o, "?", 1);
                sl_buf_put(&o, R.query, R.nquery);
            }
        }
    }
    if (R.has_frag && R.nfrag) {
        sl_buf_put(&o, "#", 1);
        sl_buf_put(&o, R.frag, R.nfrag);
    }
    if (o.oom) {
        sl_buf_free(&o);
        return NULL;
    }
    return o.p;
}

/* ==== builder ================================================================================= */

typedef struct {
    char *uri; /* resource URI, or resource URI + "#" + anchor */
    const cJSON *node;
    int32_t base; /* index into bases */
} bres;

typedef struct {
    int32_t base; /* resource (as a base) where the anchor lives */
    char *name;
    const cJSON *node;
} bdyn;

typedef struct {
    char *uri;        /* absolute */
    const cJSON *src; /* the $ref member, for diagnostics */
    bool dyn;         /* $dynamicRef */
    int32_t target;   /* schema, after resolution */
    int32_t name;     /* dynamic anchor name string, or -1 */
} bref;

typedef struct {
    char *uri;
    int32_t res; /* resource id in the program */
} bbase;

struct schema_builder {
    schema_opts o;
    schema_prog *p;
    pmap node_schema; /* node -> schema id */
    pmap node_base;   /* node -> base id */
    VEC(bbase, bases);
    VEC(bres, res);
    VEC(bdyn, dyns);
    VEC(bref, refs);
    VEC(cJSON *, owned); /* builtin documents parsed on demand */
    sl_diags *d;
    size_t nerr;
    bool finished;
};

static void diag(schema_builder *b, const void *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void diag(schema_builder *b, const void *node, const char *fmt, ...)
{
    b->nerr++;
    if (!b->d) return;
    int line = 0, col = 0;
    if (node && b->o.locate && b->o.locate(b->o.locate_ud, node, &line, &col) != 0) line = col = 0;
    va_list ap;
    va_start(ap, fmt);
    sl_diags_vadd(b->d, SL_SEV_ERROR, line, col, fmt, ap);
    va_end(ap);
}

static void warn(schema_builder *b, const void *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn(schema_builder *b, const void *node, const char *fmt, ...)
{
    if (!b->d) return;
    int line = 0, col = 0;
    if (node && b->o.locate && b->o.locate(b->o.locate_ud, node, &line, &col) != 0) line = col = 0;
    va_list ap;
    va_start(ap, fmt);
    sl_diags_vadd(b->d, SL_SEV_WARNING, line, col, fmt, ap);
    va_end(ap);
}

schema_builder *schema_builder_new(const schema_opts *opts)
{
    schema_builder *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    if (opts) b->o = *opts;
    b->p = calloc(1, sizeof *b->p);
    if (!b->p) {
        free(b);
        return NULL;
    }
    return b;
}

void schema_builder_free(schema_builder *b)
{
    if (!b) return;
    schema_prog_free(b->p);
    pmap_free(&b->node_schema);
    pmap_free(&b->node_base);
    for (size_t i = 0; i < b->n_bases; i++)
        free(b->bases[i].uri);
    for (size_t i = 0; i < b->n_res; i++)
        free(b->res[i].uri);
    for (size_t i = 0; i < b->n_dyns; i++)
        free(b->dyns[i].name);
    for (size_t i = 0; i < b->n_refs; i++)
        free(b->refs[i].uri);
    for (size_t i = 0; i < b->n_owned; i++)
        cJSON_Delete(b->owned[i]);
    free(b->bases);
    free(b->res);
    free(b->dyns);
    free(b->refs);
    free(b->owned);
    free(b);
}

/* Takes ownership of uri (a resource URI without fragment); returns the base id or SL_ENOMEM. */
static int base_take(schema_builder *b, char *uri)
{
    for (size_t i = 0; i < b->n_bases; i++)
        if (strcmp(b->bases[i].uri, uri) == 0) {
            free(uri);
            return (int)i;
        }
    int res = resource_intern(b->p, uri);
    if (res < 0) {
        free(uri);
        return res;
    }
    int id = VPUSH(b, bases, ((bbase){uri, res}));
    if (id < 0) free(uri);
    return id < 0 ? SL_ENOMEM : id;
}

static void strip_empty_fragment(char *uri)
{
    size_t n = strlen(uri);
    if (n && uri[n - 1] == '#') uri[n - 1] = '\0';
}

static int res_add(schema_builder *b, const char *uri, const cJSON *node, int32_t base)
{
    for (size_t i = 0; i < b->n_res; i++)
        if (strcmp(b->res[i].uri, uri) == 0) return 0; /* first definition wins */
    char *d = xstrdup(uri);
    if (!d) return SL_ENOMEM;
    if (VPUSH(b, res, ((bres){d, node, base})) < 0) {
        free(d);
        return SL_ENOMEM;
    }
    return 0;
}

static const bres *res_find(const schema_builder *b, const char *uri, size_t n)
{
    for (size_t i = 0; i < b->n_res; i++)
        if (strlen(b->res[i].uri) == n && strncmp(b->res[i].uri, uri, n) == 0) return &b->res[i];
    return NULL;
}

/* Keywords whose values are never schemas (and may hold look-alike objects). */
static bool kw_is_data(const char *k)
{
    return !strcmp(k, "enum") || !strcmp(k, "const") || !strcmp(k, "default") ||
           !strcmp(k, "examples") || !strcmp(k, "dependentRequired") || !strcmp(k, "$vocabulary") ||
           !strcmp(k, "required");
}

/* Keywords whose values are maps name -> schema. */
static bool kw_is_map(const char *k)
{
    return !strcmp(k, "properties") || !strcmp(k, "patternProperties") || !strcmp(k, "$defs") ||
           !strcmp(k, "dependentSchemas");
}

/* Records base URIs, resources and anchors of a tree (every object in schema position, including
 * those under unknown keywords so that JSON Pointers and $ids there resolve too). */
static int scan(schema_builder *b, const cJSON *node, int32_t base, int depth)
{
    if (!cJSON_IsObject(node)) return 0;
    if (depth > SCHEMA_MAX_NODES) {
        diag(b, node, "schema nested too deeply");
        return SL_ELIMIT;
    }
    int rc;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(node, "$id");
    if (cJSON_IsString(id) && id->valuestring[0] != '#') {
        char *u = uri_resolve(b->bases[base].uri, id->valuestring);
        if (!u) return SL_ENOMEM;
        strip_empty_fragment(u);
        char *hash = strchr(u, '#');
        if (hash) *hash = '\0';
        int nb = base_take(b, u);
        if (nb < 0) return nb;
        base = nb;
        if ((rc = res_add(b, b->bases[base].uri, node, base)) < 0) return rc;
    }
    if ((rc = pmap_put(&b->node_base, node, base)) < 0) return rc;
    const char *anchors[2] = {"$anchor", "$dynamicAnchor"};
    for (int k = 0; k < 2; k++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(node, anchors[k]);
        if (!cJSON_IsString(a)) continue;
        sl_buf s = {0};
        sl_buf_puts(&s, b->bases[base].uri);
        sl_buf_put(&s, "#", 1);
        sl_buf_puts(&s, a->valuestring);
        if (s.oom) return SL_ENOMEM;
        rc = res_add(b, s.p, node, base);
        sl_buf_free(&s);
        if (rc < 0) return rc;
        if (k == 1) {
            char *nm = xstrdup(a->valuestring);
            if (!nm || VPUSH(b, dyns, ((bdyn){base, nm, node})) < 0) {
                free(nm);
                return SL_ENOMEM;
            }
        }
    }
    for (const cJSON *m = node->child; m; m = m->next) {
        if (!m->string || kw_is_data(m->string)) continue;
        if (kw_is_map(m->string) && cJSON_IsObject(m)) {
            for (const cJSON *c = m->child; c; c = c->next)
                if ((rc = scan(b, c, base, depth + 1)) < 0) return rc;
        } else if (cJSON_IsObject(m)) {
            if ((rc = scan(b, m, base, depth + 1)) < 0) return rc;
        } else if (cJSON_IsArray(m)) {
            for (const cJSON *c = m->child; c; c = c->next)
                if ((rc = scan(b, c, base, depth + 1)) < 0) return rc;
        }
    }
    return 0;
}

/* ---- keyword table ------------------------------------------------------------------------- */

typedef enum {
    V_ANY,
    V_STRING,
    V_NUMBER,
    V_POSNUM, /* > 0 */
    V_NONNEG, /* non-negative integer */
    V_BOOL,
    V_SCHEMA,
    V_SCHEMA_MAP,
    V_SCHEMA_ARRAY, /* non-empty */
    V_ARRAY,
    V_OBJECT,
    V_TYPE,
    V_STRARRAY, /* array of unique strings */
    V_DEPREQ,
    V_ANCHOR,
} vtype;

#define KEYWORD_LIST(X)                                                                            \
    X(TYPE, "type", V_TYPE)                                                                        \
    X(ENUM, "enum", V_ARRAY)                                                                       \
    X(CONST, "const", V_ANY)                                                                       \
    X(MIN_LENGTH, "minLength", V_NONNEG)                                                           \
    X(MAX_LENGTH, "maxLength", V_NONNEG)                                                           \
    X(PATTERN, "pattern", V_STRING)                                                                \
    X(FORMAT, "format", V_STRING)                                                                  \
    X(MINIMUM, "minimum", V_NUMBER)                                                                \
    X(MAXIMUM, "maximum", V_NUMBER)                                                                \
    X(EXCL_MINIMUM, "exclusiveMinimum", V_NUMBER)                                                  \
    X(EXCL_MAXIMUM, "exclusiveMaximum", V_NUMBER)                                                  \
    X(MULTIPLE_OF, "multipleOf", V_POSNUM)                                                         \
    X(MIN_ITEMS, "minItems", V_NONNEG)                                                             \
    X(MAX_ITEMS, "maxItems", V_NONNEG)                                                             \
    X(UNIQUE_ITEMS, "uniqueItems", V_BOOL)                                                         \
    X(PREFIX_ITEMS, "prefixItems", V_SCHEMA_ARRAY)                                                 \
    X(ITEMS, "items", V_SCHEMA)                                                                    \
    X(CONTAINS, "contains", V_SCHEMA)                                                              \
    X(MIN_CONTAINS, "minContains", V_NONNEG)                                                       \
    X(MAX_CONTAINS, "maxContains", V_NONNEG)                                                       \
    X(MIN_PROPS, "minProperties", V_NONNEG)                                                        \
    X(MAX_PROPS, "maxProperties", V_NONNEG)                                                        \
    X(REQUIRED, "required", V_STRARRAY)                                                            \
    X(DEP_REQUIRED, "dependentRequired", V_DEPREQ)                                                 \
    X(PROPERTIES, "properties", V_SCHEMA_MAP)                                                      \
    X(PATTERN_PROPS, "patternProperties", V_SCHEMA_MAP)                                            \
    X(ADDITIONAL_PROPS, "additionalProperties", V_SCHEMA)                                          \
    X(PROPERTY_NAMES, "propertyNames", V_SCHEMA)                                                   \
    X(DEP_SCHEMAS, "dependentSchemas", V_SCHEMA_MAP)                                               \
    X(ALL_OF, "allOf", V_SCHEMA_ARRAY)                                                             \
    X(ANY_OF, "anyOf", V_SCHEMA_ARRAY)                                                             \
    X(ONE_OF, "oneOf", V_SCHEMA_ARRAY)                                                             \
    X(NOT, "not", V_SCHEMA)                                                                        \
    X(IF, "if", V_SCHEMA)                                                                          \
    X(THEN, "then", V_SCHEMA)                                                                      \
    X(ELSE, "else", V_SCHEMA)                                                                      \
    X(UNEVAL_PROPS, "unevaluatedProperties", V_SCHEMA)                                             \
    X(UNEVAL_ITEMS, "unevaluatedItems", V_SCHEMA)                                                  \
    X(REF, "$ref", V_STRING)                                                                       \
    X(DYNREF, "$dynamicRef", V_STRING)                                                             \
    X(DEFS, "$defs", V_SCHEMA_MAP)                                                                 \
    X(ID, "$id", V_STRING)                                                                         \
    X(ANCHOR, "$anchor", V_ANCHOR)                                                                 \
    X(DYNANCHOR, "$dynamicAnchor", V_ANCHOR)                                                       \
    X(SCHEMA, "$schema", V_STRING)                                                                 \
    X(VOCABULARY, "$vocabulary", V_OBJECT)                                                         \
    X(COMMENT, "$comment", V_STRING)                                                               \
    X(TITLE, "title", V_STRING)                                                                    \
    X(DESCRIPTION, "description", V_STRING)                                                        \
    X(DEFAULT, "default", V_ANY)                                                                   \
    X(EXAMPLES, "examples", V_ARRAY)                                                               \
    X(DEPRECATED, "deprecated", V_BOOL)                                                            \
    X(READ_ONLY, "readOnly", V_BOOL)                                                               \
    X(WRITE_ONLY, "writeOnly", V_BOOL)                                                             \
    X(CONTENT_MEDIA_TYPE, "contentMediaType", V_STRING)                                            \
    X(CONTENT_ENCODING, "contentEncoding", V_STRING)                                               \
    X(CONTENT_SCHEMA, "contentSchema", V_SCHEMA)                                                   \
    X(SLUICE_KIND, "x-sluice-kind", V_STRING)                                                      \
    X(SLUICE_DIALECT, "x-sluice-dialect", V_STRING)

typedef enum {
#define X(id, name, vt) KW_##id,
    KEYWORD_LIST(X)
#undef X
        KW__COUNT
} kw_id;

static const char *const kw_names[] = {
#define X(id, name, vt) name,
    KEYWORD_LIST(X)
#undef X
};
static const vtype kw_vtypes[] = {
#define X(id, name, vt) vt,
    KEYWORD_LIST(X)
#undef X
};

/* Edit distance (insert/delete/substitute/transpose), capped: for "did you mean". */
static int edit_distance(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    if (na > 40 || nb > 40) return 99;
    int d[41][41];
    for (size_t i = 0; i <= na; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= nb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[na][nb];
}

static int kw_lookup(const char *k)
{
    for (int i = 0; i < KW__COUNT; i++)
        if (strcmp(kw_names[i], k) == 0) return i;
    return -1;
}

bool schema_is_keyword(const char *name)
{
    static const char *const older[] = {"definitions", "dependencies",  "additionalItems",
                                        "id",          "$recursiveRef", "$recursiveAnchor",
                                        NULL};
    if (kw_lookup(name) >= 0) return true;
    for (const char *const *o = older; *o; o++)
        if (strcmp(*o, name) == 0) return true;
    return false;
}

static bool is_schema_node(const cJSON *v)
{
    return cJSON_IsObject(v) || cJSON_IsBool(v);
}

static bool is_nonneg_int(const cJSON *v)
{
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && isfinite(v->valuedouble) &&
           v->valuedouble == floor(v->valuedouble);
}

static int type_bit(const char *s)
{
    for (int i = 0; i < 7; i++)
        if (strcmp(type_names[i], s) == 0) return 1 << i;
    return 0;
}

/* Checks a keyword value's JSON type; reports and returns false when wrong. */
static bool kw_check(schema_builder *b, int kw, const cJSON *v)
{
    const char *k = kw_names[kw];
    switch (kw_vtypes[kw]) {
    case V_ANY:
        return true;
    case V_STRING:
        if (cJSON_IsString(v)) return true;
        diag(b, v, "keyword '%s' must be a string", k);
        return false;
    case V_ANCHOR: {
        const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
        bool ok = s && ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_');
        for (const char *q = s ? s + 1 : NULL; ok && *q; q++)
            ok = (*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') ||
                 *q == '-' || *q == '_' || *q == '.';
        if (ok) return true;
        diag(b, v, "keyword '%s' must be a plain name (letters, digits, '-', '_', '.')", k);
        return false;
    }
    case V_NUMBER:
        if (cJSON_IsNumber(v)) return true;
        diag(b, v, "keyword '%s' must be a number", k);
        return false;
    case V_POSNUM:
        if (cJSON_IsNumber(v) && v->valuedouble > 0) return true;
        diag(b, v, "keyword '%s' must be a number greater than 0", k);
        return false;
    case V_NONNEG:
        if (is_nonneg_int(v)) return true;
        diag(b, v, "keyword '%s' must be a non-negative integer", k);
        return false;
    case V_BOOL:
        if (cJSON_IsBool(v)) return true;
        diag(b, v, "keyword '%s' must be a boolean", k);
        return false;
    case V_SCHEMA:
        if (is_schema_node(v)) return true;
        diag(b, v, "keyword '%s' must be a schema (object or boolean)", k);
        return false;
    case V_SCHEMA_MAP:
        if (cJSON_IsObject(v)) {
            bool ok = true;
            for (const cJSON *c = v->child; c; c = c->next)
                if (!is_schema_node(c)) {
                    diag(b, c, "'%s' of '%s' must be a schema (object or boolean)", c->string, k);
                    ok = false;
                }
            return ok;
        }
        diag(b, v, "keyword '%s' must be an object of schemas", k);
        return false;
    case V_SCHEMA_ARRAY:
        if (cJSON_IsArray(v) && v->child) {
            bool ok = true;
            for (const cJSON *c = v->child; c; c = c->next)
                if (!is_schema_node(c)) {
                    diag(b, c, "items of '%s' must be schemas (object or boolean)", k);
                    ok = false;
                }
            return ok;
        }
        diag(b, v, "keyword '%s' must be a non-empty array of schemas", k);
        return false;
    case V_ARRAY:
        if (cJSON_IsArray(v)) return true;
        diag(b, v, "keyword '%s' must be an array", k);
        return false;
    case V_OBJECT:
        if (cJSON_IsObject(v)) return true;
        diag(b, v, "keyword '%s' must be an object", k);
        return false;
    case V_TYPE:
        if (cJSON_IsString(v)) {
            if (type_bit(v->valuestring)) return true;
            diag(b, v, "unknown type '%s'", v->valuestring);
            return false;
        }
        if (cJSON_IsArray(v)) {
            int seen = 0;
            for (const cJSON *c = v->child; c; c = c->next) {
                int t = cJSON_IsString(c) ? type_bit(c->valuestring) : 0;
                if (!t) {
                    diag(b, c, "keyword 'type' must list type names");
                    return false;
                }
                if (seen & t) {
                    diag(b, c, "type '%s' is listed twice", c->valuestring);
                    return false;
                }
                seen |= t;
            }
            return true;
        }
        diag(b, v, "keyword 'type' must be a type name or an array of type names");
        return false;
    case V_STRARRAY:
        if (cJSON_IsArray(v)) {
            for (const cJSON *c = v->child; c; c = c->next) {
                if (!cJSON_IsString(c)) {
                    diag(b, c, "keyword '%s' must be an array of strings", k);
                    return false;
                }
                for (const cJSON *e = v->child; e != c; e = e->next)
                    if (strcmp(e->valuestring, c->valuestring) == 0) {
                        diag(b, c, "'%s' is listed twice in '%s'", c->valuestring, k);
                        return false;
                    }
            }
            return true;
        }
        diag(b, v, "keyword '%s' must be an array of strings", k);
        return false;
    case V_DEPREQ:
        if (cJSON_IsObject(v)) {
            for (const cJSON *c = v->child; c; c = c->next) {
                bool ok = cJSON_IsArray(c);
                for (const cJSON *e = ok ? c->child : NULL; e; e = e->next)
                    if (!cJSON_IsString(e)) ok = false;
                if (!ok) {
                    diag(b, c, "'%s' of 'dependentRequired' must be an array of strings",
                         c->string);
                    return false;
                }
            }
            return true;
        }
        diag(b, v, "keyword 'dependentRequired' must be an object");
        return false;
    }
    return true;
}

/* ---- compiler ------------------------------------------------------------------------------ */

#define MAX_SCHEMA_OPS 48

typedef struct {
    sop v[MAX_SCHEMA_OPS];
    int n;
} opbuf;

static void emit(opbuf *ob, int code, int32_t a, int32_t b, int32_t c, double n)
{
    if (ob->n < MAX_SCHEMA_OPS) ob->v[ob->n++] = (sop){(uint8_t)code, a, b, c, n};
}

static int compile(schema_builder *b, const cJSON *node, int32_t base, const char *loc,
                   int32_t *out);

/* Compiles the child `node` found at loc + "/" + seg1 [+ "/" + seg2]. */
static int compile_child(schema_builder *b, const cJSON *node, int32_t base, const char *loc,
                         const char *seg1, const char *seg2, int32_t *out)
{
    int32_t nb = pmap_get(&b->node_base, node);
    sl_buf s = {0};
    sl_buf_puts(&s, loc);
    sl_buf_ptr_seg(&s, seg1);
    if (seg2) sl_buf_ptr_seg(&s, seg2);
    if (s.oom) return SL_ENOMEM;
    int rc = compile(b, node, nb >= 0 ? nb : base, s.p, out);
    sl_buf_free(&s);
    return rc;
}

/* ECMA-262 regexes name Unicode properties in long form (\p{Letter}, \p{Script=Greek},
 * \p{gc=Lu}); PCRE2 10.42 knows the short general-category names and bare script names.
 * Rewrites those escapes; everything else is passed through. Returns a malloc'd pattern. */
static char *regex_translate(const char *src)
{
    static const char *const gc[][2] = {
        {"Letter", "L"},
        {"Cased_Letter", "L&"},
        {"Uppercase_Letter", "Lu"},
        {"Lowercase_Letter", "Ll"},
        {"Titlecase_Letter", "Lt"},
        {"Modifier_Letter", "Lm"},
        {"Other_Letter", "Lo"},
        {"Mark", "M"},
        {"Combining_Mark", "M"},
        {"Nonspacing_Mark", "Mn"},
        {"Spacing_Mark", "Mc"},
        {"Enclosing_Mark", "Me"},
        {"Number", "N"},
        {"Decimal_Number", "Nd"},
        {"digit", "Nd"},
        {"Letter_Number", "Nl"},
        {"Other_Number", "No"},
        {"Punctuation", "P"},
        {"punct", "P"},
        {"Connector_Punctuation", "Pc"},
        {"Dash_Punctuation", "Pd"},
        {"Open_Punctuation", "Ps"},
        {"Close_Punctuation", "Pe"},
        {"Initial_Punctuation", "Pi"},
        {"Final_Punctuation", "Pf"},
        {"Other_Punctuation", "Po"},
        {"Symbol", "S"},
        {"Math_Symbol", "Sm"},
        {"Currency_Symbol", "Sc"},
        {"Modifier_Symbol", "Sk"},
        {"Other_Symbol", "So"},
        {"Separator", "Z"},
        {"Space_Separator", "Zs"},
        {"Line_Separator", "Zl"},
        {"Paragraph_Separator", "Zp"},
        {"Other", "C"},
        {"Control", "Cc"},
        {"cntrl", "Cc"},
        {"Format", "Cf"},
        {"Surrogate", "Cs"},
        {"Private_Use", "Co"},
        {"Unassigned", "Cn"},
    };
    sl_buf o = {0};
    sl_buf_puts(&o, "");
    for (const char *q = src; *q;) {
        if (q[0] == '\\' && (q[1] == 'p' || q[1] == 'P') && q[2] == '{') {
            const char *end = strchr(q + 3, '}');
            if (end) {
                const char *name = q + 3;
                size_t n = (size_t)(end - name);
                const char *eq = memchr(name, '=', n);
                if (eq) { /* gc=X, General_Category=X, sc=X, Script=X, scx=X ... */
                    n -= (size_t)(eq + 1 - name);
                    name = eq + 1;
                }
                const char *rep = NULL;
                for (size_t i = 0; i < sizeof gc / sizeof gc[0] && !rep; i++)
                    if (strlen(gc[i][0]) == n && !strncmp(gc[i][0], name, n)) rep = gc[i][1];
                sl_buf_put(&o, q, 3);
                if (rep)
                    sl_buf_puts(&o, rep);
                else
                    sl_buf_put(&o, name, n);
                sl_buf_put(&o, "}", 1);
                q = end + 1;
                continue;
            }
        }
        /* \uXXXX (a surrogate pair as one code point) and \u{X...}: PCRE2 spells \x{...} */
        unsigned cp, lo;
        int used = 0;
        if (q[0] == '\\' && q[1] == 'u' && sscanf(q + 2, "%4x%n", &cp, &used) == 1 && used == 4 &&
            isxdigit((unsigned char)q[2]) && isxdigit((unsigned char)q[5])) {
            q += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF && q[0] == '\\' && q[1] == 'u' &&
                sscanf(q + 2, "%4x%n", &lo, &used) == 1 && used == 4 && lo >= 0xDC00 &&
                lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                q += 6;
            }
            sl_buf_printf(&o, "\\x{%X}", cp);
            continue;
        }
        if (q[0] == '\\' && q[1] == 'u' && q[2] == '{' && isxdigit((unsigned char)q[3])) {
            const char *end = q + 3;
            while (isxdigit((unsigned char)*end))
                end++;
            if (*end == '}') {
                sl_buf_puts(&o, "\\x{");
                sl_buf_put(&o, q + 3, (size_t)(end - q - 3));
                sl_buf_puts(&o, "}");
                q = end + 1;
                continue;
            }
        }
        if (q[0] == '\\' && q[1]) {
            sl_buf_put(&o, q, 2);
            q += 2;
            continue;
        }
        sl_buf_put(&o, q++, 1);
    }
    if (o.oom) {
        sl_buf_free(&o);
        return NULL;
    }
    return o.p;
}

static int regex_add(schema_builder *b, const cJSON *where, const char *kw, const char *src,
                     int32_t *out)
{
    schema_prog *p = b->p;
    for (size_t i = 0; i < p->n_regexes; i++)
        if (strcmp(p->strs[p->regexes[i].src].s, src) == 0) {
            *out = (int32_t)i;
            return 0;
        }
    int errcode;
    PCRE2_SIZE erroff;
    char *pat = regex_translate(src);
    if (!pat) return SL_ENOMEM;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
                                     PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY,
                                     &errcode, &erroff, NULL);
    free(pat);
    if (!code) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        diag(b, where, "invalid regular expression in '%s': '%s': %s at offset %zu", kw, src,
             (char *)msg, (size_t)erroff);
        *out = -1;
        return 0;
    }
    bool jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
    int sid = str_add(p, src);
    int id = sid < 0 ? -1 : VPUSH(p, regexes, ((sregex){code, sid, jit}));
    if (id < 0) {
        pcre2_code_free(code);
        return SL_ENOMEM;
    }
    *out = id;
    return 0;
}

int schema_regex_check(const char *src, char *err, size_t cap)
{
    char *pat = regex_translate(src);
    if (!pat) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    int errcode;
    PCRE2_SIZE erroff;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
                                     PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY,
                                     &errcode, &erroff, NULL);
    free(pat);
    if (code) {
        pcre2_code_free(code);
        return 0;
    }
    PCRE2_UCHAR msg[160];
    pcre2_get_error_message(errcode, msg, sizeof msg);
    snprintf(err, cap, "%s at offset %zu", (char *)msg, (size_t)erroff);
    return -1;
}

static int const_add(schema_prog *p, const cJSON *v, int32_t *out)
{
    cJSON *d = cJSON_Duplicate(v, 1);
    if (!d) return SL_ENOMEM;
    int id = VPUSH(p, consts, d);
    if (id < 0) {
        cJSON_Delete(d);
        return SL_ENOMEM;
    }
    *out = id;
    return 0;
}

static uint32_t str_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static int ref_add(schema_builder *b, const cJSON *src, int32_t base, bool dyn, int32_t *out)
{
    char *u = uri_resolve(b->bases[base].uri, src->valuestring);
    if (!u) return SL_ENOMEM;
    strip_empty_fragment(u);
    int id = VPUSH(b, refs, ((bref){u, src, dyn, -1, -1}));
    if (id < 0) {
        free(u);
        return SL_ENOMEM;
    }
    if (dyn) b->p->has_dynref = true;
    *out = id;
    return 0;
}

#define TRY(x)                                                                                     \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ < 0) return rc_;                                                                   \
    } while (0)

/* One PROPS op for properties + patternProperties + additionalProperties, and, when there are at
 * most 64 names, `required` too: required names become entries of the property table (with
 * schema -1 when they have no subschema) carrying a bit, so one pass over the members checks
 * everything. Returns 1 when `required` was folded in, 0 when not, or a negative code. */
static int compile_props(schema_builder *b, const cJSON **kv, int32_t base, const char *loc,
                         opbuf *ob)
{
    schema_prog *p = b->p;
    sprops pr = {0, 0, 0, 0, 0, 0, -1, 0, 0};
    const cJSON *props = kv[KW_PROPERTIES], *pats = kv[KW_PATTERN_PROPS];
    const cJSON *addl = kv[KW_ADDITIONAL_PROPS], *req = kv[KW_REQUIRED];
    int np = props ? cJSON_GetArraySize(props) : 0, npat = pats ? cJSON_GetArraySize(pats) : 0;
    int nreq = req ? cJSON_GetArraySize(req) : 0;
    if (nreq > 64) nreq = 0, req = NULL; /* left to the REQUIRED op */
    /* Children first (they append to the pools themselves), then the contiguous lists. */
    snamed *tmp = calloc((size_t)(np + npat + nreq) + 1, sizeof *tmp);
    if (!tmp) return SL_ENOMEM;
    int rc = 0, i = 0;
    for (const cJSON *c = props ? props->child : NULL; c && rc == 0; c = c->next, i++) {
        tmp[i].req = -1;
        rc = compile_child(b, c, base, loc, "properties", c->string, &tmp[i].schema);
        if (rc == 0 && (tmp[i].key = str_add(p, c->string)) < 0) rc = SL_ENOMEM;
    }
    int nall = np; /* properties + required-only names */
    int32_t j = 0;
    pr.req0 = (int32_t)p->n_ints;
    for (const cJSON *c = req ? req->child : NULL; c && rc == 0; c = c->next, j++) {
        int k = 0;
        for (const cJSON *q = props ? props->child : NULL; q; q = q->next, k++)
            if (strcmp(q->string, c->valuestring) == 0) break;
        if (k == np) {
            tmp[nall].schema = -1;
            if ((tmp[nall].key = str_add(p, c->valuestring)) < 0) rc = SL_ENOMEM;
            k = nall++;
        }
        tmp[k].req = j;
        if (rc == 0 && VPUSH(p, ints, tmp[k].key) < 0) rc = SL_ENOMEM;
    }
    pr.nreq = req ? nreq : 0;
    for (const cJSON *c = pats ? pats->child : NULL; c && rc == 0; c = c->next) {
        snamed *t = &tmp[nall + (i++ - np)];
        t->req = -1;
        rc = compile_child(b, c, base, loc, "patternProperties", c->string, &t->schema);
        if (rc == 0) rc = regex_add(b, c, "patternProperties", c->string, &t->key);
    }
    if (rc == 0 && addl)
        rc = compile_child(b, addl, base, loc, "additionalProperties", NULL, &pr.additional);
    if (rc < 0) {
        free(tmp);
        return rc;
    }
    pr.p0 = (int32_t)p->n_named;
    pr.np = nall;
    pr.npat = npat;
    pr.pat0 = pr.p0 + nall;
    for (i = 0; i < nall + npat; i++)
        if (VPUSH(p, named, tmp[i]) < 0) rc = SL_ENOMEM;
    free(tmp);
    if (rc < 0) return rc;
    if (nall >= SCHEMA_PROPS_HASH_MIN) {
        int32_t hn = 1;
        while (hn < 2 * nall)
            hn *= 2;
        pr.h0 = (int32_t)p->n_ints;
        pr.hn = hn;
        for (i = 0; i < hn; i++)
            if (VPUSH(p, ints, -1) < 0) return SL_ENOMEM;
        for (i = 0; i < nall; i++) {
            const sstr *k = &p->strs[p->named[pr.p0 + i].key];
            uint32_t h = str_hash(k->s, k->len) & (uint32_t)(hn - 1);
            while (p->ints[pr.h0 + h] >= 0)
                h = (h + 1) & (uint32_t)(hn - 1);
            p->ints[pr.h0 + h] = i;
        }
    }
    int id = VPUSH(p, props, pr);
    if (id < 0) return SL_ENOMEM;
    emit(ob, SOP_PROPS, id, 0, 0, 0);
    return req != NULL;
}

/* Compiles an array of schemas into a contiguous list in ints[]; *a = start, *n = count. */
static int compile_list(schema_builder *b, const cJSON *arr, int32_t base, const char *loc,
                        const char *kw, int32_t *a, int32_t *n)
{
    int cnt = cJSON_GetArraySize(arr), i = 0;
    int32_t *tmp = calloc((size_t)cnt + 1, sizeof *tmp);
    if (!tmp) return SL_ENOMEM;
    int rc = 0;
    char idx[24];
    for (const cJSON *c = arr->child; c && rc == 0; c = c->next, i++) {
        snprintf(idx, sizeof idx, "%d", i);
        rc = compile_child(b, c, base, loc, kw, idx, &tmp[i]);
    }
    *a = (int32_t)b->p->n_ints;
    *n = cnt;
    for (i = 0; i < cnt && rc == 0; i++)
        if (VPUSH(b->p, ints, tmp[i]) < 0) rc = SL_ENOMEM;
    free(tmp);
    return rc;
}

static int compile_object(schema_builder *b, const cJSON *node, int32_t base, const char *loc,
                          int32_t self)
{
    schema_prog *p = b->p;
    const cJSON *kv[KW__COUNT] = {0};
    for (const cJSON *m = node->child; m; m = m->next) {
        int kw = kw_lookup(m->string);
        if (kw < 0) {
            if (b->o.strict && strncmp(m->string, "x-", 2) != 0) {
                int best = -1, bd = 3;
                for (int i = 0; i < KW__COUNT; i++) {
                    int dd = edit_distance(m->string, kw_names[i]);
                    if (dd < bd) bd = dd, best = i;
                }
                if (best >= 0)
                    diag(b, m, "unknown keyword '%s' (did you mean '%s'?)", m->string,
                         kw_names[best]);
                else
                    diag(b, m, "unknown keyword '%s'", m->string);
            }
            continue;
        }
        if (kv[kw]) {
            diag(b, m, "keyword '%s' appears twice", m->string);
            continue;
        }
        if (kw_check(b, kw, m)) kv[kw] = m;
    }
    /* Keywords with bad values were reported and left out; the rest is still compiled so that
     * errors further down are reported too (the program is discarded at finish). */

    opbuf ob = {.n = 0};
    int32_t a, n, c;
    uint32_t flags = 0;
    int32_t kind = -1;

    if (kv[KW_SLUICE_DIALECT]) {
        schema_dialect dl = dialect_from_name(kv[KW_SLUICE_DIALECT]->valuestring);
        if (dl > 0) flags |= (uint32_t)dl << SF_DIALECT_SHIFT;
    }
    if (kv[KW_SLUICE_KIND]) {
        kind = sl_kind_from_name(kv[KW_SLUICE_KIND]->valuestring);
        if (kind < 0)
            diag(b, kv[KW_SLUICE_KIND], "unknown violation kind '%s'",
                 kv[KW_SLUICE_KIND]->valuestring);
    }
    if (kv[KW_TYPE]) {
        int mask = 0;
        if (cJSON_IsString(kv[KW_TYPE]))
            mask = type_bit(kv[KW_TYPE]->valuestring);
        else
            for (const cJSON *t = kv[KW_TYPE]->child; t; t = t->next)
                mask |= type_bit(t->valuestring);
        emit(&ob, SOP_TYPE, mask, 0, 0, 0);
    }
    if (kv[KW_CONST]) {
        TRY(const_add(p, kv[KW_CONST], &a));
        emit(&ob, SOP_CONST, a, 0, 0, 0);
    }
    if (kv[KW_ENUM]) {
        TRY(const_add(p, kv[KW_ENUM], &a));
        emit(&ob, SOP_ENUM, a, 0, 0, 0);
    }
    if (kv[KW_MIN_LENGTH]) emit(&ob, SOP_MIN_LENGTH, 0, 0, 0, kv[KW_MIN_LENGTH]->valuedouble);
    if (kv[KW_MAX_LENGTH]) emit(&ob, SOP_MAX_LENGTH, 0, 0, 0, kv[KW_MAX_LENGTH]->valuedouble);
    if (kv[KW_PATTERN]) {
        TRY(regex_add(b, kv[KW_PATTERN], "pattern", kv[KW_PATTERN]->valuestring, &a));
        if (a >= 0) emit(&ob, SOP_PATTERN, a, 0, 0, 0);
    }
    if (kv[KW_FORMAT] && b->o.assert_formats) {
        int f = format_lookup(kv[KW_FORMAT]->valuestring);
        if (f < 0) {
            /* Sluice checks every format the 2020-12 vocabulary defines. A format of OpenAPI or
             * draft-03 that it does not check is a warning; any other name is almost certainly
             * a typo ("e-mail") and must not pass silently. */
            static const char *const other_standard[] = {
                "int32", "int64", "float", "double",       "byte",       "binary",    "password",
                "color", "style", "phone", "utc-millisec", "ip-address", "host-name", NULL};
            bool known = false;
            for (const char *const *nm = other_standard; *nm; nm++)
                if (strcmp(*nm, kv[KW_FORMAT]->valuestring) == 0) known = true;
            if (b->o.strict && known)
                warn(b, kv[KW_FORMAT], "format '%s' is not checked by Sluice",
                     kv[KW_FORMAT]->valuestring);
            else if (b->o.strict)
                diag(b, kv[KW_FORMAT],
                     "unknown format '%s' (Sluice checks date-time, date, time, duration, email, "
                     "idn-email, hostname, idn-hostname, ipv4, ipv6, uri, uri-reference, iri, "
                     "iri-reference, uri-template, uuid, json-pointer, relative-json-pointer, "
                     "regex)",
                     kv[KW_FORMAT]->valuestring);
        } else {
            int sid = str_add(p, kv[KW_FORMAT]->valuestring);
            if (sid < 0) return sid;
            emit(&ob, SOP_FORMAT, f, sid, 0, 0);
        }
    }
    static const struct {
        int kw, op;
    } nums[] = {
        {KW_MINIMUM, SOP_MINIMUM},           {KW_MAXIMUM, SOP_MAXIMUM},
        {KW_EXCL_MINIMUM, SOP_EXCL_MINIMUM}, {KW_EXCL_MAXIMUM, SOP_EXCL_MAXIMUM},
        {KW_MULTIPLE_OF, SOP_MULTIPLE_OF},   {KW_MIN_ITEMS, SOP_MIN_ITEMS},
        {KW_MAX_ITEMS, SOP_MAX_ITEMS},       {KW_MIN_PROPS, SOP_MIN_PROPS},
        {KW_MAX_PROPS, SOP_MAX_PROPS},
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        if (kv[nums[i].kw]) emit(&ob, nums[i].op, 0, 0, 0, kv[nums[i].kw]->valuedouble);
    if (kv[KW_UNIQUE_ITEMS] && cJSON_IsTrue(kv[KW_UNIQUE_ITEMS]))
        emit(&ob, SOP_UNIQUE_ITEMS, 0, 0, 0, 0);
    if (kv[KW_PREFIX_ITEMS] || kv[KW_ITEMS]) {
        a = (int32_t)p->n_ints, n = 0, c = -1;
        if (kv[KW_PREFIX_ITEMS])
            TRY(compile_list(b, kv[KW_PREFIX_ITEMS], base, loc, "prefixItems", &a, &n));
        if (kv[KW_ITEMS]) TRY(compile_child(b, kv[KW_ITEMS], base, loc, "items", NULL, &c));
        emit(&ob, SOP_ITEMS, a, n, c, 0);
    }
    if (kv[KW_CONTAINS]) {
        TRY(compile_child(b, kv[KW_CONTAINS], base, loc, "contains", NULL, &a));
        int32_t mn = kv[KW_MIN_CONTAINS] ? (int32_t)fmin(kv[KW_MIN_CONTAINS]->valuedouble, 1e9) : 1;
        int32_t mx =
            kv[KW_MAX_CONTAINS] ? (int32_t)fmin(kv[KW_MAX_CONTAINS]->valuedouble, 1e9) : -1;
        emit(&ob, SOP_CONTAINS, a, mn, mx, 0);
    }
    if (kv[KW_DEP_REQUIRED] && kv[KW_DEP_REQUIRED]->child) {
        int32_t start = (int32_t)p->n_depreq, cnt = 0;
        for (const cJSON *d = kv[KW_DEP_REQUIRED]->child; d; d = d->next, cnt++) {
            sdepreq dr = {str_add(p, d->string), (int32_t)p->n_ints, 0};
            if (dr.prop < 0) return SL_ENOMEM;
            for (const cJSON *e = d->child; e; e = e->next, dr.n++) {
                int sid = str_add(p, e->valuestring);
                if (sid < 0 || VPUSH(p, ints, sid) < 0) return SL_ENOMEM;
            }
            if (VPUSH(p, depreq, dr) < 0) return SL_ENOMEM;
        }
        emit(&ob, SOP_DEP_REQUIRED, start, cnt, 0, 0);
    }
    bool req_done = !kv[KW_REQUIRED] || !kv[KW_REQUIRED]->child;
    if (kv[KW_PROPERTIES] || kv[KW_PATTERN_PROPS] || kv[KW_ADDITIONAL_PROPS]) {
        int folded = compile_props(b, kv, base, loc, &ob);
        if (folded < 0) return folded;
        if (folded) req_done = true;
    }
    if (!req_done) {
        int32_t start = (int32_t)p->n_ints, cnt = 0;
        for (const cJSON *e = kv[KW_REQUIRED]->child; e; e = e->next, cnt++) {
            int sid = str_add(p, e->valuestring);
            if (sid < 0 || VPUSH(p, ints, sid) < 0) return SL_ENOMEM;
        }
        emit(&ob, SOP_REQUIRED, start, cnt, 0, 0);
    }

    if (kv[KW_PROPERTY_NAMES]) {
        TRY(compile_child(b, kv[KW_PROPERTY_NAMES], base, loc, "propertyNames", NULL, &a));
        emit(&ob, SOP_PROPERTY_NAMES, a, 0, 0, 0);
    }
    if (kv[KW_DEP_SCHEMAS] && kv[KW_DEP_SCHEMAS]->child) {
        int cnt = cJSON_GetArraySize(kv[KW_DEP_SCHEMAS]), i = 0;
        int32_t *tmp = calloc((size_t)cnt * 2, sizeof *tmp);
        if (!tmp) return SL_ENOMEM;
        int rc = 0;
        for (const cJSON *d = kv[KW_DEP_SCHEMAS]->child; d && rc == 0; d = d->next, i++) {
            rc = compile_child(b, d, base, loc, "dependentSchemas", d->string, &tmp[2 * i + 1]);
            if (rc == 0 && (tmp[2 * i] = str_add(p, d->string)) < 0) rc = SL_ENOMEM;
        }
        int32_t start = (int32_t)p->n_named;
        for (i = 0; i < cnt && rc == 0; i++)
            if (VPUSH(p, named, ((snamed){tmp[2 * i], tmp[2 * i + 1], -1})) < 0) rc = SL_ENOMEM;
        free(tmp);
        if (rc < 0) return rc;
        emit(&ob, SOP_DEP_SCHEMAS, start, cnt, 0, 0);
    }
    if (kv[KW_REF]) {
        TRY(ref_add(b, kv[KW_REF], base, false, &a));
        emit(&ob, SOP_REF, a, 0, 0, 0);
    }
    if (kv[KW_DYNREF]) {
        TRY(ref_add(b, kv[KW_DYNREF], base, true, &a));
        emit(&ob, SOP_DYNREF, a, -1, 0, 0);
    }
    static const struct {
        int kw, op;
        const char *name;
    } lists[] = {{KW_ALL_OF, SOP_ALL_OF, "allOf"},
                 {KW_ANY_OF, SOP_ANY_OF, "anyOf"},
                 {KW_ONE_OF, SOP_ONE_OF, "oneOf"}};
    for (size_t i = 0; i < 3; i++) {
        if (!kv[lists[i].kw]) continue;
        TRY(compile_list(b, kv[lists[i].kw], base, loc, lists[i].name, &a, &n));
        emit(&ob, lists[i].op, a, n, 0, 0);
    }
    if (kv[KW_NOT]) {
        TRY(compile_child(b, kv[KW_NOT], base, loc, "not", NULL, &a));
        emit(&ob, SOP_NOT, a, 0, 0, 0);
    }
    if (kv[KW_IF]) {
        int32_t t = -1, e = -1;
        TRY(compile_child(b, kv[KW_IF], base, loc, "if", NULL, &a));
        if (kv[KW_THEN]) TRY(compile_child(b, kv[KW_THEN], base, loc, "then", NULL, &t));
        if (kv[KW_ELSE]) TRY(compile_child(b, kv[KW_ELSE], base, loc, "else", NULL, &e));
        emit(&ob, SOP_IF, a, t, e, 0);
    }
    /* Subschemas that are never applied still get compiled, so their errors are reported and
     * refs into them are cheap: $defs, then/else without if, contentSchema. */
    if (kv[KW_DEFS])
        for (const cJSON *d = kv[KW_DEFS]->child; d; d = d->next)
            TRY(compile_child(b, d, base, loc, "$defs", d->string, &a));
    if (kv[KW_UNEVAL_PROPS]) {
        TRY(compile_child(b, kv[KW_UNEVAL_PROPS], base, loc, "unevaluatedProperties", NULL, &a));
        emit(&ob, SOP_UNEVAL_PROPS, a, 0, 0, 0);
        flags |= SF_UEP;
    }
    if (kv[KW_UNEVAL_ITEMS]) {
        TRY(compile_child(b, kv[KW_UNEVAL_ITEMS], base, loc, "unevaluatedItems", NULL, &a));
        emit(&ob, SOP_UNEVAL_ITEMS, a, 0, 0, 0);
        flags |= SF_UEI;
    }
    sschema *s = &p->schemas[self];
    s->op0 = (int32_t)p->n_ops;
    s->nops = ob.n;
    s->kind = kind;
    s->flags |= flags;
    for (int i = 0; i < ob.n; i++)
        if (VPUSH(p, ops, ob.v[i]) < 0) return SL_ENOMEM;
    return 0;
}

static int compile(schema_builder *b, const cJSON *node, int32_t base, const char *loc,
                   int32_t *out)
{
    schema_prog *p = b->p;
    int32_t have = pmap_get(&b->node_schema, node);
    if (have >= 0) {
        *out = have;
        return 0;
    }
    if (!is_schema_node(node)) {
        diag(b, node, "a schema must be an object or a boolean");
        *out = -1;
        return 0;
    }
    char *l = xstrdup(loc);
    if (!l) return SL_ENOMEM;
    int32_t self = VPUSH(p, schemas, ((sschema){0, 0, -1, b->bases[base].res, 0, l}));
    if (self < 0) {
        free(l);
        return SL_ENOMEM;
    }
    TRY(pmap_put(&b->node_schema, node, self));
    *out = self;
    if (cJSON_IsBool(node)) {
        if (cJSON_IsFalse(node)) {
            p->schemas[self].flags = SF_FALSE;
            p->schemas[self].op0 = (int32_t)p->n_ops;
            p->schemas[self].nops = 1;
            if (VPUSH(p, ops, ((sop){SOP_FALSE, 0, 0, 0, 0})) < 0) return SL_ENOMEM;
        }
        return 0;
    }
    return compile_object(b, node, base, loc, self);
}

/* A small hand-written subset of the 2020-12 meta-schema: checks keyword value types, so that
 * "$ref": "https://json-schema.org/draft/2020-12/schema" works offline. */
static const char builtin_meta[] =
    "{\"$id\":\"https://json-schema.org/draft/2020-12/schema\",\"$dynamicAnchor\":\"meta\","
    "\"type\":[\"object\",\"boolean\"],"
    "\"$defs\":{\"nn\":{\"type\":\"integer\",\"minimum\":0},"
    "\"arr\":{\"type\":\"array\",\"minItems\":1,\"items\":{\"$dynamicRef\":\"#meta\"}},"
    "\"map\":{\"type\":\"object\",\"additionalProperties\":{\"$dynamicRef\":\"#meta\"}},"
    "\"strs\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"uniqueItems\":true},"
    "\"tn\":{\"enum\":[\"array\",\"boolean\",\"integer\",\"null\",\"number\",\"object\","
    "\"string\"]}},"
    "\"properties\":{"
    "\"$id\":{\"type\":\"string\",\"pattern\":\"^[^#]*#?$\"},\"$schema\":{\"type\":\"string\"},"
    "\"$ref\":{\"type\":\"string\"},"
    "\"$anchor\":{\"type\":\"string\",\"pattern\":\"^[A-Za-z_][-A-Za-z0-9._]*$\"},"
    "\"$dynamicRef\":{\"type\":\"string\"},"
    "\"$dynamicAnchor\":{\"type\":\"string\",\"pattern\":\"^[A-Za-z_][-A-Za-z0-9._]*$\"},"
    "\"$comment\":{\"type\":\"string\"},\"$defs\":{\"$ref\":\"#/$defs/map\"},"
    "\"prefixItems\":{\"$ref\":\"#/$defs/arr\"},\"items\":{\"$dynamicRef\":\"#meta\"},"
    "\"contains\":{\"$dynamicRef\":\"#meta\"},\"additionalProperties\":{\"$dynamicRef\":\"#meta\"},"
    "\"properties\":{\"$ref\":\"#/$defs/map\"},\"patternProperties\":{\"$ref\":\"#/$defs/map\"},"
    "\"dependentSchemas\":{\"$ref\":\"#/$defs/map\"},"
    "\"propertyNames\":{\"$dynamicRef\":\"#meta\"},\"if\":{\"$dynamicRef\":\"#meta\"},"
    "\"then\":{\"$dynamicRef\":\"#meta\"},\"else\":{\"$dynamicRef\":\"#meta\"},"
    "\"not\":{\"$dynamicRef\":\"#meta\"},\"allOf\":{\"$ref\":\"#/$defs/arr\"},"
    "\"anyOf\":{\"$ref\":\"#/$defs/arr\"},\"oneOf\":{\"$ref\":\"#/$defs/arr\"},"
    "\"unevaluatedItems\":{\"$dynamicRef\":\"#meta\"},"
    "\"unevaluatedProperties\":{\"$dynamicRef\":\"#meta\"},"
    "\"type\":{\"anyOf\":[{\"$ref\":\"#/$defs/tn\"},{\"type\":\"array\",\"items\":{\"$ref\":"
    "\"#/$defs/tn\"},\"minItems\":1,\"uniqueItems\":true}]},"
    "\"enum\":{\"type\":\"array\"},\"multipleOf\":{\"type\":\"number\",\"exclusiveMinimum\":0},"
    "\"maximum\":{\"type\":\"number\"},\"exclusiveMaximum\":{\"type\":\"number\"},"
    "\"minimum\":{\"type\":\"number\"},\"exclusiveMinimum\":{\"type\":\"number\"},"
    "\"maxLength\":{\"$ref\":\"#/$defs/nn\"},\"minLength\":{\"$ref\":\"#/$defs/nn\"},"
    "\"pattern\":{\"type\":\"string\",\"format\":\"regex\"},"
    "\"maxItems\":{\"$ref\":\"#/$defs/nn\"},\"minItems\":{\"$ref\":\"#/$defs/nn\"},"
    "\"uniqueItems\":{\"type\":\"boolean\"},\"maxContains\":{\"$ref\":\"#/$defs/nn\"},"
    "\"minContains\":{\"$ref\":\"#/$defs/nn\"},\"maxProperties\":{\"$ref\":\"#/$defs/nn\"},"
    "\"minProperties\":{\"$ref\":\"#/$defs/nn\"},\"required\":{\"$ref\":\"#/$defs/strs\"},"
    "\"dependentRequired\":{\"type\":\"object\",\"additionalProperties\":{\"$ref\":"
    "\"#/$defs/strs\"}},"
    "\"format\":{\"type\":\"string\"},\"title\":{\"type\":\"string\"},"
    "\"description\":{\"type\":\"string\"},\"deprecated\":{\"type\":\"boolean\"},"
    "\"readOnly\":{\"type\":\"boolean\"},\"writeOnly\":{\"type\":\"boolean\"},"
    "\"examples\":{\"type\":\"array\"}}}";

static const char builtin_meta_uri[] = "https://json-schema.org/draft/2020-12/schema";
/* The older drafts' meta-schemas, by URI without the empty fragment. */
static const char *const builtin_older_uri[] = {
    "https://json-schema.org/draft/2019-09/schema", "http://json-schema.org/draft-07/schema",
    "http://json-schema.org/draft-06/schema", "http://json-schema.org/draft-04/schema"};

/* The same subset as an older draft's meta-schema (older = index into builtin_older_uri):
 * written in 2020-12 keywords (its own $schema says so, so a document of that draft that refers
 * to it still reads it right), with the array form of `items`, `additionalItems`, and
 * `definitions`/`dependencies`; draft-04's boolean exclusive bounds. */
static cJSON *builtin_meta_older(size_t older)
{
    cJSON *m = cJSON_Parse(builtin_meta);
    cJSON *props = cJSON_GetObjectItemCaseSensitive(m, "properties");
    if (!props) goto fail;
    cJSON_ReplaceItemInObjectCaseSensitive(m, "$id", cJSON_CreateString(builtin_older_uri[older]));
    if (older == 3)
        for (int i = 0; i < 2; i++) {
            cJSON *b = cJSON_CreateObject();
            cJSON_AddStringToObject(b, "type", "boolean");
            cJSON_ReplaceItemInObjectCaseSensitive(props,
                                                   i ? "exclusiveMaximum" : "exclusiveMinimum", b);
        }
    cJSON_AddStringToObject(m, "$schema", builtin_meta_uri);
    cJSON *items =
        cJSON_Parse("{\"anyOf\":[{\"$dynamicRef\":\"#meta\"},{\"$ref\":\"#/$defs/arr\"}]}");
    cJSON *more = cJSON_Parse("{\"additionalItems\":{\"$dynamicRef\":\"#meta\"},"
                              "\"$recursiveRef\":{\"type\":\"string\"},"
                              "\"$recursiveAnchor\":{\"type\":\"boolean\"},"
                              "\"definitions\":{\"$ref\":\"#/$defs/map\"},"
                              "\"dependencies\":{\"type\":\"object\"}}");
    if (!items || !more) {
        cJSON_Delete(items);
        cJSON_Delete(more);
        goto fail;
    }
    cJSON_ReplaceItemInObjectCaseSensitive(props, "items", items);
    cJSON *anchor = cJSON_GetObjectItemCaseSensitive(props, "$anchor");
    cJSON_ReplaceItemInObjectCaseSensitive(anchor, "pattern",
                                           cJSON_CreateString("^[A-Za-z][-A-Za-z0-9.:_]*$"));
    while (more->child) {
        cJSON *x = cJSON_DetachItemViaPointer(more, more->child);
        cJSON_AddItemToObject(props, x->string, x);
    }
    cJSON_Delete(more);
    return m;
fail:
    cJSON_Delete(m);
    return NULL;
}

static int add_tree(schema_builder *b, const cJSON *schema, const char *base_uri, int32_t *out);

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Finds the node a resolved URI names; *base gets the base to compile it with. */
static const cJSON *resolve_node(schema_builder *b, const char *uri, int32_t *base, int *err)
{
    *err = 0;
    const char *hash = strchr(uri, '#');
    size_t ndoc = hash ? (size_t)(hash - uri) : strlen(uri);
    const bres *r = res_find(b, uri, ndoc);
    size_t older = 0;
    while (older < 4 && !(ndoc == strlen(builtin_older_uri[older]) &&
                          !strncmp(uri, builtin_older_uri[older], ndoc)))
        older++;
    bool meta20 = ndoc == strlen(builtin_meta_uri) && !strncmp(uri, builtin_meta_uri, ndoc);
    if (!r && (meta20 || older < 4)) {
        cJSON *m = meta20 ? cJSON_Parse(builtin_meta) : builtin_meta_older(older);
        int32_t root;
        if (!m || VPUSH(b, owned, m) < 0) {
            cJSON_Delete(m);
            *err = SL_ENOMEM;
            return NULL;
        }
        const char *muri = meta20 ? builtin_meta_uri : builtin_older_uri[older];
        if ((*err = add_tree(b, m, muri, &root)) < 0) return NULL;
        r = res_find(b, uri, ndoc);
    }
    if (!r) return NULL;
    if (!hash || !hash[1]) {
        *base = r->base;
        return r->node;
    }
    const char *frag = hash + 1;
    if (frag[0] != '/') {
        const bres *a = res_find(b, uri, strlen(uri));
        if (!a) return NULL;
        *base = a->base;
        return a->node;
    }
    /* JSON Pointer: percent-decode, then walk segment by segment. */
    size_t fl = strlen(frag);
    char *dec = malloc(fl + 1);
    if (!dec) {
        *err = SL_ENOMEM;
        return NULL;
    }
    size_t dn = 0;
    for (size_t i = 0; i < fl; i++) {
        int h1 = i + 2 < fl ? hexval(frag[i + 1]) : -1, h2 = h1 >= 0 ? hexval(frag[i + 2]) : -1;
        if (frag[i] == '%' && h1 >= 0 && h2 >= 0) {
            dec[dn++] = (char)(h1 * 16 + h2);
            i += 2;
        } else {
            dec[dn++] = frag[i];
        }
    }
    dec[dn] = '\0';
    const cJSON *cur = r->node;
    *base = r->base;
    char *seg = dec + 1;
    while (cur) {
        char *end = strchr(seg, '/');
        if (end) *end = '\0';
        /* unescape ~1 and ~0 in place */
        char *w = seg;
        for (char *q = seg; *q; q++) {
            if (q[0] == '~' && q[1] == '1')
                *w++ = '/', q++;
            else if (q[0] == '~' && q[1] == '0')
                *w++ = '~', q++;
            else
                *w++ = *q;
        }
        *w = '\0';
        if (cJSON_IsObject(cur)) {
            cur = cJSON_GetObjectItemCaseSensitive(cur, seg);
        } else if (cJSON_IsArray(cur)) {
            char *e;
            long idx = strtol(seg, &e, 10);
            cur = (*seg && !*e && idx >= 0) ? cJSON_GetArrayItem(cur, (int)idx) : NULL;
        } else {
            cur = NULL;
        }
        if (cur) {
            int32_t nb = pmap_get(&b->node_base, cur);
            if (nb >= 0) *base = nb;
        }
        if (!end) break;
        seg = end + 1;
    }
    free(dec);
    return cur;
}

static int add_tree(schema_builder *b, const cJSON *schema, const char *base_uri, int32_t *out)
{
    char *u = xstrdup(base_uri);
    if (!u) return SL_ENOMEM;
    strip_empty_fragment(u);
    int base = base_take(b, u);
    if (base < 0) return base;
    int rc = res_add(b, b->bases[base].uri, schema, base);
    if (rc < 0) return rc;
    if ((rc = scan(b, schema, base, 0)) < 0) return rc;
    int32_t nb = pmap_get(&b->node_base, schema);
    if (nb < 0) nb = base;
    sl_buf loc = {0};
    sl_buf_puts(&loc, b->bases[nb].uri);
    sl_buf_put(&loc, "#", 1);
    if (loc.oom) return SL_ENOMEM;
    rc = compile(b, schema, nb, loc.p, out);
    sl_buf_free(&loc);
    return rc;
}

int schema_builder_add(schema_builder *b, const cJSON *schema, const char *base_uri, sl_diags *d)
{
    if (b->finished) return SL_EUSAGE;
    b->d = d;
    size_t nerr0 = b->nerr;
    char tmp[48];
    if (!base_uri) {
        snprintf(tmp, sizeof tmp, "sluice:root/%zu", b->p->n_roots);
        base_uri = tmp;
    }
    /* The slot is taken even on failure, so root ids stay in step with the calls. */
    int id = VPUSH(b->p, roots, -1);
    if (id < 0) return SL_ENOMEM;
    int32_t idx = -1;
    if (!is_schema_node(schema)) {
        diag(b, schema, "a schema must be an object or a boolean");
        return SL_ESCHEMA;
    }
    schema_dialect dl = b->o.dialect;
    const cJSON *sch =
        cJSON_IsObject(schema) ? cJSON_GetObjectItemCaseSensitive(schema, "$schema") : NULL;
    if (cJSON_IsString(sch) && dialect_from_uri(sch->valuestring) > 0)
        dl = dialect_from_uri(sch->valuestring);
    const cJSON *unknown = NULL;
    bool older = dialect_scan(schema, dl, &unknown);
    if (unknown && b->o.strict) {
        diag(b, unknown,
             "unknown $schema \"%s\" (known: draft-04, draft-06, draft-07, 2019-09 and 2020-12 of "
             "json-schema.org, and Iglu's self-describing meta-schema)",
             unknown->valuestring);
        return SL_ESCHEMA;
    }
    if (older) {
        /* An older dialect here or in a nested resource: compiled from a 2020-12 rewrite the
         * builder owns (positions in diagnostics are then unknown). */
        cJSON *cp = cJSON_Duplicate(schema, 1);
        if (!cp || VPUSH(b, owned, cp) < 0) {
            cJSON_Delete(cp);
            return SL_ENOMEM;
        }
        if (dialect_upgrade(cp, dl)) return SL_ENOMEM;
        schema = cp;
    }
    int rc = add_tree(b, schema, base_uri, &idx);
    if (rc < 0) return rc;
    if (b->nerr != nerr0 || idx < 0) return SL_ESCHEMA;
    b->p->roots[id] = idx;
    return id;
}

int schema_builder_finish(schema_builder *b, schema_prog **out, sl_diags *d)
{
    *out = NULL;
    if (b->finished) return SL_EUSAGE;
    b->finished = true;
    b->d = d;
    schema_prog *p = b->p;
    for (size_t i = 0; i < b->n_refs; i++) { /* grows while targets compile */
        int32_t base = 0;
        int err;
        const cJSON *n = resolve_node(b, b->refs[i].uri, &base, &err);
        if (err < 0) return err;
        if (!n) {
            diag(b, b->refs[i].src, "cannot resolve %s '%s'",
                 b->refs[i].dyn ? "$dynamicRef" : "$ref", b->refs[i].src->valuestring);
            continue;
        }
        int32_t t;
        int rc = compile(b, n, base, b->refs[i].uri, &t);
        if (rc < 0) return rc;
        b->refs[i].target = t;
        if (b->refs[i].dyn) {
            const char *h = strchr(b->refs[i].uri, '#');
            const cJSON *da = cJSON_GetObjectItemCaseSensitive(n, "$dynamicAnchor");
            if (h && h[1] && h[1] != '/' && cJSON_IsString(da) && !strcmp(da->valuestring, h + 1)) {
                int nm = str_intern(p, h + 1);
                if (nm < 0) return nm;
                b->refs[i].name = nm;
            }
        }
    }
    if (p->has_dynref) {
        for (size_t i = 0; i < b->n_dyns; i++) { /* compiling may add refs: resolved below */
            int32_t t;
            int rc =
                compile(b, b->dyns[i].node, b->dyns[i].base, b->bases[b->dyns[i].base].uri, &t);
            if (rc < 0) return rc;
            int nm = str_intern(p, b->dyns[i].name);
            if (nm < 0) return nm;
            if (VPUSH(p, dyns, ((sdyn){b->bases[b->dyns[i].base].res, nm, t})) < 0)
                return SL_ENOMEM;
        }
        /* Refs added by the dynamic anchors' schemas. */
        for (size_t i = 0; i < b->n_refs; i++) {
            if (b->refs[i].target >= 0) continue;
            int32_t base = 0;
            int err;
            const cJSON *n = resolve_node(b, b->refs[i].uri, &base, &err);
            if (err < 0) return err;
            if (!n) {
                diag(b, b->refs[i].src, "cannot resolve $ref '%s'", b->refs[i].src->valuestring);
                continue;
            }
            int rc = compile(b, n, base, b->refs[i].uri, &b->refs[i].target);
            if (rc < 0) return rc;
        }
    }
    if (b->nerr) return SL_ESCHEMA;
    for (size_t i = 0; i < p->n_ops; i++) {
        sop *o = &p->ops[i];
        if (o->code == SOP_REF || o->code == SOP_DYNREF) {
            const bref *r = &b->refs[o->a];
            o->a = r->target;
            if (o->code == SOP_DYNREF) o->b = r->name;
        }
    }
    *out = p;
    b->p = NULL;
    return 0;
}

/* ==== disassembler ============================================================================ */

static void dump_str(FILE *f, const char *s)
{
    char buf[VIO_TEXT_MAX];
    cJSON tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.type = cJSON_String;
    tmp.valuestring = (char *)s;
    fputs(vio_render(buf, sizeof buf, &tmp), f);
}

static void dump_schema_ref(FILE *f, const schema_prog *p, int32_t s)
{
    if (s < 0)
        fputs("-", f);
    else if (p->schemas[s].nops == 0)
        fprintf(f, "s%d(true)", s);
    else if (p->schemas[s].flags & SF_FALSE)
        fprintf(f, "s%d(false)", s);
    else
        fprintf(f, "s%d", s);
}

void schema_prog_dump(const schema_prog *p, FILE *f)
{
    fprintf(f, "schema program: %zu roots, %zu schemas, %zu ops, %zu constants, %zu regexes\n",
            p->n_roots, p->n_schemas, p->n_ops, p->n_consts, p->n_regexes);
    for (size_t i = 0; i < p->n_roots; i++)
        fprintf(f, "root %zu -> s%d\n", i, p->roots[i]);
    for (size_t si = 0; si < p->n_schemas; si++) {
        const sschema *s = &p->schemas[si];
        fprintf(f, "s%zu: %s", si, s->loc);
        if (s->kind >= 0) fprintf(f, " [kind %s]", sl_kind_name((sl_kind)s->kind));
        if ((s->flags >> SF_DIALECT_SHIFT) & 15)
            fprintf(f, " [dialect %s]",
                    dialect_name((schema_dialect)((s->flags >> SF_DIALECT_SHIFT) & 15)));
        if (s->flags & SF_UEP) fputs(" [tracks properties]", f);
        if (s->flags & SF_UEI) fputs(" [tracks items]", f);
        if (s->nops == 0) fputs(" (true)", f);
        fputc('\n', f);
        for (int32_t k = 0; k < s->nops; k++) {
            const sop *o = &p->ops[s->op0 + k];
            if (op_args[o->code] == SCHEMA_ARGS_NONE)
                fprintf(f, "  %04d  %s", s->op0 + k, op_names[o->code]);
            else
                fprintf(f, "  %04d  %-14s ", s->op0 + k, op_names[o->code]);
            char buf[VIO_TEXT_MAX];
            switch (op_args[o->code]) {
            case SCHEMA_ARGS_NONE:
                break;
            case SCHEMA_ARGS_MASK:
                for (int t = 0, first = 1; t < 7; t++)
                    if (o->a & (1 << t)) {
                        fprintf(f, "%s%s", first ? "" : "|", type_names[t]);
                        first = 0;
                    }
                break;
            case SCHEMA_ARGS_CONST:
                fprintf(f, "c%d %s", o->a, vio_render(buf, sizeof buf, p->consts[o->a]));
                break;
            case SCHEMA_ARGS_NUM:
                fprintf(f, "%.17g", o->n);
                break;
            case SCHEMA_ARGS_REGEX:
                fprintf(f, "r%d /%s/", o->a, p->strs[p->regexes[o->a].src].s);
                break;
            case SCHEMA_ARGS_FORMAT:
                fprintf(f, "%s", p->strs[o->b].s);
                break;
            case SCHEMA_ARGS_STRS:
                for (int32_t i = 0; i < o->b; i++) {
                    if (i) fputc(',', f);
                    dump_str(f, p->strs[p->ints[o->a + i]].s);
                }
                break;
            case SCHEMA_ARGS_DEPREQ:
                for (int32_t i = 0; i < o->b; i++) {
                    const sdepreq *d = &p->depreq[o->a + i];
                    if (i) fputs("; ", f);
                    dump_str(f, p->strs[d->prop].s);
                    fputs(" -> ", f);
                    for (int32_t j = 0; j < d->n; j++) {
                        if (j) fputc(',', f);
                        dump_str(f, p->strs[p->ints[d->a + j]].s);
                    }
                }
                break;
            case SCHEMA_ARGS_PROPS: {
                const sprops *pr = &p->props[o->a];
                fprintf(f, "{");
                for (int32_t i = 0; i < pr->np; i++) {
                    if (i) fputc(',', f);
                    const snamed *nm = &p->named[pr->p0 + i];
                    dump_str(f, p->strs[nm->key].s);
                    if (nm->req >= 0) fputc('!', f);
                    if (nm->schema >= 0) {
                        fputc(':', f);
                        dump_schema_ref(f, p, nm->schema);
                    }
                }
                fprintf(f, "}%s%s", pr->nreq ? " (! = required)" : "", pr->hn ? " hashed" : "");
                for (int32_t i = 0; i < pr->npat; i++) {
                    const snamed *nm = &p->named[pr->pat0 + i];
                    fprintf(f, " /%s/:", p->strs[p->regexes[nm->key].src].s);
                    dump_schema_ref(f, p, nm->schema);
                }
                if (pr->additional >= 0) {
                    fputs(" additional:", f);
                    dump_schema_ref(f, p, pr->additional);
                }
                break;
            }
            case SCHEMA_ARGS_SCHEMA:
                dump_schema_ref(f, p, o->a);
                break;
            case SCHEMA_ARGS_NAMED:
                for (int32_t i = 0; i < o->b; i++) {
                    if (i) fputc(',', f);
                    dump_str(f, p->strs[p->named[o->a + i].key].s);
                    fputc(':', f);
                    dump_schema_ref(f, p, p->named[o->a + i].schema);
                }
                break;
            case SCHEMA_ARGS_ITEMS:
                fputs("prefix [", f);
                for (int32_t i = 0; i < o->b; i++) {
                    if (i) fputc(',', f);
                    dump_schema_ref(f, p, p->ints[o->a + i]);
                }
                fputs("] rest ", f);
                dump_schema_ref(f, p, o->c);
                break;
            case SCHEMA_ARGS_CONTAINS:
                dump_schema_ref(f, p, o->a);
                fprintf(f, " min %d max %d", o->b, o->c);
                break;
            case SCHEMA_ARGS_SCHEMAS:
                for (int32_t i = 0; i < o->b; i++) {
                    if (i) fputc(',', f);
                    dump_schema_ref(f, p, p->ints[o->a + i]);
                }
                break;
            case SCHEMA_ARGS_IF:
                dump_schema_ref(f, p, o->a);
                fputs(" then ", f);
                dump_schema_ref(f, p, o->b);
                fputs(" else ", f);
                dump_schema_ref(f, p, o->c);
                break;
            case SCHEMA_ARGS_DYNREF:
                dump_schema_ref(f, p, o->a);
                if (o->b >= 0) fprintf(f, " dynamic #%s", p->strs[o->b].s);
                break;
            }
            fputc('\n', f);
        }
    }
    for (size_t i = 0; i < p->n_dyns; i++)
        fprintf(f, "dynamic anchor %s#%s -> s%d\n", p->resources[p->dyns[i].resource],
                p->strs[p->dyns[i].name].s, p->dyns[i].schema);
    for (size_t i = 0; i < p->n_regexes; i++)
        fprintf(f, "regex r%zu /%s/%s\n", i, p->strs[p->regexes[i].src].s,
                p->regexes[i].jit ? " jit" : "");
}

/* ==== runtime ================================================================================= */

typedef struct {
    const char *key; /* NULL: array index */
    size_t idx;
} pseg;

struct schema_ctx {
    pcre2_match_data *md;
    pseg *path;
    size_t npath, cap_path;
    uint64_t *bits; /* annotation bitsets: [nwords][words...] stacked */
    size_t nbits, cap_bits;
    int32_t *scope; /* dynamic scope: resource ids */
    size_t nscope, cap_scope;
};

schema_ctx *schema_ctx_new(void)
{
    schema_ctx *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->md = pcre2_match_data_create(1, NULL);
    /* One path segment per nested v_key/v_idx, each under a v_schema: never deeper than that. */
    c->cap_path = SCHEMA_MAX_DEPTH + 1;
    c->path = malloc(c->cap_path * sizeof *c->path);
    if (!c->md || !c->path) {
        schema_ctx_free(c);
        return NULL;
    }
    return c;
}

void schema_ctx_free(schema_ctx *c)
{
    if (!c) return;
    pcre2_match_data_free(c->md);
    free(c->path);
    free(c->bits);
    free(c->scope);
    free(c);
}

typedef struct {
    const schema_prog *p;
    schema_ctx *c;
    vio_list *out; /* NULL: quiet yes/no */
    const char *prefix;
    int kind; /* override or -1 */
    int depth;
} run;

/* ---- annotations ---- */

static long bits_alloc(schema_ctx *c, size_t nchildren)
{
    size_t nw = (nchildren + 63) / 64;
    if (sl_grow(&c->bits, &c->cap_bits, c->nbits + nw + 1, sizeof *c->bits)) return SL_ENOMEM;
    long off = (long)c->nbits;
    c->bits[off] = nw;
    memset(c->bits + off + 1, 0, nw * sizeof *c->bits);
    c->nbits += nw + 1;
    return off;
}

static long bits_alloc_like(schema_ctx *c, long like)
{
    return bits_alloc(c, (size_t)c->bits[like] * 64);
}

static void bits_free(schema_ctx *c, long off)
{
    c->nbits = (size_t)off;
}

static void bits_set(schema_ctx *c, long off, size_t i)
{
    c->bits[off + 1 + (long)(i / 64)] |= 1ULL << (i % 64);
}

static bool bits_get(const schema_ctx *c, long off, size_t i)
{
    return (c->bits[off + 1 + (long)(i / 64)] >> (i % 64)) & 1;
}

static void bits_merge(schema_ctx *c, long dst, long src)
{
    for (uint64_t w = 0; w < c->bits[dst]; w++)
        c->bits[dst + 1 + (long)w] |= c->bits[src + 1 + (long)w];
}

static size_t child_count(const cJSON *x)
{
    size_t n = 0;
    for (const cJSON *m = x->child; m; m = m->next)
        n++;
    return n;
}

/* ---- instance helpers ---- */

/* JSON type bit of an instance (T_NUMBER for every number: T_INTEGER is tested on demand). */
static unsigned inst_type(const cJSON *x)
{
    /* cJSON type bits: False 1, True 2, NULL 4, Number 8, String 16, Array 32, Object 64 */
    static const unsigned char map[8] = {T_BOOLEAN, T_BOOLEAN, T_NULL,   T_NUMBER,
                                         T_STRING,  T_ARRAY,   T_OBJECT, 0};
    unsigned t = (unsigned)x->type & 0xFF;
    return t ? map[__builtin_ctz(t)] : 0;
}

static bool is_integral(double d)
{
    return isfinite(d) && d == floor(d);
}

static bool type_ok(unsigned mask, const cJSON *x, unsigned tm)
{
    if (mask & tm) return true;
    return (mask & T_INTEGER) && tm == T_NUMBER && is_integral(x->valuedouble);
}

static bool json_eq(const cJSON *a, const cJSON *b)
{
    int ta = a->type & 0xFF, tb = b->type & 0xFF;
    if (ta != tb) return false;
    switch (ta) {
    case cJSON_Number:
        return a->valuedouble == b->valuedouble;
    case cJSON_String:
    case cJSON_Raw: /* the first byte settles most enum misses without a call */
        return a->valuestring[0] == b->valuestring[0] &&
               strcmp(a->valuestring, b->valuestring) == 0;
    case cJSON_Array: {
        const cJSON *x = a->child, *y = b->child;
        for (; x && y; x = x->next, y = y->next)
            if (!json_eq(x, y)) return false;
        return !x && !y;
    }
    case cJSON_Object: {
        size_t na = 0, nb = 0;
        for (const cJSON *x = a->child; x; x = x->next)
            na++;
        for (const cJSON *y = b->child; y; y = y->next)
            nb++;
        if (na != nb) return false;
        for (const cJSON *x = a->child; x; x = x->next) {
            const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, x->string);
            if (!y || !json_eq(x, y)) return false;
        }
        return true;
    }
    default:
        return true; /* null, true, false */
    }
}

static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (const unsigned char *u = (const unsigned char *)s; *u; u++)
        n += (*u & 0xC0) != 0x80;
    return n;
}

static bool multiple_of(double v, double m)
{
    if (m == floor(m) && v == floor(v) && fabs(m) < 9007199254740992.0 &&
        fabs(v) < 9007199254740992.0)
        return fmod(v, m) == 0;
    double q = v / m;
    if (!isfinite(q)) return false;
    if (fabs(q) >= 9007199254740992.0) return true; /* every double this large is integral */
    double r = nearbyint(q);
    return fabs(q - r) <= 1e-9 * fmax(1.0, fabs(r));
}

static bool regex_match(run *r, int32_t rx, const char *s, size_t n)
{
    const sregex *re = &r->p->regexes[rx];
    int rc = re->jit ? pcre2_jit_match(re->code, (PCRE2_SPTR)s, n, 0, 0, r->c->md, NULL)
                     : pcre2_match(re->code, (PCRE2_SPTR)s, n, 0, 0, r->c->md, NULL);
    return rc >= 0;
}

/* ---- path stack ---- */

static int path_push(run *r, const char *key, size_t idx)
{
    schema_ctx *c = r->c;
    if (c->npath == c->cap_path) return SL_ELIMIT; /* cannot happen: see schema_ctx_new */
    c->path[c->npath++] = (pseg){key, idx};
    return 0;
}

typedef struct {
    char *p;
    size_t n, cap;
} tbuf; /* bounded text, never allocates */

static void tb_putn(tbuf *t, const char *s, size_t n)
{
    for (size_t i = 0; i < n && t->n + 1 < t->cap; i++)
        t->p[t->n++] = s[i];
    t->p[t->n] = '\0';
}

static void tb_ptr_seg(tbuf *t, const char *k)
{
    tb_putn(t, "/", 1);
    for (; *k; k++) {
        char e[2];
        tb_putn(t, e, (size_t)(sl_ptr_escape(e, k, 1) - e));
    }
}

static void render_path(const run *r, char *dst, size_t cap, const char *extra)
{
    tbuf t = {dst, 0, cap};
    dst[0] = '\0';
    if (r->prefix) tb_putn(&t, r->prefix, strlen(r->prefix));
    for (size_t i = 0; i < r->c->npath; i++) {
        const pseg *s = &r->c->path[i];
        if (s->key) {
            tb_ptr_seg(&t, s->key);
        } else {
            char num[24];
            int k = snprintf(num, sizeof num, "/%zu", s->idx);
            tb_putn(&t, num, (size_t)k);
        }
    }
    if (extra) tb_ptr_seg(&t, extra);
}

/* "\"revenue\"", "item 3" or "value": what a message talks about. */
static const char *subject(const run *r, char *buf, size_t cap)
{
    if (r->c->npath == 0) return "value";
    const pseg *s = &r->c->path[r->c->npath - 1];
    if (s->key)
        snprintf(buf, cap, "\"%.60s\"", s->key);
    else
        snprintf(buf, cap, "item %zu", s->idx);
    return buf;
}

static vio *report(run *r, sl_kind kind, const char *kw, const char *extra, const cJSON *actual)
{
    vio *v = vio_list_push(r->out, r->kind >= 0 ? (sl_kind)r->kind : kind, kw);
    if (!v) return NULL;
    render_path(r, v->path, sizeof v->path, extra);
    if (actual) vio_render(v->actual, sizeof v->actual, actual);
    return v;
}

static const char *type_word(unsigned t)
{
    for (int i = 0; i < 7; i++)
        if (t & (1u << i)) return type_names[i];
    return "unknown";
}

/* "got string \"12\"" / "got object" */
static void describe(char *dst, size_t cap, const cJSON *x)
{
    unsigned t = inst_type(x);
    const char *w = (t & T_NUMBER) ? "number" : type_word(t);
    if (t & (T_OBJECT | T_ARRAY | T_NULL)) {
        snprintf(dst, cap, "%s", w);
    } else {
        char v[48];
        snprintf(dst, cap, "%s %s", w, vio_render(v, sizeof v, x));
    }
}

static void fmt_num(char *dst, size_t cap, double d)
{
    snprintf(dst, cap, "%.15g", d);
    if (strtod(dst, NULL) != d) snprintf(dst, cap, "%.17g", d);
}

static int v_schema(run *r, int32_t si, const cJSON *x, long ann);

/* The commonest checks, decided without reporting: 1 = o passes, 0 = it fails, -1 = o is not one
 * of them (v_op decides it; REF is for the caller). v_op re-runs a failed check to report it. */
static inline int quick_op(run *r, const sop *o, const cJSON *x, unsigned tm)
{
    const schema_prog *p = r->p;
    switch ((schema_opcode)o->code) {
    case SOP_TYPE:
        return type_ok((unsigned)o->a, x, tm);
    case SOP_MINIMUM:
        return tm != T_NUMBER || x->valuedouble >= o->n;
    case SOP_MAXIMUM:
        return tm != T_NUMBER || x->valuedouble <= o->n;
    case SOP_EXCL_MINIMUM:
        return tm != T_NUMBER || x->valuedouble > o->n;
    case SOP_EXCL_MAXIMUM:
        return tm != T_NUMBER || x->valuedouble < o->n;
    case SOP_MIN_LENGTH:
        /* bytes / 4 <= code points <= bytes: most strings pass on their byte count */
        return tm != T_STRING || (double)(strlen(x->valuestring) / 4) >= o->n;
    case SOP_MAX_LENGTH:
        return tm != T_STRING || (double)strlen(x->valuestring) <= o->n;
    case SOP_PATTERN:
        return tm != T_STRING || regex_match(r, o->a, x->valuestring, strlen(x->valuestring));
    case SOP_FORMAT:
        return tm != T_STRING ||
               format_check((format_id)o->a, x->valuestring, strlen(x->valuestring));
    case SOP_CONST:
        return json_eq(x, p->consts[o->a]);
    case SOP_ENUM:
        for (const cJSON *e = p->consts[o->a]->child; e; e = e->next)
            if (json_eq(x, e)) return 1;
        return 0;
    case SOP_UNEVAL_PROPS:
        return tm != T_OBJECT ? 1 : -1;
    case SOP_UNEVAL_ITEMS:
        return tm != T_ARRAY ? 1 : -1;
    default:
        return -1;
    }
}

/* True when x passes schema si on quick checks alone (following up to 8 $refs): no call to
 * v_schema, no path, no annotations. False when it fails or si needs more than that: the caller
 * then runs si in full, which decides and reports. For property values and array items, most of
 * which pass simple schemas. Not with $dynamicRef (its scope is kept by v_schema). */
static bool leaf_pass(run *r, int32_t si, const cJSON *x, unsigned tm, int hops)
{
    const schema_prog *p = r->p;
    const sschema *s = &p->schemas[si];
    if (p->has_dynref) return false;
    for (const sop *o = p->ops + s->op0, *end = o + s->nops; o < end; o++) {
        int q = quick_op(r, o, x, tm);
        if (q > 0) continue;
        if (q < 0 && o->code == SOP_REF && hops < 8 && leaf_pass(r, o->a, x, tm, hops + 1))
            continue;
        return false;
    }
    return true;
}

static int v_key(run *r, int32_t si, const cJSON *m)
{
    if (!r->out) return v_schema(r, si, m, -1);
    int rc = path_push(r, m->string, 0);
    if (rc < 0) return rc;
    rc = v_schema(r, si, m, -1);
    r->c->npath--;
    return rc;
}

static int v_idx(run *r, int32_t si, const cJSON *e, size_t i)
{
    if (!r->out) return v_schema(r, si, e, -1);
    int rc = path_push(r, NULL, i);
    if (rc < 0) return rc;
    rc = v_schema(r, si, e, -1);
    r->c->npath--;
    return rc;
}

/* Runs si quietly (no violations recorded, stops at the first failure). */
static int v_quiet(run *r, int32_t si, const cJSON *x, long ann)
{
    vio_list *saved = r->out;
    r->out = NULL;
    int rc = v_schema(r, si, x, ann);
    r->out = saved;
    return rc;
}

/* Index (relative to p0) of the property entry named k, or -1. */
static int32_t props_lookup(const schema_prog *p, const sprops *pr, const char *k)
{
    size_t n;
    if (pr->hn) {
        /* str_hash and strlen in one pass over the key */
        uint32_t hk = 2166136261u;
        const unsigned char *u = (const unsigned char *)k;
        for (; *u; u++)
            hk = (hk ^ *u) * 16777619u;
        n = (size_t)(u - (const unsigned char *)k);
        uint32_t mask = (uint32_t)pr->hn - 1;
        for (uint32_t h = hk & mask;; h = (h + 1) & mask) {
            int32_t i = p->ints[pr->h0 + (int32_t)h];
            if (i < 0) return -1;
            const sstr *s = &p->strs[p->named[pr->p0 + i].key];
            if (s->len == n && memcmp(s->s, k, n) == 0) return i;
        }
    }
    n = strlen(k);
    for (int32_t i = 0; i < pr->np; i++) {
        const sstr *s = &p->strs[p->named[pr->p0 + i].key];
        if (s->len == n && s->s[0] == k[0] && memcmp(s->s, k, n) == 0) return i;
    }
    return -1;
}

#define FAIL()                                                                                     \
    do {                                                                                           \
        if (!r->out) return 0;                                                                     \
        ok = 0;                                                                                    \
    } while (0)

#define SUB(call)                                                                                  \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ < 0) return rc_;                                                                   \
        if (!rc_) FAIL();                                                                          \
    } while (0)

static int v_combinator(run *r, const sop *o, const cJSON *x, long ann)
{
    const schema_prog *p = r->p;
    int nvalid = 0;
    for (int32_t i = 0; i < o->b; i++) {
        long tmp = ann >= 0 ? bits_alloc_like(r->c, ann) : -1;
        if (ann >= 0 && tmp < 0) return SL_ENOMEM;
        int rc = v_quiet(r, p->ints[o->a + i], x, tmp);
        if (rc > 0) {
            nvalid++;
            if (tmp >= 0) bits_merge(r->c, ann, tmp);
        }
        if (tmp >= 0) bits_free(r->c, tmp);
        if (rc < 0) return rc;
        if (o->code == SOP_ANY_OF && nvalid && ann < 0) break;
        if (o->code == SOP_ONE_OF && nvalid > 1) break;
    }
    bool ok = o->code == SOP_ANY_OF ? nvalid > 0 : nvalid == 1;
    if (ok) return 1;
    if (r->out) {
        char sb[80];
        vio *v = report(r, op_kinds[o->code], op_keywords[o->code], NULL, x);
        if (v) {
            snprintf(v->expected, sizeof v->expected, "%s",
                     o->code == SOP_ANY_OF ? "any of" : "exactly one of");
            if (o->code == SOP_ANY_OF)
                snprintf(v->message, sizeof v->message,
                         "%s must match at least one schema in anyOf", subject(r, sb, sizeof sb));
            else
                snprintf(v->message, sizeof v->message,
                         "%s must match exactly one schema in oneOf, matched %s",
                         subject(r, sb, sizeof sb), nvalid ? "more than one" : "none");
        }
    }
    return 0;
}

static int v_op(run *r, const sop *o, const cJSON *x, unsigned tm, long ann)
{
    const schema_prog *p = r->p;
    schema_ctx *c = r->c;
    char sb[80], tx[96], nb[40];
    vio *v;
    int ok = 1;
    switch ((schema_opcode)o->code) {
    case SOP_FALSE:
        if (r->out && (v = report(r, op_kinds[o->code], "false", NULL, x)))
            snprintf(v->message, sizeof v->message, "%s is not allowed", subject(r, sb, sizeof sb));
        return 0;
    case SOP_TYPE:
        if (type_ok((unsigned)o->a, x, tm)) return 1;
        if (r->out && (v = report(r, op_kinds[o->code], "type", NULL, x))) {
            tbuf t = {v->expected, 0, sizeof v->expected};
            for (int i = 0, first = 1; i < 7; i++)
                if (o->a & (1 << i)) {
                    if (!first) tb_putn(&t, " or ", 4);
                    tb_putn(&t, type_names[i], strlen(type_names[i]));
                    first = 0;
                }
            describe(tx, sizeof tx, x);
            const char *e = v->expected;
            bool vowel = e[0] == 'a' || e[0] == 'i' || e[0] == 'o';
            snprintf(v->message, sizeof v->message, "%.62s must be %s%.60s, got %.90s",
                     subject(r, sb, sizeof sb),
                     !strncmp(e, "null", 4) ? ""
                     : vowel                ? "an "
                                            : "a ",
                     e, tx);
        }
        return 0;
    case SOP_CONST:
        if (json_eq(x, p->consts[o->a])) return 1;
        if (r->out && (v = report(r, op_kinds[o->code], "const", NULL, x))) {
            vio_render(v->expected, sizeof v->expected, p->consts[o->a]);
            snprintf(v->message, sizeof v->message, "%s must be %.60s, got %.60s",
                     subject(r, sb, sizeof sb), v->expected, v->actual);
        }
        return 0;
    case SOP_ENUM:
        for (const cJSON *e = p->consts[o->a]->child; e; e = e->next)
            if (json_eq(x, e)) return 1;
        if (r->out && (v = report(r, op_kinds[o->code], "enum", NULL, x))) {
            char list[VIO_TEXT_MAX - 8];
            vio_render(list, sizeof list, p->consts[o->a]);
            snprintf(v->expected, sizeof v->expected, "one of %s", list);
            snprintf(v->message, sizeof v->message, "%.80s is not one of %s", v->actual, list);
        }
        return 0;
    case SOP_MIN_LENGTH:
    case SOP_MAX_LENGTH: {
        if (!(tm & T_STRING)) return 1;
        bool min = o->code == SOP_MIN_LENGTH;
        size_t bytes = strlen(x->valuestring); /* bytes / 4 <= code points <= bytes */
        if (min ? (double)(bytes / 4) >= o->n : (double)bytes <= o->n) return 1;
        size_t n = utf8_len(x->valuestring);
        if (min ? (double)n >= o->n : (double)n <= o->n) return 1;
        if (r->out && (v = report(r, op_kinds[o->code], op_keywords[o->code], NULL, x))) {
            snprintf(v->expected, sizeof v->expected, "length %s %.0f", min ? ">=" : "<=", o->n);
            snprintf(v->message, sizeof v->message,
                     "%s must be at %s %.0f character%s long, got %zu", subject(r, sb, sizeof sb),
                     min ? "least" : "most", o->n, o->n == 1 ? "" : "s", n);
        }
        return 0;
    }
    case SOP_PATTERN:
        if (!(tm & T_STRING)) return 1;
        if (regex_match(r, o->a, x->valuestring, strlen(x->valuestring))) return 1;
        if (r->out && (v = report(r, op_kinds[o->code], "pattern", NULL, x))) {
            snprintf(v->expected, sizeof v->expected, "%s", p->strs[p->regexes[o->a].src].s);
            snprintf(v->message, sizeof v->message, "%.62s must match %.80s, got %.80s",
                     subject(r, sb, sizeof sb), v->expected, v->actual);
        }
        return 0;
    case SOP_FORMAT:
        if (!(tm & T_STRING)) return 1;
        if (format_check((format_id)o->a, x->valuestring, strlen(x->valuestring))) return 1;
        if (r->out && (v = report(r, op_kinds[o->code], "format", NULL, x))) {
            snprintf(v->expected, sizeof v->expected, "%s", p->strs[o->b].s);
            snprintf(v->message, sizeof v->message, "%.62s must be a valid %.40s, got %.80s",
                     subject(r, sb, sizeof sb), v->expected, v->actual);
        }
        return 0;
    case SOP_MINIMUM:
    case SOP_MAXIMUM:
    case SOP_EXCL_MINIMUM:
    case SOP_EXCL_MAXIMUM: {
        if (!(tm & T_NUMBER)) return 1;
        double d = x->valuedouble;
        const char *rel;
        bool good;
        switch (o->code) {
        case SOP_MINIMUM:
            good = d >= o->n, rel = ">=";
            break;
        case SOP_MAXIMUM:
            good = d <= o->n, rel = "<=";
            break;
        case SOP_EXCL_MINIMUM:
            good = d > o->n, rel = ">";
            break;
        default:
            good = d < o->n, rel = "<";
            break;
        }
        if (good) return 1;
        if (r->out && (v = report(r, op_kinds[o->code], op_keywords[o->code], NULL, x))) {
            fmt_num(nb, sizeof nb, o->n);
            snprintf(v->expected, sizeof v->expected, "%s %s", rel, nb);
            snprintf(v->message, sizeof v->message, "%s must be %s, got %.60s",
                     subject(r, sb, sizeof sb), v->expected, v->actual);
        }
        return 0;
    }
    case SOP_MULTIPLE_OF:
        if (!(tm & T_NUMBER) || multiple_of(x->valuedouble, o->n)) return 1;
        if (r->out && (v = report(r, op_kinds[o->code], "multipleOf", NULL, x))) {
            fmt_num(nb, sizeof nb, o->n);
            snprintf(v->expected, sizeof v->expected, "multiple of %s", nb);
            snprintf(v->message, sizeof v->message, "%s must be a multiple of %s, got %.60s",
                     subject(r, sb, sizeof sb), nb, v->actual);
        }
        return 0;
    case SOP_MIN_ITEMS:
    case SOP_MAX_ITEMS:
    case SOP_MIN_PROPS:
    case SOP_MAX_PROPS: {
        bool items = o->code == SOP_MIN_ITEMS || o->code == SOP_MAX_ITEMS;
        if (!(tm & (items ? T_ARRAY : T_OBJECT))) return 1;
        size_t n = child_count(x);
        bool min = o->code == SOP_MIN_ITEMS || o->code == SOP_MIN_PROPS;
        if (min ? (double)n >= o->n : (double)n <= o->n) return 1;
        if (r->out && (v = report(r, op_kinds[o->code], op_keywords[o->code], NULL, x))) {
            const char *what = items ? "item" : "propert";
            snprintf(v->expected, sizeof v->expected, "%s %s %.0f", items ? "items" : "properties",
                     min ? ">=" : "<=", o->n);
            snprintf(v->message, sizeof v->message, "%s must have at %s %.0f %s%s, got %zu",
                     subject(r, sb, sizeof sb), min ? "least" : "most", o->n, what,
                     items ? (o->n == 1 ? "" : "s") : (o->n == 1 ? "y" : "ies"), n);
        }
        return 0;
    }
    case SOP_UNIQUE_ITEMS: {
        if (!(tm & T_ARRAY)) return 1;
        size_t i = 0;
        for (const cJSON *a = x->child; a; a = a->next, i++) {
            size_t j = i + 1;
            for (const cJSON *b = a->next; b; b = b->next, j++) {
                if (!json_eq(a, b)) continue;
                if (r->out && (v = report(r, op_kinds[o->code], "uniqueItems", NULL, x))) {
                    snprintf(v->expected, sizeof v->expected, "unique items");
                    snprintf(v->message, sizeof v->message,
                             "%s must not contain duplicates (items %zu and %zu are equal)",
                             subject(r, sb, sizeof sb), i, j);
                }
                return 0;
            }
        }
        return 1;
    }
    case SOP_REQUIRED:
        if (!(tm & T_OBJECT)) return 1;
        for (int32_t i = 0; i < o->b; i++) {
            const char *k = p->strs[p->ints[o->a + i]].s;
            if (cJSON_GetObjectItemCaseSensitive(x, k)) continue;
            if (r->out && (v = report(r, op_kinds[o->code], "required", k, NULL)))
                snprintf(v->message, sizeof v->message, "required property \"%.200s\" is missing",
                         k);
            FAIL();
        }
        return ok;
    case SOP_DEP_REQUIRED:
        if (!(tm & T_OBJECT)) return 1;
        for (int32_t i = 0; i < o->b; i++) {
            const sdepreq *d = &p->depreq[o->a + i];
            if (!cJSON_GetObjectItemCaseSensitive(x, p->strs[d->prop].s)) continue;
            for (int32_t j = 0; j < d->n; j++) {
                const char *k = p->strs[p->ints[d->a + j]].s;
                if (cJSON_GetObjectItemCaseSensitive(x, k)) continue;
                if (r->out && (v = report(r, op_kinds[o->code], "dependentRequired", k, NULL)))
                    snprintf(v->message, sizeof v->message,
                             "property \"%.100s\" is required when \"%.100s\" is present", k,
                             p->strs[d->prop].s);
                FAIL();
            }
        }
        return ok;
    case SOP_PROPS: {
        if (!(tm & T_OBJECT)) return 1;
        const sprops *pr = &p->props[o->a];
        size_t i = 0;
        uint64_t seen = 0;
        for (const cJSON *m = x->child; m; m = m->next, i++) {
            bool matched = false;
            int32_t e = pr->np ? props_lookup(p, pr, m->string) : -1;
            if (e >= 0) {
                const snamed *nm = &p->named[pr->p0 + e];
                if (nm->req >= 0) seen |= 1ULL << nm->req;
                if (nm->schema >= 0) {
                    matched = true;
                    if (!leaf_pass(r, nm->schema, m, inst_type(m), 0)) SUB(v_key(r, nm->schema, m));
                }
            }
            for (int32_t k = 0; k < pr->npat; k++) {
                const snamed *nm = &p->named[pr->pat0 + k];
                if (!regex_match(r, nm->key, m->string, strlen(m->string))) continue;
                matched = true;
                SUB(v_key(r, nm->schema, m));
            }
            if (!matched && pr->additional >= 0) {
                matched = true;
                if (p->schemas[pr->additional].flags & SF_FALSE) {
                    if (r->out && (v = report(r, SL_KIND_ADDITIONAL_PROPERTIES,
                                              "additionalProperties", m->string, m)))
                        snprintf(v->message, sizeof v->message,
                                 "property \"%.200s\" is not allowed", m->string);
                    FAIL();
                } else {
                    SUB(v_key(r, pr->additional, m));
                }
            }
            if (matched && ann >= 0) bits_set(c, ann, i);
        }
        if (pr->nreq && seen != (pr->nreq == 64 ? ~0ULL : (1ULL << pr->nreq) - 1)) {
            for (int32_t j = 0; j < pr->nreq; j++) {
                if (seen >> j & 1) continue;
                const char *k = p->strs[p->ints[pr->req0 + j]].s;
                if (r->out && (v = report(r, SL_KIND_REQUIRED_MISSING, "required", k, NULL)))
                    snprintf(v->message, sizeof v->message,
                             "required property \"%.200s\" is missing", k);
                FAIL();
            }
        }
        return ok;
    }
    case SOP_PROPERTY_NAMES: {
        if (!(tm & T_OBJECT)) return 1;
        for (const cJSON *m = x->child; m; m = m->next) {
            cJSON name;
            memset(&name, 0, sizeof name);
            name.type = cJSON_String;
            name.valuestring = m->string;
            int rc = v_quiet(r, o->a, &name, -1);
            if (rc < 0) return rc;
            if (rc) continue;
            if (r->out && (v = report(r, op_kinds[o->code], "propertyNames", m->string, &name)))
                snprintf(v->message, sizeof v->message,
                         "property name \"%.200s\" does not match propertyNames", m->string);
            FAIL();
        }
        return ok;
    }
    case SOP_DEP_SCHEMAS:
        if (!(tm & T_OBJECT)) return 1;
        for (int32_t i = 0; i < o->b; i++) {
            const snamed *nm = &p->named[o->a + i];
            if (!cJSON_GetObjectItemCaseSensitive(x, p->strs[nm->key].s)) continue;
            SUB(v_schema(r, nm->schema, x, ann));
        }
        return ok;
    case SOP_ITEMS: {
        if (!(tm & T_ARRAY)) return 1;
        size_t i = 0;
        for (const cJSON *e = x->child; e; e = e->next, i++) {
            int32_t s = i < (size_t)o->b ? p->ints[o->a + (int32_t)i] : o->c;
            if (s < 0) break;
            if (!leaf_pass(r, s, e, inst_type(e), 0)) SUB(v_idx(r, s, e, i));
            if (ann >= 0) bits_set(c, ann, i);
        }
        return ok;
    }
    case SOP_CONTAINS: {
        if (!(tm & T_ARRAY)) return 1;
        size_t i = 0;
        int32_t found = 0;
        for (const cJSON *e = x->child; e; e = e->next, i++) {
            int rc = v_quiet(r, o->a, e, -1);
            if (rc < 0) return rc;
            if (!rc) continue;
            found++;
            if (ann >= 0)
                bits_set(c, ann, i);
            else if (o->c < 0 && found >= o->b)
                break;
            else if (o->c >= 0 && found > o->c)
                break;
        }
        if (found >= o->b && (o->c < 0 || found <= o->c)) return 1;
        if (r->out && (v = report(r, op_kinds[o->code], "contains", NULL, x))) {
            bool few = found < o->b;
            snprintf(v->expected, sizeof v->expected, "%s %d matching",
                     few ? ">=" : "<=", few ? o->b : o->c);
            snprintf(v->message, sizeof v->message,
                     "%s must contain at %s %d item%s matching contains, found %s%d",
                     subject(r, sb, sizeof sb), few ? "least" : "most", few ? o->b : o->c,
                     (few ? o->b : o->c) == 1 ? "" : "s", few ? "" : "at least ", found);
        }
        return 0;
    }
    case SOP_ALL_OF:
        for (int32_t i = 0; i < o->b; i++)
            SUB(v_schema(r, p->ints[o->a + i], x, ann));
        return ok;
    case SOP_ANY_OF:
    case SOP_ONE_OF:
        return v_combinator(r, o, x, ann);
    case SOP_NOT: {
        int rc = v_quiet(r, o->a, x, -1);
        if (rc <= 0) return rc < 0 ? rc : 1;
        if (r->out && (v = report(r, op_kinds[o->code], "not", NULL, x)))
            snprintf(v->message, sizeof v->message, "%s must not match the schema in not",
                     subject(r, sb, sizeof sb));
        return 0;
    }
    case SOP_IF: {
        long tmp = ann >= 0 ? bits_alloc_like(c, ann) : -1;
        if (ann >= 0 && tmp < 0) return SL_ENOMEM;
        int rc = v_quiet(r, o->a, x, tmp);
        if (tmp >= 0) {
            if (rc > 0) bits_merge(c, ann, tmp);
            bits_free(c, tmp);
        }
        if (rc < 0) return rc;
        int32_t br = rc ? o->b : o->c;
        return br < 0 ? 1 : v_schema(r, br, x, ann);
    }
    case SOP_REF:
        return v_schema(r, o->a, x, ann);
    case SOP_DYNREF: {
        int32_t t = o->a;
        if (o->b >= 0) {
            for (size_t i = 0; i < c->nscope && t == o->a; i++)
                for (size_t k = 0; k < p->n_dyns; k++)
                    if (p->dyns[k].name == o->b && p->dyns[k].resource == c->scope[i]) {
                        t = p->dyns[k].schema;
                        break;
                    }
        }
        return v_schema(r, t, x, ann);
    }
    case SOP_UNEVAL_PROPS:
    case SOP_UNEVAL_ITEMS: {
        bool props = o->code == SOP_UNEVAL_PROPS;
        if (!(tm & (props ? T_OBJECT : T_ARRAY))) return 1;
        bool deny = p->schemas[o->a].flags & SF_FALSE;
        size_t i = 0;
        for (const cJSON *m = x->child; m; m = m->next, i++) {
            if (ann >= 0 && bits_get(c, ann, i)) continue;
            if (deny) {
                char idx[24];
                snprintf(idx, sizeof idx, "%zu", i);
                if (r->out && (v = report(r, op_kinds[o->code], op_keywords[o->code],
                                          props ? m->string : idx, m))) {
                    if (props)
                        snprintf(v->message, sizeof v->message,
                                 "property \"%.200s\" is not allowed", m->string);
                    else
                        snprintf(v->message, sizeof v->message, "item %zu is not allowed", i);
                }
                FAIL();
                continue;
            }
            int rc = props ? v_key(r, o->a, m) : v_idx(r, o->a, m, i);
            if (rc < 0) return rc;
            if (!rc) {
                FAIL();
                continue;
            }
            if (ann >= 0) bits_set(c, ann, i);
        }
        return ok;
    }
    case SOP__COUNT:
        break;
    }
    return 1;
}

static int v_schema(run *r, int32_t si, const cJSON *x, long ann)
{
    const schema_prog *p = r->p;
    const sschema *s = &p->schemas[si];
    if (s->nops == 0) return 1;
    if (r->depth >= SCHEMA_MAX_DEPTH) return SL_ELIMIT;
    r->depth++;
    int saved_kind = r->kind;
    if (s->kind >= 0) r->kind = s->kind;
    schema_ctx *c = r->c;
    bool scoped = false;
    int ok = 1;
    if (p->has_dynref && (c->nscope == 0 || c->scope[c->nscope - 1] != s->resource)) {
        if (sl_grow(&c->scope, &c->cap_scope, c->nscope + 1, sizeof *c->scope)) {
            ok = SL_ENOMEM;
            goto out;
        }
        c->scope[c->nscope++] = s->resource;
        scoped = true;
    }
    unsigned tm = inst_type(x);
    long own = ann;
    if (((s->flags & SF_UEP) && tm == T_OBJECT) || ((s->flags & SF_UEI) && tm == T_ARRAY)) {
        own = bits_alloc(c, child_count(x));
        if (own < 0) {
            ok = SL_ENOMEM;
            goto out;
        }
    }
    for (const sop *o = p->ops + s->op0, *end = o + s->nops; o < end; o++) {
        int rc;
        /* The commonest checks inline; v_op runs the rest and reports failures. */
        int q = quick_op(r, o, x, tm);
        if (q > 0) continue;
        if (q < 0 && o->code == SOP_REF) {
            rc = v_schema(r, o->a, x, own);
            goto result;
        }
        /* v_op re-runs a failed check above to report it (failures are the rare case). */
        rc = v_op(r, o, x, tm, own);
    result:
        if (rc < 0) {
            ok = rc;
            break;
        }
        if (!rc) {
            ok = 0;
            if (!r->out) break;
        }
    }
    if (own != ann) {
        if (ann >= 0 && ok > 0) bits_merge(c, ann, own);
        bits_free(c, own);
    }
out:
    if (scoped) c->nscope--;
    r->kind = saved_kind;
    r->depth--;
    return ok;
}

int schema_validate(const schema_prog *p, int root, const cJSON *instance, schema_ctx *ctx,
                    vio_list *out, const char *path_prefix)
{
    if (root < 0 || (size_t)root >= p->n_roots || !instance) return SL_EUSAGE;
    run r = {p, ctx, out, path_prefix, -1, 0};
    ctx->npath = 0;
    ctx->nbits = 0;
    ctx->nscope = 0;
    return v_schema(&r, p->roots[root], instance, -1);
}
