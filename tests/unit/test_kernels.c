/*
 * test_kernels.c — unit tests of the reference kernels, the op table and the
 * dtype helpers.
 *
 * Each test builds small tensors by hand, runs one kernel into a caller
 * allocated output and compares against values worked out by hand (or, for the
 * larger matmul cases, by a naive index-by-index product). Zero-size tensors
 * carry NULL data, so the kernels must not touch them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kernels.h"

#include <math.h>
#include <string.h>

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define F32S(...) ((float[]){__VA_ARGS__})
#define I32S(...) ((int32_t[]){__VA_ARGS__})
#define I64S(...) ((int64_t[]){__VA_ARGS__})
#define BOOLS(...) ((uint8_t[]){__VA_ARGS__})

/* A tensor viewing caller-owned `data`. */
static attn_tensor tensor(attn_dtype dt, int rank, const int64_t *shape, void *data)
{
    attn_tensor t = {.dtype = dt, .rank = rank, .data = data};
    for (int d = 0; d < rank; d++)
        t.shape[d] = shape[d];
    return t;
}

/* Floats equal to 1e-6 relative (1e-6 absolute near zero); NaN matches NaN. */
static void expect_f32(const float *got, const float *want, int n)
{
    for (int i = 0; i < n; i++) {
        if (isnan(want[i]) && isnan(got[i]))
            continue;
        if (got[i] == want[i])
            continue;
        float tol = 1e-6f * fmaxf(1.0f, fabsf(want[i]));
        if (!(fabsf(got[i] - want[i]) <= tol))
            fail_msg("element %d: got %.9g, want %.9g", i, (double)got[i], (double)want[i]);
    }
}

/* Exact comparison of the whole array `got` with the listed `type` values. */
#define EXPECT_ARRAY(got, type, ...)                                            \
    do {                                                                        \
        const type want_[] = {__VA_ARGS__};                                     \
        assert_int_equal(sizeof(got), sizeof(want_));                           \
        assert_memory_equal(got, want_, sizeof(want_));                         \
    } while (0)

static const OpAttrs no_attrs;

/* ---- op table and dtypes ---- */

static void test_op_table(void **state)
{
    const OpInfo *ln = &op_info[OP_LAYER_NORM];
    assert_string_equal(ln->id, "LAYER_NORM");
    assert_string_equal(ln->builtin, "layer_norm");
    assert_int_equal(ln->cls, OC_NORM);
    assert_int_equal(ln->min_in, 1);
    assert_int_equal(ln->max_in, 3);
    assert_string_equal(ln->attrs, "eps=1e-5");
    assert_ptr_equal(ln->kernel, kern_layer_norm);
    assert_ptr_equal(op_info[OP_RESHAPE].kernel, kern_copy);
    assert_null(op_info[OP_INPUT].kernel);
    assert_null(op_info[OP_SCAN].kernel);
    assert_null(op_info[OP_ADD].builtin);
    for (int k = 0; k < OP_COUNT; k++) {
        assert_non_null(op_info[k].id);
        assert_true(op_info[k].min_in <= op_info[k].max_in);
    }
}

static void test_op_names(void **state)
{
    assert_string_equal(op_name(OP_LAYER_NORM), "layer_norm");
    assert_string_equal(op_name(OP_ADD), "add");
    assert_string_equal(op_name(OP_INPUT), "input");
    assert_string_equal(op_name(OP_SCAN), "scan");
    assert_string_equal(op_name(OP_COUNT), "?");
    assert_ptr_equal(op_name(OP_GELU), op_name(OP_GELU));
    assert_int_equal(op_by_builtin("embedding"), OP_GATHER);
    assert_int_equal(op_by_builtin("softmax"), OP_SOFTMAX);
    assert_int_equal(op_by_builtin("layer_norm"), OP_LAYER_NORM);
    assert_int_equal(op_by_builtin("add"), OP_COUNT);
    assert_int_equal(op_by_builtin("gather"), OP_COUNT);
    assert_int_equal(op_by_builtin(NULL), OP_COUNT);
}

static void test_dtypes(void **state)
{
    assert_int_equal(attn_dtype_size(ATTN_F32), 4);
    assert_int_equal(attn_dtype_size(ATTN_I32), 4);
    assert_int_equal(attn_dtype_size(ATTN_I64), 8);
    assert_int_equal(attn_dtype_size(ATTN_BOOL), 1);
    assert_string_equal(attn_dtype_name(ATTN_F32), "f32");
    assert_string_equal(attn_dtype_name(ATTN_I32), "i32");
    assert_string_equal(attn_dtype_name(ATTN_I64), "i64");
    assert_string_equal(attn_dtype_name(ATTN_BOOL), "bool");
    attn_tensor scalar = tensor(ATTN_F32, 0, NULL, NULL);
    attn_tensor cube = tensor(ATTN_F32, 3, SHAPE(2, 3, 4), NULL);
    attn_tensor empty = tensor(ATTN_F32, 2, SHAPE(3, 0), NULL);
    assert_int_equal(attn_tensor_numel(&scalar), 1);
    assert_int_equal(attn_tensor_numel(&cube), 24);
    assert_int_equal(attn_tensor_numel(&empty), 0);
}

/* ---- sources ---- */

static void test_arange(void **state)
{
    int64_t i64[4];
    int32_t i32[3];
    float f32[3];
    attn_tensor o64 = tensor(ATTN_I64, 1, SHAPE(4), i64);
    attn_tensor o32 = tensor(ATTN_I32, 1, SHAPE(3), i32);
    attn_tensor of = tensor(ATTN_F32, 1, SHAPE(3), f32);
    attn_tensor empty = tensor(ATTN_I64, 1, SHAPE(0), NULL);
    kern_arange(&(OpAttrs){.start = 2, .step = 3}, NULL, 0, &o64);
    kern_arange(&(OpAttrs){.start = 5, .step = -2}, NULL, 0, &o32);
    kern_arange(&(OpAttrs){.start = 0, .step = 1}, NULL, 0, &of);
    kern_arange(&(OpAttrs){.start = 0, .step = 1}, NULL, 0, &empty);
    EXPECT_ARRAY(i64, int64_t, 2, 5, 8, 11);
    EXPECT_ARRAY(i32, int32_t, 5, 3, 1);
    expect_f32(f32, F32S(0, 1, 2), 3);
}

