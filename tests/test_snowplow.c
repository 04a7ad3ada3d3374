/* test_snowplow.c - Snowplow's tracker protocol: payload_data and query strings into events, the
 * protocol checks, Iglu checks of the event and its contexts, and the Micro QA store. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "micro.h"
#include "plan.h"
#include "sl_err.h"
#include "snowplow.h"

static const char plan_yaml[] = "sluice: 1\n"
                                "plan: sp-test\n"
                                "events:\n"
                                "  signup:\n"
                                "    properties:\n"
                                "      category: {type: string, required: true}\n"
                                "      action: {type: string, required: true}\n"
                                "      value: {type: number, maximum: 10}\n"
                                "iglu:\n"
                                "  iglu:com.acme/click/jsonschema/1-0-0:\n"
                                "    type: object\n"
                                "    properties:\n"
                                "      target: {type: string, maxLength: 8}\n"
                                "    required: [target]\n"
                                "    additionalProperties: false\n";

static const char UE[] = "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0";

/* The first event of a translated batch, parsed; NULL when translation failed (err set). */
static cJSON *first_event(cJSON **batch, const char *body, size_t n, bool get, sp_decoder *d,
                          const sp_options *o, char *err)
{
    const char *out;
    size_t len;
    int rc = get ? sp_translate_get(d, body, n, o, &out, &len, err, 256)
                 : sp_translate_post(d, body, n, o, &out, &len, err, 256);
    if (rc) return NULL;
    *batch = cJSON_ParseWithLength(out, len);
    cJSON *arr = cJSON_GetObjectItemCaseSensitive(*batch, "batch");
    return cJSON_GetArrayItem(arr, 0);
}

static const char *str_at(const cJSON *x, const char *a, const char *b, const char *c)
{
    const char *k[] = {a, b, c};
    for (int i = 0; i < 3 && k[i] && x; i++)
        x = cJSON_GetObjectItemCaseSensitive(x, k[i]);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

static bool has_vio(const vio_list *l, sl_kind k, const char *path)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->items[i].kind == k && !strcmp(l->items[i].path, path)) return true;
    return false;
}

static void test_translate(sp_decoder *d)
{
    char err[256] = "";
    cJSON *b = NULL;
    sp_options o = {.client_ip = "192.0.2.1", .user_agent = "ua/1", .session = "s-1"};
    /* GET: percent-encoded, base64url without padding (eyJ... = {"schema":...}) */
    const char *ue_json = "{\"schema\":\"iglu:com.snowplowanalytics.snowplow/unstruct_event/"
                          "jsonschema/1-0-0\",\"data\":{\"schema\":\"iglu:com.acme/click/"
                          "jsonschema/1-0-0\",\"data\":{\"target\":\"buy\"}}}";
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char enc[512], q[768];
    size_t n = strlen(ue_json), o2 = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)ue_json[i] << 16;
        if (i + 1 < n) v |= (unsigned char)ue_json[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)ue_json[i + 2];
        enc[o2++] = b64[(v >> 18) & 63];
        enc[o2++] = b64[(v >> 12) & 63];
        if (i + 1 < n) enc[o2++] = b64[(v >> 6) & 63];
        if (i + 2 < n) enc[o2++] = b64[v & 63];
    }
    enc[o2] = 0;
    snprintf(q, sizeof q, "e=ue&p=web&tv=js-3&eid=e-1&duid=d-1&uid=u%%201&dtm=0&ue_px=%s", enc);
    cJSON *ev = first_event(&b, q, strlen(q), true, d, &o, err);
    CHECK(ev != NULL);
    CHECK_STR(str_at(ev, "type", NULL, NULL), "track");
    CHECK_STR(str_at(ev, "event", NULL, NULL), "iglu:com.acme/click/jsonschema/1-0-0");
    CHECK_STR(str_at(ev, "messageId", NULL, NULL), "e-1");
    CHECK_STR(str_at(ev, "anonymousId", NULL, NULL), "d-1");
    CHECK_STR(str_at(ev, "userId", NULL, NULL), "u 1");
    CHECK_STR(str_at(ev, "timestamp", NULL, NULL), "1970-01-01T00:00:00.000Z");
    CHECK_STR(str_at(ev, "context", "userAgent", NULL), "ua/1");
    CHECK_STR(str_at(ev, "context", "sluice", "session"), "s-1");
    CHECK_STR(str_at(ev, "snowplow", "unstruct_event", "schema"), UE);
    CHECK_STR(str_at(ev, "snowplow", "params", "ue_px"), enc);
    cJSON_Delete(b);

    /* POST: every value a string; se_va becomes a number; SP-Anonymous drops ip and nuid */
    o.anonymous = true;
    const char *body = "{\"schema\":\"iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/"
                       "1-0-4\",\"data\":[{\"e\":\"se\",\"p\":\"web\",\"tv\":\"t\",\"se_ca\":\"c\","
                       "\"se_ac\":\"signup\",\"se_va\":\"2.5\",\"ip\":\"203.0.113.7\","
                       "\"nuid\":\"n-1\"},{\"e\":\"pv\",\"url\":\"https://x.test/\"}]}";
    ev = first_event(&b, body, strlen(body), false, d, &o, err);
    CHECK(ev != NULL);
    CHECK_STR(str_at(ev, "event", NULL, NULL), "signup");
    const cJSON *va = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(ev, "properties"), "value");
    CHECK(cJSON_IsNumber(va) && va->valuedouble == 2.5);
    CHECK(str_at(ev, "snowplow", "params", "ip") == NULL);
    CHECK(str_at(ev, "snowplow", "params", "nuid") == NULL);
    CHECK(str_at(ev, "context", "ip", NULL) == NULL);
    CHECK_STR(str_at(ev, "anonymousId", NULL, NULL), "00000000-0000-0000-0000-000000000000");
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(b, "batch")), 2);
    cJSON_Delete(b);
    /* no user id at all: a made-up network user id, as Snowplow's collector gives */
    o.anonymous = false;
    ev = first_event(&b, "e=pv&p=web&tv=t", 15, true, d, &o, err);
    const char *nu = str_at(ev, "anonymousId", NULL, NULL);
    CHECK(nu && strlen(nu) == 36 && nu[14] == '4');
    CHECK(nu && !strcmp(nu, str_at(ev, "snowplow", "network_userid", NULL)));
    o.anonymous = true;
    cJSON_Delete(b);

    /* Refusals say where */
    b = NULL;
    CHECK(first_event(&b, "{\"schema\":\n  x}", 15, false, d, &o, err) == NULL);
    CHECK(strstr(err, "line 2, column 3") != NULL);
    const char *wrong = "{\"schema\":\"iglu:com.acme/x/jsonschema/1-0-0\",\"data\":[]}";
    CHECK(first_event(&b, wrong, strlen(wrong), false, d, &o, err) == NULL);
    CHECK(strstr(err, "payload_data") != NULL);
    CHECK(first_event(&b, "e=%zz", 5, true, d, &o, err) == NULL);
    CHECK(strstr(err, "percent-encoded") != NULL);
}

