/* arena.h - bump allocators for per-event / per-request scratch, and cJSON hooks that use them.
 *
 * An arena hands out memory from large blocks and frees it all at once (arena_reset keeps the
 * first block, so a steady-state request loop does not touch malloc). cJSON allocates through
 * global hooks; arena_cjson_install() (called once from main, before any thread starts) routes
 * them to the calling thread's *current* arena when one is set with arena_set_current(), and to
 * malloc/free otherwise. free() of arena memory is a no-op; free() of heap memory still frees,
 * so trees created outside an arena scope may be deleted inside it.
 * Rule: a cJSON tree parsed inside an arena scope must not outlive the next arena_reset, and
 * strings printed by cJSON inside a scope must be released with cJSON_free in the same scope. */
#ifndef SL_ARENA_H
#define SL_ARENA_H

#include <stdbool.h>
#include <stddef.h>

typedef struct arena arena;

/* block_size: bytes per block (a larger request gets its own block). NULL on out-of-memory. */
arena *arena_new(size_t block_size);
void arena_free(arena *a);
/* Frees every allocation at once; keeps the first block for reuse. */
void arena_reset(arena *a);
/* 16-byte aligned memory, or NULL on out-of-memory. */
void *arena_alloc(arena *a, size_t n);
bool arena_owns(const arena *a, const void *p);
/* Bytes handed out since the last reset. */
size_t arena_used(const arena *a);

/* Installs the cJSON hooks (process-wide; once, from main). */
void arena_cjson_install(void);
/* Sets the calling thread's current arena (NULL = heap); returns the previous one. */
arena *arena_set_current(arena *a);

#endif
