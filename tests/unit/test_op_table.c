/*
 * test_op_table.c — every op of ops.def is handled by every backend.
 *
 * For each op the test spells a call of it in .attn source (its builtin name,
 * or the operator or sugar that lowers to it) and compiles two entry points:
 * `run` computes it on inputs, `folded` on constants that constant folding
 * must turn into a CONST at compile time. On a small input the interpreter,
 * the JIT and the folder must agree: interpreter and folder bit for bit (both
 * run op_run), the JIT within 1e-5 absolute + relative (NaN where they say
 * NaN). A unary op with a scalar function is also evaluated on a number at
 * compile time and checked against the JIT on a tensor. Ops of the source
 * and control classes have no operands to compute from and are skipped by
 * class; every other op needs a spelling here, so a new op cannot be added to
 * the table without being tested.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "op_cases.h"
#include "ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Spellings that are not `builtin(a)` / `builtin(a, b)`: operators, sugar,
 * and calls whose operands need other shapes. a, b: f32[2, 3]; m, n: bool[2, 3];
 * k: i64[2]. */
static const char *const special[OP_COUNT] = {
    [OP_NEG] = "-a",
    [OP_GELU_TANH] = "gelu(a, approximate = \"tanh\")",
    [OP_NOT] = "not m",
    [OP_CAST] = "i64(a * 4.0)",
    [OP_ADD] = "a + b",
    [OP_SUB] = "a - b",
    [OP_MUL] = "a * b",
    [OP_DIV] = "a / b",
    [OP_LT] = "a < b",
    [OP_LE] = "a <= b",
    [OP_GT] = "a > b",
    [OP_GE] = "a >= b",
    [OP_EQ] = "a == b",
    [OP_NE] = "a != b",
    [OP_AND] = "m and n",
    [OP_OR] = "m or n",
    [OP_WHERE] = "where(m, a, b)",
    [OP_MATMUL] = "a @ b.T",
    [OP_RESHAPE] = "reshape(a, [3, 2])",
    [OP_PERMUTE] = "transpose(a, 0, 1)",
    [OP_SLICE] = "a[:, 1:]",
    [OP_CONCAT] = "concat(a, b)",
    [OP_EXPAND] = "expand(a[0:1], [4, 3])",
    [OP_GATHER] = "embedding(a, k)",
    [OP_CHECK_LENGTHS] = "check_lengths(k + 1, 2)",
};

/* The constants `folded` computes from (and `run` gets as its inputs). */
static const char values_src[] = "  a = reshape(f32(arange(6)) * 0.37 - 1.1, [2, 3])\n"
                                 "  b = reshape(f32(arange(6)) * -0.23 + 0.6, [2, 3])\n"
                                 "  m = reshape(arange(6) > 2, [2, 3])\n"
                                 "  n = reshape((arange(6) < 2) or (arange(6) == 4), [2, 3])\n"
                                 "  k = arange(2)\n";

enum { NVALUES = 5 };
static const char *const value_names[NVALUES] = {"a", "b", "m", "n", "k"};

static bool skipped_by_class(OpClass c) { return c == OC_SOURCE || c == OC_CONTROL; }

/* The call of op k on a, b, m, n, k; NULL when the test has no spelling. */
static const char *spelling(OpKind k, char *buf, size_t size) {
    const OpInfo *info = &op_info[k];
    if (special[k])
        return special[k];
    if (!info->builtin)
        return NULL;
    switch (info->cls) {
    case OC_UNARY:
    case OC_REDUCE:
    case OC_NORM: snprintf(buf, size, "%s(a)", info->builtin); return buf;
    case OC_BINARY: snprintf(buf, size, "%s(a, b)", info->builtin); return buf;
    case OC_SOURCE:
    case OC_COMPARE:
    case OC_LOGIC:
    case OC_TERNARY:
    case OC_MATMUL:
    case OC_SHAPE:
    case OC_GATHER:
    case OC_CHECK:
    case OC_CONTROL: return NULL;
    }
    return NULL;
}

static attn_model *load(const char *src) {
    attn_model *m = attn_model_new();
    assert_non_null(m);
    if (attn_model_load_source(m, "op_table.attn", src) != ATTN_OK) {
        fprintf(stderr, "%s\n%s", src, attn_model_errors(m));
        fail();
    }
    return m;
}

/* Runs `entry` of m on the given backend; returns its outputs. */
static attn_tensor *run(attn_model *m, const char *entry, attn_backend backend, const attn_tensor *in, int nin, int *nout) {
    attn_compile_options opt = {.backend = backend, .threads = 1};
    attn_program *p = NULL;
    if (attn_model_compile(m, entry, &opt, &p) != ATTN_OK) {
        fprintf(stderr, "%s", attn_model_errors(m));
        fail();
    }
    attn_tensor *out = NULL;
    char *err = NULL;
    if (attn_program_run(p, in, nin, &out, nout, &err) != ATTN_OK) {
        fprintf(stderr, "%s: %s\n", entry, err);
        fail();
    }
    attn_program_free(p);
    return out;
}

