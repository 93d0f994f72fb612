/*
 * kernels_matmul.c — the reference batched matrix product out = a @ b.
 *
 * a is [..., M, K] (or [..., K, M] with trans_a), b is [..., K, N] (or
 * [..., N, K] with trans_b); batch dims broadcast numpy-style to out's. Each
 * output element is summed in float in k order, the same order whichever way
 * the loops run: i-k-j loops adding scaled rows of b into a row of out when b
 * is not transposed, and eight dot products at a time when it is, so that
 * neither case waits on one long chain of dependent additions.
 */
#include "kernels.h"
#include "kernel_util.h"

#include <string.h>

/* One M×N product; a(i, p) = a[i * a_row + p * a_col], which absorbs trans_a. */
typedef struct MatmulDims {
    int64_t m, n, k;
    int64_t a_row, a_col;
} MatmulDims;

/* y += alpha * x over n floats, four at a time so the compiler can use vector lanes. */
static void add_scaled(float *restrict y, float alpha, const float *restrict x, int64_t n)
{
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        y[j] += alpha * x[j];
        y[j + 1] += alpha * x[j + 1];
        y[j + 2] += alpha * x[j + 2];
        y[j + 3] += alpha * x[j + 3];
    }
    for (; j < n; j++)
        y[j] += alpha * x[j];
}

/* c = a @ b with b stored K×N: accumulate scaled rows of b into each row of c. */
static void matmul_rows(const float *a, const float *b, float *c, const MatmulDims *d)
{
    for (int64_t i = 0; i < d->m; i++) {
        float *c_row = c + i * d->n;
        memset(c_row, 0, (size_t)d->n * sizeof(float));
        for (int64_t p = 0; p < d->k; p++)
            add_scaled(c_row, a[i * d->a_row + p * d->a_col], b + p * d->n, d->n);
    }
}

/* c[0..8) = row(a) · bt[j] for 8 consecutive rows bt[j] of length k. Named
 * accumulators stay in registers, so the eight sums advance side by side. */
static void dot8(const float *a_row, int64_t a_col, const float *bt, int64_t k, float *c)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    for (int64_t p = 0; p < k; p++) {
        float a_p = a_row[p * a_col];
        const float *b = bt + p;
        s0 += a_p * b[0];
        s1 += a_p * b[k];
        s2 += a_p * b[2 * k];
        s3 += a_p * b[3 * k];
        s4 += a_p * b[4 * k];
        s5 += a_p * b[5 * k];
        s6 += a_p * b[6 * k];
        s7 += a_p * b[7 * k];
    }
    c[0] = s0;
    c[1] = s1;
    c[2] = s2;
    c[3] = s3;
    c[4] = s4;
    c[5] = s5;
    c[6] = s6;
    c[7] = s7;
}

/* row(a) · bt for one row bt of length k. */
static float dot(const float *a_row, int64_t a_col, const float *bt, int64_t k)
{
    float acc = 0.0f;
    for (int64_t p = 0; p < k; p++)
        acc += a_row[p * a_col] * bt[p];
    return acc;
}

/* c = a @ b^T with b stored N×K: dot products of a's rows with b's rows. */
static void matmul_dots(const float *a, const float *b, float *c, const MatmulDims *d)
{
    for (int64_t i = 0; i < d->m; i++) {
        const float *a_row = a + i * d->a_row;
        float *c_row = c + i * d->n;
        int64_t j = 0;
        for (; j + 8 <= d->n; j += 8)
            dot8(a_row, d->a_col, b + j * d->k, d->k, c_row + j);
        for (; j < d->n; j++)
            c_row[j] = dot(a_row, d->a_col, b + j * d->k, d->k);
    }
}

/* Sizes of each product in out = a @ b, and how to read a (maybe transposed). */
static MatmulDims matmul_dims(const attn_tensor *a, bool trans_a, const attn_tensor *out)
{
    MatmulDims d = {
        .m = out->shape[out->rank - 2],
        .n = out->shape[out->rank - 1],
        .k = a->shape[a->rank - (trans_a ? 2 : 1)],
    };
    d.a_row = trans_a ? 1 : d.k;
    d.a_col = trans_a ? d.m : 1;
    return d;
}

void kern_matmul(const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    const attn_tensor *a = &in[0], *b = &in[1];
    MatmulDims d = matmul_dims(a, attrs->trans_a, out);
    int batch_rank = out->rank - 2;
    int64_t batches = ku_shape_numel(batch_rank, out->shape);
    if (batches * d.m * d.n == 0)
        return;
    if (d.k == 0) { /* empty sums; a and b may have no data at all */
        memset(out->data, 0, (size_t)(batches * d.m * d.n) * sizeof(float));
        return;
    }
    KuWalk w;
    ku_walk_init(&w, batch_rank, out->shape);
    ku_walk_add_broadcast(&w, a->rank - 2, a->shape, d.m * d.k);
    ku_walk_add_broadcast(&w, b->rank - 2, b->shape, d.k * d.n);
    const float *a_data = a->data, *b_data = b->data;
    float *c = out->data;
    for (int64_t t = 0; t < batches; t++, ku_walk_next(&w)) {
        float *c_mat = c + t * d.m * d.n;
        if (attrs->trans_b)
            matmul_dots(a_data + w.offset[0], b_data + w.offset[1], c_mat, &d);
        else
            matmul_rows(a_data + w.offset[0], b_data + w.offset[1], c_mat, &d);
    }
}
