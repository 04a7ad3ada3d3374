/* test_plandiff.c - plan-to-plan diffs: every change of tests/data/diff/{old,new}.yaml found once
 * with the right breaking flag, nothing for identical plans or a type inlined in place of its
 * $ref, and the open-object rules (additional properties allowed) on small inline plans. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "plan.h"
#include "plandiff.h"

static plan *load_file(const char *path)
{
    sl_diags d;
    sl_diags_init(&d, path);
    plan *p = NULL;
    if (plan_load_file(path, false, &p, &d)) sl_diags_print(&d, stderr);
    sl_diags_cleanup(&d);
    return p;
}

static plan *load_mem(const char *y)
{
    sl_diags d;
    sl_diags_init(&d, "mem");
    plan *p = NULL;
    if (plan_load_mem(y, strlen(y), "mem", false, &p, &d)) sl_diags_print(&d, stderr);
    sl_diags_cleanup(&d);
    return p;
}

/* The number of changes at (scope, name, path) whose message contains `has`, all with the given
 * breaking flag (-1 when one has the other flag). */
static int count(const plandiff *d, const char *scope, const char *name, const char *path,
                 const char *has, bool breaking)
{
    int n = 0;
    for (size_t i = 0; i < d->n; i++) {
        const plandiff_change *c = &d->items[i];
        if (strcmp(c->scope, scope) || strcmp(c->name, name) || strcmp(c->path, path) ||
            !strstr(c->message, has))
            continue;
        if (c->breaking != breaking) return -1;
        n++;
    }
    if (n != 1) {
        fprintf(stderr, "  %s \"%s\" %s [%s]: found %d; the diff was:\n", scope, name, path, has,
                n);
        for (size_t i = 0; i < d->n; i++)
            fprintf(stderr, "    %d %s \"%s\" %s: %s\n", d->items[i].breaking, d->items[i].scope,
                    d->items[i].name, d->items[i].path, d->items[i].message);
    }
    return n;
}

static void fixtures(void)
{
    plan *o = load_file("tests/data/diff/old.yaml"), *n = load_file("tests/data/diff/new.yaml");
    CHECK(o && n);
    if (!o || !n) return;
    plandiff d = {0};
    CHECK_INT(plandiff_run(o, n, &d), 0);
    const char *oc = "Order Completed";
    CHECK_INT(count(&d, "policy", "", "", "allow -> reject", true), 1);
    CHECK_INT(count(&d, "event", oc, "/properties/order_id", "pattern", true), 1);
    CHECK_INT(count(&d, "event", oc, "/properties/currency", "no longer allows \"SEK\"", true), 1);
    CHECK_INT(count(&d, "event", oc, "/properties/currency", "now required", true), 1);
    CHECK_INT(count(&d, "event", oc, "/properties/coupon", "removed: now rejected", true), 1);
    CHECK_INT(count(&d, "event", oc, "/properties/note", "maxLength 100 -> 200", false), 1);
    CHECK_INT(count(&d, "event", oc, "/properties/quantity", "maximum 99 -> 50", true), 1);
    CHECK_INT(count(&d, "event", oc, "/properties/items/*/price", "type", true), 1);
    CHECK_INT(count(&d, "event", oc, "/properties/gift_wrap", "added (optional)", false), 1);
    CHECK_INT(count(&d, "event", "Signed Up", "/properties/method", "type", false), 1);
    CHECK_INT(count(&d, "event", "Signed Up", "", "deprecated: use Account Created", false), 1);
    CHECK_INT(count(&d, "event", "Promotion Shown", "", "added", true), 1);
    CHECK_INT(count(&d, "event", "Cart Shared", "", "now unplanned and rejected", true), 1);
    CHECK_INT(count(&d, "call", "identify", "/traits/email", "format removed", false), 1);
    /* total moved from {$ref: Money} to the same schema inline: no change */
    CHECK_INT(d.n, 14);
    CHECK_INT(d.nbreaking, 9);
    plandiff_free(&d);

    plandiff same = {0};
    CHECK_INT(plandiff_run(n, n, &same), 0);
    CHECK_INT(same.n, 0);
    CHECK_INT(same.nbreaking, 0);
    plandiff_free(&same);

    /* back again: what was breaking one way is mostly not the other way */
    plandiff back = {0};
    CHECK_INT(plandiff_run(n, o, &back), 0);
    CHECK_INT(count(&back, "event", oc, "/properties/quantity", "maximum 50 -> 99", false), 1);
    CHECK_INT(count(&back, "event", oc, "/properties/currency", "now optional", false), 1);
    CHECK_INT(count(&back, "event", oc, "/properties/note", "maxLength 200 -> 100", true), 1);
    CHECK_INT(count(&back, "call", "identify", "/traits/email", "format added", true), 1);
    CHECK_INT(count(&back, "event", "Promotion Shown", "", "unplanned (accepted", false), 1);
    CHECK_INT(count(&back, "event", "Signed Up", "", "no longer deprecated", false), 1);
    plandiff_free(&back);
    plan_release(o);
    plan_release(n);
}

