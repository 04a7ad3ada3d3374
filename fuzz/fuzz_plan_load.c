/* fuzz_plan_load.c - libFuzzer entry: arbitrary bytes as a plan file. Must never crash or leak;
 * any input either compiles or yields at least one diagnostic. */
#include <stdint.h>
#include <stdlib.h>

#include "plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sl_diags d;
    sl_diags_init(&d, "fuzz.yaml");
    plan *p = NULL;
    int rc = plan_load_mem((const char *)data, size, "fuzz.yaml", true, &p, &d);
    if (rc != 0 && d.nerrors == 0) abort(); /* a failure must say why */
    if (rc == 0) {
        /* A plan that compiles must also dump and emit. */
        FILE *devnull = fopen("/dev/null", "w");
        if (devnull) {
            plan_dump(p, devnull);
            fclose(devnull);
        }
        cJSON_Delete(plan_emit_json_schema(p));
    }
    plan_release(p);
    sl_diags_cleanup(&d);
    return 0;
}
