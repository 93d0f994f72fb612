/*
 * op_table.c — the static op table built from ops.def, the scalar functions
 * that define the unary float ops, running an op (op_run), lower-case op
 * names for dumps, and lookup of builtins by their source name.
 */
#include "kernel_util.h"
#include "kernels.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

/* ---- the unary float ops, one float at a time (ops.def's scalar column) ----
 * The interpreter and constant folding map these over f32 tensors (in double,
 * rounded to float); the compile-time evaluator calls them on numbers. Each
 * follows PyTorch's definition; NaN goes through unchanged. */

static double scalar_neg(double x) { return -x; }
static double scalar_tanh(double x) { return tanh(x); }
static double scalar_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double scalar_relu(double x) { return x < 0.0 ? 0.0 : x; }
static double scalar_gelu(double x) { return 0.5 * x * (1.0 + erf(x * M_SQRT1_2)); }
/* nn.GELU(approximate="tanh"): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
static double scalar_gelu_tanh(double x)
{
    return 0.5 * x * (1.0 + tanh(M_2_SQRTPI * M_SQRT1_2 * (x + 0.044715 * x * x * x)));
}
static double scalar_exp(double x) { return exp(x); }
static double scalar_log(double x) { return log(x); }
static double scalar_sqrt(double x) { return sqrt(x); }
static double scalar_rsqrt(double x) { return 1.0 / sqrt(x); }
static double scalar_abs(double x) { return fabs(x); }
/* nn.Softplus() (beta 1, threshold 20): x itself above the threshold. */
static double scalar_softplus(double x) { return x > 20.0 ? x : log1p(exp(x)); }
static double scalar_sin(double x) { return sin(x); }
static double scalar_cos(double x) { return cos(x); }
static double scalar_erf(double x) { return erf(x); }

#define OP_INFO_(id, builtin, cls, min_in, max_in, attrs, kernel, cost, fold, scalar, emit) \
    [OP_##id] = {#id, builtin, cls, min_in, max_in, attrs, kernel, cost, fold, scalar},
const OpInfo op_info[OP_COUNT] = {ATTN_OP_TABLE(OP_INFO_)};

void op_run(OpKind k, const OpAttrs *attrs, const attn_tensor *in, int nin, attn_tensor *out)
{
    const OpInfo *info = &op_info[k];
    if (info->kernel)
        info->kernel(attrs, in, nin, out);
    else if (info->scalar && nin == 1 && out->dtype == ATTN_F32)
        ku_map_scalar(&in[0], out, info->scalar);
    else
        abort(); /* sources and control flow are run by their caller, never here */
}

/* Room for every op id with its terminator, back to back. */
#define OP_NAME_(id, ...) #id "\0"
static char lower_store[sizeof(ATTN_OP_TABLE(OP_NAME_))];

static const char *lower_names[OP_COUNT];
static pthread_once_t lower_names_once = PTHREAD_ONCE_INIT;

static void fill_lower_names(void)
{
    char *next = lower_store;
    for (int k = 0; k < OP_COUNT; k++) {
        lower_names[k] = next;
        for (const char *c = op_info[k].id; *c; c++)
            *next++ = (char)tolower((unsigned char)*c);
        *next++ = '\0';
    }
}

const char *op_name(OpKind k)
{
    if ((unsigned)k >= OP_COUNT)
        return "?";
    pthread_once(&lower_names_once, fill_lower_names);
    return lower_names[k];
}

OpKind op_by_builtin(const char *name)
{
    for (int k = 0; k < OP_COUNT; k++)
        if (name && op_info[k].builtin && strcmp(op_info[k].builtin, name) == 0)
            return (OpKind)k;
    return OP_COUNT;
}
