/* schema_ops.h - the instruction set of compiled JSON Schema programs (see schema.h).
 *
 * One X-macro row per op: X(NAME, "keyword", KIND, ARGS). It is expanded three times in schema.c
 * - the op enum, the interpreter's switch (with -Wswitch, a missing case is a warning) and the
 * disassembler's name/keyword/operand tables - so the compiler, the interpreter and
 * schema_prog_dump never drift.
 *   keyword: the JSON Schema keyword a violation of this op reports (static string);
 *   KIND:    the sl_kind suffix a violation gets unless an "x-sluice-kind" overrides it;
 *   ARGS:    how the operands a, b, c, n of the op are read (SCHEMA_ARGS_* below).
 * PROPS is properties + patternProperties + additionalProperties and (for up to 64 names)
 * required, checked in one pass over the instance's members.
 * Ops of one schema run in order; the compiler emits cheap type-level checks first and the
 * unevaluated* ops last (they consume the annotations of their siblings). */
#ifndef SL_SCHEMA_OPS_H
#define SL_SCHEMA_OPS_H

#define SCHEMA_OP_LIST(X)                                                                          \
    X(FALSE, "false", SCHEMA_VIOLATION, NONE)         /* boolean schema false */                   \
    X(TYPE, "type", DATATYPE_MISMATCH, MASK)          /* a = type mask */                          \
    X(CONST, "const", ENUM_MISMATCH, CONST)           /* a = const */                              \
    X(ENUM, "enum", ENUM_MISMATCH, CONST)             /* a = const (an array) */                   \
    X(MIN_LENGTH, "minLength", LENGTH_VIOLATION, NUM) /* n, code points */                         \
    X(MAX_LENGTH, "maxLength", LENGTH_VIOLATION, NUM) /* n */                                      \
    X(PATTERN, "pattern", PATTERN_MISMATCH, REGEX)    /* a = regex */                              \
    X(FORMAT, "format", FORMAT_MISMATCH, FORMAT)      /* a = format id, b = name string */         \
    X(MINIMUM, "minimum", RANGE_VIOLATION, NUM)       /* n */                                      \
    X(MAXIMUM, "maximum", RANGE_VIOLATION, NUM)       /* n */                                      \
    X(EXCL_MINIMUM, "exclusiveMinimum", RANGE_VIOLATION, NUM)                                      \
    X(EXCL_MAXIMUM, "exclusiveMaximum", RANGE_VIOLATION, NUM)                                      \
    X(MULTIPLE_OF, "multipleOf", SCHEMA_VIOLATION, NUM) /* n > 0 */                                \
    X(MIN_ITEMS, "minItems", LENGTH_VIOLATION, NUM)                                                \
    X(MAX_ITEMS, "maxItems", LENGTH_VIOLATION, NUM)                                                \
    X(UNIQUE_ITEMS, "uniqueItems", SCHEMA_VIOLATION, NONE)                                         \
    X(MIN_PROPS, "minProperties", LENGTH_VIOLATION, NUM)                                           \
    X(MAX_PROPS, "maxProperties", LENGTH_VIOLATION, NUM)                                           \
    X(REQUIRED, "required", REQUIRED_MISSING, STRS) /* a..a+b: string ids in ints[] */             \
    X(DEP_REQUIRED, "dependentRequired", REQUIRED_MISSING, DEPREQ) /* a..a+b in depreq[] */        \
    X(PROPS, "properties", ADDITIONAL_PROPERTIES, PROPS) /* a = props table: properties +   */     \
                                                         /* patternProperties + additional  */     \
    X(PROPERTY_NAMES, "propertyNames", SCHEMA_VIOLATION, SCHEMA)                                   \
    X(DEP_SCHEMAS, "dependentSchemas", SCHEMA_VIOLATION, NAMED) /* a..a+b in named[] */            \
    X(ITEMS, "items", SCHEMA_VIOLATION, ITEMS)          /* prefix a..a+b in ints[], c items */     \
    X(CONTAINS, "contains", SCHEMA_VIOLATION, CONTAINS) /* a schema, b min, c max (-1) */          \
    X(ALL_OF, "allOf", SCHEMA_VIOLATION, SCHEMAS)       /* a..a+b in ints[] */                     \
    X(ANY_OF, "anyOf", SCHEMA_VIOLATION, SCHEMAS)                                                  \
    X(ONE_OF, "oneOf", SCHEMA_VIOLATION, SCHEMAS)                                                  \
    X(NOT, "not", SCHEMA_VIOLATION, SCHEMA)                                                        \
    X(IF, "if", SCHEMA_VIOLATION, IF)                  /* a if, b then, c else (-1 = none) */      \
    X(REF, "$ref", SCHEMA_VIOLATION, SCHEMA)           /* a = target schema */                     \
    X(DYNREF, "$dynamicRef", SCHEMA_VIOLATION, DYNREF) /* a static target, b anchor name */        \
    X(UNEVAL_PROPS, "unevaluatedProperties", ADDITIONAL_PROPERTIES, SCHEMA)                        \
    X(UNEVAL_ITEMS, "unevaluatedItems", ADDITIONAL_PROPERTIES, SCHEMA)

/* Operand layouts, used by the disassembler. */
enum {
    SCHEMA_ARGS_NONE,
    SCHEMA_ARGS_MASK,
    SCHEMA_ARGS_CONST,
    SCHEMA_ARGS_NUM,
    SCHEMA_ARGS_REGEX,
    SCHEMA_ARGS_FORMAT,
    SCHEMA_ARGS_STRS,
    SCHEMA_ARGS_DEPREQ,
    SCHEMA_ARGS_PROPS,
    SCHEMA_ARGS_SCHEMA,
    SCHEMA_ARGS_NAMED,
    SCHEMA_ARGS_ITEMS,
    SCHEMA_ARGS_CONTAINS,
    SCHEMA_ARGS_SCHEMAS,
    SCHEMA_ARGS_IF,
    SCHEMA_ARGS_DYNREF,
};

typedef enum {
#define SCHEMA_OP_ENUM(name, kw, kind, args) SOP_##name,
    SCHEMA_OP_LIST(SCHEMA_OP_ENUM)
#undef SCHEMA_OP_ENUM
        SOP__COUNT
} schema_opcode;

#endif
