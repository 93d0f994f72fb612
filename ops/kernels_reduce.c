/*
 * kernels_reduce.c — reference kernels that work along one axis: the
 * reductions sum, mean, max, min and argmax, and the normalisations softmax and
 * layer norm.
 *
 * The input is viewed as [outer, len, inner] around the axis (AxisSplit); each
 * of the outer*inner rows is len elements `inner` apart, and row r of a
 * reduction writes output element r whether or not the axis is kept. Sums
 * accumulate in double and store float; max, min and argmax propagate NaN like
 * PyTorch.
 */
#include "kernels.h"
#include "kernel_util.h"

#include <math.h>

/* Sum of the f32 row starting at x[first], accumulated in double. */
static double sum_real_row(const float *x, int64_t first, int64_t len, int64_t stride)
{
    double sum = 0.0;
    for (int64_t k = 0; k < len; k++)
        sum += x[first + k * stride];
    return sum;
}

/* Sum of an integer row, wrapping on overflow. */
static int64_t sum_int_row(const attn_tensor *x, int64_t first, int64_t len, int64_t stride)
{
    uint64_t sum = 0;
    for (int64_t k = 0; k < len; k++)
        sum += (uint64_t)ku_load_int(x->data, x->dtype, first + k * stride);
    return (int64_t)sum;
}

/* Largest element of the row; NaN if any element is NaN, -inf if the row is empty. */
static float max_row(const float *x, int64_t first, int64_t len, int64_t stride)
{
    float max = -INFINITY;
    for (int64_t k = 0; k < len; k++) {
        float v = x[first + k * stride];
        if (isnan(v))
            return v;
        if (v > max)
            max = v;
    }
    return max;
}

/* Smallest element of the row; NaN if any element is NaN, +inf if the row is empty. */
static float min_row(const float *x, int64_t first, int64_t len, int64_t stride)
{
    float min = INFINITY;
    for (int64_t k = 0; k < len; k++) {
        float v = x[first + k * stride];
        if (isnan(v))
            return v;
        if (v < min)
            min = v;
    }
    return min;
}

/* Position of the first maximum of the row, a NaN counting as the maximum. */
static int64_t argmax_row(const float *x, int64_t first, int64_t len, int64_t stride)
{
    int64_t best = 0;
    for (int64_t k = 0; k < len; k++) {
        float v = x[first + k * stride];
        if (isnan(v))
            return k;
        if (v > x[first + best * stride])
            best = k;
    }
    return best;
}

void kern_sum(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    AxisSplit s = ku_split_axis(&in[0], attrs->axis);
    for (int64_t r = 0; r < s.outer * s.inner; r++) {
        int64_t first = ku_row_start(&s, r);
        if (in[0].dtype == ATTN_F32)
            ((float *)out->data)[r] = (float)sum_real_row(in[0].data, first, s.len, s.inner);
        else
            ku_store_int(out->data, out->dtype, r, sum_int_row(&in[0], first, s.len, s.inner));
    }
}

void kern_mean(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    AxisSplit s = ku_split_axis(&in[0], attrs->axis);
    float *y = out->data;
    for (int64_t r = 0; r < s.outer * s.inner; r++) {
        double sum = sum_real_row(in[0].data, ku_row_start(&s, r), s.len, s.inner);
        y[r] = (float)(sum / (double)s.len);
    }
}

void kern_max(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    AxisSplit s = ku_split_axis(&in[0], attrs->axis);
    float *y = out->data;
    for (int64_t r = 0; r < s.outer * s.inner; r++)
        y[r] = max_row(in[0].data, ku_row_start(&s, r), s.len, s.inner);
}

void kern_min(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    AxisSplit s = ku_split_axis(&in[0], attrs->axis);
    float *y = out->data;
    for (int64_t r = 0; r < s.outer * s.inner; r++)
        y[r] = min_row(in[0].data, ku_row_start(&s, r), s.len, s.inner);
}

void kern_argmax(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    AxisSplit s = ku_split_axis(&in[0], attrs->axis);
    int64_t *y = out->data;
    for (int64_t r = 0; r < s.outer * s.inner; r++)
        y[r] = argmax_row(in[0].data, ku_row_start(&s, r), s.len, s.inner);
}

/* y = exp(x - max) / sum over one row; an all -inf (or NaN) row becomes NaN. */
static void softmax_row(const float *x, float *y, int64_t first, int64_t len, int64_t stride)
{
    float max = max_row(x, first, len, stride);
    double sum = 0.0;
    for (int64_t k = 0; k < len; k++) {
        int64_t i = first + k * stride;
        y[i] = expf(x[i] - max);
        sum += y[i];
    }
    for (int64_t k = 0; k < len; k++) {
        int64_t i = first + k * stride;
        y[i] = (float)(y[i] / sum);
    }
}

void kern_softmax(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    AxisSplit s = ku_split_axis(&in[0], attrs->axis);
    for (int64_t r = 0; r < s.outer * s.inner; r++)
        softmax_row(in[0].data, out->data, ku_row_start(&s, r), s.len, s.inner);
}

/* Normalises one contiguous row of d elements; weight and bias may be NULL. */
static void layer_norm_row(const float *x, float *y, int64_t d, double eps,
                           const float *weight, const float *bias)
{
    double mean = sum_real_row(x, 0, d, 1) / (double)d;
    double var = 0.0;
    for (int64_t i = 0; i < d; i++)
        var += (x[i] - mean) * (x[i] - mean);
    double rstd = 1.0 / sqrt(var / (double)d + eps);
    for (int64_t i = 0; i < d; i++) {
        float v = (float)((x[i] - mean) * rstd);
        if (weight)
            v *= weight[i];
        if (bias)
            v += bias[i];
        y[i] = v;
    }
}

void kern_layer_norm(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    int64_t d = in[0].shape[in[0].rank - 1];
    int64_t rows = d == 0 ? 0 : attn_tensor_numel(&in[0]) / d;
    const float *x = in[0].data;
    const float *weight = nin > 1 ? in[1].data : NULL;
    const float *bias = nin > 2 ? in[2].data : NULL;
    float *y = out->data;
    for (int64_t r = 0; r < rows; r++)
        layer_norm_row(x + r * d, y + r * d, d, attrs->eps, weight, bias);
}
