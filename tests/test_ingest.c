/* test_ingest.c - request bodies -> stream entries: shape of stored events, batch merging,
 * validation outcomes, policies, limits, syntax errors with positions, dry-run reports, gzip. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <zlib.h>

#include "arena.h"
#include "check.h"
#include "ingest.h"

static const char PLAN[] = "sluice: 1\nplan: t\nversion: \"1\"\n"
                           "policy: {unplanned_events: reject}\n"
                           "events:\n"
                           "  Order Completed:\n"
                           "    description: done\n"
                           "    properties:\n"
                           "      revenue: {type: number, required: true}\n";
static const char PLAN_FWD[] = "sluice: 1\nplan: t\nversion: \"1\"\n"
                               "policy: {unplanned_events: reject, on_violation: forward}\n"
                               "events:\n"
                               "  Order Completed:\n"
                               "    description: done\n"
                               "    properties:\n"
                               "      revenue: {type: number, required: true}\n";

static plan *load(const char *y)
{
    plan *p = NULL;
    sl_diags d;
    sl_diags_init(&d, "mem");
    int rc = plan_load_mem(y, strlen(y), "mem", false, &p, &d);
    if (rc) sl_diags_print(&d, stderr);
    sl_diags_cleanup(&d);
    return p;
}

static int run(ingest *ig, const plan *p, ingest_call call, const char *body, bool dry,
               ingest_result *res)
{
    ingest_request rq = {.call = call,
                         .body = body,
                         .len = strlen(body),
                         .client_ip = "192.0.2.7",
                         .received_at = "2024-01-01T00:00:00.000Z",
                         .dry_run = dry};
    return ingest_run(ig, p, &rq, res);
}

static cJSON *entry_json(const ingest_result *r, size_t i)
{
    return cJSON_ParseWithLength(r->entries[i].event_json, r->entries[i].event_len);
}

static const char *str_at(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b) x = cJSON_GetObjectItemCaseSensitive(x, b);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

/* ---- the tree plan_check sees is the event that is stored ------------------------------------ */

/* Events are checked on the tree pass 1 built of the body, edited as their stored
 * bytes are (ingest.c: tree_event). Whatever the body, that tree must print exactly as the
 * stored bytes parsed afresh do. */
typedef struct {
    int calls, same;
} tree_cmp;

static void on_event_cmp(void *ud, const cJSON *ev, const vio_list *vl, const char *vj,
                         const char *json, size_t len)
{
    (void)vl, (void)vj;
    tree_cmp *c = ud;
    c->calls++;
    cJSON *stored = cJSON_ParseWithLength(json, len);
    char *a = cJSON_PrintUnformatted(ev), *b = stored ? cJSON_PrintUnformatted(stored) : NULL;
    if (a && b && !strcmp(a, b))
        c->same++;
    else
        fprintf(stderr, "  checked %s\n  stored  %s\n", a ? a : "?", b ? b : "?");
    cJSON_free(a);
    cJSON_free(b);
    cJSON_Delete(stored);
}

/* Runs body as call with on_event_cmp; returns how many events used pass 1's tree. */
static size_t run_cmp(ingest *ig, const plan *p, ingest_call call, const char *body, const char *ip,
                      tree_cmp *c)
{
    ingest_request rq = {.call = call,
                         .body = body,
                         .len = strlen(body),
                         .client_ip = ip,
                         .received_at = "2024-01-01T00:00:00.000Z",
                         .on_event = on_event_cmp,
                         .on_event_ud = c};
    ingest_result r;
    CHECK_INT(ingest_run(ig, p, &rq, &r), 0);
    return r.nfused;
}

