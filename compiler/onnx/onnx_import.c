/*
 * onnx_import.c — the import of one model: checks of the model and its
 * graph, the entry's inputs, each node in order, the outputs, and the source
 * text put together (docs/ONNX.md shows what it looks like).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_imp.h"

enum { OPSET_MIN = 1, OPSET_MAX = 18 };

static void read_opset(Imp *im) {
    const Onnx__ModelProto *m = im->model;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        if (!o->domain || !*o->domain || !strcmp(o->domain, "ai.onnx"))
            im->opset = o->version;
    }
    if (!im->opset)
        imp_fail(im, "the model imports no opset of the default ONNX domain");
    if (im->opset < OPSET_MIN || im->opset > OPSET_MAX)
        imp_fail(im, "opset %lld: attn imports opsets %d to %d", (long long)im->opset, OPSET_MIN, OPSET_MAX);
}

/* A graph input's declared type: element type and dims, dim_params as the
 * entry's symbols. */
static Val *declare_input(Imp *im, const Onnx__ValueInfoProto *vi) {
    const char *name = vi->name;
    const char *what = imp_fmt(im, "graph input '%.120s'", name);
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        imp_fail(im, "%s is not a tensor", what);
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    attn_dtype dt = imp_dtype_of_onnx(im, tt->elem_type, what);
    if (!tt->shape)
        imp_fail(im, "%s has no shape: attn needs each input's rank", what);
    if (tt->shape->n_dim > ATTN_MAX_RANK)
        imp_fail(im, "%s has rank %zu; attn tensors have at most %d dims", what, tt->shape->n_dim, ATTN_MAX_RANK);
    Dim dims[ATTN_MAX_RANK];
    const char *v = imp_name(im, name);
    for (size_t i = 0; i < tt->shape->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            if (d->dim_value < 0)
                imp_fail(im, "%s has a negative dim %lld", what, (long long)d->dim_value);
            dims[i] = odim_const(d->dim_value);
            continue;
        }
        const char *param = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM && *d->dim_param
                                ? d->dim_param
                                : imp_fmt(im, "%s_dim%zu", v, i);
        /* the same dim_param is the same symbol in every input */
        const char *sym = NULL;
        for (int a = 0; a < im->natoms; a++)
            if (im->atom_src[a] && !strcmp(im->atom_src[a], param))
                sym = im->atoms[a];
        if (!sym)
            sym = imp_name(im, param);
        int atom = imp_atom(im, sym);
        im->atom_src[atom] = imp_strdup(im, param);
        dims[i] = odim_atom(atom);
    }
    Val *val = imp_new_val(im, name, dt, (int)tt->shape->n_dim, dims);
    val->var = v;
    return val;
}

/* A value given for an input (attn_import_onnx's `known`) is folded where a
 * constant is needed; the entry keeps the input only if a statement uses it. */
static void give_known(Imp *im, Val *v, const attn_tensor *t) {
    if (t->dtype != v->dt || t->rank != v->rank)
        imp_fail(im, "the value given for input '%.120s' is %s of rank %d; the model declares %s of rank %d", v->onnx,
                 imp_dtype_attn(t->dtype), t->rank, imp_dtype_attn(v->dt), v->rank);
    for (int i = 0; i < t->rank; i++) {
        if (t->shape[i] < 0)
            imp_fail(im, "the value given for input '%.120s' has a negative dim", v->onnx);
        v->dim[i] = odim_const(t->shape[i]);
    }
    int64_t n = attn_tensor_numel(t);
    if (n < 0 || n > ATTN_LIMIT_ONNX_FOLD)
        return; /* too large to fold: stays an input only */
    if (t->dtype == ATTN_F32) {
        v->fval = imp_alloc(im, (size_t)n * 4 + 1);
        if (n)
            memcpy(v->fval, t->data, (size_t)n * 4);
        return;
    }
    v->ival = imp_alloc(im, (size_t)n * sizeof(Dim) + 1);
    for (int64_t i = 0; i < n; i++)
        v->ival[i] = odim_const(t->dtype == ATTN_I64   ? ((const int64_t *)t->data)[i]
                               : t->dtype == ATTN_I32 ? ((const int32_t *)t->data)[i]
                                                      : ((const uint8_t *)t->data)[i]);
}

static bool is_initializer(const Onnx__GraphProto *g, const char *name) {
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i]->name && !strcmp(g->initializer[i]->name, name))
            return true;
    return false;
}

