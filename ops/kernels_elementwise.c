/*
 * kernels_elementwise.c — reference kernels that compute each output element
 * from the elements at the same (broadcast) index: sources (arange, full),
 * negation, absolute value and not (the other unary math is the scalar
 * functions of op_table.c, mapped by ku_map_scalar), casts, binary arithmetic, comparisons, logic, where and expand.
 *
 * Float math is float32 throughout, as PyTorch computes it. Integer arithmetic
 * runs in int64 with wrap-around and is narrowed on store; bool operands load
 * as 0/1, so logic ops share the integer path.
 */
#include "kernels.h"
#include "kernel_util.h"

#include <math.h>

typedef int64_t (*IntUnary)(int64_t);
typedef float (*RealBinary)(float, float);
typedef int64_t (*IntBinary)(int64_t, int64_t);

/* ---- sources ---- */

void kern_arange(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    int64_t n = attn_tensor_numel(out);
    uint64_t value = (uint64_t)attrs->start; /* unsigned: wraps instead of overflowing */
    for (int64_t i = 0; i < n; i++, value += (uint64_t)attrs->step)
        ku_store_int(out->data, out->dtype, i, (int64_t)value);
}

void kern_full(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    int64_t n = attn_tensor_numel(out);
    for (int64_t i = 0; i < n; i++)
        ku_store_real(out->data, out->dtype, i, attrs->fill);
}

/* ---- one operand ---- */

/* out = f(x) elementwise: the op's scalar function (ops.def) on f32, computed
 * in double and rounded, int_fn on integers and bool. */
