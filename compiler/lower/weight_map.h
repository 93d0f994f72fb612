/*
 * weight_map.h — renaming a weights file's keys onto the keys a model
 * declares (attnc --map-weights, attn_model_map_weights).
 *
 * A map is a text file of rules, one per line, FROM=TO, '#' starting a
 * comment (docs/API.md, "Weights under other names"):
 *
 *     fc.weight=classifier.weight   a key: renames that key
 *     W_w.=word_proj.               a prefix (FROM ends in '.'): renames every
 *                                   key starting with it
 *     ^model\.=                     a POSIX extended regular expression (FROM
 *                                   starts with '^'): replaces the match, TO may
 *                                   name its groups \0 .. \9
 *
 * Every rule applies, in file order, to each key as the rules above it left
 * it. Keys no rule renames keep their names. A rule that renames no key, two
 * keys that end up with one name, and a key renamed to nothing are errors
 * located at the rule.
 */
#ifndef ATTN_WEIGHT_MAP_H
#define ATTN_WEIGHT_MAP_H

#include "model.h"

/* Parses the rules of f (kept by the model for carets) into m->weight_map,
 * reporting malformed lines and bad regular expressions in m->diag at their
 * line. Returns 0, or -1 after an error. */
int weight_map_parse(Model *m, const SrcFile *f);

/* Renames the keys of ws[0..n) by m's map (nothing without one), recording
 * in each renamed weight where its name came from (Weight.origin). Returns
 * 0, or -1 after reporting the rules at fault in m->diag. */
int weight_map_apply(Model *m, Weight *ws, int n);

/* Frees the compiled regular expressions of m's map. */
void weight_map_free(Model *m);

#endif
