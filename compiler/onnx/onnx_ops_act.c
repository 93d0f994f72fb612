/*
 * onnx_ops_act.c — ONNX ops that are short expressions of attn built-ins:
 * the parametric activations (LeakyRelu, Elu, Selu, Celu, HardSigmoid,
 * HardSwish, Softsign, ThresholdedRelu, PRelu, Sign), Hardmax, and
 * BatchNormalization in inference mode.
 */
#include <math.h>
#include <string.h>

#include "onnx_imp.h"

static const char *num(Imp *im, float f) {
    const char *s = imp_float_lit(im, f);
    if (!s)
        imp_node_fail(im, "a NaN attribute");
    return s;
}

static void op_activation(Imp *im, ImpNode *nd) {
    Val *x = nd->in[0];
    imp_need_dtype(im, x, "the input", DT_BIT(ATTN_F32));
    const char *op = nd->n->op_type, *xs = imp_ref_tensor(im, x), *e;
    if (!strcmp(op, "LeakyRelu"))
        e = imp_fmt(im, "where(%s >= 0, %s, %s * %s)", xs, xs, xs, num(im, imp_attr_float(im, nd, "alpha", 0.01f)));
    else if (!strcmp(op, "Elu"))
        e = imp_fmt(im, "where(%s > 0, %s, (exp(%s) - 1) * %s)", xs, xs, xs,
                    num(im, imp_attr_float(im, nd, "alpha", 1.0f)));
    else if (!strcmp(op, "Selu"))
        e = imp_fmt(im, "where(%s > 0, %s, (exp(%s) - 1) * %s) * %s", xs, xs, xs,
                    num(im, imp_attr_float(im, nd, "alpha", 1.67326319217681884765625f)),
                    num(im, imp_attr_float(im, nd, "gamma", 1.05070102214813232421875f)));
    else if (!strcmp(op, "Celu")) {
        const char *a = num(im, imp_attr_float(im, nd, "alpha", 1.0f));
        e = imp_fmt(im, "maximum(%s, 0) + minimum((exp(%s / %s) - 1) * %s, 0)", xs, xs, a, a);
    } else if (!strcmp(op, "HardSigmoid"))
        e = imp_fmt(im, "maximum(minimum(%s * %s + %s, 1), 0)", xs, num(im, imp_attr_float(im, nd, "alpha", 0.2f)),
                    num(im, imp_attr_float(im, nd, "beta", 0.5f)));
    else if (!strcmp(op, "HardSwish"))
        e = imp_fmt(im, "%s * maximum(minimum(%s / 6 + 0.5, 1), 0)", xs, xs);
    else if (!strcmp(op, "Softsign"))
        e = imp_fmt(im, "%s / (abs(%s) + 1)", xs, xs);
    else if (!strcmp(op, "ThresholdedRelu"))
        e = imp_fmt(im, "where(%s > %s, %s, 0)", xs, num(im, imp_attr_float(im, nd, "alpha", 1.0f)), xs);
    else /* Sign */
        e = imp_fmt(im, "f32(%s > 0) - f32(%s < 0)", xs, xs);
    imp_emit(im, imp_out(nd, 0), ATTN_F32, x->rank, x->dim, "%s", e);
}

static void op_prelu(Imp *im, ImpNode *nd) {
    Val *x = nd->in[0], *s = nd->in[1];
    imp_need_dtype(im, x, "the input", DT_BIT(ATTN_F32));
    imp_need_dtype(im, s, "the slope", DT_BIT(ATTN_F32));
    Dim od[ATTN_MAX_RANK];
    int r = imp_broadcast(im, x->rank, x->dim, s->rank, s->dim, od);
    const char *xs = imp_ref_tensor(im, x);
    imp_emit(im, imp_out(nd, 0), ATTN_F32, r, od, "where(%s < 0, %s * %s, %s)", xs, xs, imp_ref_bc(im, s, r), xs);
}

/* Hardmax: 1 at the first maximum along the axis, 0 elsewhere */
static void op_hardmax(Imp *im, ImpNode *nd) {
    Val *x = nd->in[0];
    imp_need_dtype(im, x, "the input", DT_BIT(ATTN_F32));
    if (x->rank == 0)
        imp_node_fail(im, "the input is a scalar");
    int axis = imp_axis(im, imp_attr_int(im, nd, "axis", im->opset >= 13 ? -1 : 1), x->rank, "axis");
    if (im->opset < 13 && axis != x->rank - 1)
        imp_node_fail(im, "Hardmax before opset 13 over more than the last axis is not supported");
    Dim pos[ATTN_MAX_RANK];
    for (int i = 0; i < x->rank; i++)
        pos[i] = i == axis ? x->dim[i] : odim_const(1);
    imp_emit(im, imp_out(nd, 0), ATTN_F32, x->rank, x->dim, "f32(reshape(arange(%s), %s) == argmax(%s, axis = %d, keepdim = true))",
             odim_text(im, x->dim[axis]), imp_dims_text(im, x->rank, pos), imp_ref_tensor(im, x), axis);
}

/* BatchNormalization (inference): per channel (axis 1) (x - mean) / sqrt(var + eps) * scale + bias */
static void op_batch_norm(Imp *im, ImpNode *nd) {
    Val *x = nd->in[0];
    imp_need_dtype(im, x, "the input", DT_BIT(ATTN_F32));
    if (imp_attr_int(im, nd, "training_mode", 0) || nd->nout > 1)
        imp_node_fail(im, "BatchNormalization in training mode is not supported (attn runs inference)");
    if (x->rank < 2)
        imp_node_fail(im, "the input has rank %d; BatchNormalization needs a channel axis", x->rank);
    float eps = imp_attr_float(im, nd, "epsilon", 1e-5f);
    Dim cd[ATTN_MAX_RANK];
    for (int i = 0; i < x->rank - 1; i++)
        cd[i] = i == 0 ? x->dim[1] : odim_const(1);
    const char *shape = imp_dims_text(im, x->rank - 1, cd), *p[4];
    for (int i = 0; i < 4; i++) {
        Val *v = nd->in[i + 1];
        if (!v || v->rank != 1 || !odim_eq(v->dim[0], x->dim[1]))
            imp_node_fail(im, "input %d must be a vector of the %s channels", i + 1, odim_text(im, x->dim[1]));
        p[i] = imp_fmt(im, "reshape(%s, %s)", imp_ref_tensor(im, v), shape);
    }
    imp_emit(im, imp_out(nd, 0), ATTN_F32, x->rank, x->dim, "(%s - %s) * rsqrt(%s + %s) * %s + %s",
             imp_ref_tensor(im, x), p[2], p[3], num(im, eps), p[0], p[1]);
}

#define ACT(name, attrs, since) {name, op_activation, 1, 1, 1, 1, attrs, since}
const ImpOp imp_ops_act[] = {
    ACT("LeakyRelu", "alpha", 6), ACT("Elu", "alpha", 6), ACT("Selu", "alpha gamma", 6), ACT("Celu", "alpha", 12),
    ACT("HardSigmoid", "alpha beta", 6), ACT("HardSwish", "", 14), ACT("Softsign", "", 1),
    ACT("ThresholdedRelu", "alpha", 10), ACT("Sign", "", 9),
    {"PRelu", op_prelu, 2, 2, 1, 1, "", 9},
    {"Hardmax", op_hardmax, 1, 1, 1, 1, "axis", 1},
    {"BatchNormalization", op_batch_norm, 5, 5, 1, 3, "epsilon momentum training_mode", 9},
    {NULL, NULL, 0, 0, 0, 0, NULL, 0},
};
