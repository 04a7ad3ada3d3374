/* test_yamlj.c - unit tests for the YAML loader: core-schema scalars, structure, positions,
 * aliases and merges, limits, and every error path (one diagnostic with line:col). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "yamlj.h"

/* ------------------------------------------------------------------------------------------ */
/* Helpers */

/* Loads y (must succeed, with no diagnostics); returns the tree (caller deletes). */
static cJSON *load_ok_at(const char *y, srcmap *m, int srcline)
{
    sl_diags d;
    sl_diags_init(&d, "t.yaml");
    cJSON *out = NULL;
    int rc = yamlj_load(y, strlen(y), m, &out, &d);
    if (rc || !out || d.n) {
        fprintf(stderr, "test_yamlj.c:%d: load failed rc=%d: %s\n", srcline, rc,
                d.n ? d.v[0].msg : "(no diagnostic)");
        check_failed++;
    } else {
        check_passed++;
    }
    sl_diags_cleanup(&d);
    return out;
}
#define load_ok(y, m) load_ok_at((y), (m), __LINE__)

/* y must load to exactly the JSON text `json` (cJSON's compact printing). */
static void expect_json_at(const char *y, const char *json, int srcline)
{
    cJSON *t = load_ok_at(y, NULL, srcline);
    char *s = t ? cJSON_PrintUnformatted(t) : NULL;
    if (s && strcmp(s, json) == 0) {
        check_passed++;
    } else {
        check_failed++;
        fprintf(stderr, "test_yamlj.c:%d: got %s, expected %s\n", srcline, s ? s : "(null)", json);
    }
    free(s);
    cJSON_Delete(t);
}
#define expect_json(y, json) expect_json_at((y), (json), __LINE__)

/* y must fail with `code`, *out NULL, and exactly one error diagnostic at line:col containing
 * `needle`. */
static void expect_err_len_at(const char *y, size_t len, int code, int line, int col,
                              const char *needle, int srcline)
{
    sl_diags d;
    sl_diags_init(&d, "t.yaml");
    srcmap *m = srcmap_new();
    cJSON *out = (cJSON *)&d; /* must be reset to NULL */
    int rc = yamlj_load(y, len, m, &out, &d);
    int ok = rc == code && out == NULL && d.n == 1 && d.nerrors == 1 && d.v[0].line == line &&
             d.v[0].col == col && strstr(d.v[0].msg, needle) != NULL;
    if (ok) {
        check_passed++;
    } else {
        check_failed++;
        fprintf(stderr,
                "test_yamlj.c:%d: expected rc=%d at %d:%d \"%s\"; got rc=%d, %zu diags, first "
                "%d:%d \"%s\"\n",
                srcline, code, line, col, needle, rc, d.n, d.n ? d.v[0].line : 0,
                d.n ? d.v[0].col : 0, d.n ? d.v[0].msg : "");
        if (out && out != (cJSON *)&d) cJSON_Delete(out);
    }
    srcmap_free(m);
    sl_diags_cleanup(&d);
}
#define expect_err(y, code, line, col, needle)                                                     \
    expect_err_len_at((y), strlen(y), (code), (line), (col), (needle), __LINE__)

static void expect_pos_at(const srcmap *m, const cJSON *n, int line, int col, int srcline)
{
    int l = 0, c = 0;
    if (n && srcmap_get(m, n, &l, &c) == 0 && l == line && c == col) {
        check_passed++;
    } else {
        check_failed++;
        fprintf(stderr, "test_yamlj.c:%d: position %d:%d, expected %d:%d%s\n", srcline, l, c, line,
                col, n ? "" : " (node missing)");
    }
}
#define expect_pos(m, n, line, col) expect_pos_at((m), (n), (line), (col), __LINE__)

/* Single value of "v: <text>". */
static cJSON *value_of(const char *text, cJSON **root)
{
    char buf[512];
    snprintf(buf, sizeof buf, "v: %s\n", text);
    *root = load_ok(buf, NULL);
    return *root ? cJSON_GetObjectItemCaseSensitive(*root, "v") : NULL;
}

static void expect_string(const char *text, const char *want)
{
    cJSON *root, *v = value_of(text, &root);
    CHECK(cJSON_IsString(v));
    if (cJSON_IsString(v)) CHECK_STR(v->valuestring, want);
    cJSON_Delete(root);
}

