/* yamlj.h - load YAML (libyaml) into a cJSON tree, recording every node's line:col in a srcmap.
 *
 * Scalars follow the YAML 1.2 core schema: null/~/empty -> null, true/false -> bool, decimal,
 * 0x/0o integers and floats (.inf/.nan rejected: not JSON) -> number; anything quoted, and
 * everything else (yes/no/on/off included) -> string. Mapping keys must be scalars and unique
 * (duplicate key = error). Anchors/aliases are expanded (bounded, so a "billion laughs" file is
 * an error, not an OOM). Tags other than the core ones are errors. Only the first document of a
 * stream is loaded; nesting deeper than YAMLJ_MAX_DEPTH is an error.
 * Errors: one diagnostic with line:col (1-based) in d, and a negative SL_E* code. */
#ifndef SL_YAMLJ_H
#define SL_YAMLJ_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "sl_err.h"
#include "srcmap.h"

#define YAMLJ_MAX_DEPTH 64
#define YAMLJ_MAX_NODES 1000000

/* Parses buf[0..len). On success returns 0, *out is a new tree (caller cJSON_Delete's it) and
 * positions of all its nodes are put into `map` (borrowed, may be NULL). */
int yamlj_load(const char *buf, size_t len, srcmap *map, cJSON **out, sl_diags *d);
/* Reads and parses a file; I/O errors are diagnostics too (no line). */
int yamlj_load_file(const char *path, srcmap *map, cJSON **out, sl_diags *d);

#endif
