/*
 * test_canonical.c — exporters' spellings (compiler/opt/pass_canonical.c)
 * become the kernels of the table's ops, with the same numbers.
 *
 * Each case writes one computation twice: as the zoo writes it (layer_norm,
 * gelu, q @ k.T) and as an ONNX graph spells it node by node (ReduceMean,
 * Sub, Pow, Sqrt, Div, Mul, Add; the Erf or tanh formula; MatMul of a
 * Transpose, q scaled before the product). The kernel graphs must be the
 * same kernel for kernel (node numbers aside), and both programs must give
 * the same outputs on the JIT and the interpreter. Near misses (another
 * exponent, eps outside the square root, a scale that is no power of two)
 * must keep their nodes and still compute their own value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "attn.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define B 2
#define L 5
#define D 32
#define F 64
#define H 2
#define DH 16

static const char *WEIGHTS = "  param w: f32[32]\n  param b: f32[32]\n  param w1: f32[64, 32]\n  param b1: f32[64]\n";

/* A model of one entry f(x: f32[2, 5, 32]) (or the attention signature)
 * over the weights w, b, w1, b1, returning `body`. */
static char *source(const char *signature, const char *body) {
    size_t n = strlen(signature) + strlen(WEIGHTS) + strlen(body) + 64;
    char *s = malloc(n);
    assert_non_null(s);
    snprintf(s, n, "entry f(%s) -> y {\n%s%s\n}\n", signature, WEIGHTS, body);
    return s;
}

