/* srcmap.h - source positions for cJSON nodes: a pointer-keyed hash map node -> (line, col).
 *
 * cJSON carries no positions, so loaders record them here. The map borrows the node pointers as
 * keys and never dereferences them. Owned by whoever created it; not thread-safe. */
#ifndef SL_SRCMAP_H
#define SL_SRCMAP_H

#include <stddef.h>

typedef struct srcmap srcmap;

srcmap *srcmap_new(void);
void srcmap_free(srcmap *m);
/* Records (or overwrites) the position of node. Returns 0 or SL_ENOMEM (SL_EUSAGE for a NULL
 * map or node). */
int srcmap_put(srcmap *m, const void *node, int line, int col);
/* Returns 0 and sets line/col when known, SL_ENOTFOUND otherwise. */
int srcmap_get(const srcmap *m, const void *node, int *line, int *col);
/* schema_locate_fn-compatible adapter: ud is the srcmap. */
int srcmap_locate(void *ud, const void *node, int *line, int *col);
/* Number of distinct nodes recorded (stale entries of freed nodes included; see srcmap.c). */
size_t srcmap_size(const srcmap *m);

#endif
