/* test_plan.c - the plan compiler and checker: plan errors with positions, shorthand rewriting,
 * policies, envelope rules, kinds and paths of violations, coverage, emit. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "plan.h"

static const char base_plan[] =
    "sluice: 1\n"
    "plan: shop\n"
    "version: \"1.0\"\n"
    "lint: {event_names: title_case, property_names: snake_case}\n"
    "types:\n"
    "  Money: {type: number, minimum: 0}\n"
    "  Unused: {type: string}\n"
    "  Product:\n"
    "    properties:\n"
    "      sku: {type: string, required: true}\n"
    "      price: {$ref: \"#/types/Money\"}\n"
    "context:\n"
    "  properties:\n"
    "    campaign: {properties: {medium: {type: string, pattern: \"^[a-z_]+$\"}}}\n"
    "events:\n"
    "  Order Completed:\n"
    "    description: Checkout finished\n"
    "    properties:\n"
    "      order_id: {type: string, minLength: 1, required: true}\n"
    "      revenue: {$ref: \"#/types/Money\", required: true}\n"
    "      currency: {enum: [EUR, USD]}\n"
    "      products: {type: array, items: {$ref: \"#/types/Product\"}}\n"
    "      email: {type: string, format: email}\n"
    "  Old Thing:\n"
    "    deprecated: use Order Completed\n"
    "    properties: {}\n"
    "  Loose Event:\n"
    "    description: anything goes\n"
    "    additional_properties: allow\n"
    "    properties:\n"
    "      a: {type: integer}\n"
    "identify:\n"
    "  traits:\n"
    "    email: {type: string, format: email, required: true}\n"
    "pages:\n"
    "  Home: {properties: {section: {type: string}}}\n";

static plan *load(const char *yaml, bool lint, sl_diags *d)
{
    plan *p = NULL;
    plan_load_mem(yaml, strlen(yaml), "t.yaml", lint, &p, d);
    return p;
}

static int check_json(plan *p, plan_ctx *ctx, const char *json, vio_list *vl)
{
    cJSON *ev = cJSON_Parse(json);
    CHECK(ev != NULL);
    int rc = plan_check(p, ev, ctx, vl);
    cJSON_Delete(ev);
    return rc;
}

/* True when vl holds a violation of `kind` at `path`. */
static bool has(const vio_list *vl, sl_kind kind, const char *path)
{
    for (size_t i = 0; i < vl->n; i++)
        if (vl->items[i].kind == kind && (!path || strcmp(vl->items[i].path, path) == 0))
            return true;
    return false;
}

static void dump_vl(const vio_list *vl)
{
    for (size_t i = 0; i < vl->n; i++)
        fprintf(stderr, "    %s %s [%s] %s\n", sl_kind_name(vl->items[i].kind), vl->items[i].path,
                vl->items[i].keyword, vl->items[i].message);
}