static void test_full(void **state)
{
    float f32[4], scalar;
    int64_t i64[3];
    int32_t i32[2];
    uint8_t b[2];
    attn_tensor of = tensor(ATTN_F32, 2, SHAPE(2, 2), f32);
    attn_tensor os = tensor(ATTN_F32, 0, NULL, &scalar);
    attn_tensor o64 = tensor(ATTN_I64, 1, SHAPE(3), i64);
    attn_tensor o32 = tensor(ATTN_I32, 1, SHAPE(2), i32);
    attn_tensor ob = tensor(ATTN_BOOL, 1, SHAPE(2), b);
    kern_full(&(OpAttrs){.fill = -0.5}, NULL, 0, &of);
    kern_full(&(OpAttrs){.fill = 2.0}, NULL, 0, &os);
    kern_full(&(OpAttrs){.fill = 7.0}, NULL, 0, &o64);
    kern_full(&(OpAttrs){.fill = -3.0}, NULL, 0, &o32);
    kern_full(&(OpAttrs){.fill = 1.0}, NULL, 0, &ob);
    expect_f32(f32, F32S(-0.5f, -0.5f, -0.5f, -0.5f), 4);
    expect_f32(&scalar, F32S(2), 1);
    EXPECT_ARRAY(i64, int64_t, 7, 7, 7);
    EXPECT_ARRAY(i32, int32_t, -3, -3);
    EXPECT_ARRAY(b, uint8_t, 1, 1);
}

/* ---- unary ---- */

/* Runs a unary op on four f32 values and checks the four results. */
static void expect_unary(OpKind op, const float *x, const float *want)
{
    float y[4];
    attn_tensor in = tensor(ATTN_F32, 1, SHAPE(4), (void *)x);
    attn_tensor out = tensor(ATTN_F32, 1, SHAPE(4), y);
    op_run(op, &no_attrs, &in, 1, &out);
    expect_f32(y, want, 4);
}

static void test_unary_f32(void **state)
{
    const float *x = F32S(-1.0f, 0.0f, 0.5f, 2.0f);
    expect_unary(OP_NEG, x, F32S(1.0f, -0.0f, -0.5f, -2.0f));
    expect_unary(OP_RELU, x, F32S(0.0f, 0.0f, 0.5f, 2.0f));
    expect_unary(OP_ABS, x, F32S(1.0f, 0.0f, 0.5f, 2.0f));
    expect_unary(OP_TANH, x, F32S(-0.7615941560f, 0.0f, 0.4621171573f, 0.9640275801f));
    expect_unary(OP_SIGMOID, x, F32S(0.2689414214f, 0.5f, 0.6224593312f, 0.8807970780f));
    expect_unary(OP_GELU, x, F32S(-0.1586552539f, 0.0f, 0.3457312306f, 1.9544997361f));
    expect_unary(OP_EXP, x, F32S(0.3678794412f, 1.0f, 1.6487212707f, 7.3890560989f));
    expect_unary(OP_LOG, F32S(1.0f, 2.7182818285f, 0.0f, -1.0f), F32S(0.0f, 1.0f, -INFINITY, NAN));
    expect_unary(OP_SQRT, F32S(4.0f, 0.0f, 2.0f, -1.0f), F32S(2.0f, 0.0f, 1.4142135624f, NAN));
    expect_unary(OP_SIGMOID, F32S(-100.0f, 100.0f, -INFINITY, INFINITY), F32S(0.0f, 1.0f, 0.0f, 1.0f));
    expect_unary(OP_RELU, F32S(NAN, -INFINITY, INFINITY, -0.0f), F32S(NAN, 0.0f, INFINITY, -0.0f));
}

static void test_unary_int_and_bool(void **state)
{
    int32_t i32[3];
    int64_t i64[3];
    uint8_t b[2];
    attn_tensor x32 = tensor(ATTN_I32, 1, SHAPE(3), I32S(3, -4, 0));
    attn_tensor x64 = tensor(ATTN_I64, 1, SHAPE(3), I64S(-5, 6, INT64_MIN));
    attn_tensor xb = tensor(ATTN_BOOL, 1, SHAPE(2), BOOLS(0, 1));
    attn_tensor o32 = tensor(ATTN_I32, 1, SHAPE(3), i32);
    attn_tensor o64 = tensor(ATTN_I64, 1, SHAPE(3), i64);
    attn_tensor ob = tensor(ATTN_BOOL, 1, SHAPE(2), b);
    kern_neg(&no_attrs, &x32, 1, &o32);
    EXPECT_ARRAY(i32, int32_t, -3, 4, 0);
    kern_abs(&no_attrs, &x32, 1, &o32);
    EXPECT_ARRAY(i32, int32_t, 3, 4, 0);
    kern_neg(&no_attrs, &x64, 1, &o64);
    EXPECT_ARRAY(i64, int64_t, 5, -6, INT64_MIN);
    kern_abs(&no_attrs, &x64, 1, &o64);
    EXPECT_ARRAY(i64, int64_t, 5, 6, INT64_MIN);
    kern_not(&no_attrs, &xb, 1, &ob);
    EXPECT_ARRAY(b, uint8_t, 1, 0);
}

static void test_unary_rank0_and_empty(void **state)
{
    float y;
    attn_tensor x = tensor(ATTN_F32, 0, NULL, F32S(-2.5f));
    attn_tensor out = tensor(ATTN_F32, 0, NULL, &y);
    kern_abs(&no_attrs, &x, 1, &out);
    expect_f32(&y, F32S(2.5f), 1);
    attn_tensor empty = tensor(ATTN_F32, 2, SHAPE(0, 3), NULL);
    attn_tensor empty_out = tensor(ATTN_F32, 2, SHAPE(0, 3), NULL);
    op_run(OP_TANH, &no_attrs, &empty, 1, &empty_out);
}

/* ---- cast ---- */

static void test_cast_f32_to_int(void **state)
{
    int64_t i64[6];
    int32_t i32[4];
    attn_tensor x = tensor(ATTN_F32, 1, SHAPE(6), F32S(1.7f, -1.7f, NAN, 1e30f, -1e30f, -0.0f));
    attn_tensor o64 = tensor(ATTN_I64, 1, SHAPE(6), i64);
    kern_cast(&no_attrs, &x, 1, &o64);
    EXPECT_ARRAY(i64, int64_t, 1, -1, 0, INT64_MAX, INT64_MIN, 0);
    attn_tensor x2 = tensor(ATTN_F32, 1, SHAPE(4), F32S(3e9f, -3e9f, -2.5f, INFINITY));
    attn_tensor o32 = tensor(ATTN_I32, 1, SHAPE(4), i32);
    kern_cast(&no_attrs, &x2, 1, &o32);
    EXPECT_ARRAY(i32, int32_t, INT32_MAX, INT32_MIN, -2, INT32_MAX);
}

