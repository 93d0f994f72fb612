/*
 * test_fuse.c — unit tests of the fusion passes (compiler/fuse/fuse.h): which
 * nodes of small graphs end up in one kernel.
 *
 * Each case compiles a one-entry model and compares the kernel graph with
 * the expected one, written as "kind[ops of its nodes, root last]" per
 * kernel in execution order (scan bodies in braces after their scan); a
 * member the kernel also stores in a buffer of its own is marked with '*'.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "attn.h"
#include "fuse.h"
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *kind_text(FuseKind k) {
    switch (k) {
    case FK_SINGLE: return "single";
    case FK_ELEMENTWISE: return "elementwise";
    case FK_REDUCTION: return "reduction";
    case FK_MATMUL: return "matmul";
    case FK_ATTENTION: return "attention";
    case FK_GATED: return "gated";
    case FK_MATMUL_SOFTMAX: return "matmul_softmax";
    default: return "none";
    }
}

static void describe(const FusePlan *p, StrBuf *out) {
    const IrGraph *g = p->g;
    for (int r = 0; r < g->n; r++) {
        if (g->nodes[r].op == OP_SCAN) {
            sb_printf(out, "scan{");
            describe(p->body[r], out);
            sb_printf(out, "} ");
        }
        if (!fuse_is_root(p, r))
            continue;
        sb_printf(out, "%s[", kind_text(p->kind[r]));
        int members[256];
        int n = fuse_members(p, r, members, 256);
        for (int i = 0; i < n; i++)
            sb_printf(out, "%s%s%s", i ? " " : "", op_name(g->nodes[members[i]].op), p->stored[members[i]] ? "*" : "");
        sb_printf(out, "] ");
    }
}

/* The kernel graph of entry f of src at fusion level `level`, as text. */
static char *kernels_of(const char *src, int level) {
    Model m;
    memset(&m, 0, sizeof m);
    if (model_load(&m, "t.attn", src) != 0)
        fail_msg("%s", diag_text(&m.diag));
    const IrEntry *e = model_entry(&m, "f");
    assert_non_null(e);
    Arena ar = {0};
    FusePlan *p = fuse_plan_build(&ar, e->graph, level);
    assert_non_null(p);
    StrBuf b = {0};
    describe(p, &b);
    char *text = strdup(sb_str(&b));
    sb_free(&b);
    arena_free(&ar);
    model_free(&m);
    size_t n = strlen(text);
    if (n && text[n - 1] == ' ')
        text[n - 1] = '\0';
    return text;
}

static void expect(const char *src, const char *want) {
    char *got = kernels_of(src, 1);
    if (strcmp(got, want) != 0)
        fail_msg("kernels of\n%s\nare  %s\nnot  %s", src, got, want);
    free(got);
}

static void elementwise_chain(void **state) {
    (void)state;
    expect("entry f(a: f32[B, N], b: f32[N]) -> (y) { return tanh(a * 2.0 + b) - a }",
           "elementwise[mul add tanh sub]");
}

static void value_used_twice_in_one_kernel(void **state) {
    (void)state; /* z feeds two nodes of the same kernel: computed once, inside it */
    expect("entry f(a: f32[B, N], h: f32[B, N]) -> (y) { z = sigmoid(a)\n return (1.0 - z) * a + z * h }",
           "elementwise[sigmoid sub mul mul add]");
}

static void output_stays_stored(void **state) {
    (void)state;
    expect("entry f(a: f32[B, N]) -> (x, y) { x = a + 1.0\n return x, x * 2.0 }", "single[add] single[mul]");
}

static void broadcast_value_stays_stored(void **state) {
    (void)state; /* b * 2 is read at every row of a: not recomputed per element */
    expect("entry f(a: f32[B, N], b: f32[N]) -> (y) { return a + b * 2.0 }", "single[mul] single[add]");
}

static void users_in_two_kernels(void **state) {
    (void)state;
    expect("entry f(a: f32[B, N]) -> (y, z) { x = exp(a)\n return sum(x), x * 2.0 }",
           "single[exp] single[sum] single[mul]");
}

