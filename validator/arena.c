/* arena.c - bump allocator and the thread-local cJSON hook routing (see arena.h). */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

typedef struct block {
    struct block *next;
    size_t cap, used;
    _Alignas(16) unsigned char data[];
} block;

struct arena {
    block *head; /* current block; the first block is last in the list */
    size_t block_size;
    size_t used;
};

static block *block_new(size_t cap)
{
    block *b = malloc(sizeof *b + cap);
    if (!b) return NULL;
    b->next = NULL;
    b->cap = cap;
    b->used = 0;
    return b;
}

arena *arena_new(size_t block_size)
{
    arena *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->block_size = block_size < 1024 ? 1024 : block_size;
    a->head = block_new(a->block_size);
    if (!a->head) {
        free(a);
        return NULL;
    }
    return a;
}

void arena_free(arena *a)
{
    if (!a) return;
    for (block *b = a->head, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    free(a);
}

void arena_reset(arena *a)
{
    while (a->head->next) {
        block *n = a->head->next;
        free(a->head);
        a->head = n;
    }
    a->head->used = 0;
    a->used = 0;
}

void *arena_alloc(arena *a, size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n) return NULL;
    block *b = a->head;
    if (b->cap - b->used < need) {
        size_t cap = need > a->block_size ? need : a->block_size;
        block *nb = block_new(cap);
        if (!nb) return NULL;
        /* Keep the first block last so reset can keep it. */
        nb->next = a->head;
        a->head = nb;
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->used += need;
    return p;
}

bool arena_owns(const arena *a, const void *p)
{
    const unsigned char *u = p;
    for (const block *b = a->head; b; b = b->next)
        if (u >= b->data && u < b->data + b->cap) return true;
    return false;
}

size_t arena_used(const arena *a)
{
    return a->used;
}

static _Thread_local arena *current;

static void *hook_malloc(size_t n)
{
    return current ? arena_alloc(current, n) : malloc(n);
}

static void hook_free(void *p)
{
    if (p && (!current || !arena_owns(current, p))) free(p);
}

void arena_cjson_install(void)
{
    cJSON_Hooks h = {hook_malloc, hook_free};
    cJSON_InitHooks(&h);
}

arena *arena_set_current(arena *a)
{
    arena *prev = current;
    current = a;
    return prev;
}
