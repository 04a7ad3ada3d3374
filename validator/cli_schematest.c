/* cli_schematest.c - `sluice schema-test [--assert-formats] [--verbose] FILE...`: runs files in
 * JSON-Schema-Test-Suite format (an array of {description, schema, tests: [{description, data,
 * valid}]}) through the schema engine, non-strict, formats as annotations unless
 * --assert-formats.
 *
 * Every case is validated twice - quietly (first failure stops) and reporting every violation -
 * and both answers must agree with "valid". Prints "<file>: N passed, N failed" per file, each
 * failing case briefly (with its violations under --verbose), and "N passed, N failed" last.
 * Exit: 0 all passed, 1 some failed, 2 usage or I/O error (unreadable / unparsable file). */
#include "cli.h"
#include "schema.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

typedef struct {
    bool assert_formats, verbose;
    schema_dialect dialect; /* of schemas without $schema (the suite folder's draft) */
    const char *remotes;    /* --remotes DIR: the suite's remotes/, served as localhost:1234 */
    long passed, failed;
    schema_ctx *ctx;
    vio_list *vl;
} st_run;

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t k = fread(buf + n, 1, cap - n - 1, f);
        n += k;
        if (n + 1 < cap) break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    bool err = ferror(f);
    fclose(f);
    if (!buf || err) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void where(const char *buf, const char *at, int *line, int *col)
{
    *line = 1, *col = 1;
    for (const char *p = buf; p < at && *p; p++) {
        if (*p == '\n')
            (*line)++, *col = 1;
        else
            (*col)++;
    }
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static const char *desc(const cJSON *o)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "description");
    return cJSON_IsString(d) ? d->valuestring : "(no description)";
}

/* ---- the suite's remote documents ------------------------------------------------------------
 * The suite refers to http://localhost:1234/<path> for the files of its remotes/ folder. Nothing
 * is fetched over a network: the documents a group's schema refers to (transitively) are read
 * from --remotes DIR and added to the builder as further roots under their URIs. */
#define REMOTE_PREFIX "http://localhost:1234/"
#define REMOTE_MAX 32

typedef struct {
    char *uri[REMOTE_MAX];
    cJSON *doc[REMOTE_MAX];
    size_t n;
} remote_set;

static void remote_collect(const st_run *st, remote_set *rs, const cJSON *node, const char *base);

static void remote_want(const st_run *st, remote_set *rs, const char *uri, size_t n)
{
    size_t pl = strlen(REMOTE_PREFIX);
    if (n <= pl || strncmp(uri, REMOTE_PREFIX, pl) || rs->n >= REMOTE_MAX) return;
    for (size_t i = 0; i < rs->n; i++)
        if (strlen(rs->uri[i]) == n && !strncmp(rs->uri[i], uri, n)) return;
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%.*s", st->remotes, (int)(n - pl), uri + pl) >=
        sizeof path)
        return;
    size_t len;
    char *buf = read_file(path, &len);
    cJSON *doc = buf ? cJSON_Parse(buf) : NULL;
    free(buf);
    char *u = doc ? malloc(n + 1) : NULL;
    if (!u) {
        cJSON_Delete(doc);
        return;
    }
    memcpy(u, uri, n);
    u[n] = 0;
    rs->uri[rs->n] = u;
    rs->doc[rs->n++] = doc;
    remote_collect(st, rs, doc, u);
}

static void remote_collect(const st_run *st, remote_set *rs, const cJSON *node, const char *base)
{
    if (cJSON_IsString(node)) {
        const char *v = node->valuestring, *h = strchr(v, '#');
        remote_want(st, rs, v, h ? (size_t)(h - v) : strlen(v));
        return;
    }
    if (!cJSON_IsObject(node) && !cJSON_IsArray(node)) return;
    char nb[2048];
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(node, "$id");
    if (!cJSON_IsString(id)) id = cJSON_GetObjectItemCaseSensitive(node, "id");
    char ib[2048];
    if (cJSON_IsObject(node) && cJSON_IsString(id) &&
        !strncmp(id->valuestring, REMOTE_PREFIX, strlen(REMOTE_PREFIX))) {
        base = id->valuestring;
    } else if (cJSON_IsObject(node) && cJSON_IsString(id) && id->valuestring[0] != '#' &&
               !strchr(id->valuestring, ':') &&
               !strncmp(base, REMOTE_PREFIX, strlen(REMOTE_PREFIX))) {
        const char *slash = strrchr(base, '/');
        int n = snprintf(ib, sizeof ib, "%.*s%s", (int)(slash - base + 1), base, id->valuestring);
        if (n > 0 && (size_t)n < sizeof ib) base = ib;
    }
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(node, "$ref");
    if (cJSON_IsObject(node) && cJSON_IsString(ref) && ref->valuestring[0] != '#' &&
        !strchr(ref->valuestring, ':') && !strncmp(base, REMOTE_PREFIX, strlen(REMOTE_PREFIX))) {
        const char *slash = strrchr(base, '/');
        const char *r = ref->valuestring, *h = strchr(r, '#');
        int n = snprintf(nb, sizeof nb, "%.*s%.*s", (int)(slash - base + 1), base,
                         (int)(h ? (size_t)(h - r) : strlen(r)), r);
        if (n > 0 && (size_t)n < sizeof nb) remote_want(st, rs, nb, (size_t)n);
    }
    for (const cJSON *c = node->child; c; c = c->next)
        remote_collect(st, rs, c, base);
}

