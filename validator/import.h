/* import.h - `sluice import`: turns a peer's tracking plan into a Sluice plan tree.
 *
 * Formats (see docs/MIGRATING.md for the exact shapes read):
 *   segment      Segment Protocols: the Public API's rules ([{type, key, version, jsonSchema,
 *                deprecatedAt}], bare, as {"rules": [..]} or {"data": {"rules": [..]}}, one or
 *                several pages) and the legacy Config API's {"rules": {global, events, identify,
 *                group}}.
 *   rudderstack  RudderStack tracking plans as JSON: {"name", "events": [{name, eventType,
 *                description, rules}]} (Data Catalog) or {"rules": {"events": [..]}} (the older
 *                Tracking Plan API); or a rudder-cli YAML project (kinds events, properties,
 *                custom-types, tp / tracking-plan; rudder/v1 and rudder/0.1 references),
 *                resolved once every file is read.
 *   iglu         Iglu self-describing schemas: a folder in Iglu layout
 *                (schemas/vendor/name/jsonschema/M-R-A) or single schema files.
 *   jsonschema   Plain JSON Schemas, one per event (its `title`, else the file name), each
 *                describing the event's `properties`.
 * Every schema is carried as the JSON Schema it is (its own `$schema` dialect), as a whole-call
 * `schema:`, so the plan gives the source system's verdicts. What cannot be carried (a format
 * Sluice does not check, a pattern PCRE2 cannot compile, a rule with no place in a Sluice plan)
 * is a warning "not carried over" with its file:line:col, counted in `lost`; annotations that
 * change no verdict (Segment's `id` strings, unknown keywords, renamed to x-...) are notes.
 * The input trees are read with positions (JSON is YAML), so every message has a location. */
#ifndef SL_IMPORT_H
#define SL_IMPORT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "sl_err.h"

typedef enum { IMPORT_SEGMENT, IMPORT_RUDDERSTACK, IMPORT_IGLU, IMPORT_JSONSCHEMA } import_format;

/* "segment", "rudderstack", "iglu", "jsonschema"; -1 for any other name. */
int import_format_from_name(const char *name);

typedef struct {
    cJSON *plan;     /* the plan (yamlw comments included, see yamlw.h); owned, NULL on error */
    sl_diags *files; /* one diagnostics list per input file read, in order */
    size_t nfiles;
    size_t nerrors; /* errors (the import failed when > 0) */
    size_t nlost;   /* things not carried over (warnings) */
    size_t nnotes;  /* informational notes */
} import_result;

/* Imports `paths` (files, or folders for iglu and jsonschema). `name` is the plan's name (NULL:
 * taken from the source, else "imported"). Returns 0 (r->plan set, maybe with r->nlost) or a
 * negative SL_E* code with the reasons in r->files. Free r with import_result_free either way. */
int import_run(import_format f, const char *const *paths, size_t npaths, const char *name,
               import_result *r);
void import_result_free(import_result *r);

#endif
