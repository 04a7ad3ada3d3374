/* test_schema.c - unit tests for the JSON Schema engine: compile errors with line:col, violation
 * kinds/paths/messages for typical event schemas, quiet (out = NULL) mode, x-sluice-kind,
 * cross-root references, limits, and the disassembly. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "schema.h"
#include "srcmap.h"
#include "yamlj.h"

/* ------------------------------------------------------------------------------------------ */
/* Helpers */

typedef struct {
    schema_prog *prog;
    int root;
    sl_diags d;
    int rc; /* add/finish result */
} compiled;

/* Compiles a YAML (or JSON) schema with positions; c->rc < 0 and c->d hold errors on failure. */
static void compile_yaml(compiled *c, const char *y, bool strict)
{
    memset(c, 0, sizeof *c);
    sl_diags_init(&c->d, "schema.yaml");
    srcmap *m = srcmap_new();
    cJSON *tree = NULL;
    if (yamlj_load(y, strlen(y), m, &tree, &c->d) != 0) {
        c->rc = SL_ESYNTAX;
        srcmap_free(m);
        return;
    }
    schema_opts o = {
        .strict = strict, .assert_formats = true, .locate = srcmap_locate, .locate_ud = m};
    schema_builder *b = schema_builder_new(&o);
    c->root = schema_builder_add(b, tree, NULL, &c->d);
    c->rc = c->root < 0 ? c->root : schema_builder_finish(b, &c->prog, &c->d);
    schema_builder_free(b);
    cJSON_Delete(tree); /* the program must not need the tree any more */
    srcmap_free(m);
}

static void compiled_free(compiled *c)
{
    schema_prog_free(c->prog);
    sl_diags_cleanup(&c->d);
}

static bool has_diag(const sl_diags *d, const char *needle, int line)
{
    for (size_t i = 0; i < d->n; i++)
        if (strstr(d->v[i].msg, needle) && (line == 0 || d->v[i].line == line)) return true;
    fprintf(stderr, "  diagnostic \"%s\" (line %d) not found among:\n", needle, line);
    for (size_t i = 0; i < d->n; i++)
        fprintf(stderr, "    %d:%d: %s\n", d->v[i].line, d->v[i].col, d->v[i].msg);
    return false;
}

static const vio *find_vio(const vio_list *l, const char *path, const char *keyword)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->items[i].path, path) && !strcmp(l->items[i].keyword, keyword))
            return &l->items[i];
    fprintf(stderr, "  violation %s at \"%s\" not found among:\n", keyword, path);
    for (size_t i = 0; i < l->n; i++)
        fprintf(stderr, "    %s %s %s: %s\n", sl_kind_name(l->items[i].kind), l->items[i].path,
                l->items[i].keyword, l->items[i].message);
    return NULL;
}

