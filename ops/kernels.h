/*
 * kernels.h — reference C kernels of the ops of ops.def that have one (the
 * unary float ops defined by their scalar function alone have none: op_run
 * maps the function).
 *
 * Plain, obviously-correct loops: the interpreter runs them and the JIT is
 * checked against them. Shapes, dtypes and index ranges were checked before a
 * kernel runs; a kernel trusts its operands and the output the caller allocated.
 */
#ifndef ATTN_KERNELS_H
#define ATTN_KERNELS_H

#include "ops.h"

void kern_arange(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_full(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_neg(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_abs(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_not(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_cast(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_add(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_sub(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_mul(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_div(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_pow(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_maximum(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_minimum(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_lt(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_le(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_gt(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_ge(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_eq(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_ne(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_and(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_or(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_where(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_sum(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_mean(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_max(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_min(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_argmax(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_softmax(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_layer_norm(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_matmul(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_copy(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_permute(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_slice(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_concat(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_expand(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);
void kern_gather(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out);

#endif