/* The exporter's name scope of a node: "/encoder/layer.0/attention/self" of
 * "/encoder/layer.0/attention/self/MatMul"; NULL without one. */
static const char *node_scope(Imp *im, const char *name) {
    if (!name || name[0] != '/')
        return NULL;
    const char *last = strrchr(name, '/');
    if (last == name)
        return NULL;
    for (const char *p = name; p < last; p++)
        if ((unsigned char)*p < 0x20 || *p == '"' || *p == 0x7f)
            return NULL;
    return imp_fmt(im, "%.*s", (int)(last - name), name);
}

/* Statements go into `scope` blocks named after the exporter's scopes; a
 * block is opened by the first statement of a new scope (imp_stmt), so nodes
 * that are only folded leave no empty blocks. */
void imp_enter_scope(Imp *im, const char *scope) {
    if ((scope == NULL) == (im->scope == NULL) && (!scope || !strcmp(scope, im->scope)))
        return;
    if (im->scope)
        imp_put(im, &im->body, "  }\n");
    im->scope = scope;
    if (!scope)
        return;
    /* "/encoder/layer.0/attention" -> scope "encoder.layer.0.attention" (a
     * dotted path, as the state_dict names it) */
    char *dotted = imp_strdup(im, scope + 1);
    for (char *p = dotted; *p; p++)
        if (*p == '/')
            *p = '.';
    imp_put(im, &im->body, "  # %s\n  scope \"%s\" {\n", scope, dotted);
}

static void check_attrs(Imp *im, const ImpOp *op, const Onnx__NodeProto *n) {
    for (size_t i = 0; i < n->n_attribute; i++) {
        const Onnx__AttributeProto *a = n->attribute[i];
        if (!a->name)
            imp_node_fail(im, "an attribute without a name");
        if (a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH ||
            a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS || a->g || a->n_graphs)
            imp_node_fail(im, "attribute '%.60s' holds a subgraph; attn imports graphs without subgraphs "
                          "(control flow becomes `if`/`for` in .attn by hand)", a->name);
        if (a->ref_attr_name)
            imp_node_fail(im, "attribute '%.60s' refers to a function's attribute", a->name);
        const char *p = op->attrs;
        size_t len = strlen(a->name);
        bool known = false;
        while (p && *p) {
            const char *e = strchr(p, ' ');
            size_t l = e ? (size_t)(e - p) : strlen(p);
            if (l == len && !strncmp(p, a->name, l))
                known = true;
            p = e ? e + 1 : NULL;
        }
        if (!known)
            imp_node_fail(im, "attribute '%.60s' of %s is not supported", a->name, n->op_type);
    }
}

static void import_node(Imp *im, const Onnx__NodeProto *n) {
    if (!n->op_type)
        imp_node_fail(im, "a node without op_type");
    if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx"))
        imp_node_fail(im, "op %.60s of domain '%.60s': attn imports the default ONNX domain only", n->op_type,
                      n->domain);
    const ImpOp *op = imp_op_lookup(n->op_type);
    if (!op)
        imp_node_fail(im, "unsupported op %.60s (docs/ONNX.md lists the supported ops)", n->op_type);
    if (im->opset < op->since)
        imp_node_fail(im, "%s before opset %d is not supported", n->op_type, op->since);
    if ((int)n->n_input < op->min_in || (int)n->n_input > op->max_in)
        imp_node_fail(im, "%zu inputs; %s takes %d to %d", n->n_input, n->op_type, op->min_in, op->max_in);
    if ((int)n->n_output < op->min_out || (int)n->n_output > op->max_out)
        imp_node_fail(im, "%zu outputs; %s gives %d to %d", n->n_output, n->op_type, op->min_out, op->max_out);
    check_attrs(im, op, n);
    ImpNode nd = {.n = n, .nin = (int)n->n_input, .nout = (int)n->n_output};
    for (size_t i = 0; i < n->n_input; i++) {
        if (!n->input[i] || !*n->input[i]) {
            if ((int)i < op->min_in) /* an empty name leaves out an optional input only */
                imp_node_fail(im, "input %zu is required, but its name is empty", i);
            continue;
        }
        nd.in[i] = imp_find(im, n->input[i]);
        if (!nd.in[i])
            imp_node_fail(im, "input '%.120s' is not defined before this node (nodes must be in topological order)",
                          n->input[i]);
    }
    im->want_scope = node_scope(im, n->name);
    op->fn(im, &nd);
    for (size_t i = 0; i < n->n_output; i++)
        if (n->output[i] && *n->output[i] && !imp_find(im, n->output[i]))
            imp_node_fail(im, "output %zu ('%.120s') is not supported", i, n->output[i]);
}

