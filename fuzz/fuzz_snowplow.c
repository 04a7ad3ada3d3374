/* fuzz_snowplow.c - libFuzzer entry: arbitrary bytes as a Snowplow request (first byte: 'G' = a
 * GET query string, else a tp2 POST body), translated and each event checked against a plan with
 * Iglu schemas. Must never crash; every translated body must be JSON ingest can read. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "snowplow.h"

static const char plan_yaml[] =
    "sluice: 1\n"
    "plan: fuzz-sp\n"
    "events:\n"
    "  signup: {properties: {category: {type: string, required: true}, value: {type: number}}}\n"
    "pages: {Home: {properties: {url: {type: string, format: uri}}}}\n"
    "iglu:\n"
    "  iglu:com.acme/click/jsonschema/1-0-0:\n"
    "    type: object\n"
    "    properties: {target: {type: string, maxLength: 8}, n: {type: integer}}\n"
    "    required: [target]\n"
    "    additionalProperties: false\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static plan *p; /* compiled once per process: the fuzzer's fixture, not program state */
    static plan_ctx *ctx;
    static sp_decoder *d;
    static vio_list vl;
    if (!p) {
        sl_diags dg;
        sl_diags_init(&dg, "fuzz-sp");
        if (plan_load_mem(plan_yaml, sizeof plan_yaml - 1, "fuzz-sp", false, &p, &dg) != 0)
            abort();
        sl_diags_cleanup(&dg);
        ctx = plan_ctx_new();
        d = sp_decoder_new();
        if (!ctx || !d) abort();
    }
    if (size == 0) return 0;
    bool get = data[0] == 'G';
    sp_options o = {.anonymous = data[0] == 'A', .client_ip = "192.0.2.1", .session = "s"};
    const char *out;
    size_t len;
    char err[256];
    int rc = get ? sp_translate_get(d, (const char *)data + 1, size - 1, &o, &out, &len, err,
                                    sizeof err)
                 : sp_translate_post(d, (const char *)data + 1, size - 1, &o, &out, &len, err,
                                     sizeof err);
    if (rc) return 0;
    cJSON *b = cJSON_ParseWithLength(out, len);
    if (!b) abort(); /* what we hand to ingest must be JSON */
    const cJSON *batch = cJSON_GetObjectItemCaseSensitive(b, "batch");
    if (!cJSON_IsArray(batch)) abort();
    for (const cJSON *ev = batch->child; ev; ev = ev->next) {
        int n = sp_check(p, ev, ctx, &vl);
        if (n < 0 || vl.n > VIO_MAX) abort();
        for (size_t i = 0; i < vl.n; i++)
            if (strlen(vl.items[i].message) >= VIO_MSG_MAX || !vl.items[i].keyword) abort();
    }
    cJSON_Delete(b);
    return 0;
}
