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
    cJSON *ctl = cJSON_CreateString("a\b\f\n\r\t\x01\x1f\"\\"); /* sl_json_escape's form */
    CHECK_STR(vio_render(big, sizeof big, ctl), "\"a\\b\\f\\n\\r\\t\\u0001\\u001f\\\"\\\\\"");
    cJSON_Delete(ctl);

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

    /* JSON output matches cJSON's rendering byte for byte: every byte 1..255 in every field,
     * a NULL keyword, an empty list, a full list of long fields */
    vio_list_reset(&l);
    json = vio_list_to_json(&l);
    CHECK_STR(json, "[]");
    free(json);
    for (int round = 0; round < 3; round++) {
        vio_list_reset(&l);
        for (int i = 0; i < (round == 2 ? VIO_MAX : 8); i++) {
            vio *y = vio_list_push(&l, (sl_kind)(i % SL_KIND__COUNT), i % 3 ? "type" : NULL);
            if (!y) break;
            char *f[] = {y->path, y->expected, y->actual, y->message};
            size_t cap[] = {VIO_PATH_MAX, VIO_TEXT_MAX, VIO_TEXT_MAX, VIO_MSG_MAX};
            for (int k = 0; k < 4; k++) {
                size_t n = round == 2 ? cap[k] - 1 : (size_t)(i * 37 + k * 11) % (cap[k] - 1);
                for (size_t j = 0; j < n; j++)
                    f[k][j] = (char)(1 + (i * 131 + k * 17 + (int)j * 7) % 255);
                f[k][n] = 0;
            }
        }
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; i < l.n; i++) {
            const vio *y = &l.items[i];
            cJSON *o = cJSON_CreateObject();
            cJSON_AddItemToArray(arr, o);
            cJSON_AddStringToObject(o, "kind", sl_kind_name(y->kind));
            cJSON_AddStringToObject(o, "path", y->path);
            cJSON_AddStringToObject(o, "keyword", y->keyword ? y->keyword : "");
            cJSON_AddStringToObject(o, "expected", y->expected);
            cJSON_AddStringToObject(o, "actual", y->actual);
            cJSON_AddStringToObject(o, "message", y->message);
        }
        char *want = cJSON_PrintUnformatted(arr);
        json = vio_list_to_json(&l);
        CHECK(json && want && strcmp(json, want) == 0);
        free(json);
        free(want);
        cJSON_Delete(arr);
    }

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
