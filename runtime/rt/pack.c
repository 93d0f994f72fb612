/*
 * pack.c — packing a matmul's right operand into NR-column panels (see pack.h).
 */
#include "pack.h"
#include "pack_i8.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>

int attn_pack_nr(int lanes) {
    if (lanes >= 16)
        return 3 * lanes; /* 32 vector registers: 8 x 3 accumulator tile */
    if (lanes >= 2)
        return 2 * lanes; /* 16 vector registers: 6 x 2 accumulator tile */
    return 8;
}

size_t attn_pack_b_size(int64_t K, int64_t N, int lanes) {
    if (K <= 0 || N <= 0)
        return 0;
    int64_t nr = attn_pack_nr(lanes);
    return (size_t)((N + nr - 1) / nr * nr) * (size_t)K;
}

void attn_pack_b_cols(const float *B, int64_t K, int64_t N, int64_t col, int64_t n, int64_t b_rs, int64_t b_cs,
                      int lanes, float *out) {
    if (K <= 0 || n <= 0 || col < 0 || col + n > N)
        return;
    int64_t nr = attn_pack_nr(lanes);
    for (int64_t j0 = col; j0 < col + n;) {
        int64_t in = j0 % nr, w = nr - in < col + n - j0 ? nr - in : col + n - j0;
        float *dst = out + (j0 - in) * K + in;
        for (int64_t p = 0; p < K; p++) {
            float *row = dst + p * nr;
            const float *src = B + p * b_rs + (j0 - col) * b_cs;
            if (b_cs == 1) {
                memcpy(row, src, (size_t)w * sizeof *row);
            } else {
                for (int64_t j = 0; j < w; j++)
                    row[j] = src[j * b_cs];
            }
        }
        j0 += w;
    }
    if (col + n == N && N % nr) { /* the last panel's columns past N */
        float *last = out + (N - N % nr) * K;
        for (int64_t p = 0; p < K; p++)
            memset(last + p * nr + N % nr, 0, (size_t)(nr - N % nr) * sizeof(float));
    }
}

void attn_pack_b(const float *B, int64_t K, int64_t N, int64_t b_rs, int64_t b_cs, int lanes, float *out) {
    attn_pack_b_cols(B, K, N, 0, N, b_rs, b_cs, lanes, out);
}

void attn_pack_b_gates(const float *B, int64_t K, int64_t N, int64_t col, int64_t n, int64_t b_rs, int64_t b_cs,
                       int lanes, int gates, float *out) {
    if (gates <= 1) {
        attn_pack_b_cols(B, K, N, col, n, b_rs, b_cs, lanes, out);
        return;
    }
    int64_t H = N / gates;
    if (lanes <= 0 || N % gates || H % lanes || col < 0 || n < 0 || col + n > N)
        return;
    /* runs of columns that stay together: within one gate and one group of lanes units */
    for (int64_t j = col; j < col + n;) {
        int64_t g = j / H, u = j % H, w = lanes - u % lanes;
        if (w > col + n - j)
            w = col + n - j;
        int64_t to = u / lanes * gates * lanes + g * lanes + u % lanes;
        attn_pack_b_cols(B + (j - col) * b_cs, K, N, to, w, b_rs, b_cs, lanes, out);
        j += w;
    }
}

int attn_pack_gate_panels(int lanes, int gates) {
    int nr = attn_pack_nr(lanes), group = gates > 1 ? gates * lanes : 1;
    int a = nr, b = group;
    while (b) { /* gcd */
        int t = a % b;
        a = b;
        b = t;
    }
    return group / a; /* lcm(nr, group) / nr */
}

uint16_t attn_bf16_round(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it one, quiet */
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* K rounded up to whole pairs of rows. */
static int64_t k_pairs(int64_t K) { return (K + 1) / 2 * 2; }

size_t attn_pack_b_bf16_size(int64_t K, int64_t N, int lanes) {
    if (K <= 0 || N <= 0)
        return 0;
    int64_t nr = attn_pack_nr(lanes);
    return (size_t)((N + nr - 1) / nr * nr) * (size_t)k_pairs(K);
}

void attn_pack_b_bf16(const float *panels, int64_t K, int64_t N, int lanes, uint16_t *out) {
    if (K <= 0 || N <= 0)
        return;
    int64_t nr = attn_pack_nr(lanes), np = (N + nr - 1) / nr, kp = k_pairs(K);
    for (int64_t jp = 0; jp < np; jp++) {
        const float *src = panels + jp * K * nr;
        uint16_t *dst = out + jp * kp * nr;
        for (int64_t p = 0; p < kp; p++)
            for (int64_t j = 0; j < nr; j++)
                dst[(p - p % 2) * nr + 2 * j + p % 2] = p < K ? attn_bf16_round(src[p * nr + j]) : 0;
    }
}

void *attn_pack_to_dtype(float *panels, int64_t K, int64_t N, int lanes, attn_weights_dtype dt, size_t *bytes) {
    *bytes = 0;
    switch (dt) {
    case ATTN_WEIGHTS_F32:
        *bytes = attn_pack_b_size(K, N, lanes) * sizeof(float);
        return panels;
    case ATTN_WEIGHTS_BF16: {
        size_t n = attn_pack_b_bf16_size(K, N, lanes) * sizeof(uint16_t);
        uint16_t *out = attn_pack_alloc(n + 64);
        if (out) {
            attn_pack_b_bf16(panels, K, N, lanes, out);
            *bytes = n;
        }
        free(panels);
        return out;
    }
    case ATTN_WEIGHTS_INT8: {
        size_t n = attn_pack_b_i8_size(K, N, lanes);
        void *out = attn_pack_alloc(n + 64);
        if (out) {
            attn_pack_b_i8_from_panels(panels, K, N, lanes, out);
            *bytes = n;
        }
        free(panels);
        return out;
    }
    }
    free(panels);
    return NULL;
}

enum { HUGE_PAGE = 2 << 20 };

void *attn_pack_alloc(size_t bytes) {
    size_t n = (bytes + 63) & ~(size_t)63;
    if (n < HUGE_PAGE)
        return aligned_alloc(64, n);
    void *p; /* posix_memalign: aligned_alloc wants a size that is a multiple of the alignment */
    if (posix_memalign(&p, HUGE_PAGE, n) != 0)
        return NULL;
    madvise(p, n / HUGE_PAGE * HUGE_PAGE, MADV_HUGEPAGE); /* advice: a failure changes nothing */
    return p;
}

void *attn_rt_aligned_alloc(int64_t bytes) {
    if (bytes <= 0)
        return NULL;
    size_t n = ((size_t)bytes + 63) & ~(size_t)63;
    return aligned_alloc(64, n);
}

void attn_rt_aligned_free(void *p) { free(p); }
