/* schema.h - JSON Schema 2020-12: compile schemas into an immutable program, run it over events.
 *
 * Compile: a schema_builder takes one or more root schemas (cJSON trees, borrowed until
 * schema_builder_finish) and produces a schema_prog: a flat op array (ops listed once in
 * schema_ops.h as an X-macro), a schema table and a constant pool. Regexes are compiled once
 * (PCRE2 + JIT). Compile errors (bad regex, unknown $ref, keyword with a value of the wrong type,
 * unknown keyword in strict mode) go to sl_diags with the source line:col from opts.locate.
 * The program copies everything it needs: the input trees may be freed after finish.
 *
 * Run: a schema_prog is read-only after finish; any number of threads may validate with it at
 * once, each with its own schema_ctx (scratch: path stack, PCRE2 match data). Validation does not
 * allocate except when a schema_ctx grows its stacks the first time a deep instance is seen. */
#ifndef SL_SCHEMA_H
#define SL_SCHEMA_H

#include <stdbool.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "dialect.h"
#include "sl_err.h"
#include "vio.h"

typedef struct schema_prog schema_prog;
typedef struct schema_builder schema_builder;
typedef struct schema_ctx schema_ctx;

/* Source position of a node of an input tree, for compile errors. Returns 0 and sets line/col
 * when known. */
typedef int (*schema_locate_fn)(void *ud, const void *node, int *line, int *col);

typedef struct {
    bool strict;         /* unknown keywords are compile errors (plans); else ignored */
    bool assert_formats; /* `format` is an assertion (plans); else an annotation */
    /* The dialect of roots without a `$schema` (DIALECT_DEFAULT = 2020-12). A root's `$schema`
     * names its own; an unknown one is a compile error when strict, else the default applies
     * (custom meta-schemas). Older dialects are rewritten at compile time (dialect.h). */
    schema_dialect dialect;
    schema_locate_fn locate;
    void *locate_ud;
} schema_opts;

schema_builder *schema_builder_new(const schema_opts *opts);
/* Frees a builder (finished or not). */
void schema_builder_free(schema_builder *b);

/* Adds a root schema (object or boolean). base_uri may be NULL (then "sluice:root/<n>" is used);
 * a "$id" in the schema overrides it. Returns the root id (>= 0) or a negative SL_E* code, with
 * diagnostics in d. $refs are resolved at finish, so roots may refer to each other by URI. */
int schema_builder_add(schema_builder *b, const cJSON *schema, const char *base_uri, sl_diags *d);

/* Resolves references and builds the program. Returns 0 and sets *out (owned by the caller) or a
 * negative SL_E* code with diagnostics in d. The builder can only be freed afterwards. */
int schema_builder_finish(schema_builder *b, schema_prog **out, sl_diags *d);

void schema_prog_free(schema_prog *p);
/* Number of roots added before finish (root ids are 0..count-1). */
int schema_prog_root_count(const schema_prog *p);
/* Human-readable disassembly of the whole program (ops, schema table, constants, regexes). */
void schema_prog_dump(const schema_prog *p, FILE *out);

schema_ctx *schema_ctx_new(void);
void schema_ctx_free(schema_ctx *c);

/* Validates `instance` against root `root`. Returns 1 if valid, 0 if not, negative SL_E* on an
 * internal failure (out of memory). When `out` is non-NULL every violation is appended (bounded by
 * vio_list), each with a JSON Pointer `path` made of path_prefix (may be NULL or "") and the
 * location in the instance; when NULL it stops at the first failure (fast yes/no).
 * Kinds map from keywords (type -> Datatype-Mismatch, required -> Required-Missing, ...); a
 * subschema carrying the extension keyword "x-sluice-kind": "<Kind-Name>" reports every
 * violation found under it with that kind instead. */
int schema_validate(const schema_prog *p, int root, const cJSON *instance, schema_ctx *ctx,
                    vio_list *out, const char *path_prefix);

/* Whether `name` is a JSON Schema keyword the compiler reads in some dialect (2020-12's, and
 * the older spellings dialect.c rewrites: definitions, dependencies, additionalItems, id, ...). */
bool schema_is_keyword(const char *name);
/* 0 when `src` (an ECMA-262 pattern) compiles as the compiler would compile it; else -1 with
 * the reason and offset in err. */
int schema_regex_check(const char *src, char *err, size_t cap);

#endif