/* Validates JSON text `inst` against c; returns schema_validate's result. */
static int check_json(compiled *c, const char *inst, schema_ctx *ctx, vio_list *out,
                      const char *prefix)
{
    cJSON *x = cJSON_Parse(inst);
    if (!x) {
        fprintf(stderr, "bad test JSON: %s\n", inst);
        return -100;
    }
    if (out) vio_list_reset(out);
    int rc = schema_validate(c->prog, c->root, x, ctx, out, prefix);
    cJSON_Delete(x);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Compile errors */

static void test_compile_errors(void)
{
    compiled c;
    /* Unknown keyword in strict mode, with its line from the locate callback. */
    compile_yaml(&c,
                 "type: object\n"
                 "properties:\n"
                 "  name:\n"
                 "    type: string\n"
                 "    minLenght: 3\n",
                 true);
    CHECK(c.rc == SL_ESCHEMA);
    CHECK(has_diag(&c.d, "unknown keyword 'minLenght' (did you mean 'minLength'?)", 5));
    CHECK(c.d.nerrors == 1 && c.d.v[0].col > 0);
    compiled_free(&c);

    /* The same schema is fine when not strict; x- extensions are fine even when strict. */
    compile_yaml(&c, "type: object\nminLenght: 3\n", false);
    CHECK_INT(c.rc, 0);
    compiled_free(&c);
    compile_yaml(&c, "type: object\nx-owner: growth-team\n", true);
    CHECK_INT(c.rc, 0);
    compiled_free(&c);

    /* Wrong value types: every one is reported, each at its own line. */
    compile_yaml(&c,
                 "properties:\n"
                 "  a: {minLength: \"3\"}\n"
                 "  b: {pattern: 5}\n"
                 "required: true\n"
                 "type: strnig\n",
                 false);
    CHECK(c.rc == SL_ESCHEMA);
    CHECK(has_diag(&c.d, "'minLength' must be a non-negative integer", 2));
    CHECK(has_diag(&c.d, "'pattern' must be a string", 3));
    CHECK(has_diag(&c.d, "'required' must be an array of strings", 4));
    CHECK(has_diag(&c.d, "unknown type 'strnig'", 5));
    compiled_free(&c);

    /* Bad regex: PCRE2's message and offset. */
    compile_yaml(&c, "type: string\npattern: \"^[a-z\"\n", true);
    CHECK(c.rc == SL_ESCHEMA);
    CHECK(has_diag(&c.d, "invalid regular expression in 'pattern': '^[a-z'", 2));
    CHECK(has_diag(&c.d, "at offset", 2));
    compiled_free(&c);

    /* Unresolvable $ref names the ref. */
    compile_yaml(&c, "$defs: {a: {type: string}}\nproperties:\n  x: {$ref: \"#/$defs/b\"}\n", true);
    CHECK(c.rc == SL_ESCHEMA);
    CHECK(has_diag(&c.d, "cannot resolve $ref '#/$defs/b'", 3));
    compiled_free(&c);

    /* Unknown violation kind, and a schema that is neither object nor boolean. */
    compile_yaml(&c, "type: string\nx-sluice-kind: Bogus-Kind\n", true);
    CHECK(c.rc == SL_ESCHEMA);
    CHECK(has_diag(&c.d, "unknown violation kind 'Bogus-Kind'", 2));
    compiled_free(&c);
    compile_yaml(&c, "properties:\n  a: 5\n", false);
    CHECK(c.rc == SL_ESCHEMA);
    CHECK(has_diag(&c.d, "must be a schema", 2));
    compiled_free(&c);
}

/* ------------------------------------------------------------------------------------------ */
/* Violations of a typical event schema */

static const char *order_completed = "type: object\n"
                                     "required: [order_id, revenue, currency]\n"
                                     "additionalProperties: false\n"
                                     "properties:\n"
                                     "  order_id: {type: string, pattern: \"^[A-Z0-9-]+$\"}\n"
                                     "  revenue: {type: number, minimum: 0}\n"
                                     "  currency: {enum: [EUR, USD, GBP]}\n"
                                     "  email: {type: string, format: email}\n"
                                     "  name: {type: string, minLength: 2, maxLength: 5}\n"
                                     "  products:\n"
                                     "    type: array\n"
                                     "    maxItems: 2\n"
                                     "    items:\n"
                                     "      type: object\n"
                                     "      required: [sku]\n"
                                     "      properties:\n"
                                     "        sku: {type: string}\n"
                                     "        price: {type: number, exclusiveMinimum: 0}\n";

static void test_event_violations(void)
{
    compiled c;
    compile_yaml(&c, order_completed, true);
    CHECK_INT(c.rc, 0);
    if (c.rc) return;
    schema_ctx *ctx = schema_ctx_new();
    vio_list *vl = malloc(sizeof *vl);

    CHECK_INT(check_json(&c,
                         "{\"order_id\":\"A-1\",\"revenue\":12.5,\"currency\":\"EUR\","
                         "\"products\":[{\"sku\":\"x\",\"price\":1}]}",
                         ctx, vl, "/properties"),
              1);
    CHECK_INT(vl->n, 0);

    int rc = check_json(&c,
                        "{\"revenue\":\"12\",\"currency\":\"EURO\",\"coupon\":\"X\","
                        "\"products\":[{\"price\":0}]}",
                        ctx, vl, "/properties");
    CHECK_INT(rc, 0);
    CHECK_INT(vl->n, 6);
    CHECK_INT(vl->nerrors, 6);
    const vio *v = find_vio(vl, "/properties/order_id", "required");
    CHECK(v && v->kind == SL_KIND_REQUIRED_MISSING);
    CHECK(v && !strcmp(v->message, "required property \"order_id\" is missing"));
    v = find_vio(vl, "/properties/revenue", "type");
    CHECK(v && v->kind == SL_KIND_DATATYPE_MISMATCH);
    CHECK(v && !strcmp(v->message, "\"revenue\" must be a number, got string \"12\""));
    CHECK(v && !strcmp(v->expected, "number") && !strcmp(v->actual, "\"12\""));
    v = find_vio(vl, "/properties/currency", "enum");
    CHECK(v && v->kind == SL_KIND_ENUM_MISMATCH);
    CHECK(v && !strcmp(v->message, "\"EURO\" is not one of [\"EUR\",\"USD\",\"GBP\"]"));
    CHECK(v && !strcmp(v->expected, "one of [\"EUR\",\"USD\",\"GBP\"]"));
    v = find_vio(vl, "/properties/coupon", "additionalProperties");
    CHECK(v && v->kind == SL_KIND_ADDITIONAL_PROPERTIES);
    CHECK(v && !strcmp(v->message, "property \"coupon\" is not allowed"));
    v = find_vio(vl, "/properties/products/0/sku", "required");
    CHECK(v && v->kind == SL_KIND_REQUIRED_MISSING);
    v = find_vio(vl, "/properties/products/0/price", "exclusiveMinimum");
    CHECK(v && v->kind == SL_KIND_RANGE_VIOLATION && !strcmp(v->expected, "> 0"));

    /* Strings: pattern, code-point lengths, format (asserted), array length. */
    rc = check_json(&c,
                    "{\"order_id\":\"a-1\",\"revenue\":-1,\"currency\":\"USD\",\"email\":\"nope\","
                    "\"name\":\"h\\u00e9llo!\",\"products\":[{\"sku\":\"a\"},{\"sku\":\"b\"},"
                    "{\"sku\":\"c\"}]}",
                    ctx, vl, NULL);
    CHECK_INT(rc, 0);
    CHECK_INT(vl->n, 5);
    v = find_vio(vl, "/order_id", "pattern");
    CHECK(v && v->kind == SL_KIND_PATTERN_MISMATCH && !strcmp(v->expected, "^[A-Z0-9-]+$"));
    v = find_vio(vl, "/revenue", "minimum");
    CHECK(v && v->kind == SL_KIND_RANGE_VIOLATION);
    CHECK(v && !strcmp(v->message, "\"revenue\" must be >= 0, got -1"));
    v = find_vio(vl, "/email", "format");
    CHECK(v && v->kind == SL_KIND_FORMAT_MISMATCH && !strcmp(v->expected, "email"));
    v = find_vio(vl, "/name", "maxLength");
    CHECK(v && v->kind == SL_KIND_LENGTH_VIOLATION);
    CHECK(v && strstr(v->message, "got 6")); /* 6 code points, 7 bytes */
    v = find_vio(vl, "/products", "maxItems");
    CHECK(v && v->kind == SL_KIND_LENGTH_VIOLATION);
    /* "héllo" is 5 code points: within maxLength 5 */
    CHECK_INT(check_json(&c,
                         "{\"order_id\":\"A\",\"revenue\":0,\"currency\":\"USD\","
                         "\"name\":\"h\\u00e9llo\"}",
                         ctx, vl, NULL),
              1);

    /* A required name with no subschema is still "additional" (required evaluates nothing). */
    compiled c2;
    compile_yaml(&c2, "required: [a, b]\nproperties: {a: {}}\nadditionalProperties: false\n", true);
    CHECK_INT(c2.rc, 0);
    CHECK_INT(check_json(&c2, "{\"a\":1}", ctx, vl, ""), 0);
    CHECK_INT(vl->n, 1);
    CHECK(find_vio(vl, "/b", "required") != NULL);
    CHECK_INT(check_json(&c2, "{\"a\":1,\"b\":2}", ctx, vl, ""), 0);
    CHECK(find_vio(vl, "/b", "additionalProperties") != NULL);
    compiled_free(&c2);

    /* Quiet mode: same answers, no list. */
    CHECK_INT(check_json(&c, "{\"revenue\":\"12\"}", ctx, NULL, NULL), 0);
    CHECK_INT(
        check_json(&c, "{\"order_id\":\"A\",\"revenue\":1,\"currency\":\"GBP\"}", ctx, NULL, NULL),
        1);
    CHECK_INT(check_json(&c, "[]", ctx, NULL, NULL), 0);

    schema_ctx_free(ctx);
    free(vl);
    compiled_free(&c);
}

/* ------------------------------------------------------------------------------------------ */
/* Combinators, kinds, paths, equality */

static void test_combinators_and_kinds(void)
{
    compiled c;
    schema_ctx *ctx = schema_ctx_new();
    vio_list *vl = malloc(sizeof *vl);

    /* anyOf / oneOf / not report one violation each, at the instance. */
    compile_yaml(&c,
                 "properties:\n"
                 "  id: {anyOf: [{type: string}, {type: integer}]}\n"
                 "  n: {oneOf: [{minimum: 0}, {maximum: 10}]}\n"
                 "  s: {not: {const: forbidden}}\n",
                 true);
    CHECK_INT(c.rc, 0);
    CHECK_INT(check_json(&c, "{\"id\":1.5,\"n\":5,\"s\":\"forbidden\"}", ctx, vl, ""), 0);
    CHECK_INT(vl->n, 3);
    const vio *v = find_vio(vl, "/id", "anyOf");
    CHECK(v && v->kind == SL_KIND_SCHEMA_VIOLATION);
    CHECK(v && !strcmp(v->message, "\"id\" must match at least one schema in anyOf"));
    CHECK(find_vio(vl, "/n", "oneOf") != NULL);
    CHECK(find_vio(vl, "/s", "not") != NULL);
    CHECK_INT(check_json(&c, "{\"id\":\"a\",\"n\":-1,\"s\":\"ok\"}", ctx, vl, ""), 1);
    compiled_free(&c);

    /* x-sluice-kind overrides the kind of everything under it; if/then reports directly. */
    compile_yaml(&c,
                 "properties:\n"
                 "  plan:\n"
                 "    x-sluice-kind: Enum-Mismatch\n"
                 "    type: string\n"
                 "if: {properties: {type: {const: purchase}}, required: [type]}\n"
                 "then: {required: [revenue]}\n",
                 true);
    CHECK_INT(c.rc, 0);
    CHECK_INT(check_json(&c, "{\"plan\":3,\"type\":\"purchase\"}", ctx, vl, NULL), 0);
    CHECK_INT(vl->n, 2);
    v = find_vio(vl, "/plan", "type");
    CHECK(v && v->kind == SL_KIND_ENUM_MISMATCH);
    v = find_vio(vl, "/revenue", "required");
    CHECK(v && v->kind == SL_KIND_REQUIRED_MISSING);
    CHECK_INT(check_json(&c, "{\"plan\":\"pro\",\"type\":\"view\"}", ctx, vl, NULL), 1);
    compiled_free(&c);

    /* JSON Pointer escaping of ~ and /, array indices, unevaluatedProperties. */
    compile_yaml(&c,
                 "properties:\n"
                 "  \"a/b~c\": {type: array, items: {type: integer}}\n"
                 "unevaluatedProperties: false\n",
                 true);
    CHECK_INT(c.rc, 0);
    CHECK_INT(check_json(&c, "{\"a/b~c\":[1,\"x\"],\"extra\":true}", ctx, vl, "/p"), 0);
    CHECK_INT(vl->n, 2);
    v = find_vio(vl, "/p/a~1b~0c/1", "type");
    CHECK(v && !strcmp(v->message, "item 1 must be an integer, got string \"x\""));
    v = find_vio(vl, "/p/extra", "unevaluatedProperties");
    CHECK(v && v->kind == SL_KIND_ADDITIONAL_PROPERTIES);
    compiled_free(&c);

    /* JSON equality: 1 == 1.0, objects unordered; uniqueItems; multipleOf with decimals. */
    compile_yaml(&c,
                 "properties:\n"
                 "  c: {const: {a: 1, b: [1, 2]}}\n"
                 "  u: {uniqueItems: true}\n"
                 "  m: {multipleOf: 0.0001}\n",
                 true);
    CHECK_INT(c.rc, 0);
    CHECK_INT(check_json(&c,
                         "{\"c\":{\"b\":[1.0,2],\"a\":1.0},\"u\":[1,\"1\",{\"a\":1}],\"m\":0.0075}",
                         ctx, NULL, NULL),
              1);
    CHECK_INT(check_json(&c, "{\"u\":[{\"a\":1,\"b\":2},{\"b\":2,\"a\":1.0}]}", ctx, vl, NULL), 0);
    CHECK(find_vio(vl, "/u", "uniqueItems") != NULL);
    CHECK_INT(check_json(&c, "{\"m\":0.00751}", ctx, vl, NULL), 0);
    CHECK(find_vio(vl, "/m", "multipleOf") != NULL);
    CHECK_INT(check_json(&c, "{\"c\":{\"a\":1}}", ctx, NULL, NULL), 0);
    compiled_free(&c);

    schema_ctx_free(ctx);
    free(vl);
}

/* ------------------------------------------------------------------------------------------ */
/* References across roots, recursion, limits */

static void test_refs_and_limits(void)
{
    schema_opts o = {.strict = true};
    sl_diags d;
    sl_diags_init(&d, NULL);
    schema_builder *b = schema_builder_new(&o);
    cJSON *defs =
        cJSON_Parse("{\"$id\":\"sluice:defs\",\"$defs\":{\"money\":{\"type\":\"number\","
                    "\"minimum\":0},\"node\":{\"type\":\"object\",\"properties\":{"
                    "\"next\":{\"$ref\":\"#/$defs/node\"},\"v\":{\"type\":\"integer\"}}}}}");
    cJSON *ev = cJSON_Parse("{\"properties\":{\"price\":{\"$ref\":\"sluice:defs#/$defs/money\"},"
                            "\"list\":{\"$ref\":\"sluice:defs#/$defs/node\"}}}");
    cJSON *loop = cJSON_Parse("{\"$ref\":\"#\"}");
    int r0 = schema_builder_add(b, defs, NULL, &d);
    int r1 = schema_builder_add(b, ev, NULL, &d);
    int r2 = schema_builder_add(b, loop, NULL, &d);
    CHECK_INT(r0, 0);
    CHECK_INT(r1, 1);
    CHECK_INT(r2, 2);
    schema_prog *p = NULL;
    CHECK_INT(schema_builder_finish(b, &p, &d), 0);
    schema_builder_free(b);
    cJSON_Delete(defs);
    cJSON_Delete(ev);
    cJSON_Delete(loop);
    if (!p) return;
    CHECK_INT(schema_prog_root_count(p), 3);

    schema_ctx *ctx = schema_ctx_new();
    vio_list *vl = malloc(sizeof *vl);
    cJSON *x = cJSON_Parse("{\"price\":-2,\"list\":{\"v\":1,\"next\":{\"v\":2,\"next\":{\"v\":"
                           "\"three\"}}}}");
    vio_list_reset(vl);
    CHECK_INT(schema_validate(p, r1, x, ctx, vl, NULL), 0);
    CHECK_INT(vl->n, 2);
    CHECK(find_vio(vl, "/price", "minimum") != NULL);
    CHECK(find_vio(vl, "/list/next/next/v", "type") != NULL);
    CHECK_INT(schema_validate(p, r1, x, ctx, NULL, NULL), 0);
    /* A schema that recurses without consuming the instance hits the depth limit, no crash. */
    CHECK(schema_validate(p, r2, x, ctx, NULL, NULL) == SL_ELIMIT);
    CHECK(schema_validate(p, 7, x, ctx, NULL, NULL) == SL_EUSAGE);
    cJSON_Delete(x);

    /* More violations than VIO_MAX: the rest are counted as dropped. */
    cJSON *many = cJSON_CreateObject();
    cJSON *lst = cJSON_AddObjectToObject(many, "list");
    for (int i = 0; i < 40; i++) {
        lst = cJSON_AddObjectToObject(lst, "next");
        cJSON_AddStringToObject(lst, "v", "x");
    }
    vio_list_reset(vl);
    CHECK_INT(schema_validate(p, r1, many, ctx, vl, NULL), 0);
    CHECK_INT(vl->n, VIO_MAX);
    CHECK_INT(vl->dropped, 40 - VIO_MAX);
    cJSON_Delete(many);

    schema_ctx_free(ctx);
    free(vl);
    schema_prog_free(p);
    sl_diags_cleanup(&d);
}

/* ------------------------------------------------------------------------------------------ */
/* Disassembly */

static void test_dump(void)
{
    compiled c;
    compile_yaml(&c,
                 "type: object\n"
                 "required: [a]\n"
                 "properties:\n"
                 "  a: {type: [string, \"null\"], pattern: \"^x\"}\n"
                 "  n: {enum: [1, 2]}\n"
                 "  r: {required: [x, y]}\n"
                 "additionalProperties: false\n",
                 true);
    CHECK_INT(c.rc, 0);
    if (c.rc) return;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    schema_prog_dump(c.prog, f);
    fclose(f);
    CHECK(strstr(buf, "schema program: 1 roots, 5 schemas") != NULL);
    CHECK(strstr(buf, "root 0 -> s0") != NULL);
    CHECK(strstr(buf, "TYPE           object") != NULL);
    /* required folded into the property table ("!"), or on its own without properties */
    CHECK(strstr(buf, "PROPS          {\"a\"!:s1,\"n\":s2,\"r\":s3} (! = required) "
                      "additional:s4(false)") != NULL);
    CHECK(strstr(buf, "REQUIRED       \"x\",\"y\"") != NULL);
    CHECK(strstr(buf, "TYPE           null|string") != NULL);
    CHECK(strstr(buf, "PATTERN        r0 /^x/") != NULL);
    CHECK(strstr(buf, "ENUM           c0 [1,2]") != NULL);
    CHECK(strstr(buf, "s1: sluice:root/0#/properties/a") != NULL);
    if (check_failed) fputs(buf, stderr);
    free(buf);
    compiled_free(&c);
}

/* Dialects: how `$schema` URIs and dialect names are read, and one rule of each older draft that
 * 2020-12 reads differently, on the same instance (the full rules run in conformance_dialects). */
static void test_dialects(void)
{
    CHECK_INT(dialect_from_uri("http://json-schema.org/draft-07/schema#"), DIALECT_DRAFT07);
    CHECK_INT(dialect_from_uri("https://json-schema.org/draft-07/schema"), DIALECT_DRAFT07);
    CHECK_INT(dialect_from_uri("http://json-schema.org/draft-04/schema"), DIALECT_DRAFT04);
    CHECK_INT(dialect_from_uri("https://json-schema.org/draft/2019-09/schema"), DIALECT_2019_09);
    CHECK_INT(dialect_from_uri("http://iglucentral.com/schemas/com.snowplowanalytics.self-desc/"
                               "schema/jsonschema/1-0-0#"),
              DIALECT_DRAFT04);
    CHECK_INT(dialect_from_uri("http://json-schema.org/draft-03/schema#"), DIALECT_UNKNOWN);
    CHECK_INT(dialect_from_uri("json-schema.org/draft-07/schema#"), DIALECT_UNKNOWN);
    CHECK_INT(dialect_from_name("draft7"), DIALECT_DRAFT07);
    CHECK_INT(dialect_from_name("draft-04"), DIALECT_DRAFT04);
    CHECK_INT(dialect_from_name("2020-12"), DIALECT_2020_12);
    CHECK_INT(dialect_from_name("draft-08"), DIALECT_UNKNOWN);

    static const struct {
        const char *schema, *inst;
        int valid;
    } cases[] = {
        /* draft-07: $ref siblings are ignored; 2019-09 applies them */
        {"{\"$schema\": \"http://json-schema.org/draft-07/schema#\", \"definitions\": {\"s\": "
         "{\"type\": \"string\"}}, \"properties\": {\"a\": {\"$ref\": \"#/definitions/s\", "
         "\"maxLength\": 1}}}",
         "{\"a\": \"long\"}", 1},
        {"{\"$schema\": \"https://json-schema.org/draft/2019-09/schema\", \"$defs\": {\"s\": "
         "{\"type\": \"string\"}}, \"properties\": {\"a\": {\"$ref\": \"#/$defs/s\", "
         "\"maxLength\": 1}}}",
         "{\"a\": \"long\"}", 0},
        /* draft-06: if/then is not a keyword */
        {"{\"$schema\": \"http://json-schema.org/draft-06/schema#\", \"if\": true, \"then\": "
         "false}",
         "1", 1},
        /* draft-04: const is not a keyword, exclusiveMaximum is a boolean */
        {"{\"$schema\": \"http://json-schema.org/draft-04/schema#\", \"const\": 1}", "2", 1},
        {"{\"$schema\": \"http://json-schema.org/draft-04/schema#\", \"maximum\": 3, "
         "\"exclusiveMaximum\": true}",
         "3", 0},
        /* a nested resource switches dialect inside a 2020-12 document */
        {"{\"properties\": {\"t\": {\"$schema\": \"http://json-schema.org/draft-07/schema#\", "
         "\"items\": [{\"type\": \"string\"}], \"additionalItems\": false}}}",
         "{\"t\": [\"a\", 2]}", 0},
        {"{\"properties\": {\"t\": {\"$schema\": \"http://json-schema.org/draft-07/schema#\", "
         "\"items\": [{\"type\": \"string\"}], \"additionalItems\": false}}}",
         "{\"t\": [\"a\"]}", 1},
        /* draft-07 dependencies, both forms */
        {"{\"$schema\": \"http://json-schema.org/draft-07/schema#\", \"dependencies\": {\"a\": "
         "[\"b\"], \"c\": {\"required\": [\"d\"]}}}",
         "{\"a\": 1, \"c\": 1, \"d\": 1}", 0},
        {"{\"$schema\": \"http://json-schema.org/draft-07/schema#\", \"dependencies\": {\"a\": "
         "[\"b\"], \"c\": {\"required\": [\"d\"]}}}",
         "{\"a\": 1, \"b\": 1, \"c\": 1, \"d\": 1}", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        compiled c;
        compile_yaml(&c, cases[i].schema, false);
        CHECK_INT(c.rc, 0);
        if (c.rc == 0) {
            schema_ctx *ctx = schema_ctx_new();
            int v = check_json(&c, cases[i].inst, ctx, NULL, NULL);
            schema_ctx_free(ctx);
            if (v != cases[i].valid) fprintf(stderr, "  dialect case %zu: got %d\n", i, v);
            CHECK_INT(v, cases[i].valid);
        }
        compiled_free(&c);
    }
    /* strict (plans): an unknown $schema is an error */
    compiled c;
    compile_yaml(&c, "{\"$schema\": \"http://example.com/my-meta\", \"type\": \"string\"}", true);
    CHECK(c.rc < 0);
    CHECK(has_diag(&c.d, "unknown $schema", 1));
    compiled_free(&c);
}

/* ECMA-262 escapes PCRE2 spells differently: \uXXXX (a surrogate pair is one code point) and
 * \u{X..}; schema_regex_check agrees with the compiler. */
static void test_regex_escapes(void)
{
    static const struct {
        const char *pattern, *inst;
        int valid;
    } cases[] = {
        {"^\\\\u0041[0-9]$", "\"A1\"", 1},
        {"^\\\\u0041[0-9]$", "\"B1\"", 0},
        {"^[\\\\u00e0-\\\\u00ff]+$", "\"\u00e9t\u00e9\"", 0},
        {"^[\\\\u00e0-\\\\u00ff]+$", "\"\u00e9\u00e8\"", 1},
        {"^\\\\uD83D\\\\uDE00$", "\"\\uD83D\\uDE00\"", 1},
        {"^\\\\u{1F600}$", "\"\\uD83D\\uDE00\"", 1},
        {"^\\\\\\\\u0041$", "\"\\\\u0041\"", 1}, /* an escaped backslash, then "u0041" */
    };
    schema_ctx *ctx = schema_ctx_new();
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char y[256];
        snprintf(y, sizeof y, "{\"type\": \"string\", \"pattern\": \"%s\"}", cases[i].pattern);
        compiled c;
        compile_yaml(&c, y, true);
        if (c.rc < 0) sl_diags_print(&c.d, stderr);
        CHECK(c.rc >= 0);
        if (c.rc >= 0) {
            int rc = check_json(&c, cases[i].inst, ctx, NULL, "");
            if (rc != cases[i].valid)
                fprintf(stderr, "  case %zu: %s on %s\n", i, y, cases[i].inst);
            CHECK_INT(rc, cases[i].valid);
        }
        compiled_free(&c);
    }
    schema_ctx_free(ctx);
    char err[200];
    CHECK_INT(schema_regex_check("^\\u0041$", err, sizeof err), 0);
    CHECK_INT(schema_regex_check("^[^]*$", err, sizeof err), -1); /* ECMA's any-char class */
    CHECK(strstr(err, "offset") != NULL);
    CHECK(schema_is_keyword("dependencies") && schema_is_keyword("unevaluatedItems"));
    CHECK(!schema_is_keyword("deprecatedReason"));
}

int main(void)
{
    test_compile_errors();
    test_event_violations();
    test_combinators_and_kinds();
    test_refs_and_limits();
    test_dump();
    test_dialects();
    test_regex_escapes();
    return check_done();
}