#define HEAD                                                                                       \
    "sluice: 1\nplan: open\nversion: \"1\"\npolicy: {additional_properties: allow}\nevents:\n"

static void open_objects(void)
{
    plan *o = load_mem(HEAD "  E:\n    properties:\n"
                            "      a: {type: string}\n"
                            "      n: {type: integer}\n"
                            "      w: {type: number}\n"
                            "      e: {type: string}\n");
    plan *n = load_mem(HEAD "  E:\n    properties:\n"
                            "      n: {type: number}\n"
                            "      w: {type: integer}\n"
                            "      e: {type: string, enum: [x, y]}\n"
                            "      b: {type: string}\n"
                            "      \"s/t~u\": {type: string}\n");
    CHECK(o && n);
    if (!o || !n) return;
    plandiff d = {0};
    CHECK_INT(plandiff_run(o, n, &d), 0);
    CHECK_INT(count(&d, "event", "E", "/properties/a", "still accepted", false), 1);
    CHECK_INT(count(&d, "event", "E", "/properties/b", "must now match", true), 1);
    CHECK_INT(count(&d, "event", "E", "/properties/n", "\"integer\" -> \"number\"", false), 1);
    CHECK_INT(count(&d, "event", "E", "/properties/w", "\"number\" -> \"integer\"", true), 1);
    CHECK_INT(count(&d, "event", "E", "/properties/e", "enum added", true), 1);
    CHECK_INT(count(&d, "event", "E", "/properties/s~1t~0u", "added", true), 1); /* RFC 6901 */
    CHECK_INT(d.n, 6);
    plandiff_free(&d);
    plan_release(o);
    plan_release(n);
}

/* Whole-call schemas (imported plans): a change inside `schema:`, a version or an Iglu schema is
 * found at its path in the call, not hidden behind the $ref the root makes to it. */
static void whole_call_schemas(void)
{
    static const char *const fmt =
        "sluice: 1\nplan: imp\n"
        "common: {properties: {context: {properties: {app: {required: [%s]}}}}}\n"
        "events:\n"
        "  A:\n    schema: {properties: {properties: {properties: {n: {type: integer, maximum: "
        "%d}}}}}\n"
        "  V:\n    versions:\n"
        "      1: {schema: {properties: {properties: {required: [%s]}}}}\n"
        "iglu:\n  iglu:com.acme/x/jsonschema/1-0-0: {type: object, maxProperties: %d}\n"
        "%s";
    char a[1024], b[1024];
    snprintf(a, sizeof a, fmt, "version", 10, "x", 5,
             "  iglu:com.acme/y/jsonschema/1-0-0: {type: object}\n");
    snprintf(b, sizeof b, fmt, "version, build", 5, "x, y", 3, "");
    plan *o = load_mem(a), *n = load_mem(b);
    CHECK(o && n);
    if (!o || !n) return;
    plandiff d = {0};
    CHECK_INT(plandiff_run(o, n, &d), 0);
    CHECK_INT(count(&d, "event", "A", "/properties/n", "maximum 10 -> 5", true), 1);
    CHECK_INT(count(&d, "event", "V (version 1)", "/properties/y", "now required", true), 1);
    CHECK_INT(count(&d, "iglu", "iglu:com.acme/x/jsonschema/1-0-0", "", "maxProperties", true), 1);
    CHECK_INT(count(&d, "iglu", "iglu:com.acme/y/jsonschema/1-0-0", "", "Unknown-Schema", true), 1);
    CHECK_INT(count(&d, "call", "identify", "/context/app/build", "now required", true), 1);
    plandiff_free(&d);
    plan_release(o);
    plan_release(n);
}

int main(void)
{
    fixtures();
    open_objects();
    whole_call_schemas();
    return check_done();
}