/* Translates the query and checks it; returns the error count. */
static int check_query(sp_decoder *d, const plan *p, plan_ctx *ctx, vio_list *vl, const char *q)
{
    char err[256];
    cJSON *b = NULL;
    sp_options o = {0};
    cJSON *ev = first_event(&b, q, strlen(q), true, d, &o, err);
    int n = ev ? sp_check(p, ev, ctx, vl) : -100;
    cJSON_Delete(b);
    return n;
}

static void test_check(sp_decoder *d, const plan *p)
{
    plan_ctx *ctx = plan_ctx_new();
    vio_list vl;
    CHECK_INT(check_query(d, p, ctx, &vl, "e=se&p=web&tv=t&eid=1&se_ca=c&se_ac=signup&se_va=3"), 0);
    /* structured events are planned: value over the maximum */
    CHECK_INT(check_query(d, p, ctx, &vl, "e=se&p=web&tv=t&eid=1&se_ca=c&se_ac=signup&se_va=11"),
              1);
    CHECK(has_vio(&vl, SL_KIND_RANGE_VIOLATION, "/properties/value"));
    CHECK(check_query(d, p, ctx, &vl, "e=se&p=web&tv=t&eid=1&se_ca=c&se_ac=nope") > 0);
    CHECK(has_vio(&vl, SL_KIND_UNPLANNED_EVENT, "/event"));
    /* the protocol */
    CHECK_INT(check_query(d, p, ctx, &vl, "eid=1&dtm=x&vid=1.5&cookie=yes&res=1x"), 7);
    CHECK(has_vio(&vl, SL_KIND_INVALID_ENVELOPE, "/snowplow/params/e"));
    CHECK(has_vio(&vl, SL_KIND_INVALID_ENVELOPE, "/snowplow/params/p"));
    CHECK(has_vio(&vl, SL_KIND_INVALID_ENVELOPE, "/snowplow/params/tv"));
    CHECK(has_vio(&vl, SL_KIND_INVALID_ENVELOPE, "/snowplow/params/dtm"));
    CHECK(has_vio(&vl, SL_KIND_INVALID_ENVELOPE, "/snowplow/params/vid"));
    CHECK(has_vio(&vl, SL_KIND_INVALID_ENVELOPE, "/snowplow/params/cookie"));
    CHECK(has_vio(&vl, SL_KIND_INVALID_ENVELOPE, "/snowplow/params/res"));
    CHECK_INT(check_query(d, p, ctx, &vl, "e=pv&p=web&tv=t&eid=1&url=https%3A%2F%2Fx%2F&res=1x2"),
              0);
    CHECK_INT(check_query(d, p, ctx, &vl, "e=ue&p=web&tv=t&eid=1&ue_px=***"), 1);
    CHECK(has_vio(&vl, SL_KIND_INVALID_ENVELOPE, "/snowplow/params/ue_px"));
    CHECK_INT(check_query(d, p, ctx, &vl, "e=ue&p=web&tv=t&eid=1"), 1);
    /* Iglu: the event and its contexts, by exact URI */
    char q[1024];
    snprintf(q, sizeof q, "e=ue&p=web&tv=t&eid=1&ue_pr=%s&co=%s",
             "%7B%22schema%22%3A%22iglu%3Acom.snowplowanalytics.snowplow%2Funstruct_event%2F"
             "jsonschema%2F1-0-0%22%2C%22data%22%3A%7B%22schema%22%3A%22iglu%3Acom.acme%2Fclick"
             "%2Fjsonschema%2F1-0-0%22%2C%22data%22%3A%7B%22target%22%3A%22a-long-target%22%7D%7D"
             "%7D",
             "%7B%22schema%22%3A%22iglu%3Acom.snowplowanalytics.snowplow%2Fcontexts%2Fjsonschema"
             "%2F1-0-1%22%2C%22data%22%3A%5B%7B%22schema%22%3A%22iglu%3Acom.acme%2Fclick%2F"
             "jsonschema%2F1-0-1%22%2C%22data%22%3A%7B%7D%7D%2C%7B%22schema%22%3A%22iglu%3A"
             "com.snowplowanalytics.snowplow%2Fweb_page%2Fjsonschema%2F1-0-0%22%2C%22data%22%3A"
             "%7B%22id%22%3A%22x%22%7D%7D%5D%7D");
    CHECK_INT(check_query(d, p, ctx, &vl, q), 2);
    CHECK(has_vio(&vl, SL_KIND_LENGTH_VIOLATION, "/snowplow/unstruct_event/data/data/target"));
    CHECK(has_vio(&vl, SL_KIND_UNKNOWN_SCHEMA, "/snowplow/contexts/data/0/schema"));
    for (size_t i = 0; i < vl.n; i++)
        if (vl.items[i].kind == SL_KIND_LENGTH_VIOLATION) {
            static const char want[] = "iglu:com.acme/click/jsonschema/1-0-0: $.target: ";
            CHECK(!strncmp(vl.items[i].message, want, sizeof want - 1));
        }
    plan_ctx_free(ctx);
}