static void expect_number(const char *text, double want)
{
    cJSON *root, *v = value_of(text, &root);
    CHECK(cJSON_IsNumber(v));
    if (cJSON_IsNumber(v) && v->valuedouble != want)
        fprintf(stderr, "  %s -> %.17g, expected %.17g\n", text, v->valuedouble, want);
    CHECK(cJSON_IsNumber(v) && v->valuedouble == want);
    cJSON_Delete(root);
}

static void expect_null(const char *text)
{
    cJSON *root, *v = value_of(text, &root);
    CHECK(cJSON_IsNull(v));
    cJSON_Delete(root);
}

static void expect_bool(const char *text, int want)
{
    cJSON *root, *v = value_of(text, &root);
    CHECK(want ? cJSON_IsTrue(v) : cJSON_IsFalse(v));
    cJSON_Delete(root);
}

/* ------------------------------------------------------------------------------------------ */
/* Scalars */

static void test_null_bool(void)
{
    expect_null("~");
    expect_null("null");
    expect_null("Null");
    expect_null("NULL");
    expect_null("");
    expect_string("nULL", "nULL");
    expect_string("'~'", "~");
    expect_string("\"null\"", "null");
    expect_string("''", "");

    expect_bool("true", 1);
    expect_bool("True", 1);
    expect_bool("TRUE", 1);
    expect_bool("false", 0);
    expect_bool("False", 0);
    expect_bool("FALSE", 0);
    /* YAML 1.1 booleans are plain strings in 1.2 core */
    expect_string("yes", "yes");
    expect_string("no", "no");
    expect_string("on", "on");
    expect_string("off", "off");
    expect_string("y", "y");
    expect_string("tRUE", "tRUE");
    expect_string("'true'", "true");
}

static void test_numbers(void)
{
    expect_number("0", 0);
    expect_number("-5", -5);
    expect_number("+7", 7);
    expect_number("0123", 123);
    expect_number("0x1F", 31);
    expect_number("0xff", 255);
    expect_number("0o17", 15);
    expect_number("1.5", 1.5);
    expect_number("-2.5e-3", -2.5e-3);
    expect_number(".5", 0.5);
    expect_number("5.", 5);
    expect_number("1e3", 1000);
    expect_number("+1E+2", 100);
    expect_number("1.e2", 100);
    expect_number("0.1", 0.1);
    expect_number("-0.0", -0.0);
    /* past 2^53: correctly rounded like strtod, not accumulated */
    expect_number("9007199254740993", 9007199254740992.0);
    expect_number("9007199254740995", 9007199254740996.0);
    expect_number("18446744073709551616", 18446744073709551616.0);
    expect_number("123456789012345678901234567890", 1.2345678901234568e29);
    expect_number("0xFFFFFFFFFFFFFFFFFF", 4722366482869645213696.0);
    expect_number("0o1777777777777777777777", 18446744073709551615.0);
    expect_number("1e-400", 0); /* underflow is fine */

    /* not numbers in the 1.2 core schema */
    expect_string("0x", "0x");
    expect_string("0o8", "0o8");
    expect_string("0b101", "0b101");
    expect_string("1_000", "1_000");
    expect_string(".", ".");
    expect_string("e3", "e3");
    expect_string("1e", "1e");
    expect_string("--1", "--1");
    expect_string("1.2.3", "1.2.3");
    expect_string("+-1", "+-1");
    expect_string("-0x10", "-0x10");
    expect_string("1,000", "1,000");
    expect_string("\"123\"", "123");
    expect_string("'1.5'", "1.5");
    expect_string("12:30", "12:30");
    expect_string(".infinity", ".infinity");

    expect_err("v: .inf\n", SL_ESYNTAX, 1, 4, ".inf is not representable in JSON");
    expect_err("v: -.Inf\n", SL_ESYNTAX, 1, 4, "-.Inf is not representable in JSON");
    expect_err("v: +.INF\n", SL_ESYNTAX, 1, 4, "not representable in JSON");
    expect_err("v: .nan\n", SL_ESYNTAX, 1, 4, ".nan is not representable in JSON");
    expect_err("v: .NaN\n", SL_ESYNTAX, 1, 4, "not representable in JSON");
    expect_err("a: 1\nv: [1, 1e400]\n", SL_ESYNTAX, 2, 8, "1e400 is not representable in JSON");
    expect_err("v: 0o7777777777777777777777\n", SL_ESYNTAX, 1, 4, "out of range");
}