static void slices_are_views(void **state) {
    (void)state; /* a GRU step: the gate slices of both projections are read in place */
    expect("entry f(gx: f32[B, 12], gh: f32[B, 12], h: f32[B, 4]) -> (y) {\n"
           "  ri, zi, ni = split(gx, 3)\n  rh, zh, nh = split(gh, 3)\n"
           "  r = sigmoid(ri + rh)\n  z = sigmoid(zi + zh)\n  n = tanh(ni + r * nh)\n"
           "  return (1.0 - z) * n + z * h\n}",
           "elementwise[slice slice slice slice slice slice add sigmoid add sigmoid mul add tanh sub mul mul add]");
}

static void softmax_reads_scale_and_mask(void **state) {
    (void)state;
    expect("entry f(s: f32[B, L, L], m: bool[B, 1, L]) -> (y) { return softmax(masked_fill(s / 8.0, m, -inf)) }",
           "reduction[div where softmax]");
}

static void softmax_over_inner_axis_not_fused(void **state) {
    (void)state;
    expect("entry f(s: f32[B, L, L]) -> (y) { return softmax(s * 2.0, axis = 1) }", "single[mul] single[softmax]");
}

static void expensive_prologue_not_fused(void **state) {
    (void)state; /* softmax reads its input twice: exp would run twice per element */
    expect("entry f(s: f32[B, L]) -> (y) { return softmax(exp(s)) }", "single[exp] single[softmax]");
}

static void add_and_norm(void **state) {
    (void)state;
    expect("entry f(x: f32[B, L, 8], a: f32[B, L, 8], b: f32[8], w: f32[8], c: f32[8]) -> (y) {\n"
           "  return layer_norm(x + (a + b), w, c)\n}",
           "reduction[add add layer_norm]");
}

static void matmul_epilogue(void **state) {
    (void)state;
    expect("entry f(x: f32[B, 8], w: f32[16, 8], b: f32[16]) -> (y) { return relu(x @ w.T + b) }",
           "matmul[matmul add relu]");
}

static void matmul_with_two_kernels_stays(void **state) {
    (void)state;
    expect("entry f(x: f32[B, 8], w: f32[8, 8]) -> (y, z) { p = x @ w\n return p + 1.0, exp(p) + p }",
           "single[matmul] single[add] elementwise[exp add]");
}

static void one_matmul_per_kernel(void **state) {
    (void)state; /* an LSTM-style sum of two products: the later matmul joins */
    expect("entry f(x: f32[B, 8], h: f32[B, 8], w: f32[8, 8], u: f32[8, 8]) -> (y) { return tanh(x @ w + h @ u) }",
           "single[matmul] matmul[matmul add tanh]");
}

static void scan_body_fused(void **state) {
    (void)state;
    expect("entry f(x: f32[B, T, 4], h0: f32[B, 4], w: f32[4, 4]) -> (ys, h) {\n"
           "  ys, h = scan(x_t in x, h = h0, axis = 1) {\n    h = tanh(h @ w + x_t) * 0.5\n    yield h\n  }\n"
           "  return ys, h\n}",
           "scan{matmul[matmul add tanh mul] }");
}

static void attention_from_the_math(void **state) {
    (void)state;
    expect("entry f(q: f32[B, H, L, 8], k: f32[B, H, S, 8], v: f32[B, H, S, 8], m: bool[B, 1, 1, S]) -> (o) {\n"
           "  return softmax(masked_fill(q @ k.T / 8.0, m, -inf)) @ v\n}",
           "attention[matmul div where softmax matmul]");
    expect("entry f(q: f32[B, L, 8], k: f32[B, S, 8], v: f32[B, S, 8], m: f32[L, S]) -> (o) {\n"
           "  return softmax(q @ k.T * 0.125 + m) @ v\n}",
           "attention[matmul mul add softmax matmul]");
}