static void test_valid_and_invalid(void)
{
    sl_diags d;
    sl_diags_init(&d, "t.yaml");
    plan *p = load(base_plan, false, &d);
    CHECK(p != NULL);
    sl_diags_print(&d, stderr);
    CHECK_INT(d.nerrors, 0);
    if (!p) {
        sl_diags_cleanup(&d);
        return;
    }
    CHECK_STR(plan_get_name(p), "shop");
    CHECK_STR(plan_get_version(p), "1.0");
    CHECK_INT(plan_get_policy(p)->unplanned_events, PLAN_REJECT);
    plan_ctx *ctx = plan_ctx_new();
    static vio_list vl;

    /* a fully valid track call */
    int rc =
        check_json(p, ctx,
                   "{\"type\":\"track\",\"event\":\"Order Completed\",\"userId\":\"u1\","
                   "\"timestamp\":\"2026-11-28T10:00:00Z\",\"properties\":{\"order_id\":\"o1\","
                   "\"revenue\":12.5,\"currency\":\"EUR\",\"products\":[{\"sku\":\"A\","
                   "\"price\":3}]},\"context\":{\"library\":{\"name\":\"x\"},"
                   "\"campaign\":{\"medium\":\"email\",\"source\":\"n\"}}}",
                   &vl);
    if (rc) dump_vl(&vl);
    CHECK_INT(rc, 0);

    /* required missing, string for number, enum typo, extra property, bad email, pattern */
    rc = check_json(p, ctx,
                    "{\"type\":\"track\",\"event\":\"Order Completed\",\"anonymousId\":\"a\","
                    "\"properties\":{\"revenue\":\"12\",\"currency\":\"EURO\",\"coupon\":\"X\","
                    "\"email\":\"not-an-email\",\"products\":[{\"price\":-1}]},"
                    "\"context\":{\"campaign\":{\"medium\":\"Email\"}}}",
                    &vl);
    CHECK(rc >= 6);
    CHECK(has(&vl, SL_KIND_REQUIRED_MISSING, "/properties/order_id"));
    CHECK(has(&vl, SL_KIND_DATATYPE_MISMATCH, "/properties/revenue"));
    CHECK(has(&vl, SL_KIND_ENUM_MISMATCH, "/properties/currency"));
    CHECK(has(&vl, SL_KIND_ADDITIONAL_PROPERTIES, "/properties/coupon"));
    CHECK(has(&vl, SL_KIND_FORMAT_MISMATCH, "/properties/email"));
    CHECK(has(&vl, SL_KIND_PATTERN_MISMATCH, "/context/campaign/medium"));
    CHECK(has(&vl, SL_KIND_REQUIRED_MISSING, "/properties/products/0/sku"));
    CHECK(has(&vl, SL_KIND_RANGE_VIOLATION, "/properties/products/0/price"));
    if (rc < 6) dump_vl(&vl);

    /* unplanned event, and the envelope */
    rc = check_json(p, ctx, "{\"type\":\"track\",\"event\":\"Ordr Completed\",\"userId\":\"u\"}",
                    &vl);
    CHECK_INT(rc, 1);
    CHECK(has(&vl, SL_KIND_UNPLANNED_EVENT, "/event"));
    rc = check_json(p, ctx, "{\"type\":\"track\",\"event\":\"Loose Event\"}", &vl);
    CHECK_INT(rc, 1);
    CHECK(has(&vl, SL_KIND_INVALID_ENVELOPE, ""));
    CHECK(vl.n == 1 && strstr(vl.items[0].message, "anonymousId") != NULL);
    rc = check_json(p, ctx,
                    "{\"type\":\"track\",\"event\":\"Loose Event\",\"userId\":\"u\","
                    "\"timestamp\":\"yesterday\"}",
                    &vl);
    CHECK(has(&vl, SL_KIND_INVALID_ENVELOPE, "/timestamp"));
    rc = check_json(p, ctx, "{\"type\":\"bogus\",\"userId\":\"u\"}", &vl);
    CHECK(has(&vl, SL_KIND_INVALID_ENVELOPE, "/type"));
    rc = check_json(p, ctx, "[1,2]", &vl);
    CHECK(has(&vl, SL_KIND_INVALID_ENVELOPE, ""));

    /* per-event additional_properties: allow */
    rc = check_json(p, ctx,
                    "{\"type\":\"track\",\"event\":\"Loose Event\",\"userId\":\"u\","
                    "\"properties\":{\"a\":1,\"zzz\":true}}",
                    &vl);
    CHECK_INT(rc, 0);

    /* deprecated: a warning, still valid */
    rc = check_json(p, ctx, "{\"type\":\"track\",\"event\":\"Old Thing\",\"userId\":\"u\"}", &vl);
    CHECK_INT(rc, 0);
    CHECK(has(&vl, SL_KIND_DEPRECATED_EVENT, "/event"));

    /* identify traits (required: true shorthand), pages */
    rc = check_json(p, ctx, "{\"type\":\"identify\",\"userId\":\"u\",\"traits\":{}}", &vl);
    CHECK(has(&vl, SL_KIND_REQUIRED_MISSING, "/traits/email"));
    rc = check_json(
        p, ctx, "{\"type\":\"identify\",\"userId\":\"u\",\"traits\":{\"email\":\"a@b.co\"}}", &vl);
    CHECK_INT(rc, 0);
    rc = check_json(p, ctx,
                    "{\"type\":\"page\",\"name\":\"Home\",\"userId\":\"u\",\"properties\":"
                    "{\"section\":5}}",
                    &vl);
    CHECK(has(&vl, SL_KIND_DATATYPE_MISMATCH, "/properties/section"));
    rc = check_json(p, ctx,
                    "{\"type\":\"screen\",\"name\":\"Other\",\"userId\":\"u\",\"properties\":"
                    "{\"anything\":5}}",
                    &vl);
    CHECK_INT(rc, 0);
    rc = check_json(p, ctx, "{\"type\":\"group\",\"userId\":\"u\"}", &vl);
    CHECK(has(&vl, SL_KIND_INVALID_ENVELOPE, "/groupId"));
    rc = check_json(p, ctx, "{\"type\":\"alias\",\"userId\":\"u\",\"previousId\":\"p\"}", &vl);
    CHECK_INT(rc, 0);

    /* coverage */
    plan_cover *cov = plan_cover_new(p);
    cJSON *ev = cJSON_Parse("{\"type\":\"track\",\"event\":\"Order Completed\",\"properties\":"
                            "{\"order_id\":\"1\"}}");
    plan_cover_note(cov, ev);
    cJSON_Delete(ev);
    cJSON *rep = plan_cover_report(cov);
    char *s = cJSON_PrintUnformatted(rep);
    CHECK(strstr(s, "\"events_unseen\":[\"Old Thing\",\"Loose Event\"]") != NULL);
    CHECK(strstr(s, "\"Order Completed\":[\"revenue\",\"currency\",\"products\",\"email\"]") !=
          NULL);
    free(s);
    cJSON_Delete(rep);
    plan_cover_free(cov);

    /* emit: self-contained schemas, no internal extension keywords */
    cJSON *em = plan_emit_json_schema(p);
    char *es = cJSON_PrintUnformatted(em);
    CHECK(strstr(es, "x-sluice-kind") == NULL);
    CHECK(strstr(es, "#/$defs/Money") != NULL);
    CHECK(strstr(es, "#/types/") == NULL);
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(em, "events"), "Order Completed") != NULL);
    free(es);
    cJSON_Delete(em);

    plan_ctx_free(ctx);
    plan_release(p);
    sl_diags_cleanup(&d);
}

