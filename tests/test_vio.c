/* test_vio.c - violation kinds, the bounded list, bounded rendering, JSON output, diagnostics. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "sl_err.h"
#include "vio.h"

int main(void)
{
    /* kinds round-trip */
    for (int k = 0; k < SL_KIND__COUNT; k++)
        CHECK_INT(sl_kind_from_name(sl_kind_name(k)), k);
    CHECK_INT(sl_kind_from_name("Nope"), -1);
    CHECK(sl_kind_is_warning(SL_KIND_DEPRECATED_EVENT));
    CHECK(!sl_kind_is_warning(SL_KIND_REQUIRED_MISSING));

    /* the list is bounded and counts what it drops; warnings are not errors */
    static vio_list l;
    vio_list_reset(&l);
    CHECK(vio_list_push(&l, SL_KIND_DEPRECATED_EVENT, "deprecated") != NULL);
    for (int i = 0; i < VIO_MAX + 5; i++)
        vio_list_push(&l, SL_KIND_ENUM_MISMATCH, "enum");
    CHECK_INT(l.n, VIO_MAX);
    CHECK_INT(l.dropped, 6);
    CHECK_INT(l.nerrors, VIO_MAX + 5);

    /* rendering: compact JSON, truncated with "..." and always terminated */
    char buf[16];
    cJSON *v = cJSON_Parse("{\"a\":[1,2.5,\"x\\\"y\"],\"b\":null}");
    char big[128];
    CHECK_STR(vio_render(big, sizeof big, v), "{\"a\":[1,2.5,\"x\\\"y\"],\"b\":null}");
    vio_render(buf, sizeof buf, v);
    CHECK_INT(strlen(buf), sizeof buf - 1);
    CHECK(strcmp(buf + sizeof buf - 4, "...") == 0);
    cJSON_Delete(v);
    CHECK_STR(vio_render(big, sizeof big, NULL), "null");

    /* JSON output */
    vio_list_reset(&l);
    vio *x = vio_list_push(&l, SL_KIND_REQUIRED_MISSING, "required");
    strcpy(x->path, "/properties/order_id");
    strcpy(x->message, "required property \"order_id\" is missing");
    char *json = vio_list_to_json(&l);
    CHECK_STR(json, "[{\"kind\":\"Required-Missing\",\"path\":\"/properties/order_id\","
                    "\"keyword\":\"required\",\"expected\":\"\",\"actual\":\"\","
                    "\"message\":\"required property \\\"order_id\\\" is missing\"}]");
    free(json);

    /* diagnostics: sorted stably by position, counted by severity */
    sl_diags d;
    sl_diags_init(&d, "p.yaml");
    sl_diags_add(&d, SL_SEV_WARNING, 5, 1, "w1");
    sl_diags_add(&d, SL_SEV_ERROR, 2, 3, "e1");
    sl_diags_add(&d, SL_SEV_ERROR, 5, 1, "e2");
    sl_diags_sort(&d);
    CHECK_STR(d.v[0].msg, "e1");
    CHECK_STR(d.v[1].msg, "w1");
    CHECK_STR(d.v[2].msg, "e2");
    CHECK_INT(d.nerrors, 2);
    CHECK_INT(d.nwarnings, 1);
    sl_diags_cleanup(&d);
    CHECK_STR(sl_strerror(SL_EPLAN), "invalid tracking plan");
    CHECK_STR(sl_strerror(12345), "unknown error");
    return check_done();
}