static void attention_reads_heads_in_place(void **state) {
    (void)state; /* q, k, v sliced out of one projection, heads split and moved: views the kernel reads */
    expect("entry f(x: f32[B, L, 48]) -> (o) {\n  q, k, v = split(x, 3)\n"
           "  q = permute(reshape(q, [B, L, 2, 8]), [0, 2, 1, 3])\n  k = permute(reshape(k, [B, L, 2, 8]), [0, 2, 1, 3])\n"
           "  v = permute(reshape(v, [B, L, 2, 8]), [0, 2, 1, 3])\n  return softmax(q @ k.T / 4.0) @ v\n}",
           "attention[slice slice slice reshape permute reshape permute reshape permute matmul div softmax matmul]");
    /* and the heads merged back: the kernel writes the permute's layout */
    expect("entry f(x: f32[B, L, 48]) -> (o) {\n  q, k, v = split(x, 3)\n"
           "  q = permute(reshape(q, [B, L, 2, 8]), [0, 2, 1, 3])\n  k = permute(reshape(k, [B, L, 2, 8]), [0, 2, 1, 3])\n"
           "  v = permute(reshape(v, [B, L, 2, 8]), [0, 2, 1, 3])\n"
           "  return reshape(permute(softmax(q @ k.T / 4.0) @ v, [0, 2, 1, 3]), [B, L, 16])\n}",
           "attention[slice slice slice reshape permute reshape permute reshape permute matmul div softmax matmul permute]");
    /* a merge of dims is no stride view, and a view read elsewhere too is stored */
    expect("entry f(x: f32[B, 2, L, 8], y: f32[B, L, 2, 8]) -> (o, p) {\n"
           "  q = reshape(x, [B, 2 * L, 8])\n  k = permute(y, [0, 2, 1, 3])\n"
           "  return softmax(q @ reshape(k, [B, 2 * L, 8]).T) @ q, k\n}",
           "single[permute] attention[matmul softmax matmul]");
}

static void attention_with_scale_per_call(void **state) {
    (void)state; /* 1/sqrt(D) with D known per call: the scale is a one-element value read by the kernel */
    expect("entry f(q: f32[L, D], k: f32[S, D], v: f32[S, D]) -> (o) {\n"
           "  return softmax(q @ k.T / sqrt(q.shape[-1])) @ v\n}",
           "single[full] single[sum] single[sqrt] attention[matmul div softmax matmul]");
}

static void attention_weights_returned_not_fused(void **state) {
    (void)state; /* the weights are an output: they must be stored; the scores are
                    normalised in the product's epilogue, a whole row at a time */
    expect("entry f(q: f32[L, 8], k: f32[S, 8], v: f32[S, 8]) -> (o, w) {\n"
           "  w = softmax(q @ k.T / 8.0)\n  return w @ v, w\n}",
           "matmul_softmax[matmul div softmax] single[matmul]");
    expect("entry f(q: f32[B, H, L, 8], k: f32[B, H, S, 8], m: bool[B, 1, 1, S]) -> (w) {\n"
           "  return softmax(masked_fill(q @ k.T / 8.0, m, -inf))\n}",
           "matmul_softmax[matmul div where softmax]");
    /* not over the last axis, or the scores read directly: the product stays apart */
    expect("entry f(q: f32[L, 8], k: f32[S, 8]) -> (w) {\n  return softmax(q @ k.T / 8.0, axis = 0)\n}",
           "matmul[matmul div] single[softmax]");
    expect("entry f(q: f32[L, 8], k: f32[S, 8]) -> (w) {\n  return softmax(q @ k.T)\n}",
           "single[matmul] single[softmax]");
}

static void weight_slices_are_views(void **state) {
    (void)state; /* contiguous slices of a weight need no kernel: the matmuls read them in place */
    expect("entry f(x: f32[B, 4]) -> (y) {\n  param w: f32[12, 4] = \"w\"\n  a, b, c = split(w, 3, axis = 0)\n"
           "  return x @ b.T\n}",
           "single[matmul]");
}

/* A GRU and an LSTM step as fuse_gates.c sees them: a product of a packed
 * weight whose gate slices are read by elementwise kernels. */
