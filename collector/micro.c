/* micro.c - the in-memory QA API (see micro.h). A ring of records under one mutex; answers are
 * built from copies taken under the lock, so no record is read after it may have been freed. */
#include "micro.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "http.h"

typedef struct {
    bool good;
    char *event;  /* the stored bytes, NUL-terminated */
    char *vio;    /* violations JSON, or NULL */
    char *type;   /* Snowplow's event_type words (page_view, unstruct, ...) or the call type */
    char *schema; /* the self-describing event's schema, or NULL */
    char **ctx;   /* the contexts' schemas */
    size_t nctx;
    char *session; /* context.sluice.session, or NULL */
} rec;

struct micro {
    uv_mutex_t lock;
    rec *ring;
    size_t max, head, n; /* the oldest record is ring[head] */
};

micro *micro_new(size_t max)
{
    micro *m = calloc(1, sizeof *m);
    if (!m || !max || !(m->ring = calloc(max, sizeof *m->ring)) || uv_mutex_init(&m->lock)) {
        if (m) free(m->ring);
        free(m);
        return NULL;
    }
    m->max = max;
    return m;
}

static void rec_cleanup(rec *r)
{
    free(r->event);
    free(r->vio);
    free(r->type);
    free(r->schema);
    for (size_t i = 0; i < r->nctx; i++)
        free(r->ctx[i]);
    free(r->ctx);
    free(r->session);
    memset(r, 0, sizeof *r);
}

static void clear_where(micro *m, const char *session);

void micro_free(micro *m)
{
    if (!m) return;
    clear_where(m, NULL);
    uv_mutex_destroy(&m->lock);
    free(m->ring);
    free(m);
}

static const cJSON *at(const cJSON *x, const char *k)
{
    return cJSON_IsObject(x) ? cJSON_GetObjectItemCaseSensitive(x, k) : NULL;
}

static char *dup_str(const cJSON *x)
{
    return cJSON_IsString(x) ? strdup(x->valuestring) : NULL;
}

