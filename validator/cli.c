/* cli.c - `sluice check`, `sluice lint` and `sluice compile`: the QA command line (`sluice diff`
 * is in cli_diff.c).
 *
 * check reads events as a stream of JSON values (NDJSON, one JSON array, or Segment batch bodies
 * {"batch":[...]}, mixed freely), checks each against the plan and reports in text, JSON or JUnit.
 * Malformed input is reported as an invalid event with its line:col, and reading resumes at the
 * next line. Exit codes: 0 all valid, 1 any violation (or lint error), 2 plan or usage error. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "arena.h"
#include "plan.h"
#include "sl_buf.h"

/* ---- growable text buffer ------------------------------------------------------------------ */

/* Out of memory while building output: the CLI gives up (exit 2), as the buffers are its whole
 * result. */
static void exit_if_oom(const sl_buf *b)
{
    if (!b->oom) return;
    fprintf(stderr, "sluice: out of memory\n");
    exit(2);
}

/* Appends a string literal (length known at compile time). */
#define SB_LIT(b, lit) sl_buf_put((b), (lit), sizeof(lit) - 1)

/* JSON string literal (with quotes). */
static void sb_json_str(sl_buf *b, const char *s)
{
    sl_buf_json_str(b, s, strlen(s));
}

/* XML-escaped text. */
static void sb_xml(sl_buf *b, const char *s)
{
    for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
        switch (*u) {
        case '<':
            SB_LIT(b, "&lt;");
            break;
        case '>':
            SB_LIT(b, "&gt;");
            break;
        case '&':
            SB_LIT(b, "&amp;");
            break;
        case '"':
            SB_LIT(b, "&quot;");
            break;
        default:
            if (*u < 0x20 && *u != '\n' && *u != '\t')
                SB_LIT(b, " ");
            else
                sl_buf_put(b, (const char *)u, 1);
        }
    }
}

static int read_all(FILE *f, sl_buf *b)
{
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        sl_buf_put(b, tmp, n);
    return ferror(f) ? -1 : 0;
}

/* ---- options -----------------------------------------------------------------------------------
 */

/* Matches "--name VALUE" or "--name=VALUE"; advances *i. Exits 2 when the value is missing. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) return NULL;
    if (argv[*i][n] == '=') return argv[*i] + n + 1;
    if (argv[*i][n] != '\0') return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "sluice: option %s needs a value\n", name);
        exit(2);
    }
    return argv[++*i];
}

plan *cli_load_plan(const char *path)
{
    sl_diags d;
    sl_diags_init(&d, path);
    plan *p = NULL;
    int rc = plan_load_file(path, false, &p, &d);
    sl_diags_print(&d, stderr);
    if (rc) fprintf(stderr, "sluice: %s: %s\n", path, sl_strerror(rc));
    sl_diags_cleanup(&d);
    return p;
}

/* ---- check --------------------------------------------------------------------------------------
 */

enum { FMT_TEXT, FMT_JSON, FMT_JUNIT };

typedef struct {
    char *label; /* event name or call type */
    sl_kind kind;
    size_t count;
    size_t first_index;
    char path[VIO_PATH_MAX];
    char message[VIO_MSG_MAX];
} group;

typedef struct {
    const plan *plan;
    plan_ctx *ctx;
    plan_cover *cover;
    int format;
    size_t events, valid, invalid, violations, warnings;
    sl_buf out; /* json: violation objects; junit: testcases */
    group *groups;
    size_t ngroups, capgroups;
    vio_list vl;
    arena *arena;  /* scratch for parsed input values */
    bool selfdesc; /* --self-describing: inputs are {"schema": "iglu:..", "data": ..} */
} checker;

static void note_group(checker *c, const char *label, const vio *v, size_t index)
{
    for (size_t i = 0; i < c->ngroups; i++) {
        group *g = &c->groups[i];
        if (g->kind == v->kind && strcmp(g->label, label) == 0) {
            g->count++;
            return;
        }
    }
    if (c->ngroups == c->capgroups) {
        c->capgroups = c->capgroups ? c->capgroups * 2 : 32;
        c->groups = realloc(c->groups, c->capgroups * sizeof *c->groups);
        if (!c->groups) exit(2);
    }
    group *g = &c->groups[c->ngroups++];
    g->label = strdup(label);
    g->kind = v->kind;
    g->count = 1;
    g->first_index = index;
    snprintf(g->path, sizeof g->path, "%s", v->path);
    snprintf(g->message, sizeof g->message, "%s", v->message);
}