static void gate_math_joins_the_product(void **state) {
    (void)state;
    expect("entry f(x: f32[B, T, 48], h0: f32[B, 16]) -> (ys, h) {\n  param w: f32[48, 16] = \"w\"\n"
           "  param b: f32[48] = \"b\"\n  ys, h = scan(g_t in x, h = h0, axis = 1) {\n"
           "    rh, zh, nh = split(h @ w.T + b, 3)\n    ri, zi, ni = split(g_t, 3)\n"
           "    r = sigmoid(ri + rh)\n    z = sigmoid(zi + zh)\n    n = tanh(ni + r * nh)\n"
           "    h = (1.0 - z) * n + z * h\n    yield h\n  }\n  return ys, h\n}",
           "scan{gated[matmul* add slice slice slice slice slice slice add sigmoid add sigmoid mul add tanh sub mul mul "
           "add] }");
    /* an LSTM step: the cell state is computed by the same kernel and stored too */
    expect("entry f(x: f32[B, T, 64], h0: f32[B, 16], c0: f32[B, 16]) -> (ys, h, c) {\n"
           "  param w: f32[64, 16] = \"w\"\n  ys, h, c = scan(g_t in x, h = h0, c = c0, axis = 1) {\n"
           "    i, f, g, o = split(g_t + h @ w.T, 4)\n    c = sigmoid(f) * c + sigmoid(i) * tanh(g)\n"
           "    h = sigmoid(o) * tanh(c)\n    yield h\n  }\n  return ys, h, c\n}",
           "scan{gated[matmul* add slice slice slice slice sigmoid mul sigmoid tanh mul add* sigmoid tanh mul] }");
}

static void gate_math_stays_apart(void **state) {
    (void)state;
    /* H = 12 is no multiple of 16 */
    expect("entry f(x: f32[B, T, 36], h0: f32[B, 12]) -> (ys, h) {\n  param w: f32[36, 12] = \"w\"\n"
           "  ys, h = scan(g_t in x, h = h0, axis = 1) {\n    rh, zh, nh = split(h @ w.T, 3)\n"
           "    ri, zi, ni = split(g_t, 3)\n    r = sigmoid(ri + rh)\n    z = sigmoid(zi + zh)\n"
           "    n = tanh(ni + r * nh)\n    h = (1.0 - z) * n + z * h\n    yield h\n  }\n  return ys, h\n}",
           "scan{single[matmul] elementwise[slice slice slice slice slice slice add sigmoid add sigmoid mul add tanh sub "
           "mul mul add] }");
    /* the weight is an input, not a weight packed when bound */
    expect("entry f(x: f32[B, 32], h: f32[B, 16], w: f32[32, 16]) -> (y) {\n"
           "  a, b = split(h @ w.T, 2)\n  ax, bx = split(x, 2)\n  return sigmoid(a + ax) * tanh(b + bx)\n}",
           "single[matmul] elementwise[slice slice slice slice add sigmoid add tanh mul]");
    /* the product is also read whole */
    expect("entry f(x: f32[B, 32], h: f32[B, 16]) -> (y, p) {\n  param w: f32[32, 16] = \"w\"\n"
           "  p = h @ w.T\n  a, b = split(p, 2)\n  return sigmoid(a) * tanh(b), p\n}",
           "single[matmul] elementwise[slice slice sigmoid tanh mul]");
    /* the first gate kernel's value is read by another kernel before the last one runs */
    expect("entry f(h: f32[B, 16], c0: f32[B, 16]) -> (y, s) {\n  param w: f32[48, 16] = \"w\"\n"
           "  a, b, o = split(h @ w.T, 3)\n  c = sigmoid(a) * c0 + tanh(b)\n  s = sum(c)\n"
           "  return sigmoid(o) * tanh(c), s\n}",
           "single[matmul] elementwise[slice slice sigmoid mul tanh add] single[sum] elementwise[slice sigmoid tanh mul]");
}

