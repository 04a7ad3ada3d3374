/* dialect.h - JSON Schema dialects before 2020-12, read with their own draft's meaning.
 *
 * A schema resource's dialect comes from its `$schema` (draft-04, draft-06, draft-07, 2019-09,
 * 2020-12, and Snowplow's Iglu self-describing meta-schema, which is draft-04), else from a default
 * the caller chooses. The engine has one compiler and one VM, both 2020-12: an older dialect is
 * rewritten once, at compile time, into the 2020-12 keywords that mean the same, so a dialect costs
 * nothing per event. The rewrite works on a tree the caller owns (a copy of its input).
 *
 * What is rewritten (draft-04/06/07 unless said otherwise):
 *   items: [..] + additionalItems   -> prefixItems + items (also 2019-09)
 *   dependencies                    -> dependentRequired (arrays) / dependentSchemas (schemas)
 *   definitions + "#/definitions/"  -> $defs + "#/$defs/" in $refs
 *   $ref with siblings              -> the siblings are ignored (only $ref and definitions stay)
 *   id (draft-04) / $id "#name"     -> $id / $anchor
 *   boolean exclusiveMinimum/Max    -> numeric exclusiveMinimum/Max (draft-04)
 *   const, contains, propertyNames  -> dropped in draft-04 (not keywords there)
 *   if / then / else                -> dropped before draft-07
 *   2019-09 keywords                -> dropped before 2019-09 (dependentRequired, minContains)
 *   unevaluated*                    -> kept in every draft: a plan closes objects with them
 *   $recursiveRef/$recursiveAnchor  -> $dynamicRef / $dynamicAnchor (2019-09)
 * Not carried: JSON Pointers into a rewritten place other than definitions and tuple items. */
#ifndef SL_DIALECT_H
#define SL_DIALECT_H
#include <stdbool.h>

#include <cjson/cJSON.h>

typedef enum {
    DIALECT_DEFAULT = 0, /* unset: the caller's default (2020-12 when nothing else is said) */
    DIALECT_DRAFT04,
    DIALECT_DRAFT06,
    DIALECT_DRAFT07,
    DIALECT_2019_09,
    DIALECT_2020_12,
    DIALECT_UNKNOWN = -1
} schema_dialect;

/* The dialect a `$schema` URI names (http or https, with or without the trailing "#" or "/schema"
 * spelling the drafts used), DIALECT_UNKNOWN when none. */
schema_dialect dialect_from_uri(const char *uri);

/* The dialect a name given by a user names: "draft-04", "draft4", "04", "draft-07", "2019-09",
 * "2020-12", ... DIALECT_UNKNOWN when none. */
schema_dialect dialect_from_name(const char *name);

/* The canonical `$schema` URI of a dialect (DIALECT_DEFAULT: 2020-12's). */
const char *dialect_uri(schema_dialect d);

/* "draft-04" ... "2020-12". */
const char *dialect_name(schema_dialect d);

/* Whether the tree `root`, read in dialect d, needs dialect_upgrade (d or a nested `$schema` is an
 * older dialect). *unknown is set to the first `$schema` member naming no known dialect (or NULL).
 */
bool dialect_scan(const cJSON *root, schema_dialect d, const cJSON **unknown);

/* Rewrites the tree `root` (owned by the caller, changed in place) from dialect d (a nested
 * resource with its own `$schema` switches) into 2020-12. Returns 0, or -1 when memory ran out
 * (the tree is then partly rewritten and must be freed). */
int dialect_upgrade(cJSON *root, schema_dialect d);

#endif