static void test_cast_bool(void **state)
{
    float f32[2];
    uint8_t b[4];
    int32_t i32[2];
    attn_tensor xb = tensor(ATTN_BOOL, 1, SHAPE(2), BOOLS(0, 1));
    attn_tensor of = tensor(ATTN_F32, 1, SHAPE(2), f32);
    kern_cast(&no_attrs, &xb, 1, &of);
    expect_f32(f32, F32S(0.0f, 1.0f), 2);
    attn_tensor oi = tensor(ATTN_I32, 1, SHAPE(2), i32);
    kern_cast(&no_attrs, &xb, 1, &oi);
    EXPECT_ARRAY(i32, int32_t, 0, 1);
    attn_tensor xf = tensor(ATTN_F32, 1, SHAPE(4), F32S(0.0f, -0.0f, NAN, 0.5f));
    attn_tensor ob = tensor(ATTN_BOOL, 1, SHAPE(4), b);
    kern_cast(&no_attrs, &xf, 1, &ob);
    EXPECT_ARRAY(b, uint8_t, 0, 0, 1, 1);
    attn_tensor xi = tensor(ATTN_I64, 1, SHAPE(4), I64S(0, 5, -1, 0));
    kern_cast(&no_attrs, &xi, 1, &ob);
    EXPECT_ARRAY(b, uint8_t, 0, 1, 1, 0);
}

static void test_cast_between_ints(void **state)
{
    int64_t i64[2];
    float f32[2];
    int32_t i32[2];
    attn_tensor x32 = tensor(ATTN_I32, 1, SHAPE(2), I32S(-3, 2147483647));
    attn_tensor o64 = tensor(ATTN_I64, 1, SHAPE(2), i64);
    kern_cast(&no_attrs, &x32, 1, &o64);
    EXPECT_ARRAY(i64, int64_t, -3, 2147483647);
    attn_tensor x64 = tensor(ATTN_I64, 1, SHAPE(2), I64S(3, -4));
    attn_tensor of = tensor(ATTN_F32, 1, SHAPE(2), f32);
    kern_cast(&no_attrs, &x64, 1, &of);
    expect_f32(f32, F32S(3.0f, -4.0f), 2);
    attn_tensor o32 = tensor(ATTN_I32, 1, SHAPE(2), i32);
    kern_cast(&no_attrs, &x64, 1, &o32);
    EXPECT_ARRAY(i32, int32_t, 3, -4);
}

/* ---- binary ---- */

static void test_binary_broadcast(void **state)
{
    float y[24];
    attn_tensor in[2] = {
        tensor(ATTN_F32, 3, SHAPE(2, 1, 3), F32S(1, 2, 3, 4, 5, 6)),
        tensor(ATTN_F32, 2, SHAPE(4, 1), F32S(10, 20, 30, 40)),
    };
    attn_tensor out = tensor(ATTN_F32, 3, SHAPE(2, 4, 3), y);
    kern_add(&no_attrs, in, 2, &out);
    expect_f32(y, F32S(11, 12, 13, 21, 22, 23, 31, 32, 33, 41, 42, 43,
                       14, 15, 16, 24, 25, 26, 34, 35, 36, 44, 45, 46), 24);
    attn_tensor swapped[2] = {in[1], in[0]};
    kern_sub(&no_attrs, swapped, 2, &out);
    expect_f32(y, F32S(9, 8, 7, 19, 18, 17, 29, 28, 27, 39, 38, 37,
                       6, 5, 4, 16, 15, 14, 26, 25, 24, 36, 35, 34), 24);
}

static void test_binary_rank0(void **state)
{
    float y[3], scalar;
    attn_tensor in[2] = {
        tensor(ATTN_F32, 0, NULL, F32S(2)),
        tensor(ATTN_F32, 1, SHAPE(3), F32S(1, 2, 3)),
    };
    attn_tensor out = tensor(ATTN_F32, 1, SHAPE(3), y);
    kern_sub(&no_attrs, in, 2, &out);
    expect_f32(y, F32S(1, 0, -1), 3);
    attn_tensor scalars[2] = {in[0], tensor(ATTN_F32, 0, NULL, F32S(5))};
    attn_tensor scalar_out = tensor(ATTN_F32, 0, NULL, &scalar);
    kern_mul(&no_attrs, scalars, 2, &scalar_out);
    expect_f32(&scalar, F32S(10), 1);
}

static void test_binary_zero_size(void **state)
{
    attn_tensor in[2] = {
        tensor(ATTN_F32, 2, SHAPE(0, 3), NULL),
        tensor(ATTN_F32, 1, SHAPE(3), F32S(1, 2, 3)),
    };
    attn_tensor out = tensor(ATTN_F32, 2, SHAPE(0, 3), NULL);
    kern_add(&no_attrs, in, 2, &out);
    attn_tensor in2[2] = {
        tensor(ATTN_F32, 2, SHAPE(2, 0), NULL),
        tensor(ATTN_F32, 2, SHAPE(2, 1), F32S(1, 2)),
    };
    attn_tensor out2 = tensor(ATTN_F32, 2, SHAPE(2, 0), NULL);
    kern_mul(&no_attrs, in2, 2, &out2);
}

static void test_binary_f32_math(void **state)
{
    float y[4];
    attn_tensor out = tensor(ATTN_F32, 1, SHAPE(4), y);
    attn_tensor div_in[2] = {
        tensor(ATTN_F32, 1, SHAPE(4), F32S(1, -1, 0, 7)),
        tensor(ATTN_F32, 1, SHAPE(4), F32S(0, 0, 0, 2)),
    };
    kern_div(&no_attrs, div_in, 2, &out);
    expect_f32(y, F32S(INFINITY, -INFINITY, NAN, 3.5f), 4);
    attn_tensor pow_in[2] = {
        tensor(ATTN_F32, 1, SHAPE(4), F32S(2, 4, 9, 0)),
        tensor(ATTN_F32, 1, SHAPE(4), F32S(3, 0.5f, 0.5f, 0)),
    };
    kern_pow(&no_attrs, pow_in, 2, &out);
    expect_f32(y, F32S(8, 2, 3, 1), 4);
    attn_tensor mul_in[2] = {
        tensor(ATTN_F32, 1, SHAPE(4), F32S(1.5f, -2, 0, 3)),
        tensor(ATTN_F32, 0, NULL, F32S(2)),
    };
    kern_mul(&no_attrs, mul_in, 2, &out);
    expect_f32(y, F32S(3, -4, 0, 6), 4);
}