static void test_strings(void)
{
    expect_string("hello world", "hello world");
    expect_string("\"a\\tb\\u00e9\"", "a\tb\xc3\xa9");
    expect_string("'it''s'", "it's");
    expect_string("|\n  line1\n  line2\n", "line1\nline2\n");
    expect_string(">-\n  folded\n  text\n", "folded text");
    expect_string("|-\n  42\n", "42"); /* block scalars are never numbers */
    expect_string("multi\n  line plain", "multi line plain");
    expect_string("\"\xe2\x82\xac\"", "\xe2\x82\xac");
    expect_string("http://x.y/z#a", "http://x.y/z#a");
}

static void test_tags(void)
{
    expect_string("!!str 42", "42");
    expect_string("!!str true", "true");
    expect_string("! 12", "12");
    expect_number("!!int \"42\"", 42);
    expect_number("!!int 0x10", 16);
    expect_number("!!float 1", 1);
    expect_number("!!float '2.5'", 2.5);
    expect_bool("!!bool 'true'", 1);
    expect_null("!!null ''");
    expect_null("!!null ~");
    expect_json("v: !!map {a: 1}\nw: !!seq [1]\n", "{\"v\":{\"a\":1},\"w\":[1]}");
    expect_json("v: !<tag:yaml.org,2002:str> 5\n", "{\"v\":\"5\"}");

    expect_err("a: !!binary aGVsbG8=\n", SL_ESYNTAX, 1, 4, "unsupported tag !!binary");
    expect_err("a: !!timestamp 2001-12-14\n", SL_ESYNTAX, 1, 4, "unsupported tag !!timestamp");
    expect_err("a:\n  b: !foo x\n", SL_ESYNTAX, 2, 6, "unsupported tag !foo");
    expect_err("a: !!set {x}\n", SL_ESYNTAX, 1, 4, "unsupported tag !!set");
    expect_err("a: !custom [1]\n", SL_ESYNTAX, 1, 4, "unsupported tag !custom");
    expect_err("a: !!int abc\n", SL_ESYNTAX, 1, 4, "\"abc\" is not a valid !!int");
    expect_err("a: !!int 1.5\n", SL_ESYNTAX, 1, 4, "is not a valid !!int");
    expect_err("a: !!float x\n", SL_ESYNTAX, 1, 4, "is not a valid !!float");
    expect_err("a: !!bool yes\n", SL_ESYNTAX, 1, 4, "\"yes\" is not a valid !!bool");
    expect_err("a: !!null 0\n", SL_ESYNTAX, 1, 4, "is not a valid !!null");
    expect_err("a: !!float .inf\n", SL_ESYNTAX, 1, 4, "not representable in JSON");
    expect_err("a: !!map x\n", SL_ESYNTAX, 1, 4, "tag !!map cannot be applied to a scalar");
    expect_err("a: !!str [1]\n", SL_ESYNTAX, 1, 4, "tag !!str cannot be applied to a sequence");
    expect_err("a: !!seq {b: 1}\n", SL_ESYNTAX, 1, 4, "tag !!seq cannot be applied to a mapping");
}

/* ------------------------------------------------------------------------------------------ */
/* Structure and positions */