static void reserve_outputs(Imp *im, const Onnx__GraphProto *g) {
    im->nouts = (int)g->n_output;
    im->out_onnx = imp_alloc(im, g->n_output * sizeof(char *) + 1);
    im->out_var = imp_alloc(im, g->n_output * sizeof(char *) + 1);
    im->out_taken = imp_alloc(im, g->n_output + 1);
    for (size_t i = 0; i < g->n_output; i++) {
        if (!g->output[i]->name || !*g->output[i]->name)
            imp_fail(im, "graph output %zu has no name", i);
        im->out_onnx[i] = g->output[i]->name;
        im->out_var[i] = imp_name(im, g->output[i]->name);
    }
}

static char *dup_or_fail(Imp *im, const char *s) {
    char *d = strdup(s);
    if (!d)
        imp_fail(im, "out of memory");
    return d;
}

static void import_graph(Imp *im) {
    const Onnx__GraphProto *g = im->model->graph;
    if (!g)
        imp_fail(im, "the model has no graph");
    if (g->n_node > ATTN_LIMIT_ONNX_NODES)
        imp_fail(im, "the graph has %zu nodes; the limit is %d", g->n_node, ATTN_LIMIT_ONNX_NODES);
    if (g->n_sparse_initializer)
        imp_fail(im, "sparse initializers are not supported");
    if (!g->n_output)
        imp_fail(im, "the graph has no outputs");
    if (g->n_output > ATTN_LIMIT_OUTPUTS)
        imp_fail(im, "the graph has %zu outputs; the limit is %d", g->n_output, ATTN_LIMIT_OUTPUTS);
    for (size_t i = 0; i < g->n_node; i++) {
        const char *op = g->node[i]->op_type;
        if (op && (!strcmp(op, "GRU") || !strcmp(op, "LSTM") || !strcmp(op, "RNN")))
            im->recurrent = true;
    }
    reserve_outputs(im, g);
    Val **inputs = imp_alloc(im, (g->n_input + 1) * sizeof *inputs);
    int ninputs = 0;
    for (size_t i = 0; i < g->n_input; i++) {
        if (!g->input[i]->name || !*g->input[i]->name)
            imp_fail(im, "graph input %zu has no name", i);
        if (is_initializer(g, g->input[i]->name))
            continue; /* an initializer listed as an input (IR version 3): a weight */
        inputs[ninputs++] = declare_input(im, g->input[i]);
    }
    for (int k = 0; k < im->nknown; k++) {
        const attn_tensor *t = &im->known[k];
        Val *v = t->name ? imp_find(im, t->name) : NULL;
        if (!v)
            imp_fail(im, "a value is given for '%.120s', which is not an input of the graph",
                     t->name ? t->name : "(null)");
        give_known(im, v, t);
    }
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        if (!t->name || !*t->name)
            imp_fail(im, "initializer %zu has no name", i);
        if (imp_find(im, t->name))
            imp_fail(im, "initializer '%.120s' is defined twice", t->name);
        imp_tensor_val(im, t, t->name);
    }
    for (size_t i = 0; i < g->n_node; i++) {
        im->node = g->node[i];
        im->node_index = (int)i;
        import_node(im, g->node[i]);
    }
    im->node = NULL;
    imp_enter_scope(im, NULL);
    /* return */
    const char *ret = "";
    for (size_t i = 0; i < g->n_output; i++) {
        Val *v = imp_find(im, g->output[i]->name);
        if (!v)
            imp_fail(im, "graph output '%.120s' is computed by no node", g->output[i]->name);
        ret = imp_fmt(im, "%s%s%s", ret, i ? ", " : "", imp_ref_tensor(im, v));
    }
    imp_put(im, &im->body, "  return %s\n}\n", ret);
    /* the signature, now that the inputs used are known */
    attn_onnx_import *r = im->res;
    r->input_names = calloc((size_t)ninputs + 1, sizeof(char *));
    r->output_names = calloc(g->n_output + 1, sizeof(char *));
    if (!r->input_names || !r->output_names)
        imp_fail(im, "out of memory");
    const Onnx__ModelProto *m = im->model;
    imp_put(im, &im->head, "# Imported from %s by attnc import (", im->path);
    if (m->producer_name && *m->producer_name)
        imp_put(im, &im->head, "%.60s %.30s, ", m->producer_name, m->producer_version ? m->producer_version : "");
    imp_put(im, &im->head, "ONNX opset %lld).\n# Weights: the initializers, keys = their ONNX names.\n",
            (long long)im->opset);
    const char *sig = "";
    for (int i = 0; i < ninputs; i++) {
        Val *v = inputs[i];
        if ((v->ival || v->fval) && !v->used)
            continue; /* given, and folded wherever it is used */
        imp_put(im, &im->head, "# input  %-16s ONNX '%s'\n", v->var, v->onnx);
        sig = imp_fmt(im, "%s%s%s: %s%s", sig, *sig ? ", " : "", v->var, imp_dtype_attn(v->dt),
                      imp_dims_text(im, v->rank, v->dim));
        r->input_names[r->ninputs++] = dup_or_fail(im, v->onnx);
    }
    const char *outs = "";
    for (size_t i = 0; i < g->n_output; i++) {
        imp_put(im, &im->head, "# output %-16s ONNX '%s'\n", im->out_var[i], im->out_onnx[i]);
        outs = imp_fmt(im, "%s%s%s", outs, i ? ", " : "", im->out_var[i]);
        r->output_names[r->noutputs++] = dup_or_fail(im, im->out_onnx[i]);
    }
    imp_put(im, &im->head, "entry forward(%s) -> (%s) {\n", sig, outs);
}