static void unary_apply(const attn_tensor *x, attn_tensor *out, OpKind op, IntUnary int_fn)
{
    int64_t n = attn_tensor_numel(out);
    if (out->dtype == ATTN_F32) {
        ku_map_scalar(x, out, op_info[op].scalar);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        ku_store_int(out->data, out->dtype, i, int_fn(ku_load_int(x->data, x->dtype, i)));
}

static int64_t neg_int(int64_t x) { return (int64_t)(0 - (uint64_t)x); }
static int64_t abs_int(int64_t x) { return x < 0 ? neg_int(x) : x; }
static int64_t not_int(int64_t x) { return !x; }

void kern_neg(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    unary_apply(&in[0], out, OP_NEG, neg_int);
}

void kern_abs(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    unary_apply(&in[0], out, OP_ABS, abs_int);
}

void kern_not(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    unary_apply(&in[0], out, OP_NOT, not_int);
}

void kern_cast(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    const attn_tensor *x = &in[0];
    int64_t n = attn_tensor_numel(out);
    for (int64_t i = 0; i < n; i++) {
        if (x->dtype == ATTN_F32)
            ku_store_real(out->data, out->dtype, i, ((const float *)x->data)[i]);
        else
            ku_store_int(out->data, out->dtype, i, ku_load_int(x->data, x->dtype, i));
    }
}

/* ---- two operands, broadcast ---- */

/* out = f(a, b) with broadcasting: real_fn on f32, int_fn on integers and bool. */
static void binary_apply(const attn_tensor *in, attn_tensor *out, RealBinary real_fn,
                         IntBinary int_fn)
{
    KuWalk w;
    ku_walk_broadcast(&w, out, in, 2);
    int64_t n = attn_tensor_numel(out);
    if (out->dtype == ATTN_F32) {
        const float *a = in[0].data, *b = in[1].data;
        float *dst = out->data;
        for (int64_t i = 0; i < n; i++, ku_walk_next(&w))
            dst[i] = real_fn(a[w.offset[0]], b[w.offset[1]]);
        return;
    }
    for (int64_t i = 0; i < n; i++, ku_walk_next(&w)) {
        int64_t a = ku_load_int(in[0].data, in[0].dtype, w.offset[0]);
        int64_t b = ku_load_int(in[1].data, in[1].dtype, w.offset[1]);
        ku_store_int(out->data, out->dtype, i, int_fn(a, b));
    }
}

static float add_real(float a, float b) { return a + b; }
static float sub_real(float a, float b) { return a - b; }
static float mul_real(float a, float b) { return a * b; }
static float div_real(float a, float b) { return a / b; }
static float pow_real(float a, float b) { return powf(a, b); }
static float maximum_real(float a, float b) { return isnan(a) || a > b ? a : b; }
static float minimum_real(float a, float b) { return isnan(a) || a < b ? a : b; }
static int64_t add_int(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
static int64_t sub_int(int64_t a, int64_t b) { return (int64_t)((uint64_t)a - (uint64_t)b); }
static int64_t mul_int(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }
static int64_t maximum_int(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t minimum_int(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t and_int(int64_t a, int64_t b) { return a && b; }
static int64_t or_int(int64_t a, int64_t b) { return a || b; }

/* Truncating division; x / 0 is 0 and INT64_MIN / -1 wraps. */
static int64_t div_int(int64_t a, int64_t b)
{
    if (b == 0)
        return 0;
    if (b == -1)
        return neg_int(a);
    return a / b;
}

void kern_add(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    binary_apply(in, out, add_real, add_int);
}

void kern_sub(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    binary_apply(in, out, sub_real, sub_int);
}

void kern_mul(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    binary_apply(in, out, mul_real, mul_int);
}

void kern_div(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    binary_apply(in, out, div_real, div_int);
}

void kern_pow(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    binary_apply(in, out, pow_real, NULL);
}

void kern_maximum(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    binary_apply(in, out, maximum_real, maximum_int);
}

void kern_minimum(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    binary_apply(in, out, minimum_real, minimum_int);
}

void kern_and(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    binary_apply(in, out, NULL, and_int);
}

void kern_or(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    binary_apply(in, out, NULL, or_int);
}

/* ---- comparisons: which orderings of (a, b) make the result true ---- */

enum { ORD_LESS = 1, ORD_EQUAL = 2, ORD_GREATER = 4, ORD_UNORDERED = 8 };

/* How in[0] and in[1] compare at the walk's current offsets; NaN is unordered. */
static unsigned order_at(const attn_tensor *in, const KuWalk *w)
{
    if (in[0].dtype == ATTN_F32) {
        float a = ((const float *)in[0].data)[w->offset[0]];
        float b = ((const float *)in[1].data)[w->offset[1]];
        return a < b ? ORD_LESS : a > b ? ORD_GREATER : a == b ? ORD_EQUAL : ORD_UNORDERED;
    }
    int64_t a = ku_load_int(in[0].data, in[0].dtype, w->offset[0]);
    int64_t b = ku_load_int(in[1].data, in[1].dtype, w->offset[1]);
    return a < b ? ORD_LESS : a > b ? ORD_GREATER : ORD_EQUAL;
}

/* out (bool) = whether the ordering of a and b is one of `true_orders`. */
static void compare_apply(const attn_tensor *in, attn_tensor *out, unsigned true_orders)
{
    KuWalk w;
    ku_walk_broadcast(&w, out, in, 2);
    int64_t n = attn_tensor_numel(out);
    uint8_t *dst = out->data;
    for (int64_t i = 0; i < n; i++, ku_walk_next(&w))
        dst[i] = (order_at(in, &w) & true_orders) != 0;
}

void kern_lt(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    compare_apply(in, out, ORD_LESS);
}

void kern_le(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    compare_apply(in, out, ORD_LESS | ORD_EQUAL);
}

void kern_gt(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    compare_apply(in, out, ORD_GREATER);
}

void kern_ge(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    compare_apply(in, out, ORD_GREATER | ORD_EQUAL);
}

void kern_eq(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    compare_apply(in, out, ORD_EQUAL);
}

void kern_ne(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    compare_apply(in, out, ORD_LESS | ORD_GREATER | ORD_UNORDERED);
}

/* ---- selection and broadcast copies ---- */

void kern_where(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    KuWalk w;
    ku_walk_broadcast(&w, out, in, 3);
    size_t size = attn_dtype_size(out->dtype);
    int64_t n = attn_tensor_numel(out);
    const uint8_t *cond = in[0].data;
    const char *if_true = in[1].data, *if_false = in[2].data;
    char *dst = out->data;
    for (int64_t i = 0; i < n; i++, ku_walk_next(&w)) {
        const char *src = cond[w.offset[0]] ? if_true + w.offset[1] * size
                                            : if_false + w.offset[2] * size;
        ku_copy_element(dst + i * size, src, size);
    }
}

void kern_expand(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    KuWalk w;
    ku_walk_broadcast(&w, out, in, 1);
    ku_gather_walk(&w, &in[0], out);
}
