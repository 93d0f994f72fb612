/*
 * interp.h — the reference interpreter: runs an entry's graph with the plain C
 * kernels of ops/, binding per-call dims from the inputs' shapes.
 */
#ifndef ATTN_INTERP_H
#define ATTN_INTERP_H

#include "ir.h"

/* Checks `inputs` against the entry (names, dtypes, ranks, dims), runs it and
 * returns newly allocated outputs in the entry's order. On failure returns -1
 * and a malloc'd message in *error. Reentrant: no state outside the call. */
int interp_run(const IrEntry *e, const attn_tensor *inputs, int ninputs, attn_tensor **outputs, int *noutputs,
               char **error);

#endif