static void test_maximum_minimum_nan(void **state)
{
    float y[4];
    attn_tensor in[2] = {
        tensor(ATTN_F32, 1, SHAPE(4), F32S(1, NAN, 3, -INFINITY)),
        tensor(ATTN_F32, 1, SHAPE(4), F32S(NAN, 2, 2, -1)),
    };
    attn_tensor out = tensor(ATTN_F32, 1, SHAPE(4), y);
    kern_maximum(&no_attrs, in, 2, &out);
    expect_f32(y, F32S(NAN, NAN, 3, -1), 4);
    kern_minimum(&no_attrs, in, 2, &out);
    expect_f32(y, F32S(NAN, NAN, 2, -INFINITY), 4);
}

static void test_binary_int(void **state)
{
    int64_t i64[5];
    int32_t i32[4];
    attn_tensor div_in[2] = {
        tensor(ATTN_I64, 1, SHAPE(5), I64S(7, -7, 7, 5, INT64_MIN)),
        tensor(ATTN_I64, 1, SHAPE(5), I64S(2, 2, -2, 0, -1)),
    };
    attn_tensor o64 = tensor(ATTN_I64, 1, SHAPE(5), i64);
    kern_div(&no_attrs, div_in, 2, &o64);
    EXPECT_ARRAY(i64, int64_t, 3, -3, -3, 0, INT64_MIN);
    kern_maximum(&no_attrs, div_in, 2, &o64);
    EXPECT_ARRAY(i64, int64_t, 7, 2, 7, 5, -1);
    kern_add(&no_attrs, div_in, 2, &o64);
    EXPECT_ARRAY(i64, int64_t, 9, -5, 5, 5, INT64_MAX);
    attn_tensor mul_in[2] = {
        tensor(ATTN_I32, 1, SHAPE(2), I32S(1, 2)),
        tensor(ATTN_I32, 2, SHAPE(2, 1), I32S(10, -20)),
    };
    attn_tensor o32 = tensor(ATTN_I32, 2, SHAPE(2, 2), i32);
    kern_mul(&no_attrs, mul_in, 2, &o32);
    EXPECT_ARRAY(i32, int32_t, 10, 20, -20, -40);
    kern_sub(&no_attrs, mul_in, 2, &o32);
    EXPECT_ARRAY(i32, int32_t, -9, -8, 21, 22);
    kern_minimum(&no_attrs, mul_in, 2, &o32);
    EXPECT_ARRAY(i32, int32_t, 1, 2, -20, -20);
    kern_div(&no_attrs, mul_in, 2, &o32);
    EXPECT_ARRAY(i32, int32_t, 0, 0, 0, 0);
}

/* ---- compare and logic ---- */

static void test_compare_f32(void **state)
{
    uint8_t b[4];
    attn_tensor in[2] = {
        tensor(ATTN_F32, 1, SHAPE(4), F32S(1, 2, 3, NAN)),
        tensor(ATTN_F32, 1, SHAPE(4), F32S(2, 2, 2, 1)),
    };
    attn_tensor out = tensor(ATTN_BOOL, 1, SHAPE(4), b);
    kern_lt(&no_attrs, in, 2, &out);
    EXPECT_ARRAY(b, uint8_t, 1, 0, 0, 0);
    kern_le(&no_attrs, in, 2, &out);
    EXPECT_ARRAY(b, uint8_t, 1, 1, 0, 0);
    kern_gt(&no_attrs, in, 2, &out);
    EXPECT_ARRAY(b, uint8_t, 0, 0, 1, 0);
    kern_ge(&no_attrs, in, 2, &out);
    EXPECT_ARRAY(b, uint8_t, 0, 1, 1, 0);
    kern_eq(&no_attrs, in, 2, &out);
    EXPECT_ARRAY(b, uint8_t, 0, 1, 0, 0);
    kern_ne(&no_attrs, in, 2, &out);
    EXPECT_ARRAY(b, uint8_t, 1, 0, 1, 1);
}

static void test_compare_int_broadcast(void **state)
{
    uint8_t b[6], pair[2];
    attn_tensor in[2] = {
        tensor(ATTN_I64, 2, SHAPE(2, 1), I64S(1, 3)),
        tensor(ATTN_I64, 1, SHAPE(3), I64S(1, 2, 3)),
    };
    attn_tensor out = tensor(ATTN_BOOL, 2, SHAPE(2, 3), b);
    kern_lt(&no_attrs, in, 2, &out);
    EXPECT_ARRAY(b, uint8_t, 0, 1, 1, 0, 0, 0);
    kern_eq(&no_attrs, in, 2, &out);
    EXPECT_ARRAY(b, uint8_t, 1, 0, 0, 0, 0, 1);
    attn_tensor in32[2] = {
        tensor(ATTN_I32, 1, SHAPE(2), I32S(-1, 4)),
        tensor(ATTN_I32, 0, NULL, I32S(0)),
    };
    attn_tensor out_pair = tensor(ATTN_BOOL, 1, SHAPE(2), pair);
    kern_ge(&no_attrs, in32, 2, &out_pair);
    EXPECT_ARRAY(pair, uint8_t, 0, 1);
    attn_tensor inb[2] = {
        tensor(ATTN_BOOL, 1, SHAPE(2), BOOLS(0, 1)),
        tensor(ATTN_BOOL, 1, SHAPE(2), BOOLS(1, 1)),
    };
    kern_ne(&no_attrs, inb, 2, &out_pair);
    EXPECT_ARRAY(pair, uint8_t, 1, 0);
}

static void test_logic(void **state)
{
    uint8_t b[4];
    attn_tensor in[2] = {
        tensor(ATTN_BOOL, 2, SHAPE(2, 1), BOOLS(0, 1)),
        tensor(ATTN_BOOL, 1, SHAPE(2), BOOLS(0, 1)),
    };
    attn_tensor out = tensor(ATTN_BOOL, 2, SHAPE(2, 2), b);
    kern_and(&no_attrs, in, 2, &out);
    EXPECT_ARRAY(b, uint8_t, 0, 0, 0, 1);
    kern_or(&no_attrs, in, 2, &out);
    EXPECT_ARRAY(b, uint8_t, 0, 1, 1, 1);
}

