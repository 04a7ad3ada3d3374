/* yamlj.h - load YAML (libyaml) into a cJSON tree, recording every node's line:col in a srcmap.
 *
 * Scalars follow the YAML 1.2 core schema: null/~/empty -> null, true/false -> bool, decimal,
 * 0x/0o integers and floats (.inf/.nan rejected: not JSON) -> number; anything quoted, and
 * everything else (yes/no/on/off included) -> string. Mapping keys must be scalars and unique
 * (duplicate key = error). Anchors/aliases are expanded (bounded, so a "billion laughs" file is
 * an error, not an OOM). Tags other than the core ones are errors. Only the first document of a
 * stream is loaded; nesting deeper than YAMLJ_MAX_DEPTH is an error.
 * Errors: one diagnostic with line:col (1-based) in d, and a negative SL_E* code.
 *
 * Details:
 * - Positions: a sequence item (and the root) is recorded at its own first character (its
 *   anchor or tag when it has one). A mapping member's value node is recorded at the position
 *   of its KEY: the member node stands for "key: value" (cJSON keeps the key in ->string), so an
 *   error about a member, or about an unknown key, points at the key. Nodes copied from an
 *   alias keep their original positions, except the copy's root, which is recorded where the
 *   alias is used (at the key for a mapping value).
 * - Numbers: decimal integers and floats are parsed with strtod (correctly rounded, also past
 *   2^53); 0x hex likewise; 0o octal must fit in 64 bits. A float that overflows to infinity
 *   is an error like .inf. Explicit core tags (!!str, !!int, !!float, !!bool, !!null, !!map,
 *   !!seq) force the type and are checked ("!!int 12" is 12, "!!int abc" an error); "!" forces
 *   a string. Scalars containing NUL (\0) are rejected (cJSON strings are C strings).
 * - Keys: plain or quoted scalars, kept as their text ("1: x" has key "1"). A mapping, sequence
 *   or alias as a key is an error.
 * - Merge keys are supported: "<<: *base" or "<<: [*a, *b]" (or inline mappings) copy in the
 *   members the mapping does not define itself; explicit keys win, then earlier sources win
 *   over later ones. A quoted "<<" is an ordinary key. Two "<<" in one mapping is a duplicate.
 * - Limits: YAMLJ_MAX_NODES nodes in the result (alias copies counted; an alias that would
 *   pass it fails before copying), YAMLJ_MAX_DEPTH nested collections, YAMLJ_MAX_BYTES input.
 * - An undefined alias, or an alias to a node that is still open (recursive), is an error. */
#ifndef SL_YAMLJ_H
#define SL_YAMLJ_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "sl_err.h"
#include "srcmap.h"

#define YAMLJ_MAX_DEPTH 64
#define YAMLJ_MAX_NODES 1000000
#define YAMLJ_MAX_BYTES (64u << 20)

/* Parses buf[0..len). On success returns 0, *out is a new tree (caller cJSON_Delete's it) and
 * positions of all its nodes are put into `map` (borrowed, may be NULL). On error *out is NULL,
 * and `map` may hold stale entries for freed nodes (harmless: see srcmap.c). */
int yamlj_load(const char *buf, size_t len, srcmap *map, cJSON **out, sl_diags *d);
/* Reads and parses a file; I/O errors are diagnostics too (no line): SL_ENOTFOUND when the file
 * does not exist, SL_EIO for other I/O errors, SL_ELIMIT past YAMLJ_MAX_BYTES. */
int yamlj_load_file(const char *path, srcmap *map, cJSON **out, sl_diags *d);

#endif