static void test_fused_tree(void)
{
    ingest_limits lim = {.max_event_bytes = 32768,
                         .max_batch_bytes = 500000,
                         .max_batch_events = 100,
                         .max_depth = 64};
    ingest *ig = ingest_new(&lim);
    CHECK(ig != NULL);
    if (!ig) return;
    plan *p = NULL;
    sl_diags d;
    sl_diags_init(&d, "specs/ecommerce.yaml");
    CHECK_INT(plan_load_file("specs/ecommerce.yaml", false, &p, &d), 0);
    sl_diags_cleanup(&d);
    if (!p) return;
    static const char *const bodies[] = {
        "{\"userId\":\"u\",\"event\":\"Order Completed\",\"properties\":{\"total\":1}}",
        "{\"type\":\"identify\",\"writeKey\":\"wk\",\"userId\":\"u\",\"event\":\"E\"}",
        "{\"messageId\":\"m-1\",\"receivedAt\":\"2020-01-01T00:00:00Z\",\"userId\":7}",
        "{\"context\":{},\"userId\":\"u\"}",
        "{\"context\":{\"ip\":\"10.0.0.1\",\"locale\":\"de\"},\"anonymousId\":\"a\"}",
        "{\"context\":5,\"anonymousId\":\"a\",\"integrations\":{\"All\":false}}",
        "{\"context\":{\"page\":{\"url\":\"https://x.example/a?b=c\"}},\"userId\":\"u\"}",
        " { \"userId\" : \"u\" , \"properties\" : { \"a\" : [ 1 , -2.5 , 1e3 , 0.1 ] } } ",
        "{\"userId\":\"\\u00e9t\\u00e9 \\\"q\\\" \\\\ \\n\\ud83c\\udf89\",\"event\":\"\xc3\xa9\"}",
        "{\"userId\":\"u\",\"properties\":{\"n\":12345678901234567890,\"m\":-0,"
        "\"x\":1.7976931348623157e308,\"t\":true,\"f\":false,\"z\":null,\"e\":{},\"l\":[]}}",
        "{\"userId\":\"u\",\"properties\":{\"deep\":[[[[[{\"a\":[{}]}]]]]]}}",
        "{}",
        "{\"type\":\"track\"}",
        /* a number longer than cJSON's 63-character buffer: pass 1's tree gives up */
        "{\"userId\":\"u\",\"properties\":{\"n\":"
        "1.00000000000000000000000000000000000000000000000000000000000000001}}",
        /* an escaped key: build_event matches raw key bytes, so pass 1's tree is not used */
        "{\"user\\u0049d\":\"u\",\"writ\\u0065Key\":\"k\"}",
    };
    static const ingest_call calls[] = {INGEST_TRACK, INGEST_IDENTIFY, INGEST_PAGE, INGEST_ANY};
    tree_cmp c = {0};
    size_t fused = 0, runs = 0;
    for (size_t b = 0; b < sizeof bodies / sizeof bodies[0]; b++)
        for (size_t k = 0; k < sizeof calls / sizeof calls[0]; k++)
            for (int ip = 0; ip < 2; ip++) {
                fused += run_cmp(ig, p, calls[k], bodies[b], ip ? "192.0.2.7" : NULL, &c);
                runs++;
            }
    CHECK_INT(c.calls, (int)runs);
    CHECK_INT(c.same, c.calls);
    CHECK_INT(fused, runs - 2 * 4 * 2); /* all but the last two bodies */

    /* the same bodies as the events of a batch, with and without batch-level context and
     * integrations to merge in (the last two bodies would make the whole batch fall back) */
    static const char *const shared[] = {
        "",
        ",\"context\":{\"ip\":\"10.1.1.1\",\"library\":{\"name\":\"x\"},\"locale\":\"fr\"}",
        ",\"context\":{\"locale\":\"de\",\"page\":{\"url\":\"https://s.example/\"}},"
        "\"integrations\":{\"All\":true,\"X\":{\"a\":[1]}}",
        ",\"integrations\":{},\"context\":{}",
        ",\"context\":7,\"integrations\":[1]",
    };
    size_t nb = sizeof bodies / sizeof bodies[0];
    for (size_t sh = 0; sh < sizeof shared / sizeof shared[0]; sh++)
        for (int ip = 0; ip < 2; ip++)
            for (int all = 0; all < 2; all++) {
                char batch[8192];
                size_t n = (size_t)snprintf(batch, sizeof batch, "{\"batch\":[");
                size_t upto = all ? nb - 1 : nb - 2; /* all: with the 64-digit number */
                for (size_t b = 0; b < upto; b++)
                    n += (size_t)snprintf(batch + n, sizeof batch - n, "%s%s", b ? "," : "",
                                          bodies[b]);
                snprintf(batch + n, sizeof batch - n, "]%s}", shared[sh]);
                tree_cmp bc = {0};
                size_t bf = run_cmp(ig, p, INGEST_BATCH, batch, ip ? "192.0.2.7" : NULL, &bc);
                CHECK_INT(bc.calls, (int)upto);
                CHECK_INT(bc.same, bc.calls);
                CHECK_INT(bf, all ? 0 : upto);
            }

    /* the plan's example events, valid and invalid, on every single-call path */
    static const char *const files[] = {"specs/examples/ecommerce/valid.ndjson",
                                        "specs/examples/ecommerce/invalid.ndjson"};
    int lines = 0;
    size_t efused = 0;
    tree_cmp e = {0};
    for (size_t f = 0; f < 2; f++) {
        FILE *fp = fopen(files[f], "r");
        CHECK(fp != NULL);
        char line[8192];
        while (fp && fgets(line, sizeof line, fp)) {
            if (line[0] != '{') continue;
            lines++;
            efused += run_cmp(ig, p, INGEST_ANY, line, "192.0.2.7", &e);
        }
        if (fp) fclose(fp);
    }
    CHECK(lines > 90);
    /* every line is one event, but for invalid.ndjson's last: a raw control character, a 400 */
    CHECK_INT(e.calls, lines - 1);
    CHECK_INT(e.same, e.calls);
    CHECK_INT(efused, (size_t)e.calls);
    plan_release(p);
    ingest_free(ig);
}