static size_t nbytes(const attn_tensor *t) { return (size_t)attn_tensor_numel(t) * attn_dtype_size(t->dtype); }

static void expect_same(const char *what, const char *op, const attn_tensor *got, const attn_tensor *want) {
    assert_int_equal(got->dtype, want->dtype);
    assert_int_equal(attn_tensor_numel(got), attn_tensor_numel(want));
    if (memcmp(got->data, want->data, nbytes(want)) != 0) {
        fprintf(stderr, "%s: %s differs\n", op, what);
        fail();
    }
}

static bool close(float got, float want) {
    if (isnan(want) || isnan(got))
        return isnan(want) && isnan(got);
    if (isinf(want) || isinf(got))
        return got == want;
    return fabs((double)got - (double)want) <= 1e-5 * (1.0 + fabs((double)want));
}

static void expect_close(const char *what, const char *op, const attn_tensor *got, const attn_tensor *want) {
    if (want->dtype != ATTN_F32) {
        expect_same(what, op, got, want);
        return;
    }
    assert_int_equal(attn_tensor_numel(got), attn_tensor_numel(want));
    const float *g = got->data, *w = want->data;
    for (int64_t i = 0; i < attn_tensor_numel(want); i++)
        if (!close(g[i], w[i])) {
            fprintf(stderr, "%s: %s: element %lld is %.9g, expected %.9g\n", op, what, (long long)i, g[i], w[i]);
            fail();
        }
}

/* Whether every node of the graph text of `entry` is a const. */
static bool all_const(attn_model *m, const char *entry) {
    char *text = NULL;
    assert_int_equal(attn_model_graph_text(m, entry, 0, &text), ATTN_OK);
    bool ok = true;
    for (const char *p = strstr(text, " = "); p && ok; p = strstr(p + 3, " = "))
        ok = strncmp(p + 3, "const ", 6) == 0;
    attn_string_free(text);
    return ok;
}

/* Whether the graph of `entry` computes op k (a node "%N = name(..."). */
static bool has_op(attn_model *m, const char *entry, OpKind k) {
    char *text = NULL, want[64];
    assert_int_equal(attn_model_graph_text(m, entry, 0, &text), ATTN_OK);
    snprintf(want, sizeof want, " = %s(", op_name(k));
    bool ok = strstr(text, want) != NULL;
    attn_string_free(text);
    return ok;
}

/* run (interpreter and JIT) and folded (both) agree for op k. */
static void check_op(OpKind k, const char *call, const attn_tensor *values) {
    char src[2048];
    snprintf(src, sizeof src,
             "entry run(a: f32[2, 3], b: f32[2, 3], m: bool[2, 3], n: bool[2, 3], k: i64[2]) -> (y) {\n"
             "  return %s\n}\n"
             "entry folded() -> (y) {\n%s  return %s\n}\n",
             call, values_src, call);
    attn_model *m = load(src);
    const char *name = op_name(k);
    if (!has_op(m, "run", k)) {
        fprintf(stderr, "%s: `%s` does not compute it\n", name, call);
        fail();
    }
    if (!all_const(m, "folded")) {
        fprintf(stderr, "%s: constant folding left a node of `%s`\n", name, call);
        fail();
    }
    int n1, n2, n3, n4;
    attn_tensor *ref = run(m, "run", ATTN_BACKEND_INTERP, values, NVALUES, &n1);
    attn_tensor *jit = run(m, "run", ATTN_BACKEND_JIT, values, NVALUES, &n2);
    attn_tensor *fold_i = run(m, "folded", ATTN_BACKEND_INTERP, NULL, 0, &n3);
    attn_tensor *fold_j = run(m, "folded", ATTN_BACKEND_JIT, NULL, 0, &n4);
    expect_same("the folded constant against the interpreter", name, &fold_i[0], &ref[0]);
    expect_same("the folded constant in the JIT program", name, &fold_j[0], &ref[0]);
    expect_close("the JIT against the interpreter", name, &jit[0], &ref[0]);
    attn_tensors_free(ref, n1);
    attn_tensors_free(jit, n2);
    attn_tensors_free(fold_i, n3);
    attn_tensors_free(fold_j, n4);
    attn_model_free(m);
}

