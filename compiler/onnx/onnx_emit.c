/*
 * onnx_emit.c — writing values as .attn source: operands (variables,
 * literals, weights), statements, and the attributes and shapes of nodes.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_imp.h"

const char *imp_dims_text(Imp *im, int rank, const Dim *dims) {
    char *s = "[";
    for (int i = 0; i < rank; i++)
        s = imp_fmt(im, "%s%s%s", s, i ? ", " : "", odim_text(im, dims[i]));
    return imp_fmt(im, "%s]", s);
}

/* Can `key` be written as an .attn string literal (one line, no '"')? */
static bool key_writable(const char *key) {
    if (!*key || !strcmp(key, "__metadata__"))
        return false;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        if (*p < 0x20 || *p == '"' || *p == 0x7f)
            return false;
    return true;
}

static void add_weight(Imp *im, const char *key, const Val *v, const void *data, size_t nbytes) {
    attn_onnx_import *r = im->res;
    if (r->nweights == im->capweights) {
        int cap = im->capweights ? im->capweights * 2 : 64;
        attn_tensor *t = realloc(r->weights, (size_t)cap * sizeof *t);
        if (!t)
            imp_fail(im, "out of memory");
        r->weights = t;
        im->capweights = cap;
    }
    attn_tensor *t = &r->weights[r->nweights];
    memset(t, 0, sizeof *t);
    char *name = strdup(key);
    void *copy = malloc(nbytes ? nbytes : 1);
    if (!name || !copy) {
        free(name);
        free(copy);
        imp_fail(im, "out of memory");
    }
    if (nbytes)
        memcpy(copy, data, nbytes);
    t->name = name;
    t->dtype = v->dt == ATTN_I32 ? ATTN_I64 : v->dt;
    t->rank = v->rank;
    for (int i = 0; i < v->rank; i++)
        t->shape[i] = v->dim[i].c;
    t->data = copy;
    r->nweights++;
}

/* Declares known value v as a weight: `param name: f32[...] = "key"`. */
static void materialize(Imp *im, Val *v) {
    int64_t n = val_numel(im, v);
    attn_dtype wdt = v->dt == ATTN_I32 ? ATTN_I64 : v->dt; /* weights bind integers as i64 */
    size_t es = attn_dtype_size(wdt);
    void *data = v->fval; /* f32 elements are written as they are; integers are widened */
    if (!v->fval && v->ival) {
        data = imp_alloc(im, (size_t)n * es + 1);
        for (int64_t i = 0; i < n; i++) {
            int64_t x = val_int(im, v, i, "a value used as a tensor");
            if (wdt == ATTN_BOOL)
                ((uint8_t *)data)[i] = x != 0;
            else
                ((int64_t *)data)[i] = x;
        }
    } else if (!v->fval)
        imp_node_fail(im, "'%.120s' is computed from dims (%s) and used as a tensor, which attn cannot express",
                      v->onnx, v->sexpr);
    const char *name = imp_name(im, v->onnx);
    const char *key = key_writable(v->onnx) ? v->onnx : name;
    add_weight(im, key, v, data, (size_t)n * es);
    const char *decl = imp_fmt(im, "%s%s", imp_dtype_attn(wdt), imp_dims_text(im, v->rank, v->dim));
    if (strcmp(key, v->onnx))
        imp_put(im, &im->params, "  # ONNX name: %s (not writable as a key)\n", name);
    if (!strcmp(key, name))
        imp_put(im, &im->params, "  param %s: %s\n", name, decl);
    else
        imp_put(im, &im->params, "  param %s: %s = \"%s\"\n", name, decl, key);
    v->var = v->dt == ATTN_I32 ? imp_fmt(im, "i32(%s)", name) : name;
}

