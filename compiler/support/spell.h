/*
 * spell.h — "did you mean": the distance between two names, and whether a
 * candidate is near enough to a misspelt name to be suggested.
 */
#ifndef ATTN_SPELL_H
#define ATTN_SPELL_H

#include <stdbool.h>

/* The number of single-character insertions, deletions, substitutions and
 * swaps of neighbours that turn a into b; INT_MAX when either is longer than
 * ATTN_LIMIT_SPELL_LEN. */
int spell_distance(const char *a, const char *b);

/* Whether candidate is near enough to word to be what was meant (at most one
 * edit per three characters of word) and nearer than *best, which it then
 * updates. Start *best at INT_MAX. */
bool spell_nearer(const char *word, const char *candidate, int *best);

/* The length of the longest common suffix of a and b that starts at a '.' or
 * at the start of both (whole key components, as in "ln_1.weight"). */
int spell_common_suffix(const char *a, const char *b);

#endif