static void test_lint_warnings(void)
{
    sl_diags d;
    sl_diags_init(&d, "t.yaml");
    plan *p = load(base_plan, true, &d);
    CHECK(p != NULL);
    CHECK_INT(d.nerrors, 0);
    bool unused = false, undocumented = false;
    for (size_t i = 0; i < d.n; i++) {
        if (strstr(d.v[i].msg, "\"Unused\" is never used")) unused = d.v[i].line == 7;
        if (strstr(d.v[i].msg, "\"Old Thing\" has no description")) undocumented = true;
    }
    CHECK(unused);
    CHECK(undocumented);
    plan_release(p);
    sl_diags_cleanup(&d);
}

/* Each broken plan: one error, at the expected line:col, with a recognisable message. */
static void expect_error(const char *yaml, int line, int col, const char *fragment)
{
    sl_diags d;
    sl_diags_init(&d, "bad.yaml");
    plan *p = load(yaml, false, &d);
    CHECK(p == NULL);
    CHECK(d.nerrors >= 1);
    bool found = false;
    for (size_t i = 0; i < d.n; i++)
        if (d.v[i].line == line && d.v[i].col == col && strstr(d.v[i].msg, fragment)) found = true;
    if (!found) {
        fprintf(stderr, "  expected %d:%d '%s', got:\n", line, col, fragment);
        sl_diags_print(&d, stderr);
    }
    CHECK(found);
    plan_release(p);
    sl_diags_cleanup(&d);
}

static void test_errors(void)
{
    expect_error("sluice: 1\nplan: x\nevnts: {}\n", 3, 1, "unknown key \"evnts\"");
    expect_error("sluice: 2\nplan: x\n", 1, 1, "unsupported plan format");
    expect_error("sluice: 1\nplan: x\npolicy: {unplanned_events: rejct}\n", 3, 10,
                 "invalid value \"rejct\"");
    expect_error("sluice: 1\nplan: x\nevents:\n  A:\n    properties:\n"
                 "      p: {type: string, requried: true}\n",
                 6, 25, "requried");
    expect_error("sluice: 1\nplan: x\nevents:\n  A:\n    properties:\n"
                 "      p: {type: string, pattern: \"([a-z\"}\n",
                 6, 25, "pattern");
    expect_error("sluice: 1\nplan: x\nevents:\n  A:\n    properties:\n"
                 "      p: {$ref: \"#/types/Nope\"}\n",
                 6, 11, "no type named \"Nope\"");
    expect_error("sluice: 1\nplan: x\nevents:\n  A:\n    properties:\n"
                 "      p: {type: string, minLength: \"3\"}\n",
                 6, 25, "minLength");
    expect_error("sluice: 1\nplan: x\nevents: [a, b]\n", 3, 1, "\"events\" must be a mapping");
}