static void test_structure(void)
{
    expect_json("a: 1\nb: [x, {c: d}]\ne:\n  - f\n  - - g\n    - h\n",
                "{\"a\":1,\"b\":[\"x\",{\"c\":\"d\"}],\"e\":[\"f\",[\"g\",\"h\"]]}");
    expect_json("- 1\n- two\n-\n- [ ]\n- { }\n", "[1,\"two\",null,[],{}]");
    expect_json("{a, b: }", "{\"a\":null,\"b\":null}");
    expect_json("scalar root\n", "\"scalar root\"");
    expect_json("42", "42");
    /* keys are kept as text */
    expect_json("1: a\nnull: b\ntrue: c\n\"\": d\n'q k': e\n? complex\n: f\n",
                "{\"1\":\"a\",\"null\":\"b\",\"true\":\"c\",\"\":\"d\",\"q k\":\"e\","
                "\"complex\":\"f\"}");
    /* the same key in different mappings is fine */
    expect_json("a: {x: 1}\nb: {x: 2}\n", "{\"a\":{\"x\":1},\"b\":{\"x\":2}}");
    /* comments, document markers, CRLF, BOM */
    expect_json("# c\n---\na: 1 # trailing\n...\n", "{\"a\":1}");
    expect_json("a: 1\r\nb: 2\r\n", "{\"a\":1,\"b\":2}");
    expect_json("\xef\xbb\xbf"
                "a: 1\n",
                "{\"a\":1}");
    /* only the first document is loaded; the rest is not even parsed */
    expect_json("a: 1\n---\nb: 2\n", "{\"a\":1}");
    expect_json("--- 5\n--- [unclosed\n", "5");
}

static void test_empty(void)
{
    const char *empties[] = {"", "\n", "# only a comment\n", "---\n", "--- \n...\n", "  \n\n"};
    for (size_t i = 0; i < sizeof empties / sizeof *empties; i++) {
        srcmap *m = srcmap_new();
        cJSON *t = load_ok(empties[i], m);
        CHECK(cJSON_IsNull(t));
        CHECK(t && srcmap_get(m, t, NULL, NULL) == 0); /* even the null root has a position */
        cJSON_Delete(t);
        srcmap_free(m);
    }
    /* NULL buffer with length 0 is an empty document too */
    sl_diags d;
    sl_diags_init(&d, NULL);
    cJSON *t = NULL;
    CHECK_INT(yamlj_load(NULL, 0, NULL, &t, &d), 0);
    CHECK(cJSON_IsNull(t));
    cJSON_Delete(t);
    sl_diags_cleanup(&d);
}

static const char POS_YAML[] = "name: demo\n"               /* 1 */
                               "events:\n"                  /* 2 */
                               "  Signup:\n"                /* 3 */
                               "    description: \"x\"\n"   /* 4 */
                               "    props:\n"               /* 5 */
                               "      - email\n"            /* 6 */
                               "      -   age\n"            /* 7 */
                               "      - [a,  b]\n"          /* 8 */
                               "  Login: {by: sso, n: 2}\n" /* 9 */
                               "  \"Quoted Key\":\n"        /* 10 */
                               "      deep: &anc\n"         /* 11 */
                               "        k: v\n"             /* 12 */
                               "  Copy: *anc\n"             /* 13 */
                               "  Empty:\n"                 /* 14 */
                               "  Block: |\n"               /* 15 */
                               "    text\n"                 /* 16 */
                               "list:\n"                    /* 17 */
                               "- !!str 5\n"                /* 18 */
                               "- &s scalar\n";             /* 19 */

