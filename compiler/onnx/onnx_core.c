/*
 * onnx_core.c — the importer's arena, text buffers, errors, names and values.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_imp.h"

struct ImpBlock {
    ImpBlock *next;
    max_align_t data[];
};

void *imp_alloc(Imp *im, size_t n) {
    if (n > ((size_t)1 << 40))
        imp_fail(im, "a value of %zu bytes is too large", n);
    ImpBlock *b = calloc(1, sizeof *b + n);
    if (!b)
        imp_fail(im, "out of memory");
    b->next = im->blocks;
    im->blocks = b;
    return b->data;
}

void imp_free_arena(Imp *im) {
    while (im->blocks) {
        ImpBlock *b = im->blocks;
        im->blocks = b->next;
        free(b);
    }
}

char *imp_strdup(Imp *im, const char *s) {
    size_t n = strlen(s);
    char *d = imp_alloc(im, n + 1);
    memcpy(d, s, n);
    return d;
}

__attribute__((format(printf, 2, 0))) static char *imp_vfmt(Imp *im, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    char *s = imp_alloc(im, (size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

char *imp_fmt(Imp *im, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = imp_vfmt(im, fmt, ap);
    va_end(ap);
    return s;
}

void imp_put(Imp *im, ImpText *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = imp_vfmt(im, fmt, ap);
    va_end(ap);
    size_t n = strlen(s);
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4096;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *grown = realloc(t->s, cap);
        if (!grown)
            imp_fail(im, "out of memory");
        t->s = grown;
        t->cap = cap;
    }
    memcpy(t->s + t->len, s, n + 1);
    t->len += n;
}

void imp_fail(Imp *im, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    free(im->err);
    size_t n = strlen(im->path) + strlen(msg) + 16;
    im->err = malloc(n);
    if (im->err)
        snprintf(im->err, n, "%s: error: %s", im->path, msg);
    longjmp(im->fail, 1);
}

void imp_node_fail(Imp *im, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char msg[768];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const Onnx__NodeProto *n = im->node;
    if (!n)
        imp_fail(im, "%s", msg);
    imp_fail(im, "node %d '%.120s' (%.60s, opset %lld): %s", im->node_index, n->name ? n->name : "",
             n->op_type ? n->op_type : "", (long long)im->opset, msg);
}

/* ---- values by ONNX name: a linear table with a hash index ---- */
static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void vals_grow(Imp *im) {
    size_t cap = im->capvals ? im->capvals * 2 : 256;
    Val **t = imp_alloc(im, cap * sizeof *t);
    for (size_t i = 0; i < im->capvals; i++) {
        Val *v = im->vals[i];
        if (!v)
            continue;
        size_t j = hash_str(v->onnx) & (cap - 1);
        while (t[j])
            j = (j + 1) & (cap - 1);
        t[j] = v;
    }
    im->vals = t;
    im->capvals = cap;
}

Val *imp_find(Imp *im, const char *onnx) {
    if (!im->capvals)
        return NULL;
    for (size_t j = hash_str(onnx) & (im->capvals - 1); im->vals[j]; j = (j + 1) & (im->capvals - 1))
        if (!strcmp(im->vals[j]->onnx, onnx))
            return im->vals[j];
    return NULL;
}

Val *imp_new_val(Imp *im, const char *onnx, attn_dtype dt, int rank, const Dim *dims) {
    if (rank < 0 || rank > ATTN_MAX_RANK)
        imp_node_fail(im, "'%.120s' has rank %d; attn tensors have at most %d dims", onnx, rank, ATTN_MAX_RANK);
    if (imp_find(im, onnx))
        imp_node_fail(im, "value '%.120s' is defined twice", onnx);
    if ((im->nvals + 1) * 2 > im->capvals)
        vals_grow(im);
    Val *v = imp_alloc(im, sizeof *v);
    v->onnx = imp_strdup(im, onnx);
    v->dt = dt;
    v->rank = rank;
    for (int i = 0; i < rank; i++)
        v->dim[i] = dims[i];
    size_t j = hash_str(onnx) & (im->capvals - 1);
    while (im->vals[j])
        j = (j + 1) & (im->capvals - 1);
    im->vals[j] = v;
    im->nvals++;
    return v;
}

bool val_known(const Val *v) { return v->ival || v->fval || v->sexpr; }

int64_t val_numel(Imp *im, const Val *v) {
    int64_t n = 1;
    for (int i = 0; i < v->rank; i++) {
        if (!odim_is_const(v->dim[i]))
            imp_node_fail(im, "'%.120s' has a symbolic dim %s where a constant is needed", v->onnx,
                          odim_text(im, v->dim[i]));
        if (v->dim[i].c && n > INT64_MAX / v->dim[i].c)
            imp_node_fail(im, "'%.120s' has too many elements", v->onnx);
        n *= v->dim[i].c;
    }
    return n;
}