void onnx_import_free(attn_onnx_import *r) {
    if (!r)
        return;
    free(r->source);
    for (int i = 0; i < r->nweights; i++) {
        free((char *)r->weights[i].name);
        free(r->weights[i].data);
    }
    free(r->weights);
    for (int i = 0; i < r->ninputs; i++)
        free(r->input_names[i]);
    free(r->input_names);
    for (int i = 0; i < r->noutputs; i++)
        free(r->output_names[i]);
    free(r->output_names);
    free(r);
}

static void free_state(Imp *im) {
    imp_free_arena(im);
    if (im->model)
        onnx__model_proto__free_unpacked(im->model, NULL);
    free(im->head.s);
    free(im->params.s);
    free(im->body.s);
    free(im->dir);
}

static char *model_dir(const char *path) {
    char real[PATH_MAX];
    if (!realpath(path, real))
        return NULL;
    char *slash = strrchr(real, '/');
    if (slash == real)
        slash[1] = 0;
    else if (slash)
        *slash = 0;
    return strdup(real);
}

attn_status onnx_import(const void *data, size_t len, const char *path, int has_dir, const attn_tensor *known,
                        int nknown, attn_onnx_import **out, char **err) {
    *out = NULL;
    *err = NULL;
    Imp im_storage = {0}; /* everything setjmp must keep lives in here */
    Imp *const im = &im_storage;
    im->path = path;
    im->known = known;
    im->nknown = nknown;
    im->res = calloc(1, sizeof *im->res);
    if (setjmp(im->fail)) {
        onnx_import_free(im->res);
        free_state(im);
        if (!im->err)
            im->err = strdup("error: out of memory");
        *err = im->err;
        return strstr(im->err ? im->err : "", ": error: out of memory") ? ATTN_ERR_NOMEM : ATTN_ERR_INPUT;
    }
    if (!im->res)
        imp_fail(im, "out of memory");
    if (has_dir && !(im->dir = model_dir(path)))
        imp_fail(im, "cannot resolve the model's directory");
    if ((unsigned long long)len > (unsigned long long)ATTN_LIMIT_ONNX_BYTES)
        imp_fail(im, "the file is %zu bytes; the limit is %lld", len, (long long)ATTN_LIMIT_ONNX_BYTES);
    imp_check_wire(im, data, len);
    im->model = onnx__model_proto__unpack(NULL, len, data);
    if (!im->model)
        imp_fail(im, "not an ONNX model: the protobuf does not parse as a ModelProto");
    if (!im->model->has_ir_version || im->model->ir_version < 3)
        imp_fail(im, "IR version %lld: attn imports IR version 3 and later",
                 (long long)(im->model->has_ir_version ? im->model->ir_version : 0));
    if (im->model->n_functions)
        imp_fail(im, "the model defines functions; attn imports plain graphs");
    read_opset(im);
    import_graph(im);
    imp_put(im, &im->head, "%s%s", im->params.s ? im->params.s : "", im->body.s ? im->body.s : "");
    im->res->source = im->head.s;
    im->head.s = NULL;
    *out = im->res;
    im->res = NULL;
    free_state(im);
    return ATTN_OK;
}