static void test_positions(void)
{
    srcmap *m = srcmap_new();
    cJSON *t = load_ok(POS_YAML, m);
    if (!t) {
        srcmap_free(m);
        return;
    }
    expect_pos(m, t, 1, 1);
    expect_pos(m, cJSON_GetObjectItem(t, "name"), 1, 1);
    cJSON *ev = cJSON_GetObjectItem(t, "events");
    expect_pos(m, ev, 2, 1); /* a mapping value sits at its key */
    cJSON *su = cJSON_GetObjectItem(ev, "Signup");
    expect_pos(m, su, 3, 3);
    expect_pos(m, cJSON_GetObjectItem(su, "description"), 4, 5);
    cJSON *props = cJSON_GetObjectItem(su, "props");
    expect_pos(m, props, 5, 5);
    expect_pos(m, cJSON_GetArrayItem(props, 0), 6, 9); /* sequence items: their own position */
    expect_pos(m, cJSON_GetArrayItem(props, 1), 7, 11);
    cJSON *flow = cJSON_GetArrayItem(props, 2);
    expect_pos(m, flow, 8, 9);
    expect_pos(m, cJSON_GetArrayItem(flow, 0), 8, 10);
    expect_pos(m, cJSON_GetArrayItem(flow, 1), 8, 14);
    cJSON *login = cJSON_GetObjectItem(ev, "Login");
    expect_pos(m, login, 9, 3);
    expect_pos(m, cJSON_GetObjectItem(login, "by"), 9, 11);
    expect_pos(m, cJSON_GetObjectItem(login, "n"), 9, 20);
    cJSON *qk = cJSON_GetObjectItem(ev, "Quoted Key");
    expect_pos(m, qk, 10, 3);
    cJSON *deep = cJSON_GetObjectItem(qk, "deep");
    expect_pos(m, deep, 11, 7);
    expect_pos(m, cJSON_GetObjectItem(deep, "k"), 12, 9);
    /* an alias copy: its root is where it is used, its insides where they were written */
    cJSON *copy = cJSON_GetObjectItem(ev, "Copy");
    CHECK(copy && copy != deep);
    expect_pos(m, copy, 13, 3);
    cJSON *ck = cJSON_GetObjectItem(copy, "k");
    CHECK(ck && ck != cJSON_GetObjectItem(deep, "k"));
    expect_pos(m, ck, 12, 9);
    expect_pos(m, cJSON_GetObjectItem(ev, "Empty"), 14, 3);
    expect_pos(m, cJSON_GetObjectItem(ev, "Block"), 15, 3);
    cJSON *list = cJSON_GetObjectItem(t, "list");
    expect_pos(m, list, 17, 1);
    expect_pos(m, cJSON_GetArrayItem(list, 0), 18, 3); /* a tagged item starts at its tag */
    expect_pos(m, cJSON_GetArrayItem(list, 1), 19, 3);

    /* every node of the tree has a position */
    size_t nodes = 0, missing = 0;
    const cJSON *stack[64];
    int sp = 0;
    stack[sp++] = t;
    while (sp) {
        const cJSON *n = stack[--sp];
        nodes++;
        if (srcmap_get(m, n, NULL, NULL)) missing++;
        for (const cJSON *c = n->child; c; c = c->next)
            if (sp < 64) stack[sp++] = c;
    }
    CHECK_INT(missing, 0);
    CHECK_INT(nodes, 24);
    cJSON_Delete(t);
    srcmap_free(m);
}

/* ------------------------------------------------------------------------------------------ */
/* Anchors, aliases, merges */

static void test_aliases(void)
{
    expect_json("a: &x {b: 1, c: [1, 2]}\nd: *x\n",
                "{\"a\":{\"b\":1,\"c\":[1,2]},\"d\":{\"b\":1,\"c\":[1,2]}}");
    expect_json("a: &v 5\nb: *v\nc: [*v, *v]\n", "{\"a\":5,\"b\":5,\"c\":[5,5]}");
    /* an anchored key can be aliased as a value */
    expect_json("&k key: 1\nv: *k\n", "{\"key\":1,\"v\":\"key\"}");
    /* a redefined anchor: later aliases see the newest */
    expect_json("a: &x 1\nb: *x\nc: &x 2\nd: *x\n", "{\"a\":1,\"b\":1,\"c\":2,\"d\":2}");
    /* nested anchors */
    expect_json("a: &o {i: &n [1]}\nb: *n\nc: *o\n",
                "{\"a\":{\"i\":[1]},\"b\":[1],\"c\":{\"i\":[1]}}");
    /* the copy is independent of the original */
    cJSON *t = load_ok("a: &x [1]\nb: *x\n", NULL);
    if (t) {
        cJSON *a = cJSON_GetObjectItem(t, "a"), *b = cJSON_GetObjectItem(t, "b");
        CHECK(a && b && a != b && a->child != b->child);
        cJSON_Delete(t);
    }

    expect_err("a: *nope\n", SL_ESYNTAX, 1, 4, "undefined alias *nope");
    expect_err("a: &x [1, *x]\n", SL_ESYNTAX, 1, 11, "undefined alias *x"); /* recursive */
    expect_err("a: &x k\n*x : 1\n", SL_ESYNTAX, 2, 1, "alias *x cannot be used as a mapping key");
}