/* policy.dialect and `$schema`: draft-07 keywords keep their draft-07 meaning in a plan; a nested
 * `$schema` switches; an unknown one is an error with its position. */
static void test_dialects(void)
{
    static const char yaml[] =
        "sluice: 1\n"
        "plan: d7\n"
        "policy: {dialect: draft-07}\n"
        "types:\n"
        "  N: {type: integer}\n"
        "  Product: {type: object, properties: {sku: {type: string}}}\n"
        "events:\n"
        "  Pair Sent:\n"
        "    description: a tuple and a dependency, draft-07 style\n"
        "    properties:\n"
        "      pair: {type: array, items: [{type: string}, {$ref: \"#/types/N\"}], "
        "additionalItems: "
        "false}\n"
        "      product: {$ref: \"#/types/Product\"}\n"
        "      card: {type: object, dependencies: {number: [cvc]}}\n"
        "      legacy: {$schema: \"http://json-schema.org/draft-04/schema#\", type: number,\n"
        "               maximum: 10, exclusiveMaximum: true}\n";
    sl_diags d;
    sl_diags_init(&d, "t.yaml");
    plan *p = load(yaml, false, &d);
    sl_diags_print(&d, stderr);
    CHECK(p != NULL);
    if (!p) {
        sl_diags_cleanup(&d);
        return;
    }
    CHECK_INT(plan_get_policy(p)->dialect, DIALECT_DRAFT07);
    plan_ctx *ctx = plan_ctx_new();
    static vio_list vl;
    static const struct {
        const char *props;
        int valid;
    } cases[] = {
        {"\"pair\":[\"a\",1]", 1},
        {"\"pair\":[\"a\",1,2]", 0}, /* additionalItems: false */
        {"\"pair\":[1,\"a\"]", 0},   /* items[0] is a string */
        {"\"card\":{\"number\":\"4242\"}", 0},
        {"\"card\":{\"number\":\"4242\",\"cvc\":\"1\"}", 1},
        {"\"legacy\":9.5", 1},
        {"\"legacy\":10", 0}, /* draft-04 boolean exclusiveMaximum */
        {"\"product\":{\"sku\":\"a\"}", 1},
        {"\"product\":{\"sku\":\"a\",\"x\":1}", 0}, /* closed: $ref siblings stay closed */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char ev[256];
        snprintf(
            ev, sizeof ev,
            "{\"type\":\"track\",\"event\":\"Pair Sent\",\"userId\":\"u\",\"properties\":{%s}}",
            cases[i].props);
        vio_list_reset(&vl);
        int rc = check_json(p, ctx, ev, &vl);
        if ((rc == 0) != cases[i].valid) { /* plan_check: the number of violations */
            fprintf(stderr, "  dialect case %zu (%s): got %d\n", i, cases[i].props, rc);
            dump_vl(&vl);
        }
        CHECK_INT(rc == 0, cases[i].valid);
    }
    plan_ctx_free(ctx);
    plan_release(p);
    sl_diags_cleanup(&d);

    /* The same array form under 2020-12 is refused: `items` must be a schema there. */
    sl_diags_init(&d, "t.yaml");
    CHECK(load("sluice: 1\nplan: x\nevents:\n  A:\n    properties:\n"
               "      p: {type: array, items: [{type: string}]}\n",
               false, &d) == NULL);
    sl_diags_cleanup(&d);
    expect_error("sluice: 1\nplan: x\nevents:\n  A:\n    properties:\n"
                 "      p: {$schema: \"http://example.com/nope\", type: string}\n",
                 6, 11, "unknown $schema");
    expect_error("sluice: 1\nplan: x\npolicy: {dialect: draft-03}\n", 3, 10,
                 "invalid value \"draft-03\"");
}