int64_t val_int(Imp *im, const Val *v, int64_t i, const char *what) {
    if (!v->ival)
        imp_node_fail(im, "%s ('%.120s') must be known when the model is imported", what, v->onnx);
    if (!odim_is_const(v->ival[i]))
        imp_node_fail(im, "%s ('%.120s') element %lld is %s, which is not a constant", what, v->onnx, (long long)i,
                      odim_text(im, v->ival[i]));
    return v->ival[i].c;
}

/* ---- names ---- */
/* The language's keywords and type names: no variable or dim may be one. */
static const char *const keywords[] = {
    "def", "entry", "hyper", "param", "import", "let", "for", "in", "if", "else", "scope", "return", "yield",
    "scan", "true", "false", "and", "or", "not", "inf", "enum", "f32", "i32", "i64", "bool", "int", "float", NULL};

/* The names the recurrent ops' scan bodies use (onnx_ops_rnn.c), which no
 * variable or dim may shadow; reserved only in graphs that have such an op,
 * so that an input called "h" or "pad" elsewhere keeps its name. */
static const char *const scan_body_names[] = {
    "g", "h", "c", "z", "r", "n", "pad", "h_new", "c_new", "gz", "gr", "gh", "rz", "rr", "rh", "rz_w", "rr_w",
    "rh_w", "rz_b", "rr_b", "rh_b", "gi", "go", "gf", "gc", "pi", "po", "pf", NULL};

static bool listed(const char *const *list, const char *s) {
    for (int i = 0; list[i]; i++)
        if (!strcmp(list[i], s))
            return true;
    return false;
}

static bool name_used(Imp *im, const char *s) {
    for (size_t i = 0; i < im->nnames; i++)
        if (!strcmp(im->names[i], s))
            return true;
    return listed(keywords, s) || (im->recurrent && listed(scan_body_names, s));
}

static void name_add(Imp *im, const char *s) {
    if (im->nnames == im->capnames) {
        size_t cap = im->capnames ? im->capnames * 2 : 256;
        char **t = imp_alloc(im, cap * sizeof *t);
        if (im->nnames)
            memcpy(t, im->names, im->nnames * sizeof *t);
        im->names = t;
        im->capnames = cap;
    }
    im->names[im->nnames++] = imp_strdup(im, s);
}

/* The last two components of an exporter's path ("/layer.0/attention/self/query/MatMul_output_0"
 * gives "query_MatMul"; "onnx::Add_12" gives "Add_12"), made an identifier. */
const char *imp_name(Imp *im, const char *hint) {
    char buf[96];
    const char *s = hint;
    const char *colons = strstr(s, "::");
    if (colons)
        s = colons + 2;
    size_t len = strlen(s);
    const char *suffix = "_output_0";
    if (len > strlen(suffix) && !strcmp(s + len - strlen(suffix), suffix))
        len -= strlen(suffix);
    /* start after the third-last separator of '/' */
    int seps = 0;
    size_t start = 0;
    for (size_t i = len; i-- > 0;)
        if (s[i] == '/' && ++seps == 2) {
            start = i + 1;
            break;
        }
    size_t k = 0;
    for (size_t i = start; i < len && k < 48; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (ok)
            buf[k++] = c;
        else if (k && buf[k - 1] != '_')
            buf[k++] = '_';
    }
    while (k && buf[k - 1] == '_')
        k--;
    buf[k] = 0;
    char base[100];
    if (!k)
        snprintf(base, sizeof base, "v");
    else if (buf[0] >= '0' && buf[0] <= '9')
        snprintf(base, sizeof base, "v%s", buf);
    else
        snprintf(base, sizeof base, "%s", buf);
    const char *name = base;
    for (int i = 2; name_used(im, name); i++)
        name = imp_fmt(im, "%s_%d", base, i);
    name_add(im, name);
    return imp_strdup(im, name);
}

/* ---- dtypes ---- */
const char *imp_dtype_attn(attn_dtype dt) {
    switch (dt) {
    case ATTN_F32: return "f32";
    case ATTN_I32: return "i32";
    case ATTN_I64: return "i64";
    case ATTN_BOOL: return "bool";
    }
    return "?";
}

const char *imp_onnx_type_name(int32_t t) {
    static const char *const names[] = {"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32",
                                        "INT64", "STRING", "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64",
                                        "COMPLEX64", "COMPLEX128", "BFLOAT16"};
    return t >= 0 && t < (int32_t)(sizeof names / sizeof *names) ? names[t] : "unknown";
}

attn_dtype imp_dtype_of_onnx(Imp *im, int32_t t, const char *what) {
    switch (t) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: return ATTN_F32;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: return ATTN_I64;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: return ATTN_I32;
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: return ATTN_BOOL;
    default:
        imp_node_fail(im, "%.160s has element type %s (%d); attn imports FLOAT, INT64, INT32 and BOOL", what,
                      imp_onnx_type_name(t), (int)t);
    }
}