static void test_micro(void)
{
    micro *m = micro_new(3);
    CHECK(m != NULL);
    vio_list ok = {0}, bad = {0};
    bad.nerrors = 1;
    for (int i = 0; i < 5; i++) { /* only the last 3 are kept */
        char js[160];
        snprintf(js, sizeof js,
                 "{\"type\":\"track\",\"event\":\"E%d\",\"context\":{\"sluice\":{\"session\":"
                 "\"%s\"}}}",
                 i, i % 2 ? "odd" : "even");
        cJSON *ev = cJSON_Parse(js);
        micro_note(m, ev, i == 4 ? &bad : &ok, i == 4 ? "[{\"kind\":\"Enum-Mismatch\"}]" : NULL, js,
                   strlen(js));
        cJSON_Delete(ev);
    }
    int st = 0;
    char *a = micro_answer(m, "all", 3, "", 0, NULL, 0, &st);
    CHECK_INT(st, 200);
    CHECK_STR(a, "{\"total\":3,\"good\":2,\"bad\":1}");
    free(a);
    a = micro_answer(m, "good", 4, "limit=1", 7, NULL, 0, &st);
    CHECK(a && strstr(a, "\"E3\"") && !strstr(a, "\"E2\"")); /* newest first */
    free(a);
    a = micro_answer(m, "reset", 5, "", 0, "{\"session\":\"even\"}", 18, &st);
    CHECK_STR(a, "{\"total\":0,\"good\":0,\"bad\":0}");
    free(a);
    a = micro_answer(m, "all", 3, "", 0, NULL, 0, &st);
    CHECK_STR(a, "{\"total\":1,\"good\":1,\"bad\":0}");
    free(a);
    a = micro_answer(m, "good", 4, "limit=-1", 8, NULL, 0, &st);
    CHECK_INT(st, 400);
    free(a);
    a = micro_answer(m, "bad", 3, "", 0, "[1]", 3, &st);
    CHECK_INT(st, 400);
    free(a);
    a = micro_answer(m, "x", 1, "", 0, NULL, 0, &st);
    CHECK_INT(st, 404);
    free(a);
    micro_free(m);
}

int main(void)
{
    sl_diags dg;
    sl_diags_init(&dg, "sp-test");
    plan *p = NULL;
    CHECK_INT(plan_load_mem(plan_yaml, strlen(plan_yaml), "sp-test", false, &p, &dg), 0);
    sl_diags_cleanup(&dg);
    sp_decoder *d = sp_decoder_new();
    CHECK(d != NULL);
    if (p && d) {
        test_translate(d);
        test_check(d, p);
    }
    test_micro();
    sp_decoder_free(d);
    plan_release(p);
    return check_done();
}
