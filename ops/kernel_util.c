/*
 * kernel_util.c — broadcast/stride walks, axis splits and dtype-generic element
 * access shared by the reference kernels (see kernel_util.h).
 */
#include "kernel_util.h"

#include <math.h>

void ku_walk_init(KuWalk *w, int rank, const int64_t *shape)
{
    w->rank = rank;
    w->nops = 0;
    for (int d = 0; d < rank; d++) {
        w->shape[d] = shape[d];
        w->index[d] = 0;
    }
}

void ku_walk_add_strides(KuWalk *w, const int64_t *stride)
{
    int op = w->nops++;
    for (int d = 0; d < w->rank; d++)
        w->stride[op][d] = stride[d];
    w->offset[op] = 0;
}

void ku_walk_add_broadcast(KuWalk *w, int rank, const int64_t *shape, int64_t inner)
{
    int64_t own[ATTN_MAX_RANK], walked[ATTN_MAX_RANK];
    ku_row_major_strides(rank, shape, inner, own);
    int lead = w->rank - rank; /* walked dims the operand lacks */
    for (int d = 0; d < w->rank; d++) {
        int od = d - lead;
        walked[d] = od < 0 || shape[od] == 1 ? 0 : own[od];
    }
    ku_walk_add_strides(w, walked);
}

void ku_walk_broadcast(KuWalk *w, const attn_tensor *out, const attn_tensor *in, int nin)
{
    ku_walk_init(w, out->rank, out->shape);
    for (int k = 0; k < nin; k++)
        ku_walk_add_broadcast(w, in[k].rank, in[k].shape, 1);
}

void ku_walk_next(KuWalk *w)
{
    for (int d = w->rank - 1; d >= 0; d--) {
        for (int op = 0; op < w->nops; op++)
            w->offset[op] += w->stride[op][d];
        if (++w->index[d] < w->shape[d])
            return;
        for (int op = 0; op < w->nops; op++)
            w->offset[op] -= w->stride[op][d] * w->shape[d];
        w->index[d] = 0;
    }
}

int64_t ku_shape_numel(int rank, const int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < rank; d++)
        n *= shape[d];
    return n;
}

void ku_row_major_strides(int rank, const int64_t *shape, int64_t inner, int64_t *stride)
{
    for (int d = rank - 1; d >= 0; d--) {
        stride[d] = inner;
        inner *= shape[d];
    }
}

AxisSplit ku_split_axis(const attn_tensor *t, int64_t axis)
{
    int a = (int)axis;
    return (AxisSplit){
        .outer = ku_shape_numel(a, t->shape),
        .len = t->shape[a],
        .inner = ku_shape_numel(t->rank - a - 1, t->shape + a + 1),
    };
}

int64_t ku_row_start(const AxisSplit *s, int64_t row)
{
    return row / s->inner * s->len * s->inner + row % s->inner;
}

/* v truncated toward zero and clamped to [lo, hi]; NaN gives 0. */
static int64_t real_to_int(double v, int64_t lo, int64_t hi)
{
    if (isnan(v))
        return 0;
    if (v <= (double)lo)
        return lo;
    if (v >= (double)hi)
        return hi;
    return (int64_t)v;
}

int64_t ku_load_int(const void *data, attn_dtype dt, int64_t i)
{
    switch (dt) {
    case ATTN_F32: return real_to_int(((const float *)data)[i], INT64_MIN, INT64_MAX);
    case ATTN_I32: return ((const int32_t *)data)[i];
    case ATTN_I64: return ((const int64_t *)data)[i];
    case ATTN_BOOL: return ((const uint8_t *)data)[i];
    }
    return 0;
}

void ku_store_int(void *data, attn_dtype dt, int64_t i, int64_t v)
{
    switch (dt) {
    case ATTN_F32: ((float *)data)[i] = (float)v; break;
    case ATTN_I32: ((int32_t *)data)[i] = (int32_t)v; break;
    case ATTN_I64: ((int64_t *)data)[i] = v; break;
    case ATTN_BOOL: ((uint8_t *)data)[i] = v != 0; break;
    }
}

void ku_store_real(void *data, attn_dtype dt, int64_t i, double v)
{
    switch (dt) {
    case ATTN_F32: ((float *)data)[i] = (float)v; break;
    case ATTN_I32: ((int32_t *)data)[i] = (int32_t)real_to_int(v, INT32_MIN, INT32_MAX); break;
    case ATTN_I64: ((int64_t *)data)[i] = real_to_int(v, INT64_MIN, INT64_MAX); break;
    case ATTN_BOOL: ((uint8_t *)data)[i] = v != 0; break;
    }
}

void ku_map_scalar(const attn_tensor *x, attn_tensor *out, double (*fn)(double))
{
    const float *src = x->data;
    float *dst = out->data;
    int64_t n = attn_tensor_numel(out);
    for (int64_t i = 0; i < n; i++)
        dst[i] = (float)fn(src[i]);
}

void ku_gather_walk(KuWalk *w, const attn_tensor *in, attn_tensor *out)
{
    size_t size = attn_dtype_size(out->dtype);
    int64_t n = attn_tensor_numel(out);
    const char *src = in->data;
    char *dst = out->data;
    for (int64_t i = 0; i < n; i++, ku_walk_next(w))
        ku_copy_element(dst + i * size, src + w->offset[0] * size, size);
}
