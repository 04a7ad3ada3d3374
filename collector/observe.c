/* observe.c - aggregation, alerts and the dashboard's read endpoints (see observe.h). */
#include "observe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "agg.h"
#include "alert.h"
#include "redisuv.h"
#include "ui.h"

struct observe {
    uv_loop_t *loop;
    alert *al;
    sink_config redis; /* borrowed strings: the server's, alive for the whole run */
    unsigned window_s;
};

struct observe_worker {
    observe *o;
    uv_loop_t *loop;
    agg *agg; /* NULL when reports are off */
};

static void log_line(void *ud, const char *line)
{
    char ts[32];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03dZ sluice warn: %s\n", ts, (int)(tv.tv_usec / 1000), line);
}

int observe_new(uv_loop_t *main_loop, const serve_config *cfg, const sink_config *redis,
                observe **out)
{
    *out = NULL;
    alert_rules rules;
    sl_diags d;
    sl_diags_init(&d, cfg->alerts_path);
    int rc = cfg->alerts_path ? alert_rules_load(&rules, cfg->alerts_path, &d)
                              : alert_rules_defaults(&rules);
    if (rc) {
        sl_diags_print(&d, stderr);
        sl_diags_cleanup(&d);
        return SL_EUSAGE;
    }
    sl_diags_cleanup(&d);
    for (size_t i = 0; i < cfg->alert_webhooks.n; i++) {
        char err[256];
        if (alert_rules_add_webhook(&rules, cfg->alert_webhooks.v[i], err, sizeof err)) {
            fprintf(stderr, "sluice serve: --alert-webhook: %s\n", err);
            alert_rules_cleanup(&rules);
            return SL_EUSAGE;
        }
    }
    observe *o = calloc(1, sizeof *o);
    if (!o) {
        alert_rules_cleanup(&rules);
        return SL_ENOMEM;
    }
    o->loop = main_loop;
    o->redis = *redis;
    o->window_s = cfg->report_window_s > 0 ? (unsigned)cfg->report_window_s : 0;
    alert_config ac = {.redis_host = redis->host ? redis->host : "127.0.0.1",
                       .redis_port = redis->port ? redis->port : 6379,
                       .redis_username = redis->username,
                       .redis_password = redis->password,
                       .redis_timeout_ms = redis->timeout_ms,
                       .log = log_line};
    rc = alert_new(main_loop, &rules, &ac, &o->al);
    alert_rules_cleanup(&rules);
    if (rc) {
        free(o);
        return rc;
    }
    *out = o;
    return 0;
}

void observe_health(observe *o, bool redis_up, double spool_fill)
{
    alert_health(o->al, redis_up, spool_fill, time(NULL));
}

void observe_alert_stats(observe *o, alert_stats *out)
{
    memset(out, 0, sizeof *out);
    if (o->al) alert_get_stats(o->al, out);
}

typedef struct {
    observe *o;
    void (*done)(void *);
    void *ud;
} close_ctx;

static void on_alert_closed(void *ud)
{
    close_ctx *cc = ud;
    void (*done)(void *) = cc->done;
    void *dud = cc->ud;
    free(cc->o);
    free(cc);
    if (done) done(dud);
}

void observe_close(observe *o, void (*done)(void *ud), void *ud)
{
    close_ctx *cc = malloc(sizeof *cc);
    if (!cc) { /* cannot wait politely: still close */
        alert_close(o->al, NULL, NULL);
        free(o);
        if (done) done(ud);
        return;
    }
    *cc = (close_ctx){o, done, ud};
    alert_close(o->al, on_alert_closed, cc);
}

observe_worker *observe_worker_new(observe *o, uv_loop_t *loop)
{
    observe_worker *ow = calloc(1, sizeof *ow);
    if (!ow) return NULL;
    ow->o = o;
    ow->loop = loop;
    if (o->window_s) {
        agg_config ac = {.host = o->redis.host,
                         .port = o->redis.port,
                         .username = o->redis.username,
                         .password = o->redis.password,
                         .db = o->redis.db,
                         .window_s = o->window_s,
                         .timeout_ms = o->redis.timeout_ms};
        if (agg_new(loop, &ac, &ow->agg)) {
            free(ow);
            return NULL;
        }
    }
    return ow;
}

typedef struct {
    observe_worker *ow;
    void (*done)(void *);
    void *ud;
} wclose_ctx;

