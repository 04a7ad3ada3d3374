/* srcmap.c - pointer-keyed position map (see srcmap.h).
 *
 * Open addressing with linear probing over one flat array of {key, line, col} slots; the table
 * doubles when it would pass 70% load, so put/get are O(1) on average and no entry is allocated
 * on its own. A NULL key marks an empty slot (so NULL can never be a key). There is no removal:
 * a loader that frees nodes leaves stale keys behind, which is harmless because a put on a reused
 * address overwrites the old position. */
#include "srcmap.h"

#include <stdint.h>
#include <stdlib.h>

#include "sl_err.h"

#define SRCMAP_INITIAL_CAP 64 /* power of two */

typedef struct {
    const void *key; /* NULL = empty */
    int line, col;
} srcmap_ent;

struct srcmap {
    srcmap_ent *v;
    size_t cap; /* power of two */
    size_t n;
};

/* Pointers are aligned, so their low bits carry little entropy: mix all bits (murmur3 fmix64). */
static size_t srcmap_hash(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return (size_t)x;
}

/* Slot holding key, or the empty slot where it would go. The table is never full. */
static srcmap_ent *srcmap_slot(srcmap_ent *v, size_t cap, const void *key)
{
    size_t i = srcmap_hash(key) & (cap - 1);
    while (v[i].key && v[i].key != key)
        i = (i + 1) & (cap - 1);
    return &v[i];
}

srcmap *srcmap_new(void)
{
    srcmap *m = malloc(sizeof *m);
    if (!m) return NULL;
    m->cap = SRCMAP_INITIAL_CAP;
    m->n = 0;
    m->v = calloc(m->cap, sizeof *m->v);
    if (!m->v) {
        free(m);
        return NULL;
    }
    return m;
}

void srcmap_free(srcmap *m)
{
    if (!m) return;
    free(m->v);
    free(m);
}

static int srcmap_grow(srcmap *m)
{
    if (m->cap > SIZE_MAX / 2 / sizeof *m->v) return SL_ENOMEM;
    size_t cap = m->cap * 2;
    srcmap_ent *v = calloc(cap, sizeof *v);
    if (!v) return SL_ENOMEM;
    for (size_t i = 0; i < m->cap; i++)
        if (m->v[i].key) *srcmap_slot(v, cap, m->v[i].key) = m->v[i];
    free(m->v);
    m->v = v;
    m->cap = cap;
    return 0;
}

int srcmap_put(srcmap *m, const void *node, int line, int col)
{
    if (!m || !node) return SL_EUSAGE;
    srcmap_ent *e = srcmap_slot(m->v, m->cap, node);
    if (!e->key) {
        /* A new key: keep the load at or below 70% after inserting it. */
        if ((m->n + 1) * 10 > m->cap * 7) {
            int rc = srcmap_grow(m);
            if (rc) return rc;
            e = srcmap_slot(m->v, m->cap, node);
        }
        e->key = node;
        m->n++;
    }
    e->line = line;
    e->col = col;
    return 0;
}

int srcmap_get(const srcmap *m, const void *node, int *line, int *col)
{
    if (!m || !node) return SL_ENOTFOUND;
    const srcmap_ent *e = srcmap_slot(m->v, m->cap, node);
    if (!e->key) return SL_ENOTFOUND;
    if (line) *line = e->line;
    if (col) *col = e->col;
    return 0;
}

int srcmap_locate(void *ud, const void *node, int *line, int *col)
{
    return srcmap_get(ud, node, line, col);
}

size_t srcmap_size(const srcmap *m)
{
    return m ? m->n : 0;
}