const char *imp_float_lit(Imp *im, float f) {
    if (isnan(f))
        return NULL;
    if (isinf(f))
        return f > 0 ? "inf" : "(-inf)";
    char buf[64];
    for (int prec = 6; prec <= 9; prec++) { /* the shortest text that reads back as f */
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f)
            break;
    }
    if (!strpbrk(buf, ".e"))
        strcat(buf, ".0");
    else if (!strchr(buf, '.')) { /* "1e-05" is a number in .attn only as "1.0e-05" */
        char *e = strchr(buf, 'e');
        memmove(e + 2, e, strlen(e) + 1);
        e[0] = '.';
        e[1] = '0';
    }
    return buf[0] == '-' ? imp_fmt(im, "(%s)", buf) : imp_strdup(im, buf);
}

/* A literal for a known one-element value, or NULL. */
static const char *scalar_literal(Imp *im, const Val *v) {
    for (int i = 0; i < v->rank; i++)
        if (!odim_is_const(v->dim[i]) || v->dim[i].c != 1)
            return NULL;
    if (v->sexpr)
        return imp_fmt(im, "(%s)", v->sexpr);
    if (v->fval)
        return imp_float_lit(im, v->fval[0]);
    if (v->ival && odim_is_const(v->ival[0])) {
        if (v->dt == ATTN_BOOL)
            return v->ival[0].c ? "true" : "false";
        return v->ival[0].c < 0 ? imp_fmt(im, "(%lld)", (long long)v->ival[0].c)
                                : imp_fmt(im, "%lld", (long long)v->ival[0].c);
    }
    return NULL;
}

const char *imp_ref_bc(Imp *im, Val *v, int out_rank) {
    v->used = true;
    if (v->var)
        return v->var;
    if (v->rank <= out_rank) {
        const char *lit = scalar_literal(im, v);
        if (lit)
            return lit;
    }
    materialize(im, v);
    return v->var;
}

const char *imp_ref(Imp *im, Val *v) { return imp_ref_bc(im, v, 0); }

const char *imp_ref_tensor(Imp *im, Val *v) { return imp_ref_bc(im, v, -1); }

/* The variable name reserved for a graph output, else a fresh one. */
static const char *var_for(Imp *im, const char *onnx) {
    for (int i = 0; i < im->nouts; i++)
        if (!strcmp(im->out_onnx[i], onnx) && !im->out_taken[i]) {
            im->out_taken[i] = true;
            return im->out_var[i];
        }
    return imp_name(im, onnx);
}

Val *imp_bind(Imp *im, const char *onnx, attn_dtype dt, int rank, const Dim *dims) {
    Val *v = imp_new_val(im, onnx, dt, rank, dims);
    v->var = var_for(im, onnx);
    return v;
}

