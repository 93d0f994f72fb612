/*
 * diff_ops.c — differential test: every op through the JIT against the
 * reference interpreter, with random data on many shapes.
 *
 * Each case is a small .attn source whose inputs have per-call dims; one
 * compiled program per backend then runs on several instantiations of those
 * dims (1, the vector width and its neighbours, primes, large), which also
 * shows that new shapes need no recompilation. Floats must agree to
 * 2e-5 absolute + relative, NaN with NaN; integers and booleans exactly. The
 * recurrence of the scan case is scaled to be contractive: a chaotic one would
 * amplify the legitimate rounding differences of blocked matmul sums.
 * Usage: diff_ops [CASE-SUBSTRING]
 */
#include "attn.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An input: name, dtype, dims (symbols are single capital letters), value range. */
typedef struct Case {
    const char *name;
    const char *src;     /* the body of `entry f(...) -> (...)` is written in full */
    const char *inputs;  /* "a:f32:B,N b:i64:N:0:9" (lo:hi for integers, optional) */
    int nan;             /* sprinkle NaN and ±inf into f32 inputs */
} Case;

static const Case cases[] = {
    {"unary", "entry f(a: f32[B, N]) -> (y1, y2, y3, y4, y5, y6, y7, y8, y9, y10) {\n"
              "  return tanh(a), sigmoid(a), relu(a), gelu(a), exp(a), log(abs(a) + 0.01), sqrt(abs(a)), abs(a), -a, exp(a * 20.0)\n}\n",
     "a:f32:B,N", 0},
    {"unary_special", "entry f(a: f32[B, N]) -> (y1, y2, y3, y4, y5, y6) {\n"
                      "  return tanh(a), sigmoid(a), gelu(a), exp(a), log(a), relu(a)\n}\n",
     "a:f32:B,N", 1},
    {"unary_more", "entry f(a: f32[B, N]) -> (y1, y2, y3, y4, y5, y6, y7, y8) {\n"
                   "  return softplus(a * 12.0), gelu(a, approximate = \"tanh\"), gelu(a, approximate = \"none\"), sin(a * 4.0),\n"
                   "         cos(a * 4.0), rsqrt(abs(a) + 0.01), erf(a), softplus(a * 40.0 - 20.0)\n}\n",
     "a:f32:B,N", 0},
    {"unary_more_special", "entry f(a: f32[B, N]) -> (y1, y2, y3, y4, y5, y6) {\n"
                           "  return softplus(a), gelu(a, approximate = \"tanh\"), sin(a), cos(a), rsqrt(a), erf(a)\n}\n",
     "a:f32:B,N", 1},
    {"binary_broadcast", "entry f(a: f32[B, N], b: f32[N], c: f32[B, 1], d: f32[1, N]) -> (y1, y2, y3, y4, y5, y6, y7) {\n"
                         "  return a + b, a - c, c * d, a / (abs(b) + 0.5), pow(abs(a) + 0.1, d), maximum(a, b), minimum(c, d)\n}\n",
     "a:f32:B,N b:f32:N c:f32:B,1 d:f32:1,N", 0},
    {"binary_nan", "entry f(a: f32[B, N], b: f32[B, N]) -> (y1, y2, y3) {\n  return maximum(a, b), minimum(a, b), a * b\n}\n",
     "a:f32:B,N b:f32:B,N", 1},
    {"integer", "entry f(a: i64[B, N], b: i64[N], c: i32[B, N]) -> (y1, y2, y3, y4, y5, y6) {\n"
                "  return a * b + a - b, a / b, maximum(a, b), -c, abs(a - 5), c / i32(b)\n}\n",
     "a:i64:B,N:-9:9 b:i64:N:-3:3 c:i32:B,N:-100:100", 0},
    {"compare_logic", "entry f(a: f32[B, N], b: f32[N], i: i64[B, N], j: i64[B, N]) -> (y1, y2, y3, y4, y5, y6, y7, y8) {\n"
                      "  return a < b, a <= b, a > b, a >= b, a == b, a != b, (i < j) and not (i == 2), (i > j) or (a > 0.0)\n}\n",
     "a:f32:B,N:-2:2 b:f32:N:-2:2 i:i64:B,N:0:3 j:i64:B,N:0:3", 0},
    {"where_cast", "entry f(a: f32[B, N], b: f32[N]) -> (y1, y2, y3, y4, y5) {\n"
                   "  k = i64(a * 10.0)\n  return where(a > 0.0, a, b * 2.0), k, f32(k) + 0.5, bool(k), i32(a * 1e10)\n}\n",
     "a:f32:B,N b:f32:N", 0},
    {"reduce", "entry f(a: f32[B, N, K], i: i64[B, N]) -> (y1, y2, y3, y4, y5, y6, y7, y8) {\n"
               "  return sum(a), mean(a, 1), max(a, 0, keepdim = 1), argmax(a), argmax(a, 1), sum(i, 0), mean(a, -1, keepdim = true), max(a, 2)\n}\n",
     "a:f32:B,N,K i:i64:B,N:-1000:1000", 0},
    {"reduce_nan", "entry f(a: f32[B, N]) -> (y1, y2, y3, y4, y5) {\n  return max(a), argmax(a), softmax(a), min(a), log_softmax(a)\n}\n",
     "a:f32:B,N", 1},
    {"min_log_softmax", "entry f(a: f32[B, N, K]) -> (y1, y2, y3, y4, y5, y6) {\n"
                        "  return min(a), min(a, 1), min(a, 0, keepdim = 1), log_softmax(a), log_softmax(a, 1), log_softmax(a, axis = 0)\n}\n",
     "a:f32:B,N,K", 0},
    {"softmax_norm", "entry f(a: f32[B, N, K], w: f32[K], b: f32[K]) -> (y1, y2, y3, y4, y5) {\n"
                     "  return softmax(a), softmax(a, 1), softmax(a, 0), layer_norm(a, w, b), layer_norm(a * 3.0 + 1.0, eps = 1e-3)\n}\n",
     "a:f32:B,N,K w:f32:K b:f32:K", 0},
    {"matmul", "entry f(a: f32[B, M, K], b: f32[K, N], c: f32[B, K, N], d: f32[N, K], e: f32[K, M]) -> (y1, y2, y3, y4) {\n"
               "  return a @ b, a @ c, a @ d.T, e.T @ b\n}\n",
     "a:f32:B,M,K b:f32:K,N c:f32:B,K,N d:f32:N,K e:f32:K,M", 0},
    {"matmul_batched", "entry f(a: f32[B, 3, M, K], b: f32[3, K, N], c: f32[B, 1, N, K]) -> (y1, y2) {\n"
                       "  return a @ b, a @ c.T\n}\n",
     "a:f32:B,3,M,K b:f32:3,K,N c:f32:B,1,N,K", 0},
    {"shape", "entry f(a: f32[B, N, K], b: f32[B, N, K], w: f32[B, N, 6]) -> (y1, y2, y3, y4, y5, y6, y7, y8, y9, y10) {\n"
              "  p, q = split(w, 2)\n"
              "  return transpose(a, 0, 2), permute(a, [1, 2, 0]), a[:, 1:], a[..., ::2], concat(a, b, axis = 0), stack(a, b, axis = 1),\n"
              "         unsqueeze(a, 2), reshape(a, [B * N, K]), p - q, expand(unsqueeze(b[:, 0], 1), [B, 4, K])\n}\n",
     "a:f32:B,N,K b:f32:B,N,K w:f32:B,N,6", 0},
    {"slice_int", "entry f(a: i64[B, N], m: bool[B, N]) -> (y1, y2, y3, y4) {\n"
                  "  return a[:, -1], concat(a, a), transpose(m, 0, 1), a[0]\n}\n",
     "a:i64:B,N:-50:50 m:bool:B,N", 0},
    {"embedding", "entry f(t: f32[V, N], ids: i64[B, T], ids32: i32[T]) -> (y1, y2) {\n  return embedding(t, ids), embedding(t, ids32)\n}\n",
     "t:f32:V,N ids:i64:B,T:0:V ids32:i32:T:0:V", 0},
    {"sources", "entry f(a: f32[B, N]) -> (y1, y2, y3, y4) {\n"
                "  return f32(arange(N)) * 2.0 + a, zeros([B, N]) + a, full([N], 3.5) * a, causal_mask(N, N)\n}\n",
     "a:f32:B,N", 0},
    {"scan", "entry f(x: f32[B, T, N], h0: f32[B, N], c0: f32[B, N], w: f32[N, N]) -> (ys, hn, cn, zs, s) {\n"
             "  ys, hn, cn = scan(x_t in x, h = h0, c = c0, axis = 1) {\n"
             "    t = h\n    h = tanh((c @ w) * 0.05 + x_t)\n    c = t\n    yield h\n  }\n"
             "  zs, s = scan(x_t in transpose(x, 0, 1), s = h0, axis = 0, reverse = true) {\n"
             "    s = sigmoid(x_t + s) * 0.9\n    yield s * 2.0\n  }\n"
             "  return ys, hn, cn, zs, s\n}\n",
     "x:f32:B,T,N h0:f32:B,N c0:f32:B,N w:f32:N,N", 0},
    /* a scan inside a scan's body, and carried states that swap buffers with their new values each
       step (cg_entry.c, carry_swaps), read after the scan that made them */
    {"scan_nested", "entry f(x: f32[B, T, N], h0: f32[B, N], w: f32[N, N]) -> (ys, hn, zs, q) {\n"
                    "  ys, hn = scan(x_t in x, h = h0, axis = 1) {\n"
                    "    us, u = scan(k in x_t, s = h * 0.5, axis = 0) {\n      s = tanh(s * 0.9 + k)\n      yield s\n    }\n"
                    "    h = tanh(h @ w * 0.1 + u + x_t)\n    yield h\n  }\n"
                    "  zs, q = scan(y in ys, r = h0, axis = 1, reverse = true) {\n    r = sigmoid(r + y)\n    yield r * 2.0\n  }\n"
                    "  return ys, hn, zs, q\n}\n",
     "x:f32:B,T,N h0:f32:B,N w:f32:N,N", 0},
    /* new carried states computed in their carried buffer (cg_entry.c, plan_carries) where the old
       state is read before, or elementwise in the same place, and not where it is read after */
    {"scan_carries", "entry f(x: f32[B, T, N], h0: f32[B, N], s0: f32[B, N], u0: f32[B, N], w: f32[N, N]) -> (ys, hn, sn, un) {\n"
                     "  ys, hn, sn, un = scan(x_t in x, h = h0, s = s0, u = u0, axis = 1) {\n"
                     "    g = tanh((h @ w) * 0.05 + x_t)\n    m = mean(h, axis = -1, keepdim = true)\n"
                     "    hn = g * 0.5 + h * 0.5 + m * 0.1\n"
                     "    un = tanh(u * 1.5)\n    s = s * 0.5 + u + hn\n"
                     "    h = hn\n    u = un\n    yield h + s + g\n  }\n"
                     "  return ys, hn, sn, un\n}\n",
     "x:f32:B,T,N h0:f32:B,N s0:f32:B,N u0:f32:B,N w:f32:N,N", 0},
    /* products sharing their left operand merged into one (compiler/opt/pass_merge_matmuls.c): the
       weights are captured inputs, concatenated by a kernel once per call, the biases too */
    {"merged_products", "entry f(x: f32[B, T, 6], h0: f32[B, 5], wr: f32[5, 5], wz: f32[5, 5], wn: f32[5, 5],\n"
                        "        ur: f32[5, 6], uz: f32[5, 6], br: f32[5], bz: f32[5]) -> (ys, hn) {\n"
                        "  ys, hn = scan(x_t in x, h = h0, axis = 1) {\n"
                        "    r = sigmoid(x_t @ ur.T + br + (h @ wr.T) * 0.3)\n"
                        "    z = sigmoid(x_t @ uz.T + bz + (h @ wz.T) * 0.3)\n"
                        "    h = (1.0 - z) * tanh(r * (h @ wn.T) * 0.3) + z * h\n    yield h\n  }\n"
                        "  return ys, hn\n}\n",
     "x:f32:B,T,6 h0:f32:B,5 wr:f32:5,5 wz:f32:5,5 wn:f32:5,5 ur:f32:5,6 uz:f32:5,6 br:f32:5 bz:f32:5", 0},
    /* fusion: the kernels compiler/fuse*.c form, checked against the unfused interpreter */
    {"fused_attention", "entry f(q: f32[B, 2, N, K], k: f32[B, 2, M, K], v: f32[B, 2, M, T], m: bool[B, 1, 1, M],\n"
                        "        a: f32[N, M], s: f32[B, 1, M, K], k3: f32[M, K]) -> (y1, y2, y3, y4) {\n"
                        "  y1 = softmax(masked_fill(q @ k.T / 8.0, m, -inf)) @ v\n"
                        "  y2 = softmax(q @ s.T * 0.3 + a) @ v\n"
                        "  y3 = softmax(q @ k3.T / sqrt(q.shape[-1])) @ v\n"
                        "  y4 = softmax((q * 2.0) @ k.T) @ v\n"
                        "  return y1, y2, y3, y4\n}\n",
     "q:f32:B,2,N,K k:f32:B,2,M,K v:f32:B,2,M,T m:bool:B,1,1,M a:f32:N,M s:f32:B,1,M,K k3:f32:M,K", 0},
    /* heads split out of one projection and read in place by the attention kernel (FuseView):
       slices at offsets, reshapes that split a dim, permutes; k broadcast over the batch; results
       written straight into the layout of a permute that merges the heads back */
    {"fused_attention_views", "entry f(x: f32[B, N, 24], y: f32[1, M, 16], m: bool[B, 1, 1, M]) -> (y1, y2, y3, y4) {\n"
                              "  q = permute(reshape(x[:, :, 0:8], [B, N, 2, 4]), [0, 2, 1, 3])\n"
                              "  k = permute(reshape(x[:, :, 8:16], [B, N, 2, 4]), [0, 2, 1, 3])\n"
                              "  v = permute(reshape(x[:, :, 16:24], [B, N, 4, 2]), [0, 2, 1, 3])\n"
                              "  ky = permute(reshape(y[:, :, 0:8], [1, M, 2, 4]), [0, 2, 1, 3])\n"
                              "  vy = transpose(reshape(y[:, :, 8:16], [1, M, 2, 4]), 1, 2)\n"
                              "  y1 = softmax(q @ k.T / 2.0) @ permute(reshape(v, [B, 4, N, 2]), [0, 1, 2, 3])[:, 0:2]\n"
                              "  y2 = softmax(masked_fill(q @ ky.T * 0.5, m, -inf)) @ vy\n"
                              "  w = permute(reshape(x[:, :, 16:24], [B, N, 2, 4]), [0, 2, 1, 3])\n"
                              "  y3 = reshape(permute(softmax(k @ q.T) @ w, [0, 2, 1, 3]), [B, N, 8])\n"
                              "  y4 = permute(softmax(ky @ k.T * 0.25) @ w[:, :, :, 0:1], [1, 2, 0, 3])\n"
                              "  return y1, y2, y3, y4\n}\n",
     "x:f32:B,N,24 y:f32:1,M,16 m:bool:B,1,1,M", 0},
    /* attention whose weights are needed: the softmax runs in the product's epilogue on whole rows */
    {"fused_matmul_softmax", "entry f(q: f32[B, 2, N, K], k: f32[B, 2, M, K], m: bool[B, 1, 1, M], a: f32[N, M],\n"
                             "        s: f32[M, K]) -> (y1, y2, y3) {\n"
                             "  y1 = softmax(masked_fill(q @ k.T / 8.0, m, -inf))\n"
                             "  y2 = softmax(q @ s.T * 0.3 + a)\n"
                             "  y3 = softmax((q[:, 0] * 0.5) @ k[:, 1].T - 1.0)\n"
                             "  return y1, y2 @ s, y3\n}\n",
     "q:f32:B,2,N,K k:f32:B,2,M,K m:bool:B,1,1,M a:f32:N,M s:f32:M,K", 0},
    {"fused_epilogue", "entry f(x: f32[B, N, K], w: f32[M, K], u: f32[M, K], b: f32[M], r: f32[B, N, M], g: f32[M]) -> (y1, y2, y3) {\n"
                       "  h = gelu(x @ w.T + b)\n"
                       "  return h * 2.0 + r, layer_norm(r + (x @ u.T + b), g, b), tanh(r * g) * sigmoid((x * 0.5) @ w.T + 1.0)\n}\n",
     "x:f32:B,N,K w:f32:M,K u:f32:M,K b:f32:M r:f32:B,N,M g:f32:M", 0},
    {"fused_views", "entry f(gx: f32[B, 3, N], gh: f32[B, N, 12], h: f32[B, N, 4], i: i64[B, N, 4]) -> (y1, y2) {\n"
                    "  ri, zi, ni = split(gh, 3, axis = 2)\n"
                    "  r = sigmoid(ri + gx[:, 0:1, 0:1])\n  z = sigmoid(zi + expand(gx[:, 1:2, 0:1], [B, N, 4]))\n"
                    "  n = tanh(ni + r * h)\n"
                    "  return (1.0 - z) * n + z * h, where(i > 2, f32(i) * z, -n)\n}\n",
     "gx:f32:B,3,N gh:f32:B,N,12 h:f32:B,N,4 i:i64:B,N,4:0:5", 1},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

/* Values each symbol takes in instantiation i (16 lanes here: 15, 16, 17 around it). */
static int64_t sym_value(char sym, int i) {
    static const int64_t n[] = {1, 15, 16, 17, 13, 97, 300, 2};
    static const int64_t b[] = {1, 3, 2, 1, 5, 1, 2, 4};
    static const int64_t mk[] = {1, 7, 17, 64, 31, 5, 129, 16};
    static const int64_t t[] = {1, 5, 2, 9, 3, 4, 1, 7};
    switch (sym) {
    case 'B': return b[i % 8];
    case 'T': return t[i % 8];
    case 'M': return mk[(i + 3) % 8];
    case 'K': return mk[i % 8];
    case 'V': return 1 + t[(i + 2) % 8] * 3;
    default: return n[i % 8];
    }
}
enum { INSTANCES = 8 };

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double uniform(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static attn_dtype parse_dtype(const char *s) {
    return strcmp(s, "i64") == 0 ? ATTN_I64 : strcmp(s, "i32") == 0 ? ATTN_I32 : strcmp(s, "bool") == 0 ? ATTN_BOOL : ATTN_F32;
}

/* Parses the input specs and makes random tensors for instantiation `inst`. */
static int make_inputs(const Case *c, int inst, attn_tensor *in) {
    char spec[512];
    snprintf(spec, sizeof spec, "%s", c->inputs);
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(spec, " ", &save); tok; tok = strtok_r(NULL, " ", &save), n++) {
        char *f[5] = {0};
        int nf = 0;
        for (char *p = tok; p && nf < 5; nf++) {
            f[nf] = p;
            p = strchr(p, ':');
            if (p)
                *p++ = '\0';
        }
        attn_tensor *t = &in[n];
        t->name = strdup(f[0]);
        t->dtype = parse_dtype(f[1]);
        t->rank = 0;
        for (char *d = f[2]; d && *d; t->rank++) {
            t->shape[t->rank] = *d >= 'A' && *d <= 'Z' ? sym_value(*d, inst) : strtoll(d, NULL, 10);
            d = strchr(d, ',');
            if (d)
                d++;
        }
        double lo = -3, hi = 3;
        if (f[3])
            lo = f[3][0] >= 'A' && f[3][0] <= 'Z' ? (double)sym_value(f[3][0], inst) : atof(f[3]);
        if (f[4])
            hi = f[4][0] >= 'A' && f[4][0] <= 'Z' ? (double)sym_value(f[4][0], inst) : atof(f[4]);
        int64_t numel = attn_tensor_numel(t);
        t->data = malloc((size_t)(numel ? numel : 1) * attn_dtype_size(t->dtype));
        for (int64_t i = 0; i < numel; i++) {
            double u = uniform();
            switch (t->dtype) {
            case ATTN_F32: {
                float v = (float)(lo + (hi - lo) * u);
                if (f[3]) /* a given range means few distinct values: ties for comparisons */
                    v = (float)floor(v * 2) / 2;
                if (c->nan && uniform() < 0.1) {
                    double r = uniform();
                    v = r < 0.3 ? NAN : r < 0.6 ? INFINITY : r < 0.9 ? -INFINITY : 100.0f;
                }
                ((float *)t->data)[i] = v;
                break;
            }
            case ATTN_I64: ((int64_t *)t->data)[i] = (int64_t)floor(lo + (hi - lo) * u); break;
            case ATTN_I32: ((int32_t *)t->data)[i] = (int32_t)floor(lo + (hi - lo) * u); break;
            case ATTN_BOOL: ((uint8_t *)t->data)[i] = u < 0.5; break;
            }
        }
    }
    return n;
}

static int compare(const char *cname, int inst, const attn_tensor *x, const attn_tensor *ref) {
    if (x->dtype != ref->dtype || x->rank != ref->rank || memcmp(x->shape, ref->shape, sizeof(int64_t) * (size_t)x->rank)) {
        printf("%s[%d] %s: shape or dtype differs\n", cname, inst, ref->name);
        return 1;
    }
    int64_t n = attn_tensor_numel(x);
    for (int64_t i = 0; i < n; i++) {
        bool ok;
        double a = 0, b = 0;
        switch (x->dtype) {
        case ATTN_F32:
            a = ((float *)x->data)[i];
            b = ((float *)ref->data)[i];
            ok = (isnan(a) && isnan(b)) || a == b || fabs(a - b) <= 2e-5 + 2e-5 * fabs(b);
            break;
        case ATTN_I64: a = (double)((int64_t *)x->data)[i]; b = (double)((int64_t *)ref->data)[i]; ok = ((int64_t *)x->data)[i] == ((int64_t *)ref->data)[i]; break;
        case ATTN_I32: a = ((int32_t *)x->data)[i]; b = ((int32_t *)ref->data)[i]; ok = a == b; break;
        default: a = ((uint8_t *)x->data)[i]; b = ((uint8_t *)ref->data)[i]; ok = a == b; break;
        }
        if (!ok) {
            printf("%s[%d] %s: element %lld is %.9g, the interpreter says %.9g\n", cname, inst, ref->name, (long long)i, a, b);
            return 1;
        }
    }
    return 0;
}

/* --no-fuse: the JIT side without operator fusion. */
static int no_fuse;

static attn_program *compile(const Case *c, attn_backend backend) {
    attn_model *m = attn_model_new();
    attn_program *p = NULL;
    attn_compile_options opt = {.backend = backend, .threads = 2, .no_fuse = no_fuse};
    if (attn_model_load_source(m, c->name, c->src) != ATTN_OK || attn_model_compile(m, "f", &opt, &p) != ATTN_OK)
        printf("%s: %s", c->name, attn_model_errors(m));
    attn_model_free(m);
    return p;
}

int main(int argc, char **argv) {
    int failures = 0, runs = 0;
    if (argc > 1 && strcmp(argv[1], "--no-fuse") == 0) {
        no_fuse = 1;
        argc--;
        argv++;
    }
    for (int ci = 0; ci < NCASES; ci++) {
        const Case *c = &cases[ci];
        if (argc > 1 && !strstr(c->name, argv[1]))
            continue;
        attn_program *jit = compile(c, ATTN_BACKEND_JIT), *ref = compile(c, ATTN_BACKEND_INTERP);
        if (!jit || !ref) {
            failures++;
            attn_program_free(jit);
            attn_program_free(ref);
            continue;
        }
        int bad = 0;
        for (int inst = 0; inst < INSTANCES && !bad; inst++) {
            attn_tensor in[16] = {0};
            int nin = make_inputs(c, inst, in);
            attn_tensor *x = NULL, *r = NULL;
            int nx = 0, nr = 0;
            char *ex = NULL, *er = NULL;
            attn_status sx = attn_program_run(jit, in, nin, &x, &nx, &ex);
            attn_status sr = attn_program_run(ref, in, nin, &r, &nr, &er);
            if (sx != sr || (ex && er && strcmp(ex, er))) {
                printf("%s[%d]: jit says %s, the interpreter %s\n", c->name, inst, ex ? ex : "ok", er ? er : "ok");
                bad = 1;
            }
            for (int i = 0; sx == ATTN_OK && sr == ATTN_OK && i < nr && !bad; i++)
                bad = compare(c->name, inst, &x[i], &r[i]);
            runs++;
            attn_tensors_free(x, nx);
            attn_tensors_free(r, nr);
            attn_string_free(ex);
            attn_string_free(er);
            for (int i = 0; i < nin; i++) {
                free((void *)in[i].name);
                free(in[i].data);
            }
        }
        printf("%-18s %s\n", c->name, bad ? "FAILED" : "ok");
        failures += bad;
        attn_program_free(jit);
        attn_program_free(ref);
    }
    printf("%d runs, %d failing cases\n", runs, failures);
    return failures != 0;
}