static void on_agg_closed(void *ud)
{
    wclose_ctx *cc = ud;
    void (*done)(void *) = cc->done;
    void *dud = cc->ud;
    free(cc->ow);
    free(cc);
    if (done) done(dud);
}

void observe_worker_close(observe_worker *ow, void (*done)(void *ud), void *ud)
{
    wclose_ctx *cc = ow->agg ? malloc(sizeof *cc) : NULL;
    if (!cc) {
        if (ow->agg) agg_close(ow->agg, NULL, NULL);
        free(ow);
        if (done) done(ud);
        return;
    }
    *cc = (wclose_ctx){ow, done, ud};
    agg_close(ow->agg, on_agg_closed, cc);
}

/* ---- the write side ------------------------------------------------------------------------ */

static const char *str_at(const cJSON *o, const char *k1, const char *k2, const char *k3)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k1);
    if (k2) v = cJSON_GetObjectItemCaseSensitive(v, k2);
    if (k3) v = cJSON_GetObjectItemCaseSensitive(v, k3);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

void observe_event(observe_worker *ow, const plan *p, const char *write_key, size_t wklen,
                   const cJSON *event, const vio_list *vl, const char *vjson, const char *json,
                   size_t len)
{
    /* The name reports group by: the track event's name, else the call type. */
    const char *type = str_at(event, "type", NULL, NULL);
    const char *name = type && !strcmp(type, "track") ? str_at(event, "event", NULL, NULL) : type;
    if (!name) name = "(no type)";
    bool valid = vl->nerrors == 0, planned = true;
    for (size_t i = 0; i < vl->n; i++)
        if (vl->items[i].kind == SL_KIND_UNPLANNED_EVENT) planned = false;
    time_t now = time(NULL);
    if (ow->agg) {
        char wk[128];
        size_t n = wklen < sizeof wk - 1 ? wklen : sizeof wk - 1;
        if (write_key) memcpy(wk, write_key, n);
        wk[write_key ? n : 0] = '\0';
        agg_note(ow->agg, plan_get_version(p), write_key ? wk : NULL, name,
                 str_at(event, "context", "sluice", "session"), valid, vl, vjson, json, len, now);
    }
    /* Alerts watch track events (planned-ness and silence are about event names). */
    if (type && !strcmp(type, "track")) alert_note(ow->o->al, name, planned, valid, now);
}

/* ---- the read side ------------------------------------------------------------------------- */

enum { Q_VIOLATIONS, Q_SERIES, Q_COVERAGE };

typedef struct {
    uv_work_t req;
    observe_worker *ow;
    http_conn *c;
    int kind;
    time_t since, until;
    char event[256];
    bool has_event;
    plan *plan; /* retained, for coverage */
    char *body; /* result, malloc'd */
    int status;
} query;

/* Value of name in the query string into dst (URL-decoded, NUL-terminated); false when absent or
 * undecodable. */
static bool query_param(http_slice q, const char *name, char *dst, size_t cap)
{
    long n = cap ? http_query_get(q, name, dst, cap - 1) : -1;
    if (n < 0) return false;
    dst[n] = 0;
    return true;
}

static redisContext *connect_blocking(const sink_config *r)
{
    struct timeval tv = {2, 0};
    redisContext *c =
        redisuv_connect_blocking(r->host ? r->host : "127.0.0.1", r->port ? r->port : 6379, tv);
    if (!c || c->err) {
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    redisReply *rep = NULL;
    if (r->password)
        rep = r->username ? redisCommand(c, "AUTH %s %s", r->username, r->password)
                          : redisCommand(c, "AUTH %s", r->password);
    bool ok = !r->password || (rep && rep->type != REDIS_REPLY_ERROR);
    freeReplyObject(rep);
    if (ok && r->db) {
        rep = redisCommand(c, "SELECT %d", r->db);
        ok = rep && rep->type != REDIS_REPLY_ERROR;
        freeReplyObject(rep);
    }
    if (!ok) {
        redisFree(c);
        return NULL;
    }
    return c;
}

static cJSON *coverage_json(const plan *p, const cJSON *report)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *unseen = cJSON_AddArrayToObject(o, "events_unseen");
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(report, "events");
    size_t n = plan_event_count(p), seen = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = plan_event_name(p, i);
        bool found = false;
        for (const cJSON *e = events ? events->child : NULL; e && !found; e = e->next) {
            const char *en = str_at(e, "event", NULL, NULL);
            found = en && !strcmp(en, name);
        }
        if (found)
            seen++;
        else
            cJSON_AddItemToArray(unseen, cJSON_CreateString(name));
    }
    cJSON_AddNumberToObject(o, "events_planned", (double)n);
    cJSON_AddNumberToObject(o, "events_seen", (double)seen);
    cJSON_AddNumberToObject(
        o, "since",
        (double)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(report, "since")));
    return o;
}

