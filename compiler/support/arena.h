/*
 * arena.h — bump allocation whose lifetime is a phase or a model.
 *
 * The front end allocates many small objects (tokens' strings, AST nodes, graph
 * nodes, dims) that all die together: an arena hands them out and frees them at
 * once. An allocation failure returns NULL and sets arena->failed, which stays
 * set until arena_free: code that cannot go on without the memory stops or
 * writes only into memory it owns, and the phase boundary (runtime/api.c)
 * reports the flag as ATTN_ERR_NOMEM (docs/ARCHITECTURE.md, section 4).
 */
#ifndef ATTN_ARENA_H
#define ATTN_ARENA_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ArenaBlock ArenaBlock;

typedef struct Arena {
    ArenaBlock *head; /* newest block; older blocks follow */
    bool failed;      /* an allocation failed (the result was NULL) */
    size_t bytes;     /* bytes of all blocks: what the arena holds */
} Arena;

/* Zeroed memory of n bytes, aligned for any type; NULL (and failed set) when out of memory. */
void *arena_alloc(Arena *a, size_t n);
/* A copy of the first n bytes of s, NUL-terminated. */
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_strdup(Arena *a, const char *s);
/* printf into arena memory. */
char *arena_printf(Arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void arena_free(Arena *a);

#endif