static void test_merge(void)
{
    expect_json("base: &b {type: string, n: 1}\nx:\n  <<: *b\n  n: 2\n",
                "{\"base\":{\"type\":\"string\",\"n\":1},\"x\":{\"n\":2,\"type\":\"string\"}}");
    /* explicit keys win even when written before the merge */
    expect_json("b: &b {n: 1}\nx: {n: 2, <<: *b}\n", "{\"b\":{\"n\":1},\"x\":{\"n\":2}}");
    /* earlier sources win over later ones */
    expect_json("a: &a {k: a, p: 1}\nb: &b {k: b, q: 2}\nx:\n  <<: [*a, *b]\n",
                "{\"a\":{\"k\":\"a\",\"p\":1},\"b\":{\"k\":\"b\",\"q\":2},"
                "\"x\":{\"k\":\"a\",\"p\":1,\"q\":2}}");
    /* inline source */
    expect_json("x:\n  <<: {a: 1}\n  b: 2\n", "{\"x\":{\"b\":2,\"a\":1}}");
    /* a quoted << is an ordinary key */
    expect_json("\"<<\": 1\n", "{\"<<\":1}");
    /* a merge source can itself be an anchor used later */
    expect_json("x:\n  <<: &m {a: 1}\ny: *m\n", "{\"x\":{\"a\":1},\"y\":{\"a\":1}}");

    /* merged members keep the positions of their definitions */
    srcmap *m = srcmap_new();
    cJSON *t = load_ok("base: &b\n  type: string\nx:\n  <<: *b\n  n: 2\n", m);
    if (t) {
        cJSON *x = cJSON_GetObjectItem(t, "x");
        expect_pos(m, cJSON_GetObjectItem(x, "type"), 2, 3);
        expect_pos(m, cJSON_GetObjectItem(x, "n"), 5, 3);
        CHECK(cJSON_GetObjectItem(x, "type") !=
              cJSON_GetObjectItem(cJSON_GetObjectItem(t, "base"), "type"));
        cJSON_Delete(t);
    }
    srcmap_free(m);

    expect_err("<<: 5\n", SL_ESYNTAX, 1, 1, "merge key (<<) must be a mapping");
    expect_err("a: &a [1]\nx:\n  <<: [*a]\n", SL_ESYNTAX, 3, 3, "must be a mapping");
    expect_err("a: &a {p: 1}\nx:\n  <<: *a\n  <<: *a\n", SL_ESYNTAX, 4, 3, "duplicate key \"<<\"");
}

/* ------------------------------------------------------------------------------------------ */
/* Errors */

static void test_syntax_errors(void)
{
    expect_err("a: b: c\n", SL_ESYNTAX, 1, 5, "mapping values are not allowed");
    expect_err("a:\n\tb: 1\n", SL_ESYNTAX, 2, 1, "found character that cannot start any token");
    expect_err("a:\n\tb: 1\n", SL_ESYNTAX, 2, 1, "tab");
    expect_err("a: [1, 2\n", SL_ESYNTAX, 2, 1, "did not find expected ',' or ']'");
    expect_err("a: \"abc\n", SL_ESYNTAX, 2, 1, "found unexpected end of stream");
    expect_err("a: 1\n- b\n", SL_ESYNTAX, 2, 1, "did not find expected key");
    expect_err("[1] x\n", SL_ESYNTAX, 1, 5, "did not find expected <document start>");
    expect_err("a: @b\n", SL_ESYNTAX, 1, 4, "found character that cannot start any token");
    expect_err("a: &\n", SL_ESYNTAX, 1, 5, "did not find expected alphabetic or numeric");
    expect_err("a: !<x\n", SL_ESYNTAX, 1, 7, "did not find the expected '>'");
    /* invalid UTF-8 */
    expect_err("a: 1\nb: \"x\xff\"\n", SL_ESYNTAX, 2, 6, "invalid leading UTF-8 octet");
}