/* A sum of many distinct inputs: kernels stop growing before they have more
 * operands than a kernel can take, and the program compiles and runs. */
static void many_operands(void **state) {
    (void)state;
    enum { N = 60 }; /* over FUSE_MAX_LEAVES, within the 64 inputs an entry may have */
    StrBuf src = {0};
    sb_printf(&src, "entry f(");
    for (int i = 0; i < N; i++)
        sb_printf(&src, "%sa%d: f32[B, 3]", i ? ", " : "", i);
    sb_printf(&src, ") -> (y) {\n  return a0");
    for (int i = 1; i < N; i++)
        sb_printf(&src, " + a%d * 1.0", i);
    sb_printf(&src, "\n}\n");
    Model m;
    memset(&m, 0, sizeof m);
    if (model_load(&m, "t.attn", sb_str(&src)) != 0)
        fail_msg("%s", diag_text(&m.diag));
    Arena ar = {0};
    FusePlan *p = fuse_plan_build(&ar, model_entry(&m, "f")->graph, 1);
    assert_non_null(p);
    int kernels = 0;
    for (int r = 0; r < p->g->n; r++)
        if (fuse_is_root(p, r)) {
            kernels++;
            assert_true(fuse_leaf_count(p, r, r) <= FUSE_MAX_LEAVES);
        }
    assert_true(kernels > 1);
    arena_free(&ar);
    model_free(&m);

    attn_model *am = attn_model_new();
    attn_program *prog = NULL;
    assert_int_equal(attn_model_load_source(am, "t.attn", sb_str(&src)), ATTN_OK);
    assert_int_equal(attn_model_compile(am, "f", NULL, &prog), ATTN_OK);
    float ones[2 * 3] = {1, 1, 1, 1, 1, 1};
    attn_tensor in[N];
    char names[N][8];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "a%d", i);
        in[i] = (attn_tensor){.name = names[i], .dtype = ATTN_F32, .rank = 2, .shape = {2, 3}, .data = ones};
    }
    attn_tensor *out = NULL;
    int nout = 0;
    assert_int_equal(attn_program_run(prog, in, N, &out, &nout, NULL), ATTN_OK);
    for (int i = 0; i < 6; i++)
        assert_float_equal(((float *)out[0].data)[i], (float)N, 0);
    attn_tensors_free(out, nout);
    attn_program_free(prog);
    attn_model_free(am);
    sb_free(&src);
}

static void level_zero_fuses_nothing(void **state) {
    (void)state;
    char *got = kernels_of("entry f(a: f32[B, N], b: f32[N]) -> (y) { return tanh(a * 2.0 + b) - a }", 0);
    assert_string_equal(got, "single[mul] single[add] single[tanh] single[sub]");
    free(got);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(elementwise_chain),
        cmocka_unit_test(value_used_twice_in_one_kernel),
        cmocka_unit_test(output_stays_stored),
        cmocka_unit_test(broadcast_value_stays_stored),
        cmocka_unit_test(users_in_two_kernels),
        cmocka_unit_test(slices_are_views),
        cmocka_unit_test(softmax_reads_scale_and_mask),
        cmocka_unit_test(softmax_over_inner_axis_not_fused),
        cmocka_unit_test(expensive_prologue_not_fused),
        cmocka_unit_test(add_and_norm),
        cmocka_unit_test(matmul_epilogue),
        cmocka_unit_test(matmul_with_two_kernels_stays),
        cmocka_unit_test(one_matmul_per_kernel),
        cmocka_unit_test(scan_body_fused),
        cmocka_unit_test(attention_from_the_math),
        cmocka_unit_test(attention_with_scale_per_call),
        cmocka_unit_test(attention_reads_heads_in_place),
        cmocka_unit_test(attention_weights_returned_not_fused),
        cmocka_unit_test(weight_slices_are_views),
        cmocka_unit_test(many_operands),
        cmocka_unit_test(gate_math_joins_the_product),
        cmocka_unit_test(gate_math_stays_apart),
        cmocka_unit_test(level_zero_fuses_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
