/* fuzz_yamlj.c - libFuzzer driver for the YAML loader: any bytes must load or fail with exactly
 * one diagnostic, never crash or leak; on success every node of the tree has a position. */
#include <stdint.h>
#include <stdlib.h>

#include "yamlj.h"

static int fuzz_all_positioned(const srcmap *m, const cJSON *n)
{
    for (; n; n = n->next) {
        if (srcmap_get(m, n, NULL, NULL)) return 0;
        if (!fuzz_all_positioned(m, n->child)) return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    srcmap *m = srcmap_new();
    sl_diags d;
    sl_diags_init(&d, "fuzz.yaml");
    cJSON *out = NULL;
    int rc = yamlj_load((const char *)data, size, m, &out, &d);
    if (rc == 0 && (!out || d.n != 0 || !fuzz_all_positioned(m, out))) abort();
    if (rc != 0 && (out || d.n != 1)) abort();
    cJSON_Delete(out);
    sl_diags_cleanup(&d);
    srcmap_free(m);
    return 0;
}
