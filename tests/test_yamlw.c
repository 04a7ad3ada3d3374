/* test_yamlw.c - yamlw writes YAML that yamlj reads back as the very same tree: strings YAML
 * would retype (yes, 1, null, ~, "", "a: b", "# x", leading/trailing spaces) are quoted, and
 * comments land where they were put. */
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "sl_buf.h"
#include "yamlj.h"
#include "yamlw.h"

static void roundtrip(const char *json)
{
    cJSON *v = cJSON_Parse(json);
    CHECK(v != NULL);
    if (!v) return;
    sl_buf y = {0};
    yamlw_write(&y, v);
    CHECK(!y.oom);
    sl_diags d;
    sl_diags_init(&d, "w.yaml");
    cJSON *back = NULL;
    int rc = yamlj_load(y.p ? y.p : "", y.n, NULL, &back, &d);
    bool same = rc == 0 && cJSON_Compare(v, back, true);
    if (!same) {
        fprintf(stderr, "  round trip of %s failed; YAML was:\n%s", json, y.p ? y.p : "");
        sl_diags_print(&d, stderr);
    }
    CHECK(same);
    cJSON_Delete(back);
    cJSON_Delete(v);
    sl_buf_free(&y);
    sl_diags_cleanup(&d);
}

int main(void)
{
    roundtrip("{\"a\": 1, \"b\": [1, 2.5, -3e-7, 1e300], \"c\": {\"d\": null, \"e\": true}}");
    roundtrip(
        "{\"s\": [\"yes\", \"No\", \"on\", \"OFF\", \"y\", \"n\", \"null\", \"~\", \"\", \"1\", "
        "\"0x1F\", \"1.5\", \".inf\", \"1_000\", \"12:30\", \"true\"]}");
    roundtrip("{\"s\": [\"a: b\", \"# x\", \" lead\", \"trail \", \"-dash\", \"[x]\", \"{y}\", "
              "\"a,b\", \"q\\\"uote\", \"back\\\\slash\", \"line\\nbreak\", \"tab\\there\", "
              "\"\\u00e9t\\u00e9\", \"\\ud83d\\ude00\", \"*alias\", \"&anchor\", \"!tag\", "
              "\"%pct\", \"@at\", \"`tick\", \"|pipe\", \">gt\", \"'apos\"]}");
    roundtrip("{\"Order Completed\": {}, \"iglu:com.acme/x/jsonschema/1-0-0\": [], \"1\": 2, "
              "\"$ref\": \"#/types/Money\", \"a b\": \"c d\", \"<<\": 1, \"? q\": 1}");
    roundtrip(
        "{\"list\": [{\"a\": 1, \"b\": {\"c\": [1, {\"d\": 2}]}}, [1, [2, [3]]], [], {}, "
        "{\"long\": \"" /* longer than a flow line: block style */
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}]}");
    roundtrip("[1, \"two\", {\"three\": 3}]");

    /* comments: before their member, at its indentation; the tree reads back without them */
    cJSON *v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, YAMLW_COMMENT, "top\nsecond line");
    cJSON_AddNumberToObject(v, "sluice", 1);
    cJSON *ev = cJSON_AddObjectToObject(v, "events");
    cJSON_AddStringToObject(ev, YAMLW_COMMENT, "from rules.json:3:5");
    cJSON_AddItemToObject(ev, "A", cJSON_CreateObject());
    sl_buf y = {0};
    yamlw_write(&y, v);
    CHECK(y.p && strstr(y.p, "# top\n# second line\nsluice: 1\nevents:\n  # from rules.json:3:5\n"
                             "  A: {}\n") != NULL);
    if (y.p) fputs(y.p, stderr);
    sl_buf_free(&y);
    cJSON_Delete(v);
    return check_done();
}