static void label_of(const cJSON *ev, char *buf, size_t cap)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(ev, "event");
    if (cJSON_IsString(type) && strcmp(type->valuestring, "track") == 0 && cJSON_IsString(name))
        snprintf(buf, cap, "%s", name->valuestring);
    else if (cJSON_IsString(type))
        snprintf(buf, cap, "%s", type->valuestring);
    else
        snprintf(buf, cap, "(no type)");
}

/* Records the result of one event (its violations are in c->vl). */
static void record(checker *c, const char *label, size_t index)
{
    c->events++;
    if (c->vl.nerrors)
        c->invalid++;
    else
        c->valid++;
    size_t nerr = 0;
    for (size_t i = 0; i < c->vl.n; i++) {
        const vio *v = &c->vl.items[i];
        if (sl_kind_is_warning(v->kind))
            c->warnings++;
        else
            nerr++;
        note_group(c, label, v, index);
        if (c->format == FMT_JSON) {
            sl_buf_printf(&c->out, "%s{\"index\":%zu,\"event\":", c->out.n ? ",\n" : "", index);
            sb_json_str(&c->out, label);
            sl_buf_printf(&c->out, ",\"kind\":\"%s\",\"path\":", sl_kind_name(v->kind));
            sb_json_str(&c->out, v->path);
            SB_LIT(&c->out, ",\"keyword\":");
            sb_json_str(&c->out, v->keyword ? v->keyword : "");
            SB_LIT(&c->out, ",\"expected\":");
            sb_json_str(&c->out, v->expected);
            SB_LIT(&c->out, ",\"actual\":");
            sb_json_str(&c->out, v->actual);
            SB_LIT(&c->out, ",\"message\":");
            sb_json_str(&c->out, v->message);
            if (sl_kind_is_warning(v->kind)) SB_LIT(&c->out, ",\"severity\":\"warning\"");
            SB_LIT(&c->out, "}");
        }
    }
    c->violations += nerr + c->vl.dropped;
    if (c->format == FMT_JUNIT) {
        SB_LIT(&c->out, "    <testcase classname=\"");
        sb_xml(&c->out, label);
        sl_buf_printf(&c->out, "\" name=\"event #%zu: ", index);
        sb_xml(&c->out, label);
        SB_LIT(&c->out, "\"");
        if (!c->vl.nerrors) {
            SB_LIT(&c->out, "/>\n");
            return;
        }
        SB_LIT(&c->out, ">\n      <failure message=\"");
        for (size_t i = 0; i < c->vl.n; i++)
            if (!sl_kind_is_warning(c->vl.items[i].kind)) {
                sb_xml(&c->out, c->vl.items[i].message);
                break;
            }
        SB_LIT(&c->out, "\" type=\"");
        for (size_t i = 0; i < c->vl.n; i++)
            if (!sl_kind_is_warning(c->vl.items[i].kind)) {
                sb_xml(&c->out, sl_kind_name(c->vl.items[i].kind));
                break;
            }
        SB_LIT(&c->out, "\">");
        for (size_t i = 0; i < c->vl.n; i++) {
            const vio *v = &c->vl.items[i];
            sb_xml(&c->out, sl_kind_name(v->kind));
            SB_LIT(&c->out, " ");
            sb_xml(&c->out, v->path[0] ? v->path : "/");
            SB_LIT(&c->out, ": ");
            sb_xml(&c->out, v->message);
            SB_LIT(&c->out, "\n");
        }
        SB_LIT(&c->out, "</failure>\n    </testcase>\n");
    }
}

static void check_event(checker *c, const cJSON *ev, size_t index)
{
    char label[128];
    int rc;
    if (c->selfdesc) {
        vio_list_reset(&c->vl);
        rc = plan_check_selfdesc(c->plan, ev, c->ctx, &c->vl, "");
        const cJSON *sch = cJSON_GetObjectItemCaseSensitive(ev, "schema");
        snprintf(label, sizeof label, "%s", cJSON_IsString(sch) ? sch->valuestring : "(no schema)");
        if (rc >= 0) {
            record(c, label, index);
            return;
        }
    } else {
        rc = plan_check(c->plan, ev, c->ctx, &c->vl);
    }
    if (rc < 0) {
        fprintf(stderr, "sluice: internal error checking event %zu: %s\n", index, sl_strerror(rc));
        exit(2);
    }
    label_of(ev, label, sizeof label);
    if (c->cover) plan_cover_note(c->cover, ev);
    record(c, label, index);
}