int main(void)
{
    arena_cjson_install();
    ingest_limits lim = {
        .max_event_bytes = 512, .max_batch_bytes = 4096, .max_batch_events = 5, .max_depth = 6};
    ingest *ig = ingest_new(&lim);
    plan *p = load(PLAN);
    plan *pf = load(PLAN_FWD);
    CHECK(ig && p && pf);
    if (!ig || !p || !pf) return check_done();
    ingest_result r;

    /* A single track call: original bytes kept, fields added, writeKey dropped. */
    const char *t1 =
        "{\"writeKey\":\"wk1\", \"userId\":\"u\", \"event\":\"Order Completed\",\"type\":\"page\","
        "\"properties\":{ \"revenue\" : 12.50 }}";
    CHECK_INT(run(ig, p, INGEST_TRACK, t1, false, &r), 0);
    CHECK_INT(r.status, 0);
    CHECK_INT(r.nentries, 1);
    CHECK_INT(r.nvalid, 1);
    CHECK(r.write_key && r.write_key_len == 3 && !memcmp(r.write_key, "wk1", 3));
    CHECK(!r.entries[0].invalid);
    CHECK(strstr(r.entries[0].event_json, "\"properties\":{ \"revenue\" : 12.50 }") != NULL);
    cJSON *e = entry_json(&r, 0);
    CHECK(e != NULL);
    CHECK_STR(str_at(e, "type", NULL), "track");
    CHECK_STR(str_at(e, "receivedAt", NULL), "2024-01-01T00:00:00.000Z");
    CHECK_STR(str_at(e, "context", "ip"), "192.0.2.7");
    CHECK(cJSON_GetObjectItem(e, "writeKey") == NULL);
    const char *mid = str_at(e, "messageId", NULL);
    CHECK(mid && strlen(mid) == 36 && mid[14] == '4');
    CHECK(r.entries[0].message_id_len == 36 && !memcmp(r.entries[0].message_id, mid, 36));
    cJSON_Delete(e);

    /* Client messageId / receivedAt / context.ip are kept. */
    CHECK_INT(run(ig, p, INGEST_TRACK,
                  "{\"event\":\"Order Completed\",\"properties\":{\"revenue\":1},"
                  "\"messageId\":\"m1\",\"receivedAt\":\"x\",\"context\":{\"ip\":\"1.2.3.4\"}}",
                  false, &r),
              0);
    e = entry_json(&r, 0);
    CHECK_STR(str_at(e, "messageId", NULL), "m1");
    CHECK_STR(str_at(e, "receivedAt", NULL), "x");
    CHECK_STR(str_at(e, "context", "ip"), "1.2.3.4");
    CHECK(r.entries[0].message_id_len == 2 && !memcmp(r.entries[0].message_id, "m1", 2));
    cJSON_Delete(e);

    /* Invalid: quarantined with violations. */
    CHECK_INT(
        run(ig, p, INGEST_TRACK, "{\"event\":\"Order Completed\",\"properties\":{}}", false, &r),
        0);
    CHECK_INT(r.nentries, 1);
    CHECK_INT(r.ninvalid, 1);
    CHECK(r.entries[0].invalid);
    CHECK(r.entries[0].violations_json &&
          strstr(r.entries[0].violations_json, "Required-Missing") &&
          strstr(r.entries[0].violations_json, "/properties/revenue"));
    CHECK_INT(r.kinds[SL_KIND_REQUIRED_MISSING], 1);

    /* Forward policy: an invalid entry plus an events entry with context.violations. */
    CHECK_INT(run(ig, pf, INGEST_TRACK,
                  "{\"event\":\"Order Completed\",\"properties\":{},\"context\":{\"a\":1}}", false,
                  &r),
              0);
    CHECK_INT(r.nentries, 2);
    if (r.nentries == 2) {
        CHECK(r.entries[0].invalid);
        CHECK(!r.entries[1].invalid);
        e = entry_json(&r, 1);
        CHECK(e != NULL);
        cJSON *ctx = cJSON_GetObjectItem(e, "context");
        CHECK(cJSON_IsArray(cJSON_GetObjectItem(ctx, "violations")));
        CHECK(cJSON_GetObjectItem(ctx, "a") != NULL);
        cJSON_Delete(e);
    }

    /* Batch: context and integrations merge, item values win; writeKey at the top. */
    const char *b1 =
        "{\"writeKey\":\"k\",\"context\":{\"library\":{\"name\":\"L\"},\"locale\":\"en\"},"
        "\"integrations\":{\"All\":true},\"batch\":["
        "{\"type\":\"track\",\"event\":\"Order Completed\",\"properties\":{\"revenue\":1},"
        "\"context\":{\"locale\":\"fr\"}},"
        "{\"type\":\"identify\",\"userId\":\"u\",\"integrations\":{\"X\":false}},"
        "{}]}";
    CHECK_INT(run(ig, p, INGEST_BATCH, b1, false, &r), 0);
    CHECK_INT(r.status, 0);
    CHECK_INT(r.nentries, 3);
    CHECK_INT(r.nvalid + r.ninvalid, 3);
    CHECK(r.write_key && r.write_key_len == 1);
    if (r.nentries == 3) {
        e = entry_json(&r, 0);
        CHECK_STR(str_at(e, "context", "locale"), "fr");
        CHECK_STR(str_at(cJSON_GetObjectItem(e, "context"), "library", "name"), "L");
        CHECK_STR(str_at(e, "context", "ip"), "192.0.2.7");
        CHECK(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "integrations"), "All")));
        cJSON_Delete(e);
        e = entry_json(&r, 1);
        cJSON *in = cJSON_GetObjectItem(e, "integrations");
        CHECK(cJSON_IsFalse(cJSON_GetObjectItem(in, "X")));
        CHECK(cJSON_IsTrue(cJSON_GetObjectItem(in, "All")));
        CHECK_STR(str_at(e, "context", "locale"), "en");
        cJSON_Delete(e);
        CHECK(r.entries[2].invalid); /* {} has no type: an envelope violation */
    }

    /* Errors: syntax with position, shapes, limits. */
    CHECK_INT(run(ig, p, INGEST_TRACK, "{\"a\":1,\n \"b\": [1, 2,]}", false, &r), 0);
    CHECK_INT(r.status, 400);
    CHECK(strstr(r.error, "line 2") && strstr(r.error, "column"));
    CHECK_INT(r.nentries, 0);
    CHECK_INT(run(ig, p, INGEST_TRACK, "{\"a\":\"\x01\"}", false, &r), 0);
    CHECK_INT(r.status, 400);
    CHECK_INT(run(ig, p, INGEST_TRACK, "{\"a\":01}", false, &r), 0);
    CHECK_INT(r.status, 400);
    CHECK_INT(run(ig, p, INGEST_TRACK, "{\"a\":\"\\x\"}", false, &r), 0);
    CHECK_INT(r.status, 400);
    CHECK_INT(run(ig, p, INGEST_TRACK, "{} {}", false, &r), 0);
    CHECK_INT(r.status, 400);

    /* A syntax error's JSON Pointer escapes '/' and '~' in keys (RFC 6901). */
    CHECK_INT(run(ig, p, INGEST_TRACK, "{\"userId\":\"u\",\"properties\":{\"a/b~c\":{\"x\":tru}}}",
                  false, &r),
              0);
    CHECK_INT(r.status, 400);
    CHECK(strstr(r.error, ", in /properties/a~1b~0c/x:") != NULL);

    /* Duplicate keys are refused, in small objects (compared in place) and in objects past 24
     * keys (the hash table path), with and without escapes ("\u0061" is "a"). */
    {
        char big[2048];
        size_t n = (size_t)snprintf(big, sizeof big, "{\"userId\":\"u\",\"properties\":{");
        for (int k = 0; k < 30; k++)
            n += (size_t)snprintf(big + n, sizeof big - n, "\"k%d\":%d,", k, k);
        snprintf(big + n, sizeof big - n, "\"k7\":1}}");
        CHECK_INT(run(ig, p, INGEST_TRACK, big, false, &r), 0);
        CHECK_INT(r.status, 400);
        CHECK(strstr(r.error, "k7") != NULL);
        n = (size_t)snprintf(big, sizeof big, "{\"userId\":\"u\",\"properties\":{");
        for (int k = 0; k < 30; k++)
            n += (size_t)snprintf(big + n, sizeof big - n, "\"k%d\":%d,", k, k);
        snprintf(big + n, sizeof big - n, "\"k\\u0031\":1}}"); /* "k\u0031" is "k1" */
        CHECK_INT(run(ig, p, INGEST_TRACK, big, false, &r), 0);
        CHECK_INT(r.status, 400);
        n = (size_t)snprintf(big, sizeof big, "{\"userId\":\"u\",\"properties\":{");
        for (int k = 0; k < 30; k++)
            n += (size_t)snprintf(big + n, sizeof big - n, "%s\"k%d\":%d", k ? "," : "", k, k);
        snprintf(big + n, sizeof big - n, "}}"); /* 30 distinct keys: fine */
        CHECK_INT(run(ig, p, INGEST_TRACK, big, false, &r), 0);
        CHECK_INT(r.status, 0);
        CHECK_INT(run(ig, p, INGEST_TRACK, "{\"a\":1,\"\\u0061\":2}", false, &r), 0);
        CHECK_INT(r.status, 400);
        /* keys alike in length, first and last byte share a prefilter bit: compared, distinct */
        CHECK_INT(run(ig, p, INGEST_TRACK,
                      "{\"userId\":\"u\",\"properties\":{\"axb\":1,\"ayb\":2,\"azb\":3}}", false,
                      &r),
                  0);
        CHECK_INT(r.status, 0);
        CHECK_INT(run(ig, p, INGEST_TRACK,
                      "{\"userId\":\"u\",\"properties\":{\"axb\":1,\"ayb\":2,\"axb\":3}}", false,
                      &r),
                  0);
        CHECK_INT(r.status, 400);
        CHECK(strstr(r.error, "duplicate key \"axb\"") != NULL);
    }
    CHECK_INT(run(ig, p, INGEST_TRACK, "", false, &r), 0);
    CHECK_INT(r.status, 400);
    CHECK_INT(run(ig, p, INGEST_TRACK, "[]", false, &r), 0);
    CHECK_INT(r.status, 400);
    CHECK_INT(run(ig, p, INGEST_BATCH, "{\"batch\":{}}", false, &r), 0);
    CHECK_INT(r.status, 400);
    CHECK_INT(run(ig, p, INGEST_BATCH, "{\"batch\":[1]}", false, &r), 0);
    CHECK_INT(r.status, 400);
    CHECK(strstr(r.error, "batch[0]") != NULL);
    CHECK_INT(run(ig, p, INGEST_TRACK, "{\"a\":[[[[[[[1]]]]]]]}", false, &r), 0);
    CHECK_INT(r.status, 413);
    CHECK_STR(r.limit, "max_depth");
    CHECK_INT(run(ig, p, INGEST_BATCH, "{\"batch\":[{},{},{},{},{},{}]}", false, &r), 0);
    CHECK_INT(r.status, 413);
    CHECK_STR(r.limit, "max_batch_events");
    char big[800];
    memset(big, 'x', sizeof big);
    memcpy(big, "{\"a\":\"", 6);
    memcpy(big + sizeof big - 3, "\"}", 3);
    CHECK_INT(run(ig, p, INGEST_TRACK, big, false, &r), 0);
    CHECK_INT(r.status, 413);
    CHECK_STR(r.limit, "max_event_bytes");
    char huge[5000];
    memset(huge, ' ', sizeof huge);
    memcpy(huge, "{}", 2);
    huge[sizeof huge - 1] = 0;
    CHECK_INT(run(ig, p, INGEST_BATCH, huge, false, &r), 0);
    CHECK_INT(r.status, 413);
    CHECK_STR(r.limit, "max_batch_bytes");

    /* Dry run: a report with per-event violations. */
    CHECK_INT(run(ig, p, INGEST_ANY,
                  "{\"batch\":[{\"type\":\"track\",\"event\":\"Order Completed\","
                  "\"properties\":{\"revenue\":\"x\"}},{\"type\":\"track\",\"event\":\"Nope\"}]}",
                  true, &r),
              0);
    CHECK(r.report != NULL);
    cJSON *rep = r.report ? cJSON_ParseWithLength(r.report, r.report_len) : NULL;
    CHECK(rep != NULL);
    CHECK_INT(cJSON_GetObjectItem(rep, "invalid") ? cJSON_GetObjectItem(rep, "invalid")->valueint
                                                  : -1,
              2);
    cJSON *res = cJSON_GetObjectItem(rep, "results");
    CHECK_INT(cJSON_GetArraySize(res), 2);
    CHECK(r.report && strstr(r.report, "Datatype-Mismatch") && strstr(r.report, "Unplanned-Event"));
    cJSON_Delete(rep);
    /* validate with a single event carrying its own type */
    CHECK_INT(run(ig, p, INGEST_ANY,
                  "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"Order "
                  "Completed\",\"properties\":{\"revenue\":2}}",
                  true, &r),
              0);
    CHECK(r.report && strstr(r.report, "\"valid\":1"));

    /* gzip / zlib inflate with a cap */
    const char *plain = "{\"event\":\"Order Completed\",\"properties\":{\"revenue\":5}}";
    unsigned char gz[256];
    z_stream zs = {0};
    deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    zs.next_in = (unsigned char *)plain;
    zs.avail_in = (uInt)strlen(plain);
    zs.next_out = gz;
    zs.avail_out = sizeof gz;
    deflate(&zs, Z_FINISH);
    size_t gzlen = sizeof gz - zs.avail_out;
    deflateEnd(&zs);
    const char *out = NULL;
    size_t outlen = 0;
    CHECK_INT(ingest_inflate(ig, (const char *)gz, gzlen, 1000, &out, &outlen), 0);
    CHECK(outlen == strlen(plain) && !memcmp(out, plain, outlen));
    CHECK_INT(ingest_inflate(ig, (const char *)gz, gzlen, 10, &out, &outlen), SL_ELIMIT);
    CHECK_INT(ingest_inflate(ig, (const char *)gz, gzlen - 4, 1000, &out, &outlen), SL_ESYNTAX);
    CHECK_INT(ingest_inflate(ig, "garbage!", 8, 1000, &out, &outlen), SL_ESYNTAX);
    unsigned char zl[256];
    uLongf zlen = sizeof zl;
    compress2(zl, &zlen, (const unsigned char *)plain, strlen(plain), 6);
    CHECK_INT(ingest_inflate(ig, (const char *)zl, zlen, 1000, &out, &outlen), 0);
    CHECK_INT(outlen, strlen(plain));

    char u1[37], u2[37];
    ingest_uuid(ig, u1);
    ingest_uuid(ig, u2);
    CHECK_INT(strlen(u1), 36);
    CHECK(strcmp(u1, u2) != 0);
    CHECK(u1[8] == '-' && u1[13] == '-' && u1[14] == '4' && u1[18] == '-' && u1[23] == '-');

    /* Numbers in events become the same doubles the plan's YAML numbers become (strtod): each
     * literal must equal a `const` of the same text, and near neighbours must not. Covers the
     * tree builder's exact-decimal fast path and its strtod fallback (exponents, > 15 digits). */
    static const char *const nums[][2] = {
        {"0.3", "0.30000000000000004"},
        {"0.1", "0.10000000000000002"},
        {"-2.675", "-2.6750000000000003"},
        {"1.005", "1.0050000000000001"},
        {"123456.789", "123456.78900000002"},
        {"99999999999999.9", "99999999999999.89"},
        {"0.000001", "0.0000010000000000000002"},
        {"-0", "0.0000000000000001"},
        {"12", "12.000000000000002"},
        {"1e-7", "1.0000000000000001e-7"},
        {"4.35", "4.3500000000000005"},
        {"7.0000000000000001", "7.000000000000001"},
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        char y[512], b[256];
        snprintf(y, sizeof y,
                 "sluice: 1\nplan: n\nversion: \"1\"\nevents:\n  N:\n    properties:\n"
                 "      v: {type: number, const: %s}\n",
                 nums[i][0]);
        plan *pn = load(y);
        CHECK(pn != NULL);
        if (!pn) continue;
        for (int k = 0; k < 2; k++) {
            snprintf(b, sizeof b,
                     "{\"anonymousId\":\"a\",\"event\":\"N\",\"properties\":{\"v\":%s}}",
                     nums[i][k]);
            CHECK_INT(run(ig, pn, INGEST_TRACK, b, false, &r), 0);
            if (r.nvalid + r.ninvalid != 1) {
                CHECK(false);
                continue;
            }
            if ((r.nvalid == 1) != (k == 0))
                fprintf(stderr, "number %s vs const %s\n", nums[i][k], nums[i][0]);
            CHECK_INT(r.nvalid, k == 0 ? 1 : 0);
        }
        plan_release(pn);
    }

    /* Escaped strings and keys reach the validator decoded (the tree decodes them in place):
     * the YAML const and property name are the decoded text. */
    {
        plan *pe = load(
            "sluice: 1\nplan: e\nversion: \"1\"\n"
            "policy: {additional_properties: reject}\n"
            "events:\n  E:\n    properties:\n"
            "      \"k\\\"y\": {type: string, const: \"a\\\"b\\\\c/\\u00e9\\U0001F600\\t\"}\n");
        CHECK(pe != NULL);
        if (pe) {
            CHECK_INT(run(ig, pe, INGEST_TRACK,
                          "{\"anonymousId\":\"a\",\"event\":\"E\",\"properties\":"
                          "{\"k\\\"y\":\"a\\\"b\\\\c\\/\\u00e9\\ud83d\\ude00\\t\"}}",
                          false, &r),
                      0);
            CHECK_INT(r.nvalid, 1);
            CHECK_INT(run(ig, pe, INGEST_TRACK,
                          "{\"anonymousId\":\"a\",\"event\":\"E\",\"properties\":"
                          "{\"k\\\"y\":\"a\\\"b\\\\c\\/\\u00e9\\ud83d\\ude01\\t\"}}",
                          false, &r),
                      0);
            CHECK_INT(r.ninvalid, 1);
            plan_release(pe);
        }
    }

    /* The string scanners work 16 (SSE2) or 8 (SWAR) bytes at a time, then byte by byte: put each
     * kind of byte they must stop at after every prefix length from 0 to 40, so it lands in every
     * lane of a block and in the tail. The pattern checks the value the tree decoded. */
    {
        plan *ps =
            load("sluice: 1\nplan: s\nversion: \"1\"\n"
                 "events:\n  E:\n    properties:\n"
                 "      s: {type: string, pattern: \"^a*(\\\"|\\\\\\\\|\\u00e9|\\u007f)?b*$\"}\n");
        CHECK(ps != NULL);
        static const struct {
            const char *raw; /* written into the JSON string */
            int status;      /* 0 = accepted (and valid), else the HTTP status */
        } k[] = {{"\\\"", 0},   {"\\\\", 0},   {"\xc3\xa9", 0}, {"\x7f", 0},  {"", 0},
                 {"\x01", 400}, {"\x1f", 400}, {"\xff", 400},   {"\xc3", 400}};
        for (size_t c = 0; ps && c < sizeof k / sizeof k[0]; c++) {
            for (size_t pre = 0; pre <= 40; pre++) {
                char body[256];
                int n = snprintf(body, sizeof body,
                                 "{\"anonymousId\":\"x\",\"event\":\"E\",\"properties\":{\"s\":\"");
                memset(body + n, 'a', pre);
                n += (int)pre;
                n += snprintf(body + n, sizeof body - (size_t)n, "%sbbbbbbbbbbbbbbbbbbb\"}}",
                              k[c].raw);
                CHECK_INT(run(ig, ps, INGEST_TRACK, body, false, &r), 0);
                CHECK_INT(r.status, k[c].status);
                if (r.status != k[c].status) fprintf(stderr, "  case %zu, prefix %zu\n", c, pre);
                if (!k[c].status) CHECK_INT(r.nvalid, 1);
            }
        }
        plan_release(ps);
    }

    test_fused_tree();

    plan_release(p);
    plan_release(pf);
    ingest_free(ig);
    return check_done();
}
