/* plandiff.h - what changed between two versions of a tracking plan, and whether it breaks
 * tracking that passed the old one.
 *
 * Compares the self-contained JSON Schemas the plans compile to (plan_emit_json_schema), so
 * types ($ref), `required: true` and the additional-properties policy are already applied.
 * A change is *breaking* when an event valid under the old plan may be invalid under the new
 * one: an event removed while unplanned events are rejected, a property removed from a closed
 * object, a property that became required, a narrower type, enum values removed, a tighter
 * bound, a new or changed pattern, format or const, an object that became closed. Changes it
 * does not analyse (allOf, anyOf, if/then/else, ...) count as breaking, to be reviewed. A newly
 * deprecated event is listed, never breaking (senders get a Deprecated-Event warning).
 * Paths are JSON Pointers into the event ("/properties/total", "/context/campaign/source");
 * the segment for "every item of an array" is a star. */
#ifndef SL_PLANDIFF_H
#define SL_PLANDIFF_H

#include <stdbool.h>
#include <stddef.h>

#include "plan.h"

typedef struct {
    const char *scope; /* "policy", "event", "call", "page" or "iglu" (static) */
    char name[128];    /* event or page name, call type; "" for the policy */
    char path[256];    /* JSON Pointer into the event; "" = the event itself */
    bool breaking;
    char message[320]; /* "type number -> integer", "added (required)", ... */
} plandiff_change;

typedef struct {
    plandiff_change *items; /* in order: policy, events, calls, pages */
    size_t n, cap;
    size_t nbreaking;
} plandiff;

/* Fills d (zeroed by the caller) with the changes from old_plan to new_plan. Returns 0 or
 * SL_ENOMEM (d then holds what was found so far). Free d with plandiff_free. */
int plandiff_run(const plan *old_plan, const plan *new_plan, plandiff *d);
void plandiff_free(plandiff *d);

#endif
