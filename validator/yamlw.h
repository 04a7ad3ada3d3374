/* yamlw.h - writes a cJSON tree as readable YAML (what `sluice import` emits as a plan).
 *
 * Block style for mappings and lists, flow style (`{type: string, minLength: 1}`, `[a, b]`) for
 * small ones made of scalars only. Strings stay plain when YAML reads them back as the same
 * string (not a number, a boolean, null or anything else YAML 1.1 would retype) and are written
 * double-quoted with JSON escapes otherwise, so the output reads back (libyaml, yamlj) as exactly
 * the input tree. A mapping member whose key is YAMLW_COMMENT and whose value is a string is
 * written as `# ...` comment lines before the next member (one per line of the string). */
#ifndef SL_YAMLW_H
#define SL_YAMLW_H

#include <cjson/cJSON.h>

#include "sl_buf.h"

#define YAMLW_COMMENT "\001#"

/* Appends `v` (a mapping, usually) to out; errors are out->oom only. */
void yamlw_write(sl_buf *out, const cJSON *v);

#endif
