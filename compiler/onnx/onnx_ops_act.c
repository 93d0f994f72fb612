/*
 * onnx_ops_act.c — ONNX ops that are short expressions of attn built-ins:
 * the parametric activations (LeakyRelu, Elu, Selu, Celu, HardSigmoid,
 * HardSwish, Softsign, ThresholdedRelu, PRelu, Sign), Hardmax, and
 * BatchNormalization (inference and training mode).
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

/* The mean of x over every axis but the channel axis 1, kept as [1, C, 1, ...]. */
static const char *channel_mean(Imp *im, const char *x, int rank) {
    const char *e = x;
    for (int i = rank - 1; i >= 0; i--)
        if (i != 1)
            e = imp_fmt(im, "mean(%s, axis = %d, keepdim = true)", e, i);
    return e;
}

/* BatchNormalization in training mode (opset 14's training_mode = 1): normalised
 * with the batch's own mean and (population) variance per channel; the
 * optional outputs are the running statistics updated with momentum, as
 * ONNX's reference computes them: input * momentum + batch * (1 - momentum). */
static void batch_norm_training(Imp *im, ImpNode *nd, Val *x, const char *eps, const char *const p[4]) {
    const char *out = imp_out(nd, 0), *xs = imp_ref_tensor(im, x);
    float momentum = imp_attr_float(im, nd, "momentum", 0.9f);
    Dim sd[ATTN_MAX_RANK];
    for (int i = 0; i < x->rank; i++)
        sd[i] = i == 1 ? x->dim[1] : odim_const(1);
    Val *m = imp_emit(im, imp_fmt(im, "%s#batch_mean", out), ATTN_F32, x->rank, sd, "%s",
                      channel_mean(im, xs, x->rank));
    Val *d = imp_emit(im, imp_fmt(im, "%s#centred", out), ATTN_F32, x->rank, x->dim, "%s - %s", xs, m->var);
    Val *v = imp_emit(im, imp_fmt(im, "%s#batch_var", out), ATTN_F32, x->rank, sd, "%s",
                      channel_mean(im, imp_fmt(im, "%s * %s", d->var, d->var), x->rank));
    imp_emit(im, out, ATTN_F32, x->rank, x->dim, "%s * rsqrt(%s + %s) * %s + %s", d->var, v->var, eps, p[0], p[1]);
    const char *keep = num(im, momentum), *take = num(im, 1.0f - momentum), *c = odim_text(im, x->dim[1]);
    Val *stat[2] = {m, v};
    for (int i = 0; i < 2; i++)
        if (nd->nout > i + 1 && *imp_out(nd, i + 1))
            imp_emit(im, imp_out(nd, i + 1), ATTN_F32, 1, &x->dim[1], "%s * %s + reshape(%s, [%s]) * %s",
                     imp_ref_tensor(im, nd->in[3 + i]), keep, stat[i]->var, c, take);
}

/* BatchNormalization: per channel (axis 1) (x - mean) / sqrt(var + eps) * scale + bias,
 * with the given statistics (inference) or the batch's (training mode) */
static void op_batch_norm(Imp *im, ImpNode *nd) {
    Val *x = nd->in[0];
    imp_need_dtype(im, x, "the input", DT_BIT(ATTN_F32));
    bool training = imp_attr_int(im, nd, "training_mode", 0) != 0;
    if (im->opset < 14 && nd->nout > 1)
        imp_node_fail(im, "BatchNormalization before opset 14 with statistics outputs (training) is not supported");
    if (!training && nd->nout > 1)
        imp_node_fail(im, "running_mean and running_var are outputs of training mode only (training_mode = 0)");
    if (x->rank < 2)
        imp_node_fail(im, "the input has rank %d; BatchNormalization needs a channel axis", x->rank);
    const char *eps = num(im, imp_attr_float(im, nd, "epsilon", 1e-5f));
    Dim cd[ATTN_MAX_RANK];
    for (int i = 0; i < x->rank - 1; i++)
        cd[i] = i == 0 ? x->dim[1] : odim_const(1);
    const char *shape = imp_dims_text(im, x->rank - 1, cd), *p[4] = {NULL};
    for (int i = 0; i < 4; i++) {
        Val *v = nd->in[i + 1];
        if (!v || v->rank != 1 || !odim_eq(v->dim[0], x->dim[1]))
            imp_node_fail(im, "input %d must be a vector of the %s channels", i + 1, odim_text(im, x->dim[1]));
        if (training && i >= 2) /* the batch's statistics replace the given ones */
            continue;
        p[i] = imp_fmt(im, "reshape(%s, %s)", imp_ref_tensor(im, v), shape);
    }
    if (training) {
        batch_norm_training(im, nd, x, eps, p);
        return;
    }
    imp_emit(im, imp_out(nd, 0), ATTN_F32, x->rank, x->dim, "(%s - %s) * rsqrt(%s + %s) * %s + %s",
             imp_ref_tensor(im, x), p[2], p[3], eps, p[0], p[1]);
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