static void put_stmt(Imp *im, const char *target, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
static void put_stmt(Imp *im, const char *target, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    char *text = imp_alloc(im, (size_t)n + 1);
    vsnprintf(text, (size_t)n + 1, fmt, ap);
    imp_enter_scope(im, im->want_scope);
    imp_put(im, &im->body, "%s%s%s%s\n", im->scope ? "    " : "  ", target ? target : "", target ? " = " : "", text);
}

void imp_stmt(Imp *im, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    put_stmt(im, NULL, fmt, ap);
    va_end(ap);
}

Val *imp_emit(Imp *im, const char *onnx, attn_dtype dt, int rank, const Dim *dims, const char *fmt, ...) {
    Val *v = imp_bind(im, onnx, dt, rank, dims);
    va_list ap;
    va_start(ap, fmt);
    put_stmt(im, v->var, fmt, ap);
    va_end(ap);
    return v;
}

/* ---- attributes ---- */
const Onnx__AttributeProto *imp_attr(const ImpNode *nd, const char *name) {
    for (size_t i = 0; i < nd->n->n_attribute; i++)
        if (nd->n->attribute[i]->name && !strcmp(nd->n->attribute[i]->name, name))
            return nd->n->attribute[i];
    return NULL;
}

static const Onnx__AttributeProto *attr_typed(Imp *im, const ImpNode *nd, const char *name,
                                              Onnx__AttributeProto__AttributeType type) {
    const Onnx__AttributeProto *a = imp_attr(nd, name);
    if (a && a->type != type)
        imp_node_fail(im, "attribute '%s' has type %d, expected %d", name, (int)a->type, (int)type);
    return a;
}

int64_t imp_attr_int(Imp *im, const ImpNode *nd, const char *name, int64_t dflt) {
    const Onnx__AttributeProto *a = attr_typed(im, nd, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    return a ? a->i : dflt;
}

float imp_attr_float(Imp *im, const ImpNode *nd, const char *name, float dflt) {
    const Onnx__AttributeProto *a = attr_typed(im, nd, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    return a ? a->f : dflt;
}

const char *imp_attr_str(Imp *im, const ImpNode *nd, const char *name, const char *dflt) {
    const Onnx__AttributeProto *a = attr_typed(im, nd, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    if (!a)
        return dflt;
    char *s = imp_alloc(im, a->s.len + 1);
    if (a->s.len) /* an empty string has no data */
        memcpy(s, a->s.data, a->s.len);
    if (strlen(s) != a->s.len)
        imp_node_fail(im, "attribute '%s' holds a NUL byte", name);
    return s;
}

const int64_t *imp_attr_ints(Imp *im, const ImpNode *nd, const char *name, int *n) {
    const Onnx__AttributeProto *a = attr_typed(im, nd, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    if (!a) {
        *n = -1;
        return NULL;
    }
    if (a->n_ints > ATTN_LIMIT_ONNX_FOLD)
        imp_node_fail(im, "attribute '%s' has %zu values", name, a->n_ints);
    *n = (int)a->n_ints;
    return a->ints;
}

int imp_axis(Imp *im, int64_t axis, int rank, const char *what) {
    if (axis < -rank || axis >= (rank ? rank : 1))
        imp_node_fail(im, "%s %lld is out of range for rank %d", what, (long long)axis, rank);
    return (int)(axis < 0 ? axis + rank : axis);
}

const char *imp_out(const ImpNode *nd, int i) {
    return i < (int)nd->n->n_output && nd->n->output[i] ? nd->n->output[i] : "";
}

int imp_broadcast(Imp *im, int ra, const Dim *a, int rb, const Dim *b, Dim *out) {
    int r = ra > rb ? ra : rb;
    for (int i = 0; i < r; i++) {
        int ia = ra - r + i, ib = rb - r + i;
        Dim da = ia >= 0 ? a[ia] : odim_const(1), db = ib >= 0 ? b[ib] : odim_const(1);
        if (odim_is_const(da) && da.c == 1)
            out[i] = db;
        else if ((odim_is_const(db) && db.c == 1) || odim_eq(da, db))
            out[i] = da;
        else
            imp_node_fail(im, "shapes %s and %s do not broadcast (dim %d: %s and %s)", imp_dims_text(im, ra, a),
                          imp_dims_text(im, rb, b), i - r, odim_text(im, da), odim_text(im, db));
    }
    return r;
}

const Val *imp_need_known(Imp *im, const ImpNode *nd, int i, const char *what) {
    const Val *v = i < nd->nin ? nd->in[i] : NULL;
    if (!v)
        imp_node_fail(im, "input %d (%s) is missing", i, what);
    if (!v->ival)
        imp_node_fail(im, "input %d (%s, '%.120s') must be known when the model is imported: attn needs %s at "
                      "compile time (a constant, an initializer, or a shape computed from the inputs' dims)",
                      i, what, v->onnx, what);
    if (v->rank > 1)
        imp_node_fail(im, "input %d (%s) has rank %d; expected a list", i, what, v->rank);
    return v;
}

void imp_need_dtype(Imp *im, const Val *v, const char *what, unsigned mask) {
    if (!(mask & DT_BIT(v->dt)))
        imp_node_fail(im, "%s ('%.120s') is %s, which attn does not support here", what, v->onnx,
                      imp_dtype_attn(v->dt));
}
