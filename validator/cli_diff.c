/* cli_diff.c - `sluice diff OLD NEW`: what a plan change breaks (see plandiff.h).
 *
 * For plan reviews and CI: lists every change between two plans, marks the breaking ones (an
 * event valid under OLD may fail NEW) and exits 1 when there is one, so a pipeline can stop a
 * plan change that would quarantine events the apps already send. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "plan.h"
#include "plandiff.h"
#include "sl_err.h"

static const char usage[] = "usage: sluice diff [--format text|json] OLD_PLAN NEW_PLAN\n";

static void print_text(const plan *o, const plan *n, const plandiff *d)
{
    printf("%s %s -> %s %s: %zu change%s, %zu breaking\n", plan_get_name(o), plan_get_version(o),
           plan_get_name(n), plan_get_version(n), d->n, d->n == 1 ? "" : "s", d->nbreaking);
    for (size_t i = 0; i < d->n; i++) {
        const plandiff_change *c = &d->items[i];
        printf("  %-9s %s", c->breaking ? "BREAKING" : "", c->scope);
        if (c->name[0]) printf(" \"%s\"", c->name);
        if (c->path[0]) printf(" %s", c->path);
        printf(": %s\n", c->message);
    }
}

static int print_json(const plan *o, const plan *n, const plandiff *d)
{
    cJSON *r = cJSON_CreateObject();
    cJSON *from = cJSON_AddObjectToObject(r, "from"), *to = cJSON_AddObjectToObject(r, "to");
    cJSON_AddStringToObject(from, "plan", plan_get_name(o));
    cJSON_AddStringToObject(from, "version", plan_get_version(o));
    cJSON_AddStringToObject(to, "plan", plan_get_name(n));
    cJSON_AddStringToObject(to, "version", plan_get_version(n));
    cJSON *sum = cJSON_AddObjectToObject(r, "summary");
    cJSON_AddNumberToObject(sum, "changes", (double)d->n);
    cJSON_AddNumberToObject(sum, "breaking", (double)d->nbreaking);
    cJSON *arr = cJSON_AddArrayToObject(r, "changes");
    for (size_t i = 0; i < d->n; i++) {
        const plandiff_change *c = &d->items[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "scope", c->scope);
        cJSON_AddStringToObject(e, "name", c->name);
        cJSON_AddStringToObject(e, "path", c->path);
        cJSON_AddBoolToObject(e, "breaking", c->breaking);
        cJSON_AddStringToObject(e, "message", c->message);
        cJSON_AddItemToArray(arr, e);
    }
    char *s = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    if (!s) return SL_ENOMEM;
    puts(s);
    free(s);
    return 0;
}

int cli_diff(int argc, char **argv)
{
    const char *paths[2] = {NULL, NULL};
    bool json = false;
    int np = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("%s\n"
                   "Lists what changed from OLD_PLAN to NEW_PLAN (events, pages, identify/group\n"
                   "traits, context, each property's type, enum, bounds, pattern, format and\n"
                   "required-ness) and marks BREAKING what may make an event that passed OLD fail\n"
                   "NEW: a removed event while unplanned events are rejected, a removed property\n"
                   "of a closed object, a newly required property, a narrower type, fewer enum\n"
                   "values, a tighter bound, a new pattern or format. Keywords it does not\n"
                   "analyse (allOf, anyOf, if/then/else, ...) count as breaking when added or\n"
                   "changed. Paths are JSON Pointers into the event; '*' is every array item.\n\n"
                   "exit status: 0 no breaking change, 1 breaking changes, 2 plan or usage error\n",
                   usage);
            return 0;
        }
        if (!strcmp(argv[i], "--format") && i + 1 < argc) {
            const char *f = argv[++i];
            if (strcmp(f, "text") && strcmp(f, "json")) {
                fprintf(stderr, "sluice diff: unknown --format '%s' (text, json)\n", f);
                return 2;
            }
            json = !strcmp(f, "json");
            continue;
        }
        if (argv[i][0] == '-' || np == 2) {
            fputs(usage, stderr);
            return 2;
        }
        paths[np++] = argv[i];
    }
    if (np != 2) {
        fputs(usage, stderr);
        return 2;
    }
    plan *o = cli_load_plan(paths[0]);
    plan *n = o ? cli_load_plan(paths[1]) : NULL;
    if (!o || !n) {
        plan_release(o);
        return 2;
    }
    plandiff d = {0};
    int rc = plandiff_run(o, n, &d);
    if (!rc) rc = json ? print_json(o, n, &d) : (print_text(o, n, &d), 0);
    int exit_code = rc ? 2 : d.nbreaking ? 1 : 0;
    if (rc) fprintf(stderr, "sluice diff: %s\n", sl_strerror(rc));
    plandiff_free(&d);
    plan_release(o);
    plan_release(n);
    return exit_code;
}
