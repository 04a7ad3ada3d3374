/* fuzz_check.c - libFuzzer entry: arbitrary bytes as an event, checked against a fixed plan that
 * exercises every kind of rule. Must never crash; violations must stay within their bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

static const char plan_yaml[] =
    "sluice: 1\n"
    "plan: fuzz\n"
    "types:\n"
    "  Money: {type: number, minimum: 0, multipleOf: 0.01}\n"
    "  Product: {properties: {sku: {type: string, pattern: '^[A-Z]{3}-[0-9]+$', required: true},"
    " price: {$ref: '#/types/Money'}}}\n"
    "context:\n"
    "  properties:\n"
    "    campaign: {properties: {medium: {type: string, pattern: '^[a-z_]+$'}}}\n"
    "events:\n"
    "  Order Completed:\n"
    "    properties:\n"
    "      order_id: {type: string, minLength: 1, maxLength: 64, required: true}\n"
    "      revenue: {$ref: '#/types/Money', required: true}\n"
    "      currency: {enum: [EUR, USD, GBP]}\n"
    "      products: {type: array, items: {$ref: '#/types/Product'}, maxItems: 50, "
    "uniqueItems: true}\n"
    "      coupon: {anyOf: [{type: string}, {type: 'null'}]}\n"
    "      email: {type: string, format: email}\n"
    "      at: {type: string, format: date-time}\n"
    "  Old Event: {deprecated: use Order Completed, properties: {}}\n"
    "identify: {traits: {email: {type: string, format: email}, age: {type: integer}}}\n"
    "pages: {Home: {properties: {path: {type: string, format: uri}}}}\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static plan *p; /* compiled once per process: the fuzzer's fixture, not program state */
    static plan_ctx *ctx;
    static vio_list vl;
    if (!p) {
        sl_diags d;
        sl_diags_init(&d, "fuzz-plan");
        if (plan_load_mem(plan_yaml, sizeof plan_yaml - 1, "fuzz-plan", false, &p, &d) != 0)
            abort();
        sl_diags_cleanup(&d);
        ctx = plan_ctx_new();
    }
    cJSON *ev = cJSON_ParseWithLength((const char *)data, size);
    if (!ev) return 0;
    int rc = plan_check(p, ev, ctx, &vl);
    if (rc < 0 || vl.n > VIO_MAX) abort();
    for (size_t i = 0; i < vl.n; i++)
        if (strlen(vl.items[i].message) >= VIO_MSG_MAX || !vl.items[i].keyword) abort();
    cJSON_Delete(ev);
    return 0;
}