/* Segment batch semantics: batch-level context/integrations apply to every item; an item's own
 * keys win. */
static void merge_batch_level(cJSON *item, const cJSON *batch, const char *key)
{
    const cJSON *outer = cJSON_GetObjectItemCaseSensitive(batch, key);
    if (!cJSON_IsObject(outer) || !cJSON_IsObject(item)) return;
    cJSON *inner = cJSON_GetObjectItemCaseSensitive(item, key);
    if (!inner) {
        cJSON_AddItemToObject(item, key, cJSON_Duplicate(outer, true));
        return;
    }
    if (!cJSON_IsObject(inner)) return;
    for (const cJSON *k = outer->child; k; k = k->next)
        if (!cJSON_GetObjectItemCaseSensitive(inner, k->string))
            cJSON_AddItemToObject(inner, k->string, cJSON_Duplicate(k, true));
}

static void line_col(const char *start, const char *at, size_t *line, size_t *col)
{
    *line = 1;
    const char *ls = start;
    for (const char *p = start; p < at; p++)
        if (*p == '\n') {
            (*line)++;
            ls = p + 1;
        }
    *col = (size_t)(at - ls) + 1;
}

/* Checks every event of one input buffer; *index counts events across inputs. */
static void check_buffer(checker *c, const char *name, const char *buf, size_t len, size_t *index)
{
    const char *p = buf, *end = buf + len;
    for (;;) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
            p++;
        if (p >= end) break;
        const char *parse_end = NULL;
        /* Each top-level value is parsed into the arena and dropped with one reset. */
        arena_reset(c->arena);
        arena *prev = arena_set_current(c->arena);
        cJSON *v = cJSON_ParseWithLengthOpts(p, (size_t)(end - p), &parse_end, false);
        if (!v) {
            arena_set_current(prev);
            /* Report where, then resume at the next line. */
            const char *at = parse_end && parse_end >= p && parse_end <= end ? parse_end : p;
            size_t line, col;
            line_col(buf, at, &line, &col);
            vio_list_reset(&c->vl);
            vio *x = vio_list_push(&c->vl, SL_KIND_INVALID_ENVELOPE, "json");
            if (x)
                snprintf(x->message, sizeof x->message, "%s:%zu:%zu: malformed JSON", name, line,
                         col);
            record(c, "(malformed)", (*index)++);
            const char *nl = memchr(at, '\n', (size_t)(end - at));
            p = nl ? nl : end;
            continue;
        }
        p = parse_end;
        const cJSON *batch =
            cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "batch") : NULL;
        if (cJSON_IsArray(v)) {
            for (cJSON *e = v->child; e; e = e->next)
                check_event(c, e, (*index)++);
        } else if (cJSON_IsArray(batch) && !c->selfdesc) {
            for (cJSON *e = batch->child; e; e = e->next) {
                merge_batch_level(e, v, "context");
                merge_batch_level(e, v, "integrations");
                check_event(c, e, (*index)++);
            }
        } else {
            check_event(c, v, (*index)++);
        }
        arena_set_current(prev); /* v lives in the arena: the next reset frees it */
    }
}

static int group_cmp(const void *a, const void *b)
{
    const group *x = a, *y = b;
    int r = strcmp(x->label, y->label);
    if (r) return r;
    return (int)x->kind - (int)y->kind;
}

static void print_text(checker *c, FILE *out)
{
    if (c->ngroups) qsort(c->groups, c->ngroups, sizeof *c->groups, group_cmp);
    const char *cur = NULL;
    for (size_t i = 0; i < c->ngroups; i++) {
        const group *g = &c->groups[i];
        if (!cur || strcmp(cur, g->label) != 0) {
            fprintf(out, "%s\n", g->label);
            cur = g->label;
        }
        fprintf(out, "  %-22s %6zu  e.g. event #%zu %s: %s\n", sl_kind_name(g->kind), g->count,
                g->first_index, g->path[0] ? g->path : "/", g->message);
    }
    if (c->ngroups) fputc('\n', out);
    fprintf(out, "%zu events: %zu valid, %zu invalid; %zu violations, %zu warnings\n", c->events,
            c->valid, c->invalid, c->violations, c->warnings);
}

