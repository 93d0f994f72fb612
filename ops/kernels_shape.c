/*
 * kernels_shape.c — reference kernels that only move data: copy (reshape),
 * permute, slice, concat and gather (embedding lookup).
 *
 * They work on raw bytes, so every dtype goes through the same code. Copies
 * of zero bytes are skipped: a tensor without elements may have no data.
 */
#include "kernels.h"
#include "kernel_util.h"

#include <string.h>

void kern_copy(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    size_t bytes = (size_t)attn_tensor_numel(out) * attn_dtype_size(out->dtype);
    if (bytes > 0)
        memcpy(out->data, in[0].data, bytes);
}

void kern_permute(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    int64_t in_stride[ATTN_MAX_RANK], out_stride[ATTN_MAX_RANK];
    ku_row_major_strides(in[0].rank, in[0].shape, 1, in_stride);
    for (int d = 0; d < out->rank; d++)
        out_stride[d] = in_stride[attrs->perm[d]];
    KuWalk w;
    ku_walk_init(&w, out->rank, out->shape);
    ku_walk_add_strides(&w, out_stride);
    ku_gather_walk(&w, &in[0], out);
}

void kern_slice(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    if (attn_tensor_numel(out) == 0)
        return;
    AxisSplit src_split = ku_split_axis(&in[0], attrs->axis);
    int64_t out_len = out->shape[attrs->axis];
    size_t chunk = (size_t)src_split.inner * attn_dtype_size(out->dtype); /* one axis index */
    const char *src = in[0].data;
    char *dst = out->data;
    for (int64_t o = 0; o < src_split.outer; o++)
        for (int64_t j = 0; j < out_len; j++) {
            int64_t from = o * src_split.len + attrs->start + j * attrs->step;
            memcpy(dst + (size_t)(o * out_len + j) * chunk, src + (size_t)from * chunk, chunk);
        }
}

void kern_concat(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    if (attn_tensor_numel(out) == 0)
        return;
    AxisSplit out_split = ku_split_axis(out, attrs->axis);
    size_t chunk = (size_t)out_split.inner * attn_dtype_size(out->dtype); /* one axis index */
    char *dst = out->data;
    for (int64_t o = 0; o < out_split.outer; o++)
        for (int k = 0; k < nin; k++) {
            size_t bytes = (size_t)in[k].shape[attrs->axis] * chunk;
            if (bytes > 0)
                memcpy(dst, (const char *)in[k].data + (size_t)o * bytes, bytes);
            dst += bytes;
        }
}

void kern_gather(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    if (attn_tensor_numel(out) == 0)
        return;
    const attn_tensor *weight = &in[0], *ids = &in[1];
    int64_t vocab = weight->shape[0];
    size_t row = (size_t)ku_shape_numel(weight->rank - 1, weight->shape + 1) *
                 attn_dtype_size(weight->dtype);
    int64_t n = attn_tensor_numel(ids);
    char *dst = out->data;
    for (int64_t i = 0; i < n; i++, dst += row) {
        int64_t id = ku_load_int(ids->data, ids->dtype, i);
        if (id >= 0 && id < vocab)
            memcpy(dst, (const char *)weight->data + (size_t)id * row, row);
        else
            memset(dst, 0, row);
    }
}
