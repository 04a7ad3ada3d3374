/* vio.h - violations: what is wrong with one event, where, and why.
 *
 * A vio_list is a fixed-capacity, allocation-free list reused across events (reset per event):
 * at most VIO_MAX violations are kept, the rest are counted in `dropped`. All strings are
 * truncated copies, so a list never borrows from the event it describes.
 * The kind list is one X-macro: names, JSON output and severities never drift. */
#ifndef SL_VIO_H
#define SL_VIO_H

#include <stdbool.h>
#include <stddef.h>

#define SL_KIND_MAP(X)                                                                             \
    X(UNPLANNED_EVENT, "Unplanned-Event")                                                          \
    X(REQUIRED_MISSING, "Required-Missing")                                                        \
    X(DATATYPE_MISMATCH, "Datatype-Mismatch")                                                      \
    X(ADDITIONAL_PROPERTIES, "Additional-Properties")                                              \
    X(ENUM_MISMATCH, "Enum-Mismatch")                                                              \
    X(PATTERN_MISMATCH, "Pattern-Mismatch")                                                        \
    X(FORMAT_MISMATCH, "Format-Mismatch")                                                          \
    X(RANGE_VIOLATION, "Range-Violation")                                                          \
    X(LENGTH_VIOLATION, "Length-Violation")                                                        \
    X(INVALID_ENVELOPE, "Invalid-Envelope")                                                        \
    X(DEPRECATED_EVENT, "Deprecated-Event")                                                        \
    X(SCHEMA_VIOLATION, "Schema-Violation")                                                        \
    X(UNKNOWN_SCHEMA, "Unknown-Schema")

typedef enum {
#define SL_KIND_ENUM(id, name) SL_KIND_##id,
    SL_KIND_MAP(SL_KIND_ENUM)
#undef SL_KIND_ENUM
        SL_KIND__COUNT
} sl_kind;

/* "Required-Missing" etc.; static. */
const char *sl_kind_name(sl_kind k);
/* Parses a kind name; returns -1 when unknown. */
int sl_kind_from_name(const char *name);
/* Warnings (Deprecated-Event) do not make an event invalid. */
bool sl_kind_is_warning(sl_kind k);

#define VIO_MAX 32
#define VIO_PATH_MAX 256
#define VIO_TEXT_MAX 96
#define VIO_MSG_MAX 256

typedef struct {
    sl_kind kind;
    const char *keyword;         /* static string: "type", "required", ... */
    char path[VIO_PATH_MAX];     /* JSON Pointer into the event, "" = the event itself */
    char expected[VIO_TEXT_MAX]; /* e.g. "number", "[EUR, USD]", ">= 0"; may be empty */
    char actual[VIO_TEXT_MAX];   /* truncated rendering of the offending value; may be empty */
    char message[VIO_MSG_MAX];   /* human sentence */
} vio;

typedef struct {
    vio items[VIO_MAX];
    size_t n;       /* kept */
    size_t dropped; /* seen but not kept */
    size_t nerrors; /* kept + dropped, excluding warnings */
} vio_list;

void vio_list_reset(vio_list *l);
/* Reserves the next slot (zeroed, kind/keyword set) and counts it; NULL when full (counted as
 * dropped). The caller fills path/expected/actual/message. */
vio *vio_list_push(vio_list *l, sl_kind kind, const char *keyword);
/* Renders `l` as a JSON array of {kind,path,keyword,expected,actual,message} objects (the bytes
 * cJSON_PrintUnformatted would give) in a malloc'd, NUL-terminated string; returns NULL on
 * out-of-memory. Caller frees (free or cJSON_free). */
char *vio_list_to_json(const vio_list *l);

struct cJSON;
/* Renders `v` as compact JSON into dst (cap bytes, always NUL-terminated), truncated with "..."
 * when longer; never allocates. Used for `actual` and `expected`. Returns dst. */
char *vio_render(char *dst, size_t cap, const struct cJSON *v);

#endif