static void print_coverage_text(const cJSON *cov, FILE *out)
{
    const cJSON *planned = cJSON_GetObjectItem(cov, "events_planned");
    const cJSON *seen = cJSON_GetObjectItem(cov, "events_seen");
    fprintf(out, "\ncoverage: %d of %d planned events seen\n", seen ? seen->valueint : 0,
            planned ? planned->valueint : 0);
    const cJSON *unseen = cJSON_GetObjectItem(cov, "events_unseen");
    for (const cJSON *e = unseen ? unseen->child : NULL; e; e = e->next)
        fprintf(out, "  never seen: %s\n", e->valuestring);
    const cJSON *props = cJSON_GetObjectItem(cov, "properties_unseen");
    for (const cJSON *e = props ? props->child : NULL; e; e = e->next)
        for (const cJSON *q = e->child; q; q = q->next)
            fprintf(out, "  property never seen: %s.%s\n", e->string, q->valuestring);
}

static void check_usage(FILE *out)
{
    fputs("usage: sluice check --plan PLAN [--format text|json|junit] [--coverage] [FILE...]\n"
          "\n"
          "Validates events against a tracking plan. Input (files, or stdin when none): NDJSON,\n"
          "a JSON array of events, or Segment batch bodies {\"batch\":[...]}.\n"
          "\n"
          "  --plan PLAN      the tracking plan (YAML)\n"
          "  --format F       text (default: grouped by event and kind), json, junit\n"
          "  --coverage       also list planned events and properties never seen\n"
          "  --self-describing  inputs are self-describing JSONs {\"schema\": \"iglu:..\",\n"
          "                   \"data\": ..} (Snowplow), checked against the plan's iglu: section\n"
          "\n"
          "exit status: 0 all events valid, 1 any violation, 2 plan or usage error\n",
          out);
}

int cli_check(int argc, char **argv)
{
    const char *plan_path = NULL, *fmt = "text";
    bool coverage = false, selfdesc = false;
    const char **files = calloc((size_t)argc + 1, sizeof *files);
    size_t nfiles = 0;
    if (!files) return 2;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            check_usage(stdout);
            free(files);
            return 0;
        } else if ((v = opt_value(argc, argv, &i, "--plan"))) {
            plan_path = v;
        } else if ((v = opt_value(argc, argv, &i, "--format"))) {
            fmt = v;
        } else if (!strcmp(argv[i], "--coverage")) {
            coverage = true;
        } else if (!strcmp(argv[i], "--self-describing")) {
            selfdesc = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "sluice check: unknown option %s\n", argv[i]);
            check_usage(stderr);
            free(files);
            return 2;
        } else {
            files[nfiles++] = argv[i];
        }
    }
    int format = !strcmp(fmt, "text")    ? FMT_TEXT
                 : !strcmp(fmt, "json")  ? FMT_JSON
                 : !strcmp(fmt, "junit") ? FMT_JUNIT
                                         : -1;
    if (!plan_path || format < 0) {
        fprintf(stderr,
                plan_path ? "sluice check: unknown format '%s'\n"
                          : "sluice check: --plan is required\n",
                fmt);
        check_usage(stderr);
        free(files);
        return 2;
    }
    plan *p = cli_load_plan(plan_path);
    if (!p) {
        free(files);
        return 2;
    }
    arena_cjson_install(); /* idempotent; input values are parsed into c.arena */
    checker c = {.plan = p, .format = format, .selfdesc = selfdesc};
    c.ctx = plan_ctx_new();
    c.arena = arena_new(1 << 20);
    if (coverage) c.cover = plan_cover_new(p);
    if (!c.ctx || !c.arena || (coverage && !c.cover)) {
        fprintf(stderr, "sluice: out of memory\n");
        return 2;
    }
    size_t index = 0;
    sl_buf in = {0};
    int rc = 0;
    if (nfiles == 0) files[nfiles++] = "-";
    for (size_t i = 0; i < nfiles; i++) {
        bool std = !strcmp(files[i], "-");
        FILE *f = std ? stdin : fopen(files[i], "rb");
        if (!f) {
            fprintf(stderr, "sluice check: %s: %s\n", files[i], strerror(errno));
            rc = 2;
            break;
        }
        in.n = 0;
        int err = read_all(f, &in);
        if (!std) fclose(f);
        exit_if_oom(&in);
        if (err) {
            fprintf(stderr, "sluice check: %s: read error\n", files[i]);
            rc = 2;
            break;
        }
        check_buffer(&c, std ? "<stdin>" : files[i], in.p ? in.p : "", in.n, &index);
    }
    sl_buf_free(&in);

    cJSON *cov = c.cover ? plan_cover_report(c.cover) : NULL;
    exit_if_oom(&c.out);
    if (rc == 0) {
        if (format == FMT_TEXT) {
            print_text(&c, stdout);
            if (cov) print_coverage_text(cov, stdout);
        } else if (format == FMT_JSON) {
            printf("{\"summary\":{\"events\":%zu,\"valid\":%zu,\"invalid\":%zu,\"violations\":%zu,"
                   "\"warnings\":%zu},\n\"violations\":[%s%s]",
                   c.events, c.valid, c.invalid, c.violations, c.warnings, c.out.n ? "\n" : "",
                   c.out.p ? c.out.p : "");
            if (cov) {
                char *s = cJSON_PrintUnformatted(cov);
                printf(",\n\"coverage\":%s", s ? s : "null");
                free(s);
            }
            printf("}\n");
        } else {
            printf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite "
                   "name=\"sluice check\" tests=\"%zu\" failures=\"%zu\">\n%s  </testsuite>\n"
                   "</testsuites>\n",
                   c.events, c.invalid, c.out.p ? c.out.p : "");
        }
        rc = c.invalid ? 1 : 0;
    }
    cJSON_Delete(cov);
    for (size_t i = 0; i < c.ngroups; i++)
        free(c.groups[i].label);
    free(c.groups);
    sl_buf_free(&c.out);
    plan_cover_free(c.cover);
    plan_ctx_free(c.ctx);
    arena_free(c.arena);
    plan_release(p);
    free(files);
    return rc;
}

