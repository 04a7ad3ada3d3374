/* plan.c - TEMPORARY stub so the collector links; the real plan compiler replaces it. */
#include "plan.h"

#include <stdatomic.h>
#include <stdlib.h>

struct plan {
    atomic_int refs;
    plan_policy policy;
};
struct plan_ctx {
    int unused;
};

int plan_load_file(const char *path, bool lint, plan **out, sl_diags *d)
{
    plan *p = calloc(1, sizeof *p);
    if (!p) return SL_ENOMEM;
    atomic_init(&p->refs, 1);
    p->policy.unplanned_events = PLAN_ALLOW;
    p->policy.additional_properties = PLAN_ALLOW;
    *out = p;
    return 0;
}
int plan_load_mem(const char *yaml, size_t len, const char *name, bool lint, plan **out,
                  sl_diags *d)
{
    return plan_load_file(name, lint, out, d);
}
plan *plan_retain(plan *p)
{
    atomic_fetch_add(&p->refs, 1);
    return p;
}
void plan_release(plan *p)
{
    if (p && atomic_fetch_sub(&p->refs, 1) == 1) free(p);
}
const plan_policy *plan_get_policy(const plan *p) { return &p->policy; }
const char *plan_get_name(const plan *p) { return "stub"; }
const char *plan_get_version(const plan *p) { return "0"; }
plan_ctx *plan_ctx_new(void) { return calloc(1, sizeof(plan_ctx)); }
void plan_ctx_free(plan_ctx *c) { free(c); }
int plan_check(const plan *p, const cJSON *event, plan_ctx *ctx, vio_list *out)
{
    vio_list_reset(out);
    return 0;
}