static void run_group(st_run *st, const char *file, const cJSON *g, long *fp, long *ff)
{
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(g, "schema");
    const cJSON *tests = cJSON_GetObjectItemCaseSensitive(g, "tests");
    int ntests = cJSON_GetArraySize(tests);
    schema_opts o = {.strict = false, .assert_formats = st->assert_formats, .dialect = st->dialect};
    schema_builder *b = schema_builder_new(&o);
    schema_prog *prog = NULL;
    sl_diags d;
    sl_diags_init(&d, file);
    int root = b ? schema_builder_add(b, schema, NULL, &d) : SL_ENOMEM;
    remote_set rs = {0};
    if (st->remotes && root >= 0) {
        remote_collect(st, &rs, schema, "");
        for (size_t i = 0; i < rs.n; i++)
            if (schema_builder_add(b, rs.doc[i], rs.uri[i], &d) == SL_ENOMEM) root = SL_ENOMEM;
    }
    int rc = root < 0 ? root : schema_builder_finish(b, &prog, &d);
    schema_builder_free(b);
    for (size_t i = 0; i < rs.n; i++) {
        cJSON_Delete(rs.doc[i]);
        free(rs.uri[i]);
    }
    if (rc < 0) {
        printf("  FAIL %s: schema does not compile: %s\n", desc(g), sl_strerror(rc));
        sl_diags_print(&d, stdout);
        *ff += ntests;
        sl_diags_cleanup(&d);
        return;
    }
    sl_diags_cleanup(&d);
    for (const cJSON *t = tests ? tests->child : NULL; t; t = t->next) {
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(t, "data");
        bool want = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "valid"));
        vio_list_reset(st->vl);
        int quiet = data ? schema_validate(prog, root, data, st->ctx, NULL, NULL) : -1;
        int full = data ? schema_validate(prog, root, data, st->ctx, st->vl, "") : -1;
        bool consistent = quiet >= 0 && full == quiet && (full == 1) == (st->vl->nerrors == 0);
        if (consistent && (quiet == 1) == want) {
            (*fp)++;
            continue;
        }
        (*ff)++;
        if (!consistent)
            printf("  FAIL %s / %s: quiet=%d full=%d violations=%zu (expected %s)\n", desc(g),
                   desc(t), quiet, full, st->vl->nerrors, want ? "valid" : "invalid");
        else
            printf("  FAIL %s / %s: expected %s\n", desc(g), desc(t), want ? "valid" : "invalid");
        if (st->verbose) {
            char *j = vio_list_to_json(st->vl);
            if (j) printf("    violations: %s\n", j);
            free(j);
        }
    }
    schema_prog_free(prog);
}

static int run_file(st_run *st, const char *path)
{
    size_t len;
    char *buf = read_file(path, &len);
    if (!buf) {
        fprintf(stderr, "sluice schema-test: cannot read %s\n", path);
        return 2;
    }
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithOpts(buf, &end, 1);
    if (!doc || !cJSON_IsArray(doc)) {
        int line = 0, col = 0;
        if (!doc && end) where(buf, end, &line, &col);
        if (!doc)
            fprintf(stderr, "sluice schema-test: %s:%d:%d: invalid JSON\n", path, line, col);
        else
            fprintf(stderr, "sluice schema-test: %s: expected an array of test groups\n", path);
        cJSON_Delete(doc);
        free(buf);
        return 2;
    }
    long fp = 0, ff = 0;
    for (const cJSON *g = doc->child; g; g = g->next)
        run_group(st, path, g, &fp, &ff);
    printf("%s: %ld passed, %ld failed\n", base_name(path), fp, ff);
    st->passed += fp;
    st->failed += ff;
    cJSON_Delete(doc);
    free(buf);
    return 0;
}

int cli_schema_test(int argc, char **argv)
{
    st_run st = {0};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--assert-formats"))
            st.assert_formats = true;
        else if (!strcmp(argv[i], "--verbose"))
            st.verbose = true;
        else if (!strcmp(argv[i], "--remotes") && i + 1 < argc)
            st.remotes = argv[++i];
        else if (!strcmp(argv[i], "--dialect") && i + 1 < argc) {
            st.dialect = dialect_from_name(argv[++i]);
            if (st.dialect == DIALECT_UNKNOWN) {
                fprintf(stderr,
                        "sluice schema-test: unknown dialect %s (draft-04, draft-06, draft-07, "
                        "2019-09, 2020-12)\n",
                        argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--")) {
            i++;
            break;
        } else {
            fprintf(stderr, "sluice schema-test: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (i >= argc) {
        fprintf(stderr, "usage: sluice schema-test [--dialect D] [--remotes DIR] "
                        "[--assert-formats] [--verbose] FILE...\n");
        return 2;
    }
    st.ctx = schema_ctx_new();
    st.vl = malloc(sizeof *st.vl);
    if (!st.ctx || !st.vl) {
        schema_ctx_free(st.ctx);
        free(st.vl);
        fprintf(stderr, "sluice schema-test: out of memory\n");
        return 2;
    }
    int status = 0;
    for (; i < argc; i++)
        if (run_file(&st, argv[i]) != 0) status = 2;
    printf("%ld passed, %ld failed\n", st.passed, st.failed);
    schema_ctx_free(st.ctx);
    free(st.vl);
    if (status) return status;
    return st.failed ? 1 : 0;
}
