/*
 * method_hint.h — the .attn spelling of a PyTorch method call.
 *
 * .attn has no methods: `x.transpose(1, 2)` is written `transpose(x, 1, 2)`.
 * The grammar accepts the method-call shape only to report it with the
 * spelling that was meant, built from the call's own source text.
 */
#ifndef ATTN_METHOD_HINT_H
#define ATTN_METHOD_HINT_H

#include "diag.h"

/* Appends to out what to write instead of RECV.METHOD(ARGS): recv and args
 * are the source text of the receiver and of the arguments, or NULL when they
 * span lines (then placeholders stand in for them). */
void method_spelling(StrBuf *out, const char *method, const char *recv, const char *args);

/* Replaces each named argument `dim=` in args by `axis=`; returns how many. */
int dim_to_axis(StrBuf *out, const char *args);

#endif