static void test_semantic_errors(void)
{
    expect_err("events: 1\nx: 2\nevents: 3\n", SL_ESYNTAX, 3, 1,
               "duplicate key \"events\" (first defined at 1:1)");
    expect_err("top:\n  a: 1\n  b: {c: 1, c: 2}\n", SL_ESYNTAX, 3, 13, "duplicate key \"c\"");
    expect_err("a: 1\n\"a\": 2\n", SL_ESYNTAX, 2, 1, "duplicate key \"a\"");
    expect_err("{x: 1, 'x': 2}", SL_ESYNTAX, 1, 8, "duplicate key \"x\"");
    expect_err("? [a]\n: 1\n", SL_ESYNTAX, 1, 3, "a sequence cannot be used as a mapping key");
    expect_err("? {a: 1}\n: 1\n", SL_ESYNTAX, 1, 3, "a mapping cannot be used as a mapping key");
    expect_err("a:\n  [x]: 1\n", SL_ESYNTAX, 2, 3, "a sequence cannot be used as a mapping key");
    expect_err_len_at("a: \"x\\0y\"\n", 10, SL_ESYNTAX, 1, 4, "NUL", __LINE__);
    expect_err_len_at("\"k\\0\": 1\n", 9, SL_ESYNTAX, 1, 1, "NUL", __LINE__);
    /* a NUL byte in the input itself is not a YAML character */
    expect_err_len_at("a: x\0y\n", 7, SL_ESYNTAX, 1, 5, "", __LINE__);
}

static void test_billion_laughs(void)
{
    const char *y = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
                    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                    "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                    "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                    "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
                    "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
    /* f has 597871 nodes; the first *f in g would pass the one-million node budget */
    expect_err(y, SL_ELIMIT, 7, 8, "alias *f expands to too many nodes");

    /* a smaller amplification within the budget loads and has every copy */
    cJSON *t = load_ok("a: &a [1, 2, 3]\nb: &b [*a, *a, *a]\nc: [*b, *b]\n", NULL);
    cJSON *c = cJSON_GetObjectItem(t, "c");
    CHECK_INT(cJSON_GetArraySize(c), 2);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetArrayItem(c, 1)), 3);
    CHECK(cJSON_IsNumber(cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetArrayItem(c, 1), 2), 2)));
    cJSON_Delete(t);

    /* merges count against the budget too */
    const char *mm = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
                     "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                     "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                     "f: &f {k: [*e, *e, *e, *e]}\n"
                     "g: {<<: *f}\n"
                     "h: {<<: *f}\n"
                     "i: {<<: *f}\n";
    /* f has 265722 nodes; each merge copies 265721 of them: the third one passes the budget */
    expect_err(mm, SL_ELIMIT, 9, 5, "merge (<<) expands to too many nodes");
}

static void test_limits(void)
{
    /* depth: YAMLJ_MAX_DEPTH nested collections load, one more fails at its bracket */
    char y[512];
    int n = 0;
    for (int i = 0; i < YAMLJ_MAX_DEPTH; i++)
        y[n++] = '[';
    for (int i = 0; i < YAMLJ_MAX_DEPTH; i++)
        y[n++] = ']';
    y[n] = '\0';
    cJSON *t = load_ok(y, NULL);
    CHECK(cJSON_IsArray(t));
    cJSON_Delete(t);
    n = 0;
    for (int i = 0; i < YAMLJ_MAX_DEPTH + 1; i++)
        y[n++] = '[';
    for (int i = 0; i < YAMLJ_MAX_DEPTH + 1; i++)
        y[n++] = ']';
    y[n] = '\0';
    expect_err(y, SL_ELIMIT, 1, YAMLJ_MAX_DEPTH + 1, "nesting is deeper than 64 levels");

    /* a very deep document fails fast at the limit, without recursing further */
    size_t big = 1u << 20;
    char *deep = malloc(big + 1);
    memset(deep, '[', big);
    deep[big] = '\0';
    expect_err(deep, SL_ELIMIT, 1, YAMLJ_MAX_DEPTH + 1, "deeper than");
    free(deep);

    /* block mappings nest too: the 65th "k:" level fails at its first key */
    char *blk = malloc(16384);
    n = 0;
    for (int i = 0; i < YAMLJ_MAX_DEPTH + 1; i++)
        n += sprintf(blk + n, "%*sk:\n", i, "");
    expect_err(blk, SL_ELIMIT, YAMLJ_MAX_DEPTH + 1, YAMLJ_MAX_DEPTH + 1, "deeper than");
    free(blk);

    /* depth through an alias: a 60-deep anchor placed 10 deep */
    char buf[1024];
    n = snprintf(buf, sizeof buf, "a: &x ");
    for (int i = 0; i < 60; i++)
        buf[n++] = '[';
    for (int i = 0; i < 60; i++)
        buf[n++] = ']';
    n += snprintf(buf + n, sizeof buf - n, "\nb: ");
    for (int i = 0; i < 10; i++)
        buf[n++] = '[';
    n += snprintf(buf + n, sizeof buf - n, "*x");
    for (int i = 0; i < 10; i++)
        buf[n++] = ']';
    buf[n++] = '\n';
    buf[n] = '\0';
    expect_err(buf, SL_ELIMIT, 2, 14, "alias *x nests deeper than 64 levels");

    /* node budget without aliases: a flat sequence of a bit more than a million items */
    size_t count = YAMLJ_MAX_NODES + 1; /* + the sequence itself = limit + 2 */
    char *flat = malloc(count * 2 + 3);
    size_t k = 0;
    flat[k++] = '[';
    for (size_t i = 0; i < count; i++) {
        flat[k++] = '0';
        flat[k++] = ',';
    }
    flat[k - 1] = ']';
    flat[k] = '\0';
    sl_diags d;
    sl_diags_init(&d, NULL);
    cJSON *out = NULL;
    CHECK_INT(yamlj_load(flat, k, NULL, &out, &d), SL_ELIMIT);
    CHECK(out == NULL);
    CHECK_INT(d.n, 1);
    CHECK(d.n == 1 && strstr(d.v[0].msg, "more than 1000000 nodes") != NULL);
    sl_diags_cleanup(&d);
    free(flat);
}

