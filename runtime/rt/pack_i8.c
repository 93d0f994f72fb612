/*
 * pack_i8.c — per-column int8 quantization and packing of a matmul's weight
 * (see pack_i8.h).
 */
#include "pack_i8.h"
#include "pack.h"

#include <math.h>
#include <string.h>

int64_t attn_pack_i8_kq(int64_t K) { return (K + 3) / 4 * 4; }

static int64_t panel_count(int64_t N, int lanes) {
    int64_t nr = attn_pack_nr(lanes);
    return (N + nr - 1) / nr;
}

size_t attn_pack_b_i8_size(int64_t K, int64_t N, int lanes) {
    if (K <= 0 || N <= 0)
        return 0;
    int64_t cols = panel_count(N, lanes) * attn_pack_nr(lanes);
    return (size_t)(cols * attn_pack_i8_kq(K) + cols * 8);
}

static float *scales(void *out, int64_t K, int64_t N, int lanes) {
    return (float *)((int8_t *)out + panel_count(N, lanes) * attn_pack_nr(lanes) * attn_pack_i8_kq(K));
}
static int32_t *corrections(void *out, int64_t K, int64_t N, int lanes) {
    return (int32_t *)(scales(out, K, N, lanes) + panel_count(N, lanes) * attn_pack_nr(lanes));
}

static int8_t *byte_at(void *out, int64_t K, int lanes, int64_t p, int64_t j) {
    int64_t nr = attn_pack_nr(lanes);
    return (int8_t *)out + ((j / nr) * (attn_pack_i8_kq(K) / 4) + p / 4) * nr * 4 + (j % nr) * 4 + p % 4;
}

/* Column `src` (K values, stride b_rs) quantized into packed column `to`. */
static void pack_column(const float *src, int64_t K, int64_t N, int64_t b_rs, int lanes, int64_t to, void *out) {
    float amax = 0.0f;
    for (int64_t p = 0; p < K; p++) {
        float a = fabsf(src[p * b_rs]);
        amax = a > amax ? a : amax; /* a NaN weight leaves amax as it is */
    }
    float scale = amax / 127.0f;
    int32_t sum = 0;
    for (int64_t p = 0; p < attn_pack_i8_kq(K); p++) {
        int q = 0;
        if (p < K && scale > 0.0f) {
            float r = nearbyintf(src[p * b_rs] / scale); /* the default mode: nearest, ties to even */
            q = r > 127.0f ? 127 : r < -127.0f ? -127 : r == r ? (int)r : 0;
        }
        *byte_at(out, K, lanes, p, to) = (int8_t)q;
        sum += q;
    }
    scales(out, K, N, lanes)[to] = scale;
    corrections(out, K, N, lanes)[to] = sum;
}

/* Where column j of a K×N matrix of `gates` blocks goes when packed
 * interleaved (the mapping of attn_pack_b_gates). */
static int64_t gate_column(int64_t j, int64_t N, int lanes, int gates) {
    if (gates <= 1)
        return j;
    int64_t H = N / gates, g = j / H, u = j % H;
    return u / lanes * gates * lanes + g * lanes + u % lanes;
}

void attn_pack_b_i8_gates(const float *B, int64_t K, int64_t N, int64_t col, int64_t n, int64_t b_rs, int64_t b_cs,
                          int lanes, int gates, void *out) {
    if (K <= 0 || n <= 0 || col < 0 || col + n > N || lanes <= 0)
        return;
    if (gates > 1 && (N % gates || (N / gates) % lanes))
        return;
    for (int64_t j = col; j < col + n; j++)
        pack_column(B + (j - col) * b_cs, K, N, b_rs, lanes, gate_column(j, N, lanes, gates), out);
    int64_t cols = panel_count(N, lanes) * attn_pack_nr(lanes);
    if (col + n == N)
        for (int64_t j = N; j < cols; j++) {
            for (int64_t p = 0; p < attn_pack_i8_kq(K); p++)
                *byte_at(out, K, lanes, p, j) = 0;
            scales(out, K, N, lanes)[j] = 0.0f;
            corrections(out, K, N, lanes)[j] = 0;
        }
}

void attn_pack_b_i8(const float *B, int64_t K, int64_t N, int64_t b_rs, int64_t b_cs, int lanes, void *out) {
    attn_pack_b_i8_gates(B, K, N, 0, N, b_rs, b_cs, lanes, 1, out);
}

void attn_pack_b_i8_from_panels(const float *panels, int64_t K, int64_t N, int lanes, void *out) {
    if (K <= 0 || N <= 0 || lanes <= 0)
        return;
    int64_t nr = attn_pack_nr(lanes), cols = panel_count(N, lanes) * nr;
    /* the padding columns of the panels are zero: scale 0, values 0 */
    for (int64_t j = 0; j < cols; j++)
        pack_column(panels + (j / nr) * K * nr + j % nr, K, N, nr, lanes, j, out);
}

float attn_pack_i8_scale(const void *packed, int64_t K, int64_t N, int lanes, int64_t j) {
    return scales((void *)packed, K, N, lanes)[j];
}

int attn_pack_i8_value(const void *packed, int64_t K, int lanes, int64_t p, int64_t j) {
    return *byte_at((void *)packed, K, lanes, p, j);
}
