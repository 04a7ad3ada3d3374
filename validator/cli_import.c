/* cli_import.c - `sluice import FORMAT FILE... [-o plan.yaml]`: a peer's plan as a Sluice plan.
 *
 * Writes the plan (YAML with comments saying where each part came from), then compiles what it
 * wrote, so a plan that `sluice lint` would refuse is never handed over. Exit status: 0 imported
 * completely, 1 imported but something could not be carried over (each listed on stderr with
 * file:line:col), 2 usage error or nothing importable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "import.h"
#include "plan.h"
#include "sl_buf.h"
#include "yamlw.h"

static const char usage[] =
    "usage: sluice import FORMAT FILE... [-o PLAN.yaml] [--name NAME]\n"
    "\n"
    "Turns another tool's tracking plan into a Sluice plan that gives the same verdicts.\n"
    "\n"
    "formats:\n"
    "  segment      Segment Protocols: Public API rules JSON ([{type, key, version, jsonSchema}],\n"
    "               one file per page) or the legacy Config API's {\"rules\": {\"events\": ..}}\n"
    "  rudderstack  RudderStack tracking plan JSON (Data Catalog or Tracking Plan API), or a\n"
    "               rudder-cli YAML project (a folder, or its files: rudder/v1 or rudder/0.1)\n"
    "  iglu         Iglu self-describing schemas: a folder in Iglu layout\n"
    "               (schemas/vendor/name/jsonschema/1-0-0) or schema files\n"
    "  jsonschema   plain JSON Schemas, one per event (title or file name = event name),\n"
    "               each describing the event's properties; folders are searched for *.json\n"
    "\n"
    "  -o FILE      write the plan there (default: standard output)\n"
    "  --name NAME  the plan's name (default: the source's, else \"imported\")\n"
    "\n"
    "What cannot be carried over is listed as \"not carried over\" with its location.\n"
    "exit status: 0 imported completely, 1 imported with parts not carried over, 2 error\n";

int cli_import(int argc, char **argv)
{
    const char *out_path = NULL, *name = NULL;
    const char **paths = calloc((size_t)argc + 1, sizeof *paths);
    size_t npaths = 0;
    int fmt = -1;
    if (!paths) return 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            free(paths);
            return 0;
        } else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
            out_path = argv[++i];
        } else if (!strcmp(argv[i], "--name") && i + 1 < argc) {
            name = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "sluice import: unknown option %s\n%s", argv[i], usage);
            free(paths);
            return 2;
        } else if (fmt < 0) {
            fmt = import_format_from_name(argv[i]);
            if (fmt < 0) {
                fprintf(stderr,
                        "sluice import: unknown format '%s' (segment, rudderstack, iglu, "
                        "jsonschema)\n",
                        argv[i]);
                free(paths);
                return 2;
            }
        } else {
            paths[npaths++] = argv[i];
        }
    }
    if (fmt < 0 || npaths == 0) {
        fputs(usage, stderr);
        free(paths);
        return 2;
    }
    import_result r;
    int rc = import_run((import_format)fmt, paths, npaths, name, &r);
    free(paths);
    for (size_t i = 0; i < r.nfiles; i++)
        sl_diags_print(&r.files[i], stderr);
    if (rc) {
        fprintf(stderr, "sluice import: nothing written: %zu error%s\n", r.nerrors,
                r.nerrors == 1 ? "" : "s");
        import_result_free(&r);
        return 2;
    }
    sl_buf y = {0};
    yamlw_write(&y, r.plan);
    if (y.oom) {
        fprintf(stderr, "sluice import: out of memory\n");
        import_result_free(&r);
        return 2;
    }
    /* The plan must compile as written: a bug here must not become the user's lint error. */
    sl_diags d;
    sl_diags_init(&d, out_path ? out_path : "<imported plan>");
    plan *p = NULL;
    int lrc = plan_load_mem(y.p, y.n, out_path ? out_path : "<imported plan>", false, &p, &d);
    if (lrc) {
        sl_diags_print(&d, stderr);
        fprintf(stderr,
                "sluice import: the imported plan does not compile (%s); nothing written. "
                "Please report this with the source file.\n",
                sl_strerror(lrc));
        sl_diags_cleanup(&d);
        sl_buf_free(&y);
        import_result_free(&r);
        return 2;
    }
    FILE *f = out_path ? fopen(out_path, "w") : stdout;
    if (!f || fwrite(y.p, 1, y.n, f) != y.n || (out_path && fclose(f) != 0)) {
        fprintf(stderr, "sluice import: cannot write %s\n", out_path ? out_path : "stdout");
        plan_release(p);
        sl_diags_cleanup(&d);
        sl_buf_free(&y);
        import_result_free(&r);
        return 2;
    }
    fprintf(stderr,
            "sluice import: %zu event%s, %zu Iglu schema%s from %zu file%s%s%s; %zu not carried "
            "over, %zu note%s\n",
            plan_event_count(p), plan_event_count(p) == 1 ? "" : "s", plan_iglu_count(p),
            plan_iglu_count(p) == 1 ? "" : "s", r.nfiles, r.nfiles == 1 ? "" : "s",
            out_path ? " -> " : "", out_path ? out_path : "", r.nlost, r.nnotes,
            r.nnotes == 1 ? "" : "s");
    int exit_code = r.nlost ? 1 : 0;
    plan_release(p);
    sl_diags_cleanup(&d);
    sl_buf_free(&y);
    import_result_free(&r);
    return exit_code;
}