/* ------------------------------------------------------------------------------------------ */
/* Files */

static void test_files(void)
{
    char path[] = "/tmp/test_yamlj_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *y = "plan: 1\nevents:\n  A: {x: 1}\n";
    CHECK(write(fd, y, strlen(y)) == (ssize_t)strlen(y));
    close(fd);

    srcmap *m = srcmap_new();
    sl_diags d;
    sl_diags_init(&d, path);
    cJSON *t = NULL;
    CHECK_INT(yamlj_load_file(path, m, &t, &d), 0);
    CHECK_INT(d.n, 0);
    cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(t, "events"), "A");
    expect_pos(m, a, 3, 3);
    expect_pos(m, cJSON_GetObjectItem(a, "x"), 3, 7);
    cJSON_Delete(t);
    sl_diags_cleanup(&d);

    /* a syntax error in a file */
    FILE *f = fopen(path, "w");
    fputs("ok: 1\nbad: [\n", f);
    fclose(f);
    sl_diags_init(&d, path);
    t = (cJSON *)&d;
    CHECK_INT(yamlj_load_file(path, m, &t, &d), SL_ESYNTAX);
    CHECK(t == NULL);
    CHECK_INT(d.n, 1);
    CHECK(d.n == 1 && d.v[0].line == 3);
    sl_diags_cleanup(&d);
    unlink(path);

    /* not found */
    sl_diags_init(&d, "missing.yaml");
    t = (cJSON *)&d;
    CHECK_INT(yamlj_load_file("/nonexistent/missing.yaml", m, &t, &d), SL_ENOTFOUND);
    CHECK(t == NULL);
    CHECK_INT(d.n, 1);
    CHECK(d.n == 1 && d.v[0].line == 0 && strstr(d.v[0].msg, "missing.yaml") &&
          strstr(d.v[0].msg, "No such file"));
    sl_diags_cleanup(&d);

    /* a directory is an I/O error */
    sl_diags_init(&d, "/tmp");
    CHECK_INT(yamlj_load_file("/tmp", m, &t, &d), SL_EIO);
    CHECK(t == NULL);
    CHECK_INT(d.n, 1);
    sl_diags_cleanup(&d);

    /* an empty file is a null document */
    char p2[] = "/tmp/test_yamlj_XXXXXX";
    fd = mkstemp(p2);
    close(fd);
    sl_diags_init(&d, p2);
    CHECK_INT(yamlj_load_file(p2, NULL, &t, &d), 0);
    CHECK(cJSON_IsNull(t));
    cJSON_Delete(t);
    sl_diags_cleanup(&d);
    unlink(p2);
    srcmap_free(m);
}

int main(void)
{
    test_null_bool();
    test_numbers();
    test_strings();
    test_tags();
    test_structure();
    test_empty();
    test_positions();
    test_aliases();
    test_merge();
    test_syntax_errors();
    test_semantic_errors();
    test_billion_laughs();
    test_limits();
    test_files();
    return check_done();
}