static const char *sp_type(const char *e)
{
    static const char *const map[][2] = {{"pv", "page_view"},   {"pp", "page_ping"},
                                         {"ue", "unstruct"},    {"se", "struct"},
                                         {"tr", "transaction"}, {"ti", "transaction_item"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(e, map[i][0])) return map[i][1];
    return e;
}

void micro_note(micro *m, const cJSON *ev, const vio_list *vl, const char *vjson, const char *json,
                size_t len)
{
    rec r = {.good = vl->nerrors == 0};
    const cJSON *sn = at(ev, "snowplow");
    const cJSON *e = at(sn, "event");
    const cJSON *type = at(ev, "type");
    r.event = malloc(len + 1);
    if (r.event) memcpy(r.event, json, len), r.event[len] = 0;
    if (vjson) r.vio = strdup(vjson);
    if (cJSON_IsString(e))
        r.type = strdup(sp_type(e->valuestring));
    else
        r.type = dup_str(type);
    r.schema = dup_str(at(at(at(sn, "unstruct_event"), "data"), "schema"));
    const cJSON *cx = at(at(sn, "contexts"), "data");
    int nc = cJSON_IsArray(cx) ? cJSON_GetArraySize(cx) : 0;
    if (nc > 0 && (r.ctx = calloc((size_t)nc, sizeof *r.ctx)))
        for (const cJSON *x = cx->child; x; x = x->next) {
            char *s = dup_str(at(x, "schema"));
            if (s) r.ctx[r.nctx++] = s;
        }
    r.session = dup_str(at(at(at(ev, "context"), "sluice"), "session"));
    if (!r.event || (vjson && !r.vio) || (nc > 0 && !r.ctx)) {
        rec_cleanup(&r);
        return;
    }
    uv_mutex_lock(&m->lock);
    size_t slot = (m->head + m->n) % m->max;
    if (m->n == m->max) {
        rec_cleanup(&m->ring[m->head]);
        m->head = (m->head + 1) % m->max;
    } else {
        m->n++;
    }
    m->ring[slot] = r;
    uv_mutex_unlock(&m->lock);
}

/* Removes the records of one session (all when NULL), keeping the others in order. */
static void clear_where(micro *m, const char *session)
{
    size_t kept = 0;
    for (size_t i = 0; i < m->n; i++) {
        rec *r = &m->ring[(m->head + i) % m->max];
        if (!session || (r->session && !strcmp(r->session, session))) {
            rec_cleanup(r);
        } else {
            rec *dst = &m->ring[(m->head + kept) % m->max];
            if (dst != r) *dst = *r, memset(r, 0, sizeof *r);
            kept++;
        }
    }
    m->n = kept;
}

/* ---- answers ------------------------------------------------------------------------------ */

typedef struct {
    char *session, *event_type, *schema, *vendor, *name;
    char **contexts;
    size_t ncontexts;
    long limit; /* -1 = all */
} filters;

static void filters_cleanup(filters *f)
{
    free(f->session), free(f->event_type), free(f->schema), free(f->vendor), free(f->name);
    for (size_t i = 0; i < f->ncontexts; i++)
        free(f->contexts[i]);
    free(f->contexts);
}

static int add_context(filters *f, const char *s, size_t n)
{
    char **c = realloc(f->contexts, (f->ncontexts + 1) * sizeof *c);
    if (!c) return -1;
    f->contexts = c;
    if (!(c[f->ncontexts] = strndup(s, n))) return -1;
    f->ncontexts++;
    return 0;
}

/* Filters from a JSON body, else from the query. Returns 0, -1 on out-of-memory, 1 when they
 * are malformed (msg says how). */
static int filters_read(filters *f, const char *q, size_t qn, const char *body, size_t bn,
                        char *msg, size_t cap)
{
    static const char *const names[] = {"session", "event_type", "schema", "vendor", "name"};
    char **dst[] = {&f->session, &f->event_type, &f->schema, &f->vendor, &f->name};
    f->limit = -1;
    size_t i = 0;
    while (i < bn && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
        i++;
    if (i < bn) {
        cJSON *j = cJSON_ParseWithLength(body, bn);
        if (!cJSON_IsObject(j)) {
            cJSON_Delete(j);
            snprintf(msg, cap, "the body must be a JSON object of filters");
            return 1;
        }
        int rc = 0;
        for (size_t k = 0; k < 5 && !rc; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, names[k]);
            if (v && !cJSON_IsString(v)) {
                snprintf(msg, cap, "filter \"%s\" must be a string", names[k]);
                rc = 1;
            } else if (v && !(*dst[k] = strdup(v->valuestring))) {
                rc = -1;
            }
        }
        const cJSON *lim = cJSON_GetObjectItemCaseSensitive(j, "limit");
        if (!rc && lim) {
            if (!cJSON_IsNumber(lim) || lim->valuedouble < 0 || lim->valuedouble > 1e9) {
                snprintf(msg, cap, "filter \"limit\" must be a non-negative integer");
                rc = 1;
            } else {
                f->limit = (long)lim->valuedouble;
            }
        }
        const cJSON *cx = cJSON_GetObjectItemCaseSensitive(j, "contexts");
        if (!rc && cx && !cJSON_IsArray(cx)) {
            snprintf(msg, cap, "filter \"contexts\" must be an array of schema URIs");
            rc = 1;
        }
        for (const cJSON *x = cx && !rc ? cx->child : NULL; x && !rc; x = x->next) {
            if (!cJSON_IsString(x)) {
                snprintf(msg, cap, "filter \"contexts\" must be an array of schema URIs");
                rc = 1;
            } else if (add_context(f, x->valuestring, strlen(x->valuestring))) {
                rc = -1;
            }
        }
        cJSON_Delete(j);
        return rc;
    }
    http_slice qs = {q, qn};
    char v[1024];
    for (size_t k = 0; k < 5; k++) {
        long l = http_query_get(qs, names[k], v, sizeof v);
        if (l >= 0 && !(*dst[k] = strndup(v, (size_t)l))) return -1;
    }
    long l = http_query_get(qs, "limit", v, sizeof v - 1);
    if (l >= 0) {
        v[l] = 0;
        char *end;
        long x = strtol(v, &end, 10);
        if (!l || *end || x < 0) {
            snprintf(msg, cap, "query parameter \"limit\" must be a non-negative integer");
            return 1;
        }
        f->limit = x;
    }
    l = http_query_get(qs, "contexts", v, sizeof v);
    for (long s = 0, e; l > 0 && s <= l; s = e + 1) { /* comma-separated */
        for (e = s; e < l && v[e] != ','; e++)
            ;
        if (e > s && add_context(f, v + s, (size_t)(e - s))) return -1;
    }
    return 0;
}

static bool has_context(const rec *r, const char *s)
{
    for (size_t i = 0; i < r->nctx; i++)
        if (!strcmp(r->ctx[i], s)) return true;
    return false;
}

/* "iglu:VENDOR/NAME/..." matches vendor/name filters. */
static bool schema_part_is(const char *schema, int part, const char *want)
{
    if (!schema || strncmp(schema, "iglu:", 5)) return false;
    const char *p = schema + 5;
    for (int i = 0; i < part; i++) {
        p = strchr(p, '/');
        if (!p) return false;
        p++;
    }
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    return strlen(want) == n && !strncmp(p, want, n);
}

static bool matches(const rec *r, const filters *f, int which)
{
    if (f->session && !(r->session && !strcmp(r->session, f->session))) return false;
    if (which == 1) {
        if (!r->good) return false;
        if (f->event_type && strcmp(r->type ? r->type : "", f->event_type)) return false;
        if (f->schema && !(r->schema && !strcmp(r->schema, f->schema))) return false;
        for (size_t i = 0; i < f->ncontexts; i++)
            if (!has_context(r, f->contexts[i])) return false;
    } else if (which == 2) {
        if (r->good) return false;
        if (f->vendor && !schema_part_is(r->schema, 0, f->vendor)) return false;
        if (f->name && !schema_part_is(r->schema, 1, f->name)) return false;
    }
    return true;
}

/* One record of /micro/good or /micro/bad, newest first. */
static void put_rec(cJSON *arr, const rec *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return;
    cJSON *ev = cJSON_Parse(r->event);
    cJSON_AddItemToObject(o, "event", ev ? ev : cJSON_CreateString(r->event));
    if (r->good) {
        cJSON_AddItemToObject(o, "eventType",
                              r->type ? cJSON_CreateString(r->type) : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "schema",
                              r->schema ? cJSON_CreateString(r->schema) : cJSON_CreateNull());
        cJSON *c = cJSON_AddArrayToObject(o, "contexts");
        for (size_t i = 0; i < r->nctx; i++)
            cJSON_AddItemToArray(c, cJSON_CreateString(r->ctx[i]));
    } else {
        cJSON *v = r->vio ? cJSON_Parse(r->vio) : cJSON_CreateArray();
        cJSON *errs = cJSON_AddArrayToObject(o, "errors");
        for (const cJSON *x = v ? v->child : NULL; x; x = x->next) {
            const cJSON *msg = cJSON_GetObjectItemCaseSensitive(x, "message");
            const cJSON *path = cJSON_GetObjectItemCaseSensitive(x, "path");
            const cJSON *kind = cJSON_GetObjectItemCaseSensitive(x, "kind");
            char line[768];
            snprintf(line, sizeof line, "%s at %s: %s",
                     cJSON_IsString(kind) ? kind->valuestring : "",
                     cJSON_IsString(path) && path->valuestring[0] ? path->valuestring : "/",
                     cJSON_IsString(msg) ? msg->valuestring : "");
            cJSON_AddItemToArray(errs, cJSON_CreateString(line));
        }
        cJSON_AddItemToObject(o, "violations", v ? v : cJSON_CreateArray());
    }
    cJSON_AddItemToArray(arr, o);
}

static char *error_body(int *status, int code, const char *msg)
{
    *status = code;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "success", false);
    cJSON_AddStringToObject(o, "error", msg);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

char *micro_answer(micro *m, const char *route, size_t rn, const char *q, size_t qn,
                   const char *body, size_t bn, int *status)
{
    int which = rn == 3 && !memcmp(route, "all", 3)     ? 0
                : rn == 4 && !memcmp(route, "good", 4)  ? 1
                : rn == 3 && !memcmp(route, "bad", 3)   ? 2
                : rn == 5 && !memcmp(route, "reset", 5) ? 3
                                                        : -1;
    if (which < 0)
        return error_body(status, 404, "no such Micro endpoint: /micro/all, good, bad or reset");
    filters f = {0};
    char msg[160];
    int rc = filters_read(&f, q, qn, body, bn, msg, sizeof msg);
    if (rc) {
        filters_cleanup(&f);
        return rc < 0 ? NULL : error_body(status, 400, msg);
    }
    cJSON *out = which == 1 || which == 2 ? cJSON_CreateArray() : cJSON_CreateObject();
    if (!out) {
        filters_cleanup(&f);
        return NULL;
    }
    uv_mutex_lock(&m->lock);
    if (which == 3) clear_where(m, f.session);
    if (which == 0 || which == 3) {
        size_t good = 0, bad = 0;
        for (size_t i = 0; i < m->n; i++) {
            const rec *r = &m->ring[(m->head + i) % m->max];
            if (!matches(r, &f, 0)) continue;
            if (r->good)
                good++;
            else
                bad++;
        }
        cJSON_AddNumberToObject(out, "total", (double)(good + bad));
        cJSON_AddNumberToObject(out, "good", (double)good);
        cJSON_AddNumberToObject(out, "bad", (double)bad);
    } else {
        long left = f.limit;
        for (size_t i = m->n; i-- > 0 && left != 0;) {
            const rec *r = &m->ring[(m->head + i) % m->max];
            if (!matches(r, &f, which)) continue;
            put_rec(out, r);
            if (left > 0) left--;
        }
    }
    uv_mutex_unlock(&m->lock);
    filters_cleanup(&f);
    char *s = cJSON_PrintUnformatted(out);
    cJSON_Delete(out);
    *status = 200;
    return s;
}
