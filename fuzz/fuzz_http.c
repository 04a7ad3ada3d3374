/* fuzz_http.c - libFuzzer entry for the collector's request path, without sockets: bytes as a
 * client would send them on one connection. The first byte picks the read size (so requests and
 * headers are split at every place, as TCP may split them); the rest goes through the llhttp
 * parser with the server's callbacks and limits (http_parse_requests), and every complete request
 * is handled as serve.c does it: Content-Type check, gzip/deflate inflated with a cap, then
 * ingest_run (batch splitting, JSON scanning, event building, plan check) against a small plan.
 * Invariants checked: the inflate buffer never exceeds its cap + 1; every accepted event and every
 * dry-run report is valid JSON; the tree each event was checked on prints as its stored bytes
 * parse; an error always has a message; entries stay within the limits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <llhttp.h>

#include "arena.h"
#include "http.h"
#include "ingest.h"
#include "plan.h"

static const char plan_yaml[] = "sluice: 1\n"
                                "plan: fuzz-http\n"
                                "events:\n"
                                "  Order Completed:\n"
                                "    properties:\n"
                                "      order_id: {type: string, required: true}\n"
                                "      revenue: {type: number, minimum: 0}\n"
                                "      tags: {type: array, items: {type: string}, maxItems: 5}\n"
                                "  Signed Up: {properties: {plan: {enum: [free, pro]}}}\n"
                                "identify: {traits: {email: {type: string, format: email}}}\n";

#define CAP_INFLATED 65536

typedef struct {
    plan *p;
    ingest *ig;
} fixture;

static void fail(void)
{
    abort();
}

static bool slice_is(http_slice s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && !memcmp(s.p, lit, n);
}

static bool valid_json(const char *p, size_t n)
{
    cJSON *j = cJSON_ParseWithLength(p, n);
    cJSON_Delete(j);
    return j != NULL;
}

/* The tree plan_check got (pass 1's, edited as the bytes were) must print as the stored event. */
static void on_event(void *ud, const cJSON *ev, const vio_list *vl, const char *vj,
                     const char *json, size_t len)
{
    (void)ud, (void)vl, (void)vj;
    cJSON *stored = cJSON_ParseWithLength(json, len);
    char *a = cJSON_PrintUnformatted(ev), *b = stored ? cJSON_PrintUnformatted(stored) : NULL;
    bool same = a && b && !strcmp(a, b);
    cJSON_free(a);
    cJSON_free(b);
    cJSON_Delete(stored);
    if (!same) fail();
}

static void on_req(void *ud, const http_request *rq)
{
    fixture *fx = ud;
    static const struct {
        const char *path;
        ingest_call call;
    } routes[] = {{"/v1/track", INGEST_TRACK},       {"/v1/t", INGEST_TRACK},
                  {"/v1/identify", INGEST_IDENTIFY}, {"/v1/page", INGEST_PAGE},
                  {"/v1/screen", INGEST_SCREEN},     {"/v1/group", INGEST_GROUP},
                  {"/v1/alias", INGEST_ALIAS},       {"/v1/batch", INGEST_BATCH},
                  {"/v1/b", INGEST_BATCH},           {"/v1/validate", INGEST_ANY}};
    int call = -1;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (slice_is(rq->path, routes[i].path)) call = (int)routes[i].call;
    if (call < 0 || rq->method != HTTP_POST) return;
    if (rq->body_len && !rq->body) fail();

    const char *body = rq->body ? rq->body : "";
    size_t len = rq->body_len;
    http_slice ce = rq->headers[HTTP_H_CONTENT_ENCODING];
    if (ce.p && (slice_is(ce, "gzip") || slice_is(ce, "deflate"))) {
        int rc = ingest_inflate(fx->ig, body, len, CAP_INFLATED, &body, &len);
        if (ingest_inflate_capacity(fx->ig) > CAP_INFLATED + 1) fail();
        if (rc == 0 && len > CAP_INFLATED) fail();
        if (rc) return;
    }
    ingest_request ir = {.call = (ingest_call)call,
                         .body = body,
                         .len = len,
                         .client_ip = rq->peer_ip,
                         .received_at = "2024-01-01T00:00:00.000Z",
                         .dry_run = call == INGEST_ANY || (rq->query.n && rq->query.p[0] == 'd'),
                         .on_event = on_event};
    ingest_result res;
    int rc = ingest_run(fx->ig, fx->p, &ir, &res);
    if (rc) return; /* out of memory only */
    if (res.status) {
        if (!res.error[0] || (res.status != 400 && res.status != 413)) fail();
        return;
    }
    if (res.nentries > 2 * 100 || res.nevents > 100) fail();
    for (size_t i = 0; i < res.nentries; i++) {
        const sink_entry *e = &res.entries[i];
        if (!valid_json(e->event_json, e->event_len)) fail();
        if (e->violations_json && !valid_json(e->violations_json, e->violations_len)) fail();
        if (!e->message_id) fail();
    }
    if (ir.dry_run && !valid_json(res.report, res.report_len)) fail();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fixture fx; /* compiled once per process: the fuzzer's fixture, not program state */
    if (!fx.p) {
        arena_cjson_install();
        sl_diags d;
        sl_diags_init(&d, "fuzz-plan");
        if (plan_load_mem(plan_yaml, sizeof plan_yaml - 1, "fuzz-plan", false, &fx.p, &d) != 0)
            abort();
        sl_diags_cleanup(&d);
        ingest_limits il = {.max_event_bytes = 8192,
                            .max_batch_bytes = CAP_INFLATED,
                            .max_batch_events = 100,
                            .max_depth = 16};
        fx.ig = ingest_new(&il);
        if (!fx.ig) abort();
    }
    if (size == 0) return 0;
    http_limits hl = {.max_header_bytes = 2048, .max_body_bytes = 65536};
    size_t step = data[0] == 0 ? 0 : data[0];
    int status;
    char msg[256];
    http_parse_requests(&hl, (const char *)data + 1, size - 1, step, on_req, &fx, &status, msg,
                        sizeof msg);
    if (status && !msg[0]) fail();
    return 0;
}
