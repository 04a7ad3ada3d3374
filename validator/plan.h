/* plan.h - tracking plans: load a YAML plan, compile it once, check events against it.
 *
 * A plan is compiled into one immutable object (schema program + event-name index + policy);
 * it is shared read-only by any number of threads and reference-counted so a server can swap in a
 * reloaded plan while requests still use the old one (plan_retain/plan_release, atomic).
 * Per-thread scratch lives in a plan_ctx. The format is documented in specs/PLAN-FORMAT.md. */
#ifndef SL_PLAN_H
#define SL_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "dialect.h"
#include "sl_err.h"
#include "vio.h"

typedef struct plan plan;
typedef struct plan_ctx plan_ctx;

typedef enum { PLAN_REJECT, PLAN_ALLOW } plan_allowance;
typedef enum { PLAN_QUARANTINE, PLAN_FORWARD } plan_on_violation;

typedef struct {
    plan_allowance unplanned_events;
    plan_allowance additional_properties;
    plan_on_violation on_violation;
    schema_dialect
        dialect; /* of the plan's schemas without a `$schema` (DIALECT_DEFAULT: 2020-12) */
} plan_policy;

/* Loads and compiles a plan file. Returns 0 and *out (refcount 1) or a negative SL_E* code; d gets
 * every error (and the lint warnings when `lint` is true) with file:line:col. */
int plan_load_file(const char *path, bool lint, plan **out, sl_diags *d);
/* Same from memory; `name` is used in diagnostics. */
int plan_load_mem(const char *yaml, size_t len, const char *name, bool lint, plan **out,
                  sl_diags *d);

plan *plan_retain(plan *p);
/* Drops a reference; frees the plan when it was the last. NULL is ignored. */
void plan_release(plan *p);

const plan_policy *plan_get_policy(const plan *p);
const char *plan_get_name(const plan *p);
const char *plan_get_version(const plan *p);

/* Planned track events, in plan order (for coverage reports). */
size_t plan_event_count(const plan *p);
const char *plan_event_name(const plan *p, size_t i);
/* The `deprecated` text of planned event `name` ("" when deprecated without a reason), or NULL
 * when the event is not deprecated or not planned. Borrowed: lives as long as the plan. */
const char *plan_event_deprecated(const plan *p, const char *name);

plan_ctx *plan_ctx_new(void);
void plan_ctx_free(plan_ctx *c);

/* Checks one event (a Segment call: track/identify/page/screen/group/alias) against the plan.
 * `out` is reset, then receives every violation (bounded), warnings included.
 * Returns the number of error violations (0 = valid), or a negative SL_E* code. */
int plan_check(const plan *p, const cJSON *event, plan_ctx *ctx, vio_list *out);

/* Self-describing JSON (Snowplow/Iglu): checks sd = {"schema": "iglu:v/n/f/M-R-A", "data": ..}
 * against the plan's `iglu:` schema with exactly that key. Violations are *appended* to `out`
 * (paths prefixed with `path`, "" for the top); an unknown key is an Unknown-Schema violation.
 * Returns the number of error violations added, or a negative SL_E* code. */
int plan_check_selfdesc(const plan *p, const cJSON *sd, plan_ctx *ctx, vio_list *out,
                        const char *path);
/* Number of schemas in the plan's `iglu:` section. */
size_t plan_iglu_count(const plan *p);

/* Coverage: call plan_cover_note for each checked event, then plan_cover_report. */
typedef struct plan_cover plan_cover;
plan_cover *plan_cover_new(const plan *p);
void plan_cover_free(plan_cover *c);
void plan_cover_note(plan_cover *c, const cJSON *event);
/* Writes {"events_unseen":[...],"properties_unseen":{"Event":["prop",...]}} as a cJSON tree. */
cJSON *plan_cover_report(const plan_cover *c);

/* `sluice compile --dump`: event index + disassembled program. */
void plan_dump(const plan *p, FILE *out);
/* `sluice compile --emit json-schema`: {"plan":..,"version":..,"events":{name: schema},
 * "calls":{"identify": schema, ...}}; each schema is self-contained JSON Schema 2020-12. */
cJSON *plan_emit_json_schema(const plan *p);

#endif
