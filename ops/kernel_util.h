/*
 * kernel_util.h — helpers shared by the reference kernels.
 *
 * A KuWalk visits every index of an output shape in row-major order and keeps,
 * for each operand, the element offset that index maps to: through numpy
 * broadcasting (right-aligned dims, extent 1 repeats) or through arbitrary
 * strides (permutations). An AxisSplit views a tensor as [outer, len, inner]
 * around one axis, which is all reductions, slices and concats need. The
 * load/store helpers move single elements of any dtype through int64 or double
 * with the conversion rules of CAST.
 */
#ifndef ATTN_KERNEL_UTIL_H
#define ATTN_KERNEL_UTIL_H

#include "attn.h"
#include <string.h>

/* Most operands one walk tracks (WHERE has three). */
enum { KU_MAX_OPERANDS = 3 };

/* Row-major walk over an index space with per-operand element offsets. */
typedef struct KuWalk {
    int rank;                                       /* dims walked */
    int nops;                                       /* operands tracked */
    int64_t shape[ATTN_MAX_RANK];                   /* extent of each walked dim */
    int64_t index[ATTN_MAX_RANK];                   /* current index */
    int64_t stride[KU_MAX_OPERANDS][ATTN_MAX_RANK]; /* offset step per dim, 0 when broadcast */
    int64_t offset[KU_MAX_OPERANDS];                /* element offset of the current index */
} KuWalk;

/* Starts a walk at index 0 of `shape` with no operands. */
void ku_walk_init(KuWalk *w, int rank, const int64_t *shape);
/* Tracks an operand whose offset moves by stride[d] along walked dim d. */
void ku_walk_add_strides(KuWalk *w, const int64_t *stride);
/* Tracks a row-major operand of `shape` broadcast (numpy rules) against the walk;
 * `inner` is the element count of trailing operand dims the walk does not cover. */
void ku_walk_add_broadcast(KuWalk *w, int rank, const int64_t *shape, int64_t inner);
/* A walk over `out` tracking in[0..nin) broadcast to it, element by element. */
void ku_walk_broadcast(KuWalk *w, const attn_tensor *out, const attn_tensor *in, int nin);
/* Moves to the next index in row-major order. */
void ku_walk_next(KuWalk *w);

/* Fills `out` with the elements of `in` that walk w (over out, tracking in as
 * operand 0) visits, in out's row-major order. */
void ku_gather_walk(KuWalk *w, const attn_tensor *in, attn_tensor *out);

/* Product of `rank` extents (1 for rank 0). */
int64_t ku_shape_numel(int rank, const int64_t *shape);
/* Row-major strides of `shape` in elements, the last dim having stride `inner`. */
void ku_row_major_strides(int rank, const int64_t *shape, int64_t inner, int64_t *stride);

/* A tensor viewed as [outer, len, inner] around one axis. */
typedef struct AxisSplit {
    int64_t outer; /* product of dims before the axis */
    int64_t len;   /* extent of the axis */
    int64_t inner; /* product of dims after the axis */
} AxisSplit;

AxisSplit ku_split_axis(const attn_tensor *t, int64_t axis);
/* Offset of the first element of row `row` (0 <= row < outer*inner): the row's
 * len elements follow it `inner` apart. Row r is also the output index of a
 * reduction over the axis. */
int64_t ku_row_start(const AxisSplit *s, int64_t row);

/* Element i of `data` as an integer (bool 0/1; f32 truncated toward zero, saturating). */
int64_t ku_load_int(const void *data, attn_dtype dt, int64_t i);
/* Stores integer v: f32 rounds, i32 wraps, bool is v != 0. */
void ku_store_int(void *data, attn_dtype dt, int64_t i, int64_t v);
/* Stores real v: integers truncate toward zero and saturate (NaN is 0), bool is v != 0. */
void ku_store_real(void *data, attn_dtype dt, int64_t i, double v);

/* out = fn(x) on every element of f32 tensors of the same shape, each
 * computed in double and rounded to float. */
void ku_map_scalar(const attn_tensor *x, attn_tensor *out, double (*fn)(double));

/* Copies one element of `size` bytes; fixed sizes let the compiler inline it. */
static inline void ku_copy_element(void *dst, const void *src, size_t size)
{
    switch (size) {
    case 4: memcpy(dst, src, 4); break;
    case 8: memcpy(dst, src, 8); break;
    default: memcpy(dst, src, size); break;
    }
}

#endif