/* builtin(0.75) on a number at compile time against the JIT on a tensor. */
static void check_scalar(OpKind k, const char *call_a) {
    char src[512];
    const char *fn = op_info[k].builtin;
    snprintf(src, sizeof src, "entry f(a: f32[1]) -> (y, z) {\n  return full([1], %s(0.75)), %s\n}\n", fn, call_a);
    attn_model *m = load(src);
    float x = 0.75f;
    attn_tensor in = {.name = "a", .dtype = ATTN_F32, .rank = 1, .shape = {1}, .data = &x};
    int n;
    attn_tensor *out = run(m, "f", ATTN_BACKEND_JIT, &in, 1, &n);
    expect_close("the compile-time value against the JIT", fn, &out[0], &out[1]);
    attn_tensors_free(out, n);
    attn_model_free(m);
}

static void test_every_op_on_every_backend(void **state) {
    (void)state;
    char src[512];
    snprintf(src, sizeof src, "entry values() -> (a, b, m, n, k) {\n%s  return a, b, m, n, k\n}\n", values_src);
    attn_model *vm = load(src);
    int nv;
    attn_tensor *values = run(vm, "values", ATTN_BACKEND_INTERP, NULL, 0, &nv);
    assert_int_equal(nv, NVALUES);
    for (int i = 0; i < NVALUES; i++)
        values[i].name = value_names[i];
    int tested = 0;
    for (int k = 0; k < OP_COUNT; k++) {
        if (skipped_by_class(op_info[k].cls))
            continue;
        char buf[64];
        const char *call = spelling((OpKind)k, buf, sizeof buf);
        if (!call) {
            fprintf(stderr, "op %s has no spelling in test_op_table.c: add one to special[]\n", op_name((OpKind)k));
            fail();
        }
        check_op((OpKind)k, call, values);
        if (op_info[k].builtin && op_info[k].scalar && op_info[k].cls == OC_UNARY && !special[k])
            check_scalar((OpKind)k, buf);
        tested++;
    }
    attn_tensors_free(values, nv);
    attn_model_free(vm);
    assert_true(tested > 40);
}

/* A unary op of a number at compile time is its scalar function: softplus(-3.0)
 * is log(1 + e^-3), not |-3|. */
static void test_compile_time_softplus(void **state) {
    (void)state;
    attn_model *m = load("entry f() -> (y) {\n  return full([1], softplus(-3.0))\n}\n");
    int n;
    attn_tensor *out = run(m, "f", ATTN_BACKEND_INTERP, NULL, 0, &n);
    assert_float_equal(((float *)out[0].data)[0], 0.048587352f, 1e-7);
    attn_tensors_free(out, n);
    attn_model_free(m);
}

/* Every op that is not a source or control flow can be run (a kernel or a
 * scalar function) and folded: the table's columns are complete. */
static void test_table_columns(void **state) {
    (void)state;
    for (int k = 0; k < OP_COUNT; k++) {
        const OpInfo *info = &op_info[k];
        if (skipped_by_class(info->cls))
            continue;
        if (!info->kernel && !info->scalar) {
            fprintf(stderr, "op %s has neither a kernel nor a scalar function\n", op_name((OpKind)k));
            fail();
        }
        assert_int_not_equal(info->fold, FOLD_NEVER);
    }
}

static int case_group(OpKind k) {
    switch (k) {
    OP_CASES_ELEMENTWISE
        return 1;
    OP_CASES_REDUCE_NORM
        return 2;
    case OP_INPUT: case OP_PARAM: case OP_CONST: case OP_ARANGE: case OP_FULL: case OP_MATMUL:
    case OP_RESHAPE: case OP_PERMUTE: case OP_SLICE: case OP_CONCAT: case OP_EXPAND: case OP_GATHER:
    case OP_CHECK_LENGTHS: case OP_SCAN: case OP_RESULT: case OP_COUNT:
        break;
    }
    return 0;
}

/* The case-label groups of ops/op_cases.h hold exactly the ops of their classes. */
static void test_case_groups_follow_classes(void **state) {
    (void)state;
    for (int k = 0; k < OP_COUNT; k++) {
        OpClass c = op_info[k].cls;
        int want = c == OC_UNARY || c == OC_BINARY || c == OC_COMPARE || c == OC_LOGIC || c == OC_TERNARY ? 1
                   : c == OC_REDUCE || c == OC_NORM                                                       ? 2
                                                                                                          : 0;
        if (case_group((OpKind)k) != want) {
            fprintf(stderr, "op %s: case group %d, its class says %d\n", op_name((OpKind)k), case_group((OpKind)k), want);
            fail();
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_columns),
        cmocka_unit_test(test_case_groups_follow_classes),
        cmocka_unit_test(test_compile_time_softplus),
        cmocka_unit_test(test_every_op_on_every_backend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