static float pseudo_random(unsigned *seed) {
    *seed = *seed * 1103515245u + 12345u;
    return (float)((*seed >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static attn_tensor tensor(const char *name, int rank, const int64_t *shape, unsigned seed, float scale, float offset) {
    attn_tensor t = {.name = name, .dtype = ATTN_F32, .rank = rank};
    memcpy(t.shape, shape, (size_t)rank * sizeof(int64_t));
    t.data = malloc((size_t)attn_tensor_numel(&t) * sizeof(float));
    assert_non_null(t.data);
    float *d = t.data;
    for (int64_t i = 0; i < attn_tensor_numel(&t); i++)
        d[i] = offset + scale * pseudo_random(&seed);
    return t;
}

/* The weights every model binds (bound tensors must outlive their models). */
static attn_tensor weights[4];

static int make_weights(void **state) {
    (void)state;
    weights[0] = tensor("w", 1, (int64_t[]){D}, 1, 0.5f, 1.0f);
    weights[1] = tensor("b", 1, (int64_t[]){D}, 2, 0.5f, 0.0f);
    weights[2] = tensor("w1", 2, (int64_t[]){F, D}, 3, 0.3f, 0.0f);
    weights[3] = tensor("b1", 1, (int64_t[]){F}, 4, 0.5f, 0.0f);
    return 0;
}

static int free_weights(void **state) {
    (void)state;
    for (int i = 0; i < 4; i++)
        free(weights[i].data);
    return 0;
}

static attn_model *load(const char *src) {
    attn_model *m = attn_model_new();
    assert_non_null(m);
    if (attn_model_load_source(m, "t.attn", src) != ATTN_OK)
        fail_msg("%s\n%s", src, attn_model_errors(m));
    for (int i = 0; i < 4; i++)
        assert_int_equal(attn_model_bind_tensor(m, &weights[i]), ATTN_OK);
    return m;
}

/* The kernel graph of m's entry f with node numbers (k12, %12) removed. */
static char *kernels(attn_model *m) {
    char *text = NULL;
    assert_int_equal(attn_model_graph_text(m, "f", 2, &text), ATTN_OK);
    char *out = malloc(strlen(text) + 1), *o = out;
    assert_non_null(out);
    for (const char *s = text; *s;) {
        bool number = (*s == '%' || (*s == 'k' && (s == text || s[-1] == ' '))) && isdigit((unsigned char)s[1]);
        if (number) {
            for (s++; isdigit((unsigned char)*s); s++)
                ;
        } else
            *o++ = *s++;
    }
    *o = '\0';
    attn_string_free(text);
    return out;
}

static char *ir_text(attn_model *m) {
    char *text = NULL;
    assert_int_equal(attn_model_graph_text(m, "f", 0, &text), ATTN_OK);
    char *copy = strdup(text);
    attn_string_free(text);
    return copy;
}

/* The output of m's entry f on `inputs` with `backend`. */
static attn_tensor run(attn_model *m, attn_backend backend, const attn_tensor *inputs, int n) {
    attn_compile_options opt = {.backend = backend};
    attn_program *p = NULL;
    assert_int_equal(attn_model_compile(m, "f", &opt, &p), ATTN_OK);
    attn_tensor *out = NULL;
    int nout = 0;
    char *err = NULL;
    if (attn_program_run(p, inputs, n, &out, &nout, &err) != ATTN_OK)
        fail_msg("%s", err);
    assert_int_equal(nout, 1);
    attn_tensor y = out[0];
    out[0].data = NULL;
    y.name = NULL;
    attn_tensors_free(out, nout);
    attn_program_free(p);
    return y;
}

static void expect_close(const attn_tensor *a, const attn_tensor *b, double tol, const char *what) {
    assert_int_equal(attn_tensor_numel(a), attn_tensor_numel(b));
    const float *x = a->data, *y = b->data;
    for (int64_t i = 0; i < attn_tensor_numel(a); i++)
        if (!(fabs((double)x[i] - (double)y[i]) <= tol * (1.0 + fabs((double)y[i]))))
            fail_msg("%s: element %lld is %.9g, not %.9g", what, (long long)i, (double)x[i], (double)y[i]);
}

static attn_tensor *inputs_for(const char *signature, int *n) {
    static attn_tensor in[4];
    if (strstr(signature, "qkv")) {
        in[0] = tensor("qkv", 3, (int64_t[]){L, B, 48}, 15, 1.0f, 0.0f);
        in[1] = tensor("pad", 2, (int64_t[]){B, L}, 16, 1.0f, 0.0f);
        *n = 2;
    } else if (strstr(signature, "mask")) {
        in[0] = tensor("q", 4, (int64_t[]){B, H, L, DH}, 11, 1.0f, 0.0f);
        in[1] = tensor("k", 4, (int64_t[]){B, H, L, DH}, 12, 1.0f, 0.0f);
        in[2] = tensor("v", 4, (int64_t[]){B, H, L, DH}, 13, 1.0f, 0.0f);
        in[3] = tensor("mask", 4, (int64_t[]){B, 1, 1, L}, 14, 1.0f, 0.0f);
        *n = 4;
    } else {
        in[0] = tensor("x", 3, (int64_t[]){B, L, D}, 10, 2.0f, 0.3f);
        *n = 1;
    }
    return in;
}

/* Both spellings compute the same values (JIT and interpreter); with
 * `same_kernels`, they are also the same kernels. Returns the kernel text
 * of `exported`. */
static char *compare(const char *signature, const char *zoo, const char *exported, bool same_kernels) {
    char *zs = source(signature, zoo), *es = source(signature, exported);
    attn_model *mz = load(zs), *me = load(es);
    char *kz = kernels(mz), *ke = kernels(me);
    if (same_kernels && strcmp(kz, ke) != 0)
        fail_msg("exported spelling\n%s\nhas kernels\n%s\nthe zoo's\n%s\nhas\n%s", es, ke, zs, kz);
    int n;
    attn_tensor *in = inputs_for(signature, &n);
    attn_tensor want = run(mz, ATTN_BACKEND_INTERP, in, n);
    attn_tensor jit = run(me, ATTN_BACKEND_JIT, in, n), interp = run(me, ATTN_BACKEND_INTERP, in, n);
    expect_close(&jit, &want, 2e-6, "JIT");
    expect_close(&interp, &want, 2e-6, "interpreter");
    for (int i = 0; i < n; i++)
        free(in[i].data);
    free(want.data);
    free(jit.data);
    free(interp.data);
    free(kz);
    attn_model_free(mz);
    attn_model_free(me);
    free(zs);
    free(es);
    return ke;
}

static const char *X = "x: f32[2, 5, 32]";
static const char *TIME_MAJOR = "qkv: f32[L, B, 48], pad: f32[B, L]";
static const char *QKV = "q: f32[B, 2, L, 16], k: f32[B, 2, L, 16], v: f32[B, 2, L, 16], mask: f32[B, 1, 1, L]";

static const char *NORM_READ_TWICE = "  d = x - mean(x, axis = -1, keepdim = 1)\n"
                                     "  n = d / sqrt(mean(pow(d, 2.0), axis = -1, keepdim = 1) + 1e-5)\n"
                                     "  return n * w + b + n";

static void layer_norm_and_erf_gelu(void **state) {
    (void)state;
    /* PyTorch's GELU symbolic: x * (erf(x / √2) + 1) * 0.5, the weight a Transpose */
    free(compare(X, "  return gelu(layer_norm(x, w, b, eps = 1e-5) @ w1.T + b1)",
                 "  m = mean(x, axis = -1, keepdim = 1)\n  d = x - m\n"
                 "  n = d / sqrt(mean(pow(d, 2.0), axis = -1, keepdim = 1) + 1e-5) * w + b\n"
                 "  f = b1 + matmul(n, transpose(w1, 0, 1))\n  return f * (erf(f / 1.4142135) + 1.0) * 0.5",
                 true));
    /* Hugging Face's spelling: x * 0.5 * (1 + erf(x * (1/√2))), the variance as d * d, w * n */
    free(compare(X, "  return gelu(layer_norm(x, w, b, eps = 1e-12) @ w1.T + b1)",
                 "  d = x - mean(x, axis = -1, keepdim = 1)\n"
                 "  n = b + w * (d / sqrt(1e-12 + mean(d * d, axis = -1, keepdim = 1)))\n"
                 "  f = n @ w1.T + b1\n  return 0.5 * f * (1.0 + erf(f * 0.70710678))",
                 true));
}

static void tanh_gelu(void **state) {
    (void)state;
    const char *zoo = "  return gelu(x @ w1.T + b1, approximate = \"tanh\")";
    /* PyTorch's symbolic: x * 0.5 * (1 + tanh(β (x + κ x (x x)))) */
    free(compare(X, zoo,
                 "  f = x @ w1.T + b1\n"
                 "  return f * 0.5 * (1.0 + tanh(0.7978845608 * (f + 0.044715 * (f * (f * f)))))",
                 true));
    /* GPT-2's: 0.5 x (1 + tanh(√(2/π) (x + 0.044715 pow(x, 3)))) */
    free(compare(X, zoo,
                 "  f = x @ w1.T + b1\n"
                 "  return 0.5 * f * (1.0 + tanh(0.7978845608028654 * (f + 0.044715 * pow(f, 3.0))))",
                 true));
}

static void attention_with_exported_transposes(void **state) {
    (void)state;
    /* Kᵀ through a Transpose, q divided by √16 before the product */
    char *k = compare(QKV, "  return softmax(q @ k.T / 4.0 + mask, axis = -1) @ v",
                      "  s = matmul(q / 4.0, permute(k, [0, 1, 3, 2]))\n  return matmul(softmax(s + mask, axis = -1), v)",
                      true);
    assert_non_null(strstr(k, "attention"));
    free(k);
    /* q multiplied by 1/8 */
    k = compare(QKV, "  return softmax(q @ k.T * 0.125 + mask, axis = -1) @ v",
                "  s = matmul(0.125 * q, transpose(k, 2, 3))\n  return matmul(softmax(mask + s, axis = -1), v)",
                true);
    assert_non_null(strstr(k, "attention"));
    free(k);
    /* BERT's export: heads split as [B, L, H, D], Kᵀ as Transpose(perm [0, 2, 3, 1]) of that */
    k = compare(QKV, "  return softmax(q @ k.T / 8.0 + mask, axis = -1) @ v",
                "  k_bl = permute(k, [0, 2, 1, 3])\n"
                "  s = matmul(q, permute(k_bl, [0, 2, 3, 1])) / 8.0\n  return matmul(softmax(s + mask, axis = -1), v)",
                false);
    if (!strstr(k, "attention") || strstr(k, "single"))
        fail_msg("BERT's exported attention is not one kernel:\n%s", k);
    free(k);
}

static void attention_over_merged_heads(void **state) {
    (void)state;
    /* nn.MultiheadAttention's export: time-major q, k, v split into [B*4, L, 4]
       by Reshape + Transpose, the mask expanded over the heads, the result
       moved back to [L, B*4, 4]; the zoo runs the same on [B, 4, L, 4] */
    char *k = compare(TIME_MAJOR,
                      "  x = permute(qkv, [1, 0, 2])\n"
                      "  q = permute(reshape(x[:, :, 0:16], [B, L, 4, 4]), [0, 2, 1, 3])\n"
                      "  k = permute(reshape(x[:, :, 16:32], [B, L, 4, 4]), [0, 2, 1, 3])\n"
                      "  v = permute(reshape(x[:, :, 32:48], [B, L, 4, 4]), [0, 2, 1, 3])\n"
                      "  ctx = softmax(q @ k.T / 2.0 + reshape(pad, [B, 1, 1, L]), axis = -1) @ v\n"
                      "  return reshape(permute(ctx, [2, 0, 1, 3]), [L, B, 16])",
                      "  q = permute(reshape(qkv[:, :, 0:16], [L, B * 4, 4]), [1, 0, 2])\n"
                      "  k = reshape(qkv[:, :, 16:32], [L, B * 4, 4])\n"
                      "  v = permute(reshape(qkv[:, :, 32:48], [L, B * 4, 4]), [1, 0, 2])\n"
                      "  mask = reshape(expand(reshape(pad, [B, 1, 1, L]), [B, 4, 1, L]), [B * 4, 1, L])\n"
                      "  s = matmul(q / 2.0, permute(k, [1, 2, 0])) * 1.0 + mask\n"
                      "  return reshape(permute(matmul(softmax(s, axis = -1), v), [1, 0, 2]), [L, B, 16])",
                      false);
    /* q, k and v read in place by the attention kernel: no copies left,
       only the expansion of the mask over the heads */
    if (!strstr(k, "entry f: 2 kernels") || !strstr(k, "attention"))
        fail_msg("the heads of the exported attention are copied:\n%s", k);
    free(k);
}

/* The exported spelling keeps node `op` in its graph, and still computes the
 * same values as `zoo`. */
static void near_miss(const char *signature, const char *zoo, const char *exported, const char *op) {
    char *es = source(signature, exported);
    attn_model *me = load(es);
    char *ir = ir_text(me);
    if (!strstr(ir, op))
        fail_msg("%s was rewritten (no %s left):\n%s", es, op, ir);
    free(ir);
    attn_model_free(me);
    free(es);
    free(compare(signature, zoo, exported, false));
}

static void near_misses_keep_their_nodes(void **state) {
    (void)state;
    /* eps added after the square root: not LayerNormalization */
    near_miss(X, "  d = x - mean(x, axis = -1, keepdim = 1)\n  return d / (sqrt(mean(d * d, axis = -1, keepdim = 1)) + 1e-5)",
              "  d = x - mean(x, axis = -1, keepdim = 1)\n  return d / (sqrt(mean(pow(d, 2.0), axis = -1, keepdim = 1)) + 1e-5)",
              "sqrt(");
    /* the mean over another axis */
    near_miss(X, "  m = mean(x, axis = 1, keepdim = 1)\n  d = x - m\n  return d / sqrt(mean(d * d, axis = 1, keepdim = 1) + 1e-5)",
              "  m = mean(x, axis = 1, keepdim = 1)\n  d = x - m\n  return d / sqrt(mean(pow(d, 2.0), axis = 1, keepdim = 1) + 1e-5)",
              "mean(");
    /* 0.4 instead of 0.5, and √2 rounded to 1.414 */
    near_miss(X, "  return 0.4 * x * (1.0 + erf(x / 1.4142135))", "  return x * 0.4 * (1.0 + erf(x / 1.4142135))", "erf(");
    near_miss(X, "  return x * 0.5 * (erf(x / 1.414) + 1.0)", "  return x * (erf(x / 1.414) + 1.0) * 0.5", "erf(");
    /* the normalised value read twice: the affine part is not absorbed into it */
    free(compare(X, "  n = layer_norm(x, eps = 1e-5)\n  return n * w + b + n", NORM_READ_TWICE, true));
    /* a scale of 1/3: moving it after the product would round differently */
    near_miss(QKV, "  return softmax((q / 3.0) @ k.T + mask, axis = -1) @ v",
              "  s = matmul(q / 3.0, permute(k, [0, 1, 3, 2]))\n  return matmul(softmax(s + mask, axis = -1), v)",
              "div(");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(layer_norm_and_erf_gelu),
        cmocka_unit_test(tanh_gelu),
        cmocka_unit_test(attention_with_exported_transposes),
        cmocka_unit_test(attention_over_merged_heads),
        cmocka_unit_test(near_misses_keep_their_nodes),
    };
    return cmocka_run_group_tests(tests, make_weights, free_weights);
}