/* ---- lint
 * ------------------------------------------------------------------------------------------ */

int cli_lint(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            puts("usage: sluice lint PLAN\n\n"
                 "Compiles the plan and prints every error and warning (undocumented events,\n"
                 "naming conventions from the plan's `lint` section, unused types) as\n"
                 "file:line:col. Exit status: 0 no errors, 1 errors, 2 usage error.");
            return 0;
        }
        if (argv[i][0] == '-' || path) {
            fprintf(stderr, "usage: sluice lint PLAN\n");
            return 2;
        }
        path = argv[i];
    }
    if (!path) {
        fprintf(stderr, "usage: sluice lint PLAN\n");
        return 2;
    }
    sl_diags d;
    sl_diags_init(&d, path);
    plan *p = NULL;
    int rc = plan_load_file(path, true, &p, &d);
    sl_diags_print(&d, stdout);
    printf("%zu errors, %zu warnings\n", d.nerrors, d.nwarnings);
    sl_diags_cleanup(&d);
    plan_release(p);
    return rc == SL_EIO ? 2 : rc ? 1 : 0;
}

/* ---- compile
 * ------------------------------------------------------------------------------------- */

int cli_compile(int argc, char **argv)
{
    const char *path = NULL, *emit = NULL;
    bool dump = false;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            puts("usage: sluice compile PLAN [--dump | --emit json-schema]\n\n"
                 "Compiles the plan. --dump prints the compiled program (event index, ops,\n"
                 "constants); --emit json-schema prints {\"events\":{name: schema},...}: one\n"
                 "self-contained JSON Schema 2020-12 per event, usable by Ajv and others.");
            return 0;
        } else if (!strcmp(argv[i], "--dump")) {
            dump = true;
        } else if ((v = opt_value(argc, argv, &i, "--emit"))) {
            emit = v;
        } else if (argv[i][0] == '-' || path) {
            fprintf(stderr, "usage: sluice compile PLAN [--dump | --emit json-schema]\n");
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path || (emit && strcmp(emit, "json-schema") != 0)) {
        fprintf(stderr,
                emit ? "sluice compile: unknown --emit target '%s' (json-schema)\n"
                     : "usage: sluice compile PLAN [--dump | --emit json-schema]\n",
                emit);
        return 2;
    }
    plan *p = cli_load_plan(path);
    if (!p) return 2;
    if (dump) plan_dump(p, stdout);
    if (emit) {
        cJSON *j = plan_emit_json_schema(p);
        char *s = j ? cJSON_Print(j) : NULL;
        if (!s) {
            fprintf(stderr, "sluice: out of memory\n");
            cJSON_Delete(j);
            plan_release(p);
            return 2;
        }
        puts(s);
        free(s);
        cJSON_Delete(j);
    }
    if (!dump && !emit) printf("%s: ok\n", path);
    plan_release(p);
    return 0;
}