/* ---- where and expand ---- */

static void test_where_broadcast(void **state)
{
    float y[6];
    attn_tensor in[3] = {
        tensor(ATTN_BOOL, 2, SHAPE(2, 1), BOOLS(1, 0)),
        tensor(ATTN_F32, 2, SHAPE(1, 3), F32S(1, 2, 3)),
        tensor(ATTN_F32, 0, NULL, F32S(-INFINITY)),
    };
    attn_tensor out = tensor(ATTN_F32, 2, SHAPE(2, 3), y);
    kern_where(&no_attrs, in, 3, &out);
    expect_f32(y, F32S(1, 2, 3, -INFINITY, -INFINITY, -INFINITY), 6);
    int64_t i64[3];
    attn_tensor in64[3] = {
        tensor(ATTN_BOOL, 1, SHAPE(3), BOOLS(0, 1, 0)),
        tensor(ATTN_I64, 1, SHAPE(3), I64S(1, 2, 3)),
        tensor(ATTN_I64, 1, SHAPE(3), I64S(-1, -2, -3)),
    };
    attn_tensor out64 = tensor(ATTN_I64, 1, SHAPE(3), i64);
    kern_where(&no_attrs, in64, 3, &out64);
    EXPECT_ARRAY(i64, int64_t, -1, 2, -3);
}

static void test_expand(void **state)
{
    float y[6];
    attn_tensor x = tensor(ATTN_F32, 2, SHAPE(1, 3), F32S(1, 2, 3));
    attn_tensor out = tensor(ATTN_F32, 2, SHAPE(2, 3), y);
    kern_expand(&no_attrs, &x, 1, &out);
    expect_f32(y, F32S(1, 2, 3, 1, 2, 3), 6);
    int64_t i64[4];
    attn_tensor scalar = tensor(ATTN_I64, 0, NULL, I64S(7));
    attn_tensor out64 = tensor(ATTN_I64, 2, SHAPE(2, 2), i64);
    kern_expand(&no_attrs, &scalar, 1, &out64);
    EXPECT_ARRAY(i64, int64_t, 7, 7, 7, 7);
    uint8_t b[6];
    attn_tensor mask = tensor(ATTN_BOOL, 2, SHAPE(2, 1), BOOLS(1, 0));
    attn_tensor outb = tensor(ATTN_BOOL, 3, SHAPE(1, 2, 3), b);
    kern_expand(&no_attrs, &mask, 1, &outb);
    EXPECT_ARRAY(b, uint8_t, 1, 1, 1, 0, 0, 0);
}

/* ---- reductions ---- */