/* Whole-call schemas (`schema:`), `common:`, event `versions:` and the `iglu:` section: the plan
 * shapes `sluice import` writes. */
static void test_imported_shapes(void)
{
    static const char yaml[] =
        "sluice: 1\n"
        "plan: imported\n"
        "common:\n"
        "  $schema: http://json-schema.org/draft-07/schema#\n"
        "  properties: {context: {properties: {app: {type: object, required: [version]}}}}\n"
        "events:\n"
        "  Order Completed:\n"
        "    description: two versions\n"
        "    default_version: 2\n"
        "    versions:\n"
        "      1:\n"
        "        schema: {properties: {properties: {required: [total]}}}\n"
        "      2:\n"
        "        deprecated: use 3\n"
        "        schema:\n"
        "          $schema: http://json-schema.org/draft-04/schema#\n"
        "          definitions: {money: {type: number, minimum: 0, exclusiveMinimum: true}}\n"
        "          properties:\n"
        "            properties:\n"
        "              properties: {revenue: {$ref: \"#/definitions/money\"}}\n"
        "              required: [revenue]\n"
        "  Signed Up:\n"
        "    description: whole-call schema, additional properties allowed as JSON Schema says\n"
        "    schema: {properties: {properties: {required: [plan]}}}\n"
        "identify:\n"
        "  schema: {properties: {traits: {required: [email]}}}\n"
        "iglu:\n"
        "  iglu:com.acme/step/jsonschema/1-0-0:\n"
        "    self: {vendor: com.acme, name: step, format: jsonschema, version: 1-0-0}\n"
        "    type: object\n"
        "    properties: {n: {type: integer, minimum: 1}}\n"
        "    required: [n]\n"
        "    additionalProperties: false\n";
    sl_diags d;
    sl_diags_init(&d, "t.yaml");
    plan *p = load(yaml, false, &d);
    sl_diags_print(&d, stderr);
    CHECK(p != NULL);
    if (!p) {
        sl_diags_cleanup(&d);
        return;
    }
    plan_ctx *ctx = plan_ctx_new();
    static vio_list vl;
    static const struct {
        const char *json;
        int errors;
        sl_kind kind;
        const char *path;
    } cases[] = {
        {"{\"type\":\"track\",\"event\":\"Order Completed\",\"userId\":\"u\","
         "\"properties\":{\"revenue\":2}}",
         0, SL_KIND_DEPRECATED_EVENT, "/event"},
        {"{\"type\":\"track\",\"event\":\"Order Completed\",\"userId\":\"u\","
         "\"properties\":{\"revenue\":0}}",
         1, SL_KIND_RANGE_VIOLATION, "/properties/revenue"}, /* draft-04 exclusiveMinimum */
        {"{\"type\":\"track\",\"event\":\"Order Completed\",\"userId\":\"u\","
         "\"context\":{\"protocols\":{\"event_version\":1}},\"properties\":{\"revenue\":2}}",
         1, SL_KIND_REQUIRED_MISSING, "/properties/total"},
        {"{\"type\":\"track\",\"event\":\"Order Completed\",\"userId\":\"u\","
         "\"context\":{\"protocols\":{\"event_version\":\"1\"}},\"properties\":{\"total\":2}}",
         0, SL_KIND_UNPLANNED_EVENT, NULL},
        {"{\"type\":\"track\",\"event\":\"Order Completed\",\"userId\":\"u\","
         "\"context\":{\"protocols\":{\"event_version\":9}},\"properties\":{\"total\":2}}",
         1, SL_KIND_UNPLANNED_EVENT, "/context/protocols/event_version"},
        {"{\"type\":\"track\",\"event\":\"Signed Up\",\"userId\":\"u\","
         "\"properties\":{\"plan\":\"x\",\"extra\":1}}",
         0, SL_KIND_ADDITIONAL_PROPERTIES, NULL},
        {"{\"type\":\"track\",\"event\":\"Signed Up\",\"userId\":\"u\","
         "\"context\":{\"app\":{}},\"properties\":{\"plan\":\"x\"}}",
         1, SL_KIND_REQUIRED_MISSING, "/context/app/version"}, /* common */
        {"{\"type\":\"identify\",\"userId\":\"u\",\"traits\":{}}", 1, SL_KIND_REQUIRED_MISSING,
         "/traits/email"},
        {"{\"type\":\"page\",\"userId\":\"u\",\"context\":{\"app\":{}}}", 1,
         SL_KIND_REQUIRED_MISSING, "/context/app/version"}, /* common applies to every call */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = check_json(p, ctx, cases[i].json, &vl);
        if (rc != cases[i].errors) {
            fprintf(stderr, "case %zu: %s\n", i, cases[i].json);
            dump_vl(&vl);
        }
        CHECK_INT(rc, cases[i].errors);
        if (cases[i].path) CHECK(has(&vl, cases[i].kind, cases[i].path));
        if (!cases[i].path) CHECK(!has(&vl, cases[i].kind, NULL));
    }

    /* self-describing JSON against the iglu section */
    static const struct {
        const char *json;
        int errors;
        sl_kind kind;
        const char *path;
    } sd[] = {
        {"{\"schema\":\"iglu:com.acme/step/jsonschema/1-0-0\",\"data\":{\"n\":1}}", 0,
         SL_KIND_SCHEMA_VIOLATION, NULL},
        {"{\"schema\":\"iglu:com.acme/step/jsonschema/1-0-0\",\"data\":{\"n\":0}}", 1,
         SL_KIND_RANGE_VIOLATION, "/x/data/n"},
        {"{\"schema\":\"iglu:com.acme/step/jsonschema/1-0-0\",\"data\":{\"n\":1,\"m\":2}}", 1,
         SL_KIND_ADDITIONAL_PROPERTIES, "/x/data/m"},
        {"{\"schema\":\"iglu:com.acme/step/jsonschema/1-0-1\",\"data\":{\"n\":1}}", 1,
         SL_KIND_UNKNOWN_SCHEMA, "/x/schema"},
        {"{\"schema\":\"com.acme/step\",\"data\":{}}", 1, SL_KIND_UNKNOWN_SCHEMA, "/x/schema"},
        {"{\"data\":{}}", 1, SL_KIND_INVALID_ENVELOPE, "/x/schema"},
    };
    CHECK_INT((int)plan_iglu_count(p), 1);
    for (size_t i = 0; i < sizeof sd / sizeof *sd; i++) {
        cJSON *v = cJSON_Parse(sd[i].json);
        CHECK(v != NULL);
        vio_list_reset(&vl);
        int rc = plan_check_selfdesc(p, v, ctx, &vl, "/x");
        if (rc != sd[i].errors) {
            fprintf(stderr, "sd case %zu: %s\n", i, sd[i].json);
            dump_vl(&vl);
        }
        CHECK_INT(rc, sd[i].errors);
        if (sd[i].path) CHECK(has(&vl, sd[i].kind, sd[i].path));
        cJSON_Delete(v);
    }
    plan_ctx_free(ctx);
    plan_release(p);
    sl_diags_cleanup(&d);

    /* errors in these shapes, with positions */
    expect_error("sluice: 1\nplan: x\nevents:\n  A:\n    description: a\n    versions:\n"
                 "      one: {}\n",
                 7, 7, "must be a positive integer");
    expect_error("sluice: 1\nplan: x\nevents:\n  A:\n    description: a\n    versions:\n"
                 "      2: {}\n",
                 6, 5, "has no version 1");
    expect_error("sluice: 1\nplan: x\nevents:\n  A:\n    description: a\n"
                 "    properties: {}\n    schema: {}\n",
                 7, 5, "use one of them");
    expect_error("sluice: 1\nplan: x\niglu:\n  com.acme/x/jsonschema/1-0-0: {}\n", 4, 3,
                 "not an Iglu schema key");
    expect_error("sluice: 1\nplan: x\niglu:\n  iglu:com.acme/x/jsonschema/1-0-0:\n"
                 "    self: {vendor: com.acme, name: y, format: jsonschema, version: 1-0-0}\n",
                 5, 30, "must be \"x\"");
}

int main(void)
{
    test_valid_and_invalid();
    test_lint_warnings();
    test_errors();
    test_dialects();
    test_imported_shapes();
    return check_done();
}