static void run_query(uv_work_t *req)
{
    query *q = req->data;
    q->status = 503;
    redisContext *c = connect_blocking(&q->ow->o->redis);
    if (!c) return;
    cJSON *out = NULL;
    int rc;
    if (q->kind == Q_SERIES) {
        rc = agg_series(c, NULL, q->since, q->until, &out);
    } else {
        rc = agg_report(c, NULL, NULL, q->since, q->until, q->has_event ? q->event : NULL, &out);
        if (!rc && q->kind == Q_COVERAGE) {
            cJSON *cov = coverage_json(q->plan, out);
            cJSON_Delete(out);
            out = cov;
        }
    }
    redisFree(c);
    if (rc || !out) {
        cJSON_Delete(out);
        q->status = rc == SL_EUSAGE ? 400 : 503;
        return;
    }
    q->body = cJSON_PrintUnformatted(out);
    cJSON_Delete(out);
    if (q->body) q->status = 200;
}

static void after_query(uv_work_t *req, int status)
{
    query *q = req->data;
    if (q->status == 200)
        http_respond(q->c, 200, "Cache-Control: no-cache\r\n", "application/json", q->body,
                     strlen(q->body));
    else
        http_respond_error(q->c, q->status, "Retry-After: 5\r\n",
                           q->status == 400 ? "bad time range"
                                            : "reports are not available: Redis cannot be read",
                           NULL);
    cJSON_free(q->body);
    plan_release(q->plan);
    free(q);
}

static bool path_is(http_slice p, const char *s)
{
    size_t n = strlen(s);
    if (p.n > 1 && p.p[p.n - 1] == '/' && p.n - 1 == n) p.n--;
    return p.n == n && !memcmp(p.p, s, n);
}

bool observe_route(observe_worker *ow, const plan *p, http_conn *c, const http_request *rq)
{
    const char *body, *ct;
    size_t len;
    if (ui_lookup_n(rq->path.p, rq->path.n, &body, &len, &ct) == 0) {
        http_respond(c, 200, UI_RESPONSE_HEADERS, ct, body, len);
        return true;
    }
    if (path_is(rq->path, "/v1/alerts")) {
        char *j = alert_recent_json(ow->o->al);
        if (!j) {
            http_respond_error(c, 503, NULL, "out of memory", NULL);
        } else {
            http_respond(c, 200, "Cache-Control: no-cache\r\n", "application/json", j, strlen(j));
            free(j);
        }
        return true;
    }
    int kind = path_is(rq->path, "/v1/violations")     ? Q_VIOLATIONS
               : path_is(rq->path, "/v1/stats/series") ? Q_SERIES
               : path_is(rq->path, "/v1/coverage")     ? Q_COVERAGE
                                                       : -1;
    if (kind < 0) return false;
    if (!ow->agg) {
        http_respond_error(c, 404, NULL, "reports are off (--report-window 0)", NULL);
        return true;
    }
    query *q = calloc(1, sizeof *q);
    if (!q) {
        http_respond_error(c, 503, NULL, "out of memory", NULL);
        return true;
    }
    q->ow = ow;
    q->c = c;
    q->kind = kind;
    q->until = time(NULL);
    char buf[64];
    if (kind == Q_SERIES) {
        long minutes = query_param(rq->query, "minutes", buf, sizeof buf) ? atol(buf) : 60;
        if (minutes < 1) minutes = 1;
        if (minutes > 1440) minutes = 1440;
        q->since = q->until - minutes * 60 + 1;
    } else {
        long since = query_param(rq->query, "since", buf, sizeof buf) ? atol(buf) : 0;
        q->since = since > 0 ? since : q->until - 3600; /* default: the last hour */
    }
    q->has_event = query_param(rq->query, "event", q->event, sizeof q->event);
    if (kind == Q_COVERAGE) q->plan = plan_retain((plan *)p);
    q->req.data = q;
    /* Answered on the worker's loop, which owns the connection. */
    if (uv_queue_work(ow->loop, &q->req, run_query, after_query)) {
        plan_release(q->plan);
        free(q);
        http_respond_error(c, 503, NULL, "busy", NULL);
    }
    return true;
}