static void test_sum_mean(void **state)
{
    float y2[2], y3[3], y4[4];
    attn_tensor x = tensor(ATTN_F32, 2, SHAPE(2, 3), F32S(1, 2, 3, 4, 5, 6));
    attn_tensor by_row = tensor(ATTN_F32, 1, SHAPE(2), y2);
    attn_tensor by_col = tensor(ATTN_F32, 2, SHAPE(1, 3), y3); /* keepdim */
    kern_sum(&(OpAttrs){.axis = 1}, &x, 1, &by_row);
    expect_f32(y2, F32S(6, 15), 2);
    kern_sum(&(OpAttrs){.axis = 0, .keepdim = true}, &x, 1, &by_col);
    expect_f32(y3, F32S(5, 7, 9), 3);
    kern_mean(&(OpAttrs){.axis = 1}, &x, 1, &by_row);
    expect_f32(y2, F32S(2, 5), 2);
    kern_mean(&(OpAttrs){.axis = 0, .keepdim = true}, &x, 1, &by_col);
    expect_f32(y3, F32S(2.5f, 3.5f, 4.5f), 3);
    attn_tensor cube = tensor(ATTN_F32, 3, SHAPE(2, 3, 2), F32S(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
    attn_tensor middle = tensor(ATTN_F32, 2, SHAPE(2, 2), y4);
    kern_sum(&(OpAttrs){.axis = 1}, &cube, 1, &middle);
    expect_f32(y4, F32S(6, 9, 24, 27), 4);
}

static void test_sum_int(void **state)
{
    int64_t i64[2];
    int32_t i32[2];
    attn_tensor x64 = tensor(ATTN_I64, 2, SHAPE(2, 2), I64S(1, 2, 3, 4));
    attn_tensor o64 = tensor(ATTN_I64, 1, SHAPE(2), i64);
    kern_sum(&(OpAttrs){.axis = 0}, &x64, 1, &o64);
    EXPECT_ARRAY(i64, int64_t, 4, 6);
    attn_tensor x32 = tensor(ATTN_I32, 2, SHAPE(2, 2), I32S(1, 2, 3, -4));
    attn_tensor o32 = tensor(ATTN_I32, 1, SHAPE(2), i32);
    kern_sum(&(OpAttrs){.axis = 1}, &x32, 1, &o32);
    EXPECT_ARRAY(i32, int32_t, 3, -1);
}

static void test_max_argmax(void **state)
{
    float y[2];
    int64_t idx[2];
    attn_tensor x = tensor(ATTN_F32, 2, SHAPE(2, 3), F32S(1, 5, 3, NAN, 2, 1));
    attn_tensor out = tensor(ATTN_F32, 1, SHAPE(2), y);
    kern_max(&(OpAttrs){.axis = 1}, &x, 1, &out);
    expect_f32(y, F32S(5, NAN), 2);
    attn_tensor cols = tensor(ATTN_F32, 2, SHAPE(3, 2), F32S(1, 4, 3, 4, 3, 0));
    kern_max(&(OpAttrs){.axis = 0}, &cols, 1, &out);
    expect_f32(y, F32S(3, 4), 2);
    attn_tensor arg_out = tensor(ATTN_I64, 1, SHAPE(2), idx);
    kern_argmax(&(OpAttrs){.axis = 0}, &cols, 1, &arg_out);
    EXPECT_ARRAY(idx, int64_t, 1, 0); /* ties go to the first index */
    attn_tensor rows = tensor(ATTN_F32, 2, SHAPE(2, 4), F32S(1, 3, 3, 2, 0, NAN, 5, NAN));
    kern_argmax(&(OpAttrs){.axis = 1, .keepdim = true}, &rows, 1, &arg_out);
    EXPECT_ARRAY(idx, int64_t, 1, 1); /* a NaN is the maximum */
    attn_tensor low = tensor(ATTN_F32, 2, SHAPE(1, 3), F32S(-INFINITY, -INFINITY, -INFINITY));
    attn_tensor one = tensor(ATTN_I64, 1, SHAPE(1), idx);
    kern_argmax(&(OpAttrs){.axis = 1}, &low, 1, &one);
    assert_int_equal(idx[0], 0);
}

static void test_reduce_zero_length_axis(void **state)
{
    float y[2];
    int64_t idx[2];
    attn_tensor x = tensor(ATTN_F32, 2, SHAPE(2, 0), NULL);
    attn_tensor out = tensor(ATTN_F32, 1, SHAPE(2), y);
    attn_tensor arg_out = tensor(ATTN_I64, 1, SHAPE(2), idx);
    const OpAttrs last = {.axis = 1};
    kern_sum(&last, &x, 1, &out);
    expect_f32(y, F32S(0, 0), 2);
    kern_mean(&last, &x, 1, &out);
    expect_f32(y, F32S(NAN, NAN), 2);
    kern_max(&last, &x, 1, &out);
    expect_f32(y, F32S(-INFINITY, -INFINITY), 2);
    kern_argmax(&last, &x, 1, &arg_out);
    EXPECT_ARRAY(idx, int64_t, 0, 0);
    attn_tensor none = tensor(ATTN_F32, 1, SHAPE(0), NULL);
    attn_tensor empty_rows = tensor(ATTN_F32, 2, SHAPE(0, 3), NULL);
    kern_sum(&last, &empty_rows, 1, &none);
}

/* ---- normalisations ---- */

static void test_softmax(void **state)
{
    float y[9];
    attn_tensor x = tensor(ATTN_F32, 2, SHAPE(3, 3),
                           F32S(1, 2, 3, 0, -INFINITY, 0, -INFINITY, -INFINITY, -INFINITY));
    attn_tensor out = tensor(ATTN_F32, 2, SHAPE(3, 3), y);
    kern_softmax(&(OpAttrs){.axis = 1}, &x, 1, &out);
    expect_f32(y, F32S(0.0900305732f, 0.2447284711f, 0.6652409558f, 0.5f, 0.0f, 0.5f, NAN, NAN, NAN), 9);
    float z[4];
    attn_tensor cols = tensor(ATTN_F32, 2, SHAPE(2, 2), F32S(0, 2, 0, 0));
    attn_tensor cols_out = tensor(ATTN_F32, 2, SHAPE(2, 2), z);
    kern_softmax(&(OpAttrs){.axis = 0}, &cols, 1, &cols_out);
    expect_f32(z, F32S(0.5f, 0.8807970780f, 0.5f, 0.1192029220f), 4);
}

static void test_layer_norm(void **state)
{
    float y[8];
    const float r0 = (float)(1.0 / sqrt(1.25 + 1e-5)), r1 = (float)(1.0 / sqrt(1.0 + 1e-5));
    attn_tensor in[3] = {
        tensor(ATTN_F32, 2, SHAPE(2, 4), F32S(1, 2, 3, 4, -1, -1, 1, 1)),
        tensor(ATTN_F32, 1, SHAPE(4), F32S(1, 2, 0.5f, -1)),
        tensor(ATTN_F32, 1, SHAPE(4), F32S(0, 1, 0, -1)),
    };
    attn_tensor out = tensor(ATTN_F32, 2, SHAPE(2, 4), y);
    const OpAttrs attrs = {.eps = 1e-5};
    kern_layer_norm(&attrs, in, 1, &out);
    expect_f32(y, F32S(-1.5f * r0, -0.5f * r0, 0.5f * r0, 1.5f * r0, -r1, -r1, r1, r1), 8);
    kern_layer_norm(&attrs, in, 2, &out);
    expect_f32(y, F32S(-1.5f * r0, -1.0f * r0, 0.25f * r0, -1.5f * r0, -r1, -2 * r1, 0.5f * r1, -r1), 8);
    kern_layer_norm(&attrs, in, 3, &out);
    expect_f32(y, F32S(-1.5f * r0, 1 - r0, 0.25f * r0, -1 - 1.5f * r0,
                       -r1, 1 - 2 * r1, 0.5f * r1, -1 - r1), 8);
    attn_tensor empty = tensor(ATTN_F32, 2, SHAPE(0, 4), NULL);
    attn_tensor empty_out = tensor(ATTN_F32, 2, SHAPE(0, 4), NULL);
    kern_layer_norm(&attrs, &empty, 1, &empty_out);
}

/* ---- matmul ---- */

/* Element of a [.., rows, cols] matrix stack at (batch, r, c), batch broadcast from out. */
static float matrix_at(const attn_tensor *t, const attn_tensor *out, int64_t batch, int64_t r, int64_t c)
{
    int64_t offset = 0, stride = t->shape[t->rank - 2] * t->shape[t->rank - 1];
    for (int d = out->rank - 3, td = t->rank - 3; td >= 0; d--, td--) {
        int64_t i = batch % out->shape[d];
        batch /= out->shape[d];
        offset += (t->shape[td] == 1 ? 0 : i) * stride;
        stride *= t->shape[td];
    }
    return ((const float *)t->data)[offset + r * t->shape[t->rank - 1] + c];
}

/* Naive out = a @ b, one element at a time, for checking the real kernel. */
static void naive_matmul(const attn_tensor *a, const attn_tensor *b, bool ta, bool tb, attn_tensor *out)
{
    int64_t m = out->shape[out->rank - 2], n = out->shape[out->rank - 1];
    int64_t k = a->shape[a->rank - (ta ? 2 : 1)];
    int64_t batches = attn_tensor_numel(out) / (m * n);
    float *c = out->data;
    for (int64_t t = 0; t < batches; t++)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                float acc = 0;
                for (int64_t p = 0; p < k; p++)
                    acc += (ta ? matrix_at(a, out, t, p, i) : matrix_at(a, out, t, i, p)) *
                           (tb ? matrix_at(b, out, t, j, p) : matrix_at(b, out, t, p, j));
                c[(t * m + i) * n + j] = acc;
            }
}

/* Small integers, so every product sum is exact. */
static void fill_pattern(float *x, int n, int seed)
{
    for (int i = 0; i < n; i++)
        x[i] = (float)((i * 7 + seed) % 11 - 5);
}

/* Runs kern_matmul and the naive product on patterned operands and compares. */
static void expect_matmul(int ra, const int64_t *sa, int rb, const int64_t *sb, int ro,
                          const int64_t *so, bool ta, bool tb)
{
    float a_data[256], b_data[256], got[256], want[256];
    attn_tensor a = tensor(ATTN_F32, ra, sa, a_data), b = tensor(ATTN_F32, rb, sb, b_data);
    attn_tensor out = tensor(ATTN_F32, ro, so, got), ref = tensor(ATTN_F32, ro, so, want);
    assert_true(attn_tensor_numel(&a) <= 256 && attn_tensor_numel(&b) <= 256);
    assert_true(attn_tensor_numel(&out) <= 256);
    fill_pattern(a_data, (int)attn_tensor_numel(&a), 1);
    fill_pattern(b_data, (int)attn_tensor_numel(&b), 4);
    attn_tensor in[2] = {a, b};
    kern_matmul(&(OpAttrs){.trans_a = ta, .trans_b = tb}, in, 2, &out);
    naive_matmul(&a, &b, ta, tb, &ref);
    expect_f32(got, want, (int)attn_tensor_numel(&out));
}

static void test_matmul_2d(void **state)
{
    float y[4];
    attn_tensor out = tensor(ATTN_F32, 2, SHAPE(2, 2), y);
    const float *want = F32S(58, 64, 139, 154);
    attn_tensor a = tensor(ATTN_F32, 2, SHAPE(2, 3), F32S(1, 2, 3, 4, 5, 6));
    attn_tensor at = tensor(ATTN_F32, 2, SHAPE(3, 2), F32S(1, 4, 2, 5, 3, 6));
    attn_tensor b = tensor(ATTN_F32, 2, SHAPE(3, 2), F32S(7, 8, 9, 10, 11, 12));
    attn_tensor bt = tensor(ATTN_F32, 2, SHAPE(2, 3), F32S(7, 9, 11, 8, 10, 12));
    kern_matmul(&no_attrs, (attn_tensor[]){a, b}, 2, &out);
    expect_f32(y, want, 4);
    kern_matmul(&(OpAttrs){.trans_a = true}, (attn_tensor[]){at, b}, 2, &out);
    expect_f32(y, want, 4);
    kern_matmul(&(OpAttrs){.trans_b = true}, (attn_tensor[]){a, bt}, 2, &out);
    expect_f32(y, want, 4);
    kern_matmul(&(OpAttrs){.trans_a = true, .trans_b = true}, (attn_tensor[]){at, bt}, 2, &out);
    expect_f32(y, want, 4);
}

static void test_matmul_batch_broadcast(void **state)
{
    expect_matmul(3, SHAPE(2, 3, 4), 2, SHAPE(4, 5), 3, SHAPE(2, 3, 5), false, false);
    expect_matmul(3, SHAPE(1, 2, 3), 3, SHAPE(4, 3, 2), 3, SHAPE(4, 2, 2), false, false);
    expect_matmul(4, SHAPE(2, 1, 4, 3), 3, SHAPE(3, 5, 4), 4, SHAPE(2, 3, 3, 5), true, true);
    expect_matmul(2, SHAPE(3, 4), 3, SHAPE(2, 4, 2), 3, SHAPE(2, 3, 2), false, false);
}

static void test_matmul_trans_b_blocks(void **state)
{
    /* n = 19 covers two full dot blocks and a tail */
    expect_matmul(2, SHAPE(2, 6), 2, SHAPE(19, 6), 2, SHAPE(2, 19), false, true);
    expect_matmul(3, SHAPE(2, 6, 3), 2, SHAPE(9, 6), 3, SHAPE(2, 3, 9), true, true);
    expect_matmul(3, SHAPE(2, 5, 3), 3, SHAPE(2, 5, 4), 3, SHAPE(2, 3, 4), true, false);
}

static void test_matmul_empty(void **state)
{
    float y[6] = {7, 7, 7, 7, 7, 7};
    attn_tensor in[2] = {tensor(ATTN_F32, 2, SHAPE(2, 0), NULL), tensor(ATTN_F32, 2, SHAPE(0, 3), NULL)};
    attn_tensor out = tensor(ATTN_F32, 2, SHAPE(2, 3), y);
    kern_matmul(&no_attrs, in, 2, &out);
    expect_f32(y, F32S(0, 0, 0, 0, 0, 0), 6);
    attn_tensor no_rows[2] = {
        tensor(ATTN_F32, 3, SHAPE(0, 2, 3), NULL),
        tensor(ATTN_F32, 2, SHAPE(4, 3), (float[12]){0}),
    };
    attn_tensor empty_out = tensor(ATTN_F32, 3, SHAPE(0, 2, 4), NULL);
    kern_matmul(&(OpAttrs){.trans_b = true}, no_rows, 2, &empty_out);
}

/* ---- data movement ---- */

static void test_copy(void **state)
{
    int64_t i64[6];
    attn_tensor x = tensor(ATTN_I64, 2, SHAPE(2, 3), I64S(1, 2, 3, 4, 5, 6));
    attn_tensor out = tensor(ATTN_I64, 2, SHAPE(3, 2), i64);
    kern_copy(&no_attrs, &x, 1, &out);
    EXPECT_ARRAY(i64, int64_t, 1, 2, 3, 4, 5, 6);
    attn_tensor empty = tensor(ATTN_F32, 1, SHAPE(0), NULL);
    attn_tensor empty_out = tensor(ATTN_F32, 2, SHAPE(0, 5), NULL);
    kern_copy(&no_attrs, &empty, 1, &empty_out);
}

static void test_permute(void **state)
{
    float y[6];
    attn_tensor x = tensor(ATTN_F32, 2, SHAPE(2, 3), F32S(1, 2, 3, 4, 5, 6));
    attn_tensor out = tensor(ATTN_F32, 2, SHAPE(3, 2), y);
    kern_permute(&(OpAttrs){.perm = {1, 0}}, &x, 1, &out);
    expect_f32(y, F32S(1, 4, 2, 5, 3, 6), 6);
    int64_t cube[24], moved[24];
    for (int i = 0; i < 24; i++)
        cube[i] = i;
    attn_tensor x3 = tensor(ATTN_I64, 3, SHAPE(2, 3, 4), cube);
    attn_tensor out3 = tensor(ATTN_I64, 3, SHAPE(4, 2, 3), moved);
    kern_permute(&(OpAttrs){.perm = {2, 0, 1}}, &x3, 1, &out3);
    EXPECT_ARRAY(moved, int64_t, 0, 4, 8, 12, 16, 20, 1, 5, 9, 13, 17, 21,
                 2, 6, 10, 14, 18, 22, 3, 7, 11, 15, 19, 23);
}

static void test_slice(void **state)
{
    float y[4];
    attn_tensor x = tensor(ATTN_F32, 2, SHAPE(2, 5), F32S(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
    attn_tensor out = tensor(ATTN_F32, 2, SHAPE(2, 2), y);
    kern_slice(&(OpAttrs){.axis = 1, .start = 1, .step = 2}, &x, 1, &out);
    expect_f32(y, F32S(1, 3, 6, 8), 4);
    attn_tensor rows = tensor(ATTN_F32, 2, SHAPE(4, 2), F32S(0, 1, 2, 3, 4, 5, 6, 7));
    kern_slice(&(OpAttrs){.axis = 0, .start = 1, .step = 2}, &rows, 1, &out);
    expect_f32(y, F32S(2, 3, 6, 7), 4);
    int64_t i64[3];
    attn_tensor line = tensor(ATTN_I64, 1, SHAPE(5), I64S(10, 11, 12, 13, 14));
    attn_tensor line_out = tensor(ATTN_I64, 1, SHAPE(3), i64);
    kern_slice(&(OpAttrs){.axis = 0, .start = 2, .step = 1}, &line, 1, &line_out);
    EXPECT_ARRAY(i64, int64_t, 12, 13, 14);
    attn_tensor empty_out = tensor(ATTN_I64, 1, SHAPE(0), NULL);
    kern_slice(&(OpAttrs){.axis = 0, .start = 5, .step = 1}, &line, 1, &empty_out);
}

static void test_concat(void **state)
{
    float y[12];
    attn_tensor in[3] = {
        tensor(ATTN_F32, 2, SHAPE(2, 1), F32S(1, 2)),
        tensor(ATTN_F32, 2, SHAPE(2, 2), F32S(3, 4, 5, 6)),
        tensor(ATTN_F32, 2, SHAPE(2, 3), F32S(7, 8, 9, 10, 11, 12)),
    };
    attn_tensor out = tensor(ATTN_F32, 2, SHAPE(2, 6), y);
    kern_concat(&(OpAttrs){.axis = 1}, in, 3, &out);
    expect_f32(y, F32S(1, 3, 4, 7, 8, 9, 2, 5, 6, 10, 11, 12), 12);
    int64_t i64[6];
    attn_tensor rows[3] = {
        tensor(ATTN_I64, 2, SHAPE(1, 2), I64S(1, 2)),
        tensor(ATTN_I64, 2, SHAPE(0, 2), NULL),
        tensor(ATTN_I64, 2, SHAPE(2, 2), I64S(3, 4, 5, 6)),
    };
    attn_tensor rows_out = tensor(ATTN_I64, 2, SHAPE(3, 2), i64);
    kern_concat(&(OpAttrs){.axis = 0}, rows, 3, &rows_out);
    EXPECT_ARRAY(i64, int64_t, 1, 2, 3, 4, 5, 6);
}

static void test_gather(void **state)
{
    float y[8];
    attn_tensor weight = tensor(ATTN_F32, 2, SHAPE(4, 2), F32S(0, 1, 10, 11, 20, 21, 30, 31));
    attn_tensor in32[2] = {weight, tensor(ATTN_I32, 2, SHAPE(2, 2), I32S(3, 0, 1, 3))};
    attn_tensor out = tensor(ATTN_F32, 3, SHAPE(2, 2, 2), y);
    kern_gather(&no_attrs, in32, 2, &out);
    expect_f32(y, F32S(30, 31, 0, 1, 10, 11, 30, 31), 8);
    attn_tensor in64[2] = {weight, tensor(ATTN_I64, 0, NULL, I64S(2))};
    attn_tensor row = tensor(ATTN_F32, 1, SHAPE(2), y);
    kern_gather(&no_attrs, in64, 2, &row);
    expect_f32(y, F32S(20, 21), 2);
    attn_tensor bad[2] = {weight, tensor(ATTN_I64, 1, SHAPE(3), I64S(-1, 4, 1))};
    attn_tensor bad_out = tensor(ATTN_F32, 2, SHAPE(3, 2), y);
    kern_gather(&no_attrs, bad, 2, &bad_out);
    expect_f32(y, F32S(0, 0, 0, 0, 10, 11), 6);
    attn_tensor none[2] = {weight, tensor(ATTN_I32, 1, SHAPE(0), NULL)};
    attn_tensor none_out = tensor(ATTN_F32, 2, SHAPE(0, 2), NULL);
    kern_gather(&no_attrs, none, 2, &none_out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_op_table),
        cmocka_unit_test(test_op_names),
        cmocka_unit_test(test_dtypes),
        cmocka_unit_test(test_arange),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_unary_f32),
        cmocka_unit_test(test_unary_int_and_bool),
        cmocka_unit_test(test_unary_rank0_and_empty),
        cmocka_unit_test(test_cast_f32_to_int),
        cmocka_unit_test(test_cast_bool),
        cmocka_unit_test(test_cast_between_ints),
        cmocka_unit_test(test_binary_broadcast),
        cmocka_unit_test(test_binary_rank0),
        cmocka_unit_test(test_binary_zero_size),
        cmocka_unit_test(test_binary_f32_math),
        cmocka_unit_test(test_maximum_minimum_nan),
        cmocka_unit_test(test_binary_int),
        cmocka_unit_test(test_compare_f32),
        cmocka_unit_test(test_compare_int_broadcast),
        cmocka_unit_test(test_logic),
        cmocka_unit_test(test_where_broadcast),
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_sum_mean),
        cmocka_unit_test(test_sum_int),
        cmocka_unit_test(test_max_argmax),
        cmocka_unit_test(test_reduce_zero_length_axis),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_layer_norm),
        cmocka_unit_test(test_matmul_2d),
        cmocka_unit_test(test_matmul_batch_broadcast),
        cmocka_unit_test(test_matmul_trans_b_blocks),
        cmocka_unit_test(test_matmul_empty),
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_permute),
        cmocka_unit_test(test_slice),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_gather),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
