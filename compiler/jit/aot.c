/*
 * aot.c — ahead-of-time compilation into NAME.o and NAME.h (see aot.h).
 *
 * All entries go into one LLVM module, each under the prefix NAME_ENTRY, so
 * that they share one copy of the matmul core and of the attention core
 * (each emitted by the first kernel that calls it: cm.core_external is
 * false here). The header is C source that compiles as C17 and as C++
 * without warnings: every string of the model (names, type texts, error
 * messages, paths) is written as an escaped literal, and comments only carry
 * text made safe for comments.
 */
#include "aot.h"
#include "attn.h"
#include "cg_entry.h"
#include "diag.h"
#include "jit.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { NAME_LEN = 256 };

/* A packed copy of a weight, as the matmuls of some entry read it (param:
 * the CgParam it was made for, whose parts are read when it has some). */
typedef struct AotPacked {
    int weight;
    int64_t k, n, rs, cs, offset;
    const CgParam *param;
} AotPacked;

typedef struct Aot {
    const AotOptions *o;
    const IrEntry *const *entries;
    int n;
    char id[NAME_LEN], ID[NAME_LEN];   /* C name, and in capitals for macros */
    CgTarget target;
    CgEntryInfo *info;                 /* per entry */
    attn_sig_tensor **ins, **outs;       /* per entry */
    int **slots;                       /* per entry: each param slot's index into the loaded data */
    Arena arena;
    const IrNode **weights;            /* one PARAM node per key */
    int *plain;                        /* per weight: read unpacked by some entry */
    int nweights;
    AotPacked *packed;
    int npacked;
} Aot;

void aot_c_name(const char *out, char *buf, size_t len) {
    const char *base = strrchr(out, '/');
    base = base ? base + 1 : out;
    size_t k = 0;
    if (isdigit((unsigned char)base[0]) && k + 1 < len)
        buf[k++] = '_';
    for (const char *p = base; *p && k + 1 < len; p++)
        buf[k++] = isalnum((unsigned char)*p) || *p == '_' ? *p : '_';
    if (k == 0 && len > 1)
        buf[k++] = '_';
    buf[k] = '\0';
}

/* ---- C text ------------------------------------------------------------ */

/* s as a C string literal: quotes, backslashes, '?' (trigraphs) and every byte
 * outside printable ASCII escaped (octal, three digits). NULL becomes NULL. */
static void c_string(StrBuf *b, const char *s) {
    if (!s) {
        sb_printf(b, "NULL");
        return;
    }
    sb_printf(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\' || *p == '?')
            sb_printf(b, "\\%c", *p);
        else if (*p == '\n')
            sb_printf(b, "\\n");
        else if (*p < 0x20 || *p >= 0x7f)
            sb_printf(b, "\\%03o", *p);
        else
            sb_printf(b, "%c", *p);
    }
    sb_printf(b, "\"");
}

/* s inside a comment: printable ASCII only, and never closing it. */
static void c_comment_text(StrBuf *b, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '*' && p[1] == '/')
            sb_printf(b, "* ");
        else
            sb_printf(b, "%c", *p >= 0x20 && *p < 0x7f ? *p : '?');
    }
}

static const char *weights_dtype_enum(attn_weights_dtype dt) {
    switch (dt) {
    case ATTN_WEIGHTS_F32: return "ATTN_WEIGHTS_F32";
    case ATTN_WEIGHTS_BF16: return "ATTN_WEIGHTS_BF16";
    case ATTN_WEIGHTS_INT8: return "ATTN_WEIGHTS_INT8";
    }
    return "ATTN_WEIGHTS_F32";
}

static const char *dtype_enum(attn_dtype dt) {
    switch (dt) {
    case ATTN_F32: return "ATTN_F32";
    case ATTN_I32: return "ATTN_I32";
    case ATTN_I64: return "ATTN_I64";
    case ATTN_BOOL: return "ATTN_BOOL";
    }
    return "ATTN_F32";
}

static void upper(const char *s, char *buf, size_t len) {
    size_t k = 0;
    for (; s[k] && k + 1 < len; k++)
        buf[k] = (char)toupper((unsigned char)s[k]);
    buf[k] = '\0';
}

/* ---- weights ----------------------------------------------------------- */

static int find_weight(const Aot *A, const char *key) {
    for (int i = 0; i < A->nweights; i++)
        if (strcmp(A->weights[i]->name, key) == 0)
            return i;
    return -1;
}

/* Adds weight w to A's list unless its key is there; -1 when its shape is not fixed. */
static int add_weight(Aot *A, const IrNode *w, char **err) {
    if (find_weight(A, w->name) >= 0)
        return 0;
    for (int d = 0; d < w->type.rank; d++) {
        int64_t v;
        if (!dim_is_const(w->type.dims[d], &v)) {
            char ty[256];
            ir_type_format(&w->type, ty, sizeof ty);
            *err = cg_msg("error: weight '%s' has shape %s, which is not fixed: set the hyperparameters "
                          "(--set) or give the weights (--weights) to solve them", w->name, ty);
            return -1;
        }
    }
    A->weights[A->nweights++] = w;
    return 0;
}

/* Whether packed operands a and b hold the same values. */
static bool same_packed(const CgParam *a, const CgParam *b) {
    if (a->k != b->k || a->n != b->n || a->rs != b->rs || a->cs != b->cs || a->nparts != b->nparts ||
        a->gates != b->gates || a->dtype != b->dtype)
        return false;
    if (!a->nparts)
        return strcmp(a->node->name, b->node->name) == 0 && a->offset == b->offset;
    for (int q = 0; q < a->nparts; q++)
        if (strcmp(a->part[q]->name, b->part[q]->name) != 0 || a->part_offset[q] != b->part_offset[q] ||
            a->part_n[q] != b->part_n[q])
            return false;
    return true;
}

/* Collects the weights of every entry (one per key) and the packed copies,
 * and maps each entry's param slots onto them. */
static int plan_weights(Aot *A, char **err) {
    int total = 0;
    for (int e = 0; e < A->n; e++)
        for (int i = 0; i < A->info[e].nparams; i++)
            total += A->info[e].params[i].nparts ? A->info[e].params[i].nparts : 1;
    A->weights = calloc((size_t)total + 1, sizeof *A->weights);
    A->plain = calloc((size_t)total + 1, sizeof *A->plain);
    A->packed = calloc((size_t)total + 1, sizeof *A->packed);
    A->slots = calloc((size_t)A->n, sizeof *A->slots);
    if (!A->weights || !A->plain || !A->packed || !A->slots) {
        *err = cg_msg("error: out of memory");
        return -1;
    }
    for (int e = 0; e < A->n; e++)
        for (int i = 0; i < A->info[e].nparams; i++) {
            const CgParam *cp = &A->info[e].params[i];
            for (int q = 0; q < (cp->nparts ? cp->nparts : 1); q++)
                if (add_weight(A, cp->nparts ? cp->part[q] : cp->node, err) != 0)
                    return -1;
        }
    for (int e = 0; e < A->n; e++) {
        const CgEntryInfo *info = &A->info[e];
        A->slots[e] = calloc((size_t)info->nparams + 1, sizeof(int));
        if (!A->slots[e]) {
            *err = cg_msg("error: out of memory");
            return -1;
        }
        for (int i = 0; i < info->nparams; i++) {
            const CgParam *p = &info->params[i];
            int w = find_weight(A, p->node->name);
            if (!p->packed) {
                A->plain[w] = 1;
                A->slots[e][i] = w;
                continue;
            }
            int j = 0;
            while (j < A->npacked && !same_packed(A->packed[j].param, p))
                j++;
            if (j == A->npacked)
                A->packed[A->npacked++] = (AotPacked){w, p->k, p->n, p->rs, p->cs, p->offset, p};
            A->slots[e][i] = A->nweights + j;
        }
    }
    return 0;
}

/* ---- the header -------------------------------------------------------- */

static const IrNode *input_node(const IrGraph *g, int i) {
    for (int k = 0; k < g->n; k++)
        if (g->nodes[k].op == OP_INPUT && g->nodes[k].index == i)
            return &g->nodes[k];
    return NULL;
}

/* The macros of one input or output ("IN0", "OUT1"). */
static void tensor_macros(StrBuf *b, const char *EP, const char *which, int i, const attn_sig_tensor *s,
                          const IrNode *n) {
    sb_printf(b, "/* %s %d: %s: ", which[0] == 'I' ? "input" : "output", i, s->name);
    c_comment_text(b, s->type_text);
    sb_printf(b, " */\n#define %s_%s%d_NAME ", EP, which, i);
    c_string(b, s->name);
    sb_printf(b, "\n#define %s_%s%d_DTYPE %s\n", EP, which, i, dtype_enum(s->dtype));
    sb_printf(b, "#define %s_%s%d_RANK %d\n", EP, which, i, s->rank);
    if (s->rank == 0)
        return;
    long long dims[ATTN_MAX_RANK];
    for (int d = 0; d < s->rank; d++) {
        int64_t v;
        dims[d] = dim_is_const(n->type.dims[d], &v) ? (long long)v : -1LL;
        sb_printf(b, "#define %s_%s%d_DIM%d %s%lld%s\n", EP, which, i, d, dims[d] < 0 ? "(" : "", dims[d],
                  dims[d] < 0 ? ")" : "");
    }
    sb_printf(b, "#define %s_%s%d_DIMS {", EP, which, i);
    for (int d = 0; d < s->rank; d++)
        sb_printf(b, "%s%lld", d ? ", " : "", dims[d]);
    sb_printf(b, "}\n#define %s_%s%d_DIM_NAMES {", EP, which, i);
    for (int d = 0; d < s->rank; d++) {
        sb_printf(b, "%s", d ? ", " : "");
        c_string(b, s->dim_text[d]);
    }
    sb_printf(b, "}\n");
}

static void sig_array(StrBuf *b, const char *id, const char *what, const attn_sig_tensor *s, int n) {
    if (n == 0)
        return;
    sb_printf(b, "static const attn_sig_tensor %s_%s[%d] = {\n", id, what, n);
    for (int i = 0; i < n; i++) {
        sb_printf(b, "    {");
        c_string(b, s[i].name);
        sb_printf(b, ", %s, %d, {", dtype_enum(s[i].dtype), s[i].rank);
        for (int d = 0; d < ATTN_MAX_RANK; d++)
            sb_printf(b, "%s%d", d ? ", " : "", d < s[i].rank ? s[i].sym[d] : -1);
        sb_printf(b, "}, ");
        c_string(b, s[i].type_text);
        sb_printf(b, ", {");
        for (int d = 0; d < s[i].rank; d++) {
            sb_printf(b, "%s", d ? ", " : "");
            c_string(b, s[i].dim_text[d]);
        }
        sb_printf(b, "%s}}%s\n", s[i].rank ? "" : "NULL", i + 1 < n ? "," : "");
    }
    sb_printf(b, "};\n");
}

/* "forward(input: f32[B, T, 16], h_0: ...) -> (output: f32[...], ...)" in a comment. */
static void signature_comment(StrBuf *b, const IrEntry *e, const attn_sig_tensor *ins, const attn_sig_tensor *outs) {
    sb_printf(b, " * %s(", e->name);
    for (int i = 0; i < e->graph->ninputs; i++) {
        sb_printf(b, "%s%s: ", i ? ", " : "", ins[i].name);
        c_comment_text(b, ins[i].type_text);
    }
    sb_printf(b, ") -> (");
    for (int i = 0; i < e->graph->nout; i++) {
        sb_printf(b, "%s%s: ", i ? ", " : "", outs[i].name);
        c_comment_text(b, outs[i].type_text);
    }
    sb_printf(b, ")\n");
}

static void entry_section(Aot *A, StrBuf *b, int ei) {
    const IrEntry *e = A->entries[ei];
    const IrGraph *g = e->graph;
    const CgEntryInfo *info = &A->info[ei];
    const attn_sig_tensor *ins = A->ins[ei], *outs = A->outs[ei];
    char ep[2 * NAME_LEN], EP[2 * NAME_LEN];
    snprintf(ep, sizeof ep, "%s_%s", A->id, e->name);
    upper(ep, EP, sizeof EP);

    sb_printf(b, "/* ---- entry point %s ", e->name);
    for (size_t k = strlen(e->name); k < 50; k++)
        sb_printf(b, "-");
    sb_printf(b, "\n *\n");
    signature_comment(b, e, ins, outs);
    if (e->nsyms) {
        sb_printf(b, " *\n * Dims that vary per call (-1 in the _DIM macros; bound from the inputs' shapes):");
        for (int s = 0; s < e->nsyms; s++)
            sb_printf(b, "%s%s", s ? ", " : " ", e->sym_names[s]);
        sb_printf(b, ".\n");
    }
    sb_printf(b, " */\n#define %s_NINPUTS %d\n#define %s_NOUTPUTS %d\n", EP, g->ninputs, EP, g->nout);
    sb_printf(b, "#define %s_NSYMS %d\n", EP, e->nsyms);
    if (e->nsyms) {
        sb_printf(b, "#define %s_SYM_NAMES {", EP);
        for (int s = 0; s < e->nsyms; s++) {
            sb_printf(b, "%s", s ? ", " : "");
            c_string(b, e->sym_names[s]);
        }
        sb_printf(b, "}\n");
    }
    for (int i = 0; i < g->ninputs; i++)
        tensor_macros(b, EP, "IN", i, &ins[i], input_node(g, i));
    for (int i = 0; i < g->nout; i++)
        tensor_macros(b, EP, "OUT", i, &outs[i], &g->nodes[g->outputs[i]]);

    sb_printf(b, "\n/* the generated functions (in %s.o); call them through %s() */\n", A->id, ep);
    sb_printf(b, "int64_t %s_workspace(const int64_t *syms, int64_t *count);\n", ep);
    sb_printf(b, "int32_t %s_input_dims(const void *self, const int64_t *syms, int64_t *dims);\n", ep);
    sb_printf(b, "int32_t %s_output_dims(const void *self, const int64_t *syms, int64_t *dims);\n", ep);
    sb_printf(b, "int32_t %s_run(attn_run_ctx *ctx);\n\n", ep);
    sig_array(b, ep, "inputs", ins, g->ninputs);
    sig_array(b, ep, "outputs", outs, g->nout);
    if (info->nsites) {
        sb_printf(b, "static const char *const %s_sites[%d] = {\n", ep, info->nsites);
        for (int i = 0; i < info->nsites; i++) {
            sb_printf(b, "    ");
            c_string(b, info->sites[i]);
            sb_printf(b, "%s\n", i + 1 < info->nsites ? "," : "");
        }
        sb_printf(b, "};\n");
    }
    sb_printf(b, "static const attn_compiled %s_compiled = {\n    ", ep);
    c_string(b, e->name);
    sb_printf(b, ", %d, %s%s, %d, %s%s, %d, %d, %s%s,\n", g->ninputs, g->ninputs ? ep : "NULL",
              g->ninputs ? "_inputs" : "", g->nout, g->nout ? ep : "NULL", g->nout ? "_outputs" : "", e->nsyms,
              info->nsites, info->nsites ? ep : "NULL", info->nsites ? "_sites" : "");
    sb_printf(b, "    %s_workspace, %s_input_dims, %s_output_dims, %s_run};\n", ep, ep, ep, ep);
    if (info->nparams) {
        sb_printf(b, "static const int %s_slots[%d] = {", ep, info->nparams);
        for (int i = 0; i < info->nparams; i++)
            sb_printf(b, "%s%d", i ? ", " : "", A->slots[ei][i]);
        sb_printf(b, "};\n");
    }
    sb_printf(b, "\n");
}

static void weight_table(Aot *A, StrBuf *b) {
    const char *id = A->id;
    sb_printf(b, "/* ---- weights -------------------------------------------------------------\n"
                 " *\n * The safetensors keys the entry points read, with their dtypes and shapes:\n");
    for (int i = 0; i < A->nweights; i++) {
        char ty[256];
        ir_type_format(&A->weights[i]->type, ty, sizeof ty);
        sb_printf(b, " *   ");
        c_comment_text(b, A->weights[i]->name);
        sb_printf(b, ": ");
        c_comment_text(b, ty);
        sb_printf(b, "\n");
    }
    if (!A->nweights)
        sb_printf(b, " *   (none)\n");
    sb_printf(b, " * Matmuls read %d of them packed for %d floats per vector (runtime/rt/pack.h),\n"
                 " * stored as %s (docs/PRECISION.md).\n */\n",
              A->npacked, cg_target_lanes(&A->target), attn_weights_dtype_name(A->o->weights_dtype));
    sb_printf(b, "#define %s_NWEIGHTS %d\n", A->ID, A->nweights);
    if (A->nweights) {
        sb_printf(b, "static const attn_aot_weight %s_weights[%d] = {\n", id, A->nweights);
        for (int i = 0; i < A->nweights; i++) {
            const IrNode *w = A->weights[i];
            char ty[256];
            ir_type_format(&w->type, ty, sizeof ty);
            sb_printf(b, "    {");
            c_string(b, w->name);
            sb_printf(b, ", %s, %d, {", dtype_enum(w->type.dtype), w->type.rank);
            for (int d = 0; d < w->type.rank; d++) {
                int64_t v = 0;
                dim_is_const(w->type.dims[d], &v);
                sb_printf(b, "%s%lld", d ? ", " : "", (long long)v);
            }
            sb_printf(b, "%s}, ", w->type.rank ? "" : "0");
            c_string(b, ty);
            sb_printf(b, ", %d}%s\n", A->plain[i], i + 1 < A->nweights ? "," : "");
        }
        sb_printf(b, "};\n");
    }
    for (int j = 0; j < A->npacked; j++) {
        const CgParam *cp = A->packed[j].param;
        if (!cp->nparts)
            continue;
        sb_printf(b, "static const attn_aot_part %s_packed%d_parts[%d] = {", id, j, cp->nparts);
        for (int q = 0; q < cp->nparts; q++)
            sb_printf(b, "%s{%d, %lld, %lld}", q ? ", " : "", find_weight(A, cp->part[q]->name),
                      (long long)cp->part_offset[q], (long long)cp->part_n[q]);
        sb_printf(b, "};\n");
    }
    if (A->npacked) {
        sb_printf(b, "static const attn_aot_packed %s_packed[%d] = {\n", id, A->npacked);
        for (int j = 0; j < A->npacked; j++) {
            const AotPacked *p = &A->packed[j];
            char parts[NAME_LEN + 32];
            if (p->param->nparts)
                snprintf(parts, sizeof parts, "%d, %s_packed%d_parts", p->param->nparts, id, j);
            else
                snprintf(parts, sizeof parts, "0, NULL");
            sb_printf(b, "    {%d, %lld, %lld, %lld, %lld, %lld, %s, %d, %s}%s\n", p->weight, (long long)p->k,
                      (long long)p->n, (long long)p->rs, (long long)p->cs, (long long)p->offset, parts,
                      p->param->gates, weights_dtype_enum(p->param->dtype), j + 1 < A->npacked ? "," : "");
        }
        sb_printf(b, "};\n");
    }
    sb_printf(b, "static const attn_aot_entry %s_entries[%d] = {\n", id, A->n);
    for (int e = 0; e < A->n; e++) {
        sb_printf(b, "    {");
        c_string(b, A->entries[e]->name);
        if (A->info[e].nparams)
            sb_printf(b, ", %d, %s_%s_slots}%s\n", A->info[e].nparams, id, A->entries[e]->name, e + 1 < A->n ? "," : "");
        else
            sb_printf(b, ", 0, NULL}%s\n", e + 1 < A->n ? "," : "");
    }
    sb_printf(b, "};\nstatic const attn_aot_table %s_weight_table = {\n    ", id);
    c_string(b, id);
    sb_printf(b, ", ");
    c_string(b, A->o->model_path);
    sb_printf(b, ", %d, %d, %d, %s%s, %d, %s%s, %d, %s_entries};\n\n", A->o->all_entries ? 1 : 0,
              cg_target_lanes(&A->target), A->nweights, A->nweights ? id : "NULL", A->nweights ? "_weights" : "",
              A->npacked, A->npacked ? id : "NULL", A->npacked ? "_packed" : "", A->n, id);
}

static void functions(Aot *A, StrBuf *b) {
    const char *id = A->id;
    sb_printf(b, "/* ---- functions -----------------------------------------------------------\n *\n"
                 " * %s_load_weights: reads the weights of the entry points from a safetensors\n"
                 " * file (e.g. PyTorch's state_dict saved with safetensors), checks that each\n"
                 " * key is present with the dtype and shape above (F16, BF16 and F64 are\n"
                 " * converted to f32)%s, and makes the packed copies.\n"
                 " * Returns ATTN_OK, or a status with a message in *error (one line per\n"
                 " * problem; free it with attn_string_free). The weights are read-only\n"
                 " * afterwards: runs on several threads may share them. Free them with\n"
                 " * %s_free_weights.\n */\n",
              id, A->o->all_entries ? " and that the file holds no other key" : "", id);
    sb_printf(b, "static inline attn_status %s_load_weights(const char *safetensors_path, attn_aot_weights **out, "
                 "char **error) {\n    return attn_aot_weights_load(&%s_weight_table, safetensors_path, out, error);\n}\n\n",
              id, id);
    sb_printf(b, "static inline void %s_free_weights(attn_aot_weights *w) { attn_aot_weights_free(w); }\n\n", id);
    for (int e = 0; e < A->n; e++) {
        const IrEntry *en = A->entries[e];
        sb_printf(b, "/* Runs entry point %s (see its signature above) with weights w and thread pool\n"
                     " * `pool` (attn_pool_new; NULL runs on the calling thread). Inputs are matched by\n"
                     " * name and checked like the interpreter checks them (dtypes, ranks, dims, per-call\n"
                     " * dims consistent); on success *outputs gets *noutputs = %d new tensors in output\n"
                     " * order (attn_tensors_free), else *error gets a message (attn_string_free).\n */\n",
                  en->name, en->graph->nout);
        sb_printf(b, "static inline attn_status %s_%s(const attn_aot_weights *w, attn_pool *pool, const attn_tensor *inputs,\n"
                     "    int ninputs, attn_tensor **outputs, int *noutputs, char **error) {\n"
                     "    return attn_aot_run(&%s_%s_compiled, &%s_weight_table, %d, w, pool, inputs, ninputs, outputs,\n"
                     "                        noutputs, error);\n}\n\n",
                  id, en->name, id, en->name, id, e);
    }
}

static void header_text(Aot *A, StrBuf *b) {
    const char *id = A->id;
    sb_printf(b, "/*\n * %s.h: ahead-of-time compiled entry points of ", id);
    c_comment_text(b, A->o->model_path);
    sb_printf(b, ":\n *");
    for (int e = 0; e < A->n; e++)
        sb_printf(b, "%s%s", e ? ", " : " ", A->entries[e]->name);
    sb_printf(b, ".\n * Written by attnc compile for CPU ");
    c_comment_text(b, A->target.cpu);
    sb_printf(b, " (%d floats per vector). Do not edit.\n *\n", cg_target_lanes(&A->target));
    sb_printf(b, " * The object %s.o needs no LLVM: link it with the runtime library,\n"
                 " *     cc main.c %s.o -lattnrt -lcjson -lpthread -lm\n *\n"
                 " *     attn_aot_weights *w = NULL;\n"
                 " *     char *err = NULL;\n"
                 " *     if (%s_load_weights(\"weights.safetensors\", &w, &err) != ATTN_OK) ...\n"
                 " *     attn_pool *pool = attn_pool_new(0);          // or NULL: no threads\n"
                 " *     attn_tensor *out = NULL;\n"
                 " *     int nout = 0;\n"
                 " *     if (%s_%s(w, pool, inputs, ninputs, &out, &nout, &err) != ATTN_OK) ...\n"
                 " *     attn_tensors_free(out, nout);\n"
                 " *     attn_pool_free(pool);\n"
                 " *     %s_free_weights(w);\n */\n",
              id, id, id, id, A->entries[0]->name, id);
    sb_printf(b, "#ifndef %s_AOT_H\n#define %s_AOT_H\n\n", A->ID, A->ID);
    sb_printf(b, "#include <attn/attn.h>\n#include <attn/compiled.h>\n#include <attn/aot_weights.h>\n\n");
    sb_printf(b, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
    sb_printf(b, "#define %s_NENTRIES %d\n\n", A->ID, A->n);
    for (int e = 0; e < A->n; e++)
        entry_section(A, b, e);
    weight_table(A, b);
    functions(A, b);
    sb_printf(b, "#ifdef __cplusplus\n}\n#endif\n\n#endif\n");
}

/* ---- the object -------------------------------------------------------- */

static bool exported(const Aot *A, const char *name) {
    static const char *const suffixes[] = {"workspace", "input_dims", "output_dims", "run"};
    char want[3 * NAME_LEN];
    for (int e = 0; e < A->n; e++)
        for (int s = 0; s < 4; s++) {
            snprintf(want, sizeof want, "%s_%s_%s", A->id, A->entries[e]->name, suffixes[s]);
            if (strcmp(want, name) == 0)
                return true;
        }
    return false;
}

/* Everything but the entries' four functions becomes internal (the matmul
 * and attention cores, kernels, constants), so that objects of several
 * models link together. */
static void internalize(const Aot *A, LLVMModuleRef mod) {
    for (LLVMValueRef f = LLVMGetFirstFunction(mod); f; f = LLVMGetNextFunction(f))
        if (!LLVMIsDeclaration(f) && !exported(A, LLVMGetValueName(f)))
            LLVMSetLinkage(f, LLVMInternalLinkage);
    for (LLVMValueRef g = LLVMGetFirstGlobal(mod); g; g = LLVMGetNextGlobal(g))
        if (!LLVMIsDeclaration(g))
            LLVMSetLinkage(g, LLVMInternalLinkage);
}

/* ---- names ------------------------------------------------------------- */

/* A C name the header or the object defines, and what defines it. */
typedef struct AotName {
    char *name;
    const char *owner; /* an entry's name, or NULL for the header's own names */
} AotName;

typedef struct AotNames {
    AotName *v;
    int n, cap;
    bool failed;
} AotNames;

__attribute__((format(printf, 3, 4)))
static void name_add(AotNames *ns, const char *owner, const char *fmt, ...) {
    if (ns->failed)
        return;
    if (ns->n == ns->cap) {
        int cap = ns->cap ? 2 * ns->cap : 256;
        AotName *v = realloc(ns->v, sizeof *v * (size_t)cap);
        if (!v) {
            ns->failed = true;
            return;
        }
        ns->v = v;
        ns->cap = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    char buf[4 * NAME_LEN];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (!(ns->v[ns->n].name = strdup(buf))) {
        ns->failed = true;
        return;
    }
    ns->v[ns->n++].owner = owner;
}

static void names_free(AotNames *ns) {
    for (int i = 0; i < ns->n; i++)
        free(ns->v[i].name);
    free(ns->v);
}

/* The macros of input or output i ("IN0") of entry EP. */
static void tensor_names(AotNames *ns, const char *owner, const char *EP, const char *which, int i, int rank) {
    static const char *const fields[] = {"NAME", "DTYPE", "RANK", "DIMS", "DIM_NAMES"};
    for (size_t f = 0; f < sizeof fields / sizeof *fields; f++)
        name_add(ns, owner, "%s_%s%d_%s", EP, which, i, fields[f]);
    for (int d = 0; d < rank; d++)
        name_add(ns, owner, "%s_%s%d_DIM%d", EP, which, i, d);
}

/* Every name the header and the object define (entry_section, weight_table,
 * functions, header_text, exported). */
static void collect_names(const Aot *A, AotNames *ns) {
    static const char *const entry_suffixes[] = {"", "_workspace", "_input_dims", "_output_dims", "_run", "_inputs",
                                                 "_outputs", "_sites", "_compiled", "_slots"};
    static const char *const entry_macros[] = {"NINPUTS", "NOUTPUTS", "NSYMS", "SYM_NAMES"};
    static const char *const model_names[] = {"load_weights", "free_weights", "weight_table", "weights", "packed",
                                              "entries"};
    static const char *const model_macros[] = {"NENTRIES", "NWEIGHTS", "AOT_H"};
    for (size_t k = 0; k < sizeof model_names / sizeof *model_names; k++)
        name_add(ns, NULL, "%s_%s", A->id, model_names[k]);
    for (int j = 0; j < A->npacked; j++)
        name_add(ns, NULL, "%s_packed%d_parts", A->id, j);
    for (size_t k = 0; k < sizeof model_macros / sizeof *model_macros; k++)
        name_add(ns, NULL, "%s_%s", A->ID, model_macros[k]);
    for (int e = 0; e < A->n; e++) {
        const IrEntry *en = A->entries[e];
        char ep[2 * NAME_LEN], EP[2 * NAME_LEN];
        snprintf(ep, sizeof ep, "%s_%s", A->id, en->name);
        upper(ep, EP, sizeof EP);
        for (size_t k = 0; k < sizeof entry_suffixes / sizeof *entry_suffixes; k++)
            name_add(ns, en->name, "%s%s", ep, entry_suffixes[k]);
        for (size_t k = 0; k < sizeof entry_macros / sizeof *entry_macros; k++)
            name_add(ns, en->name, "%s_%s", EP, entry_macros[k]);
        for (int i = 0; i < en->graph->ninputs; i++)
            tensor_names(ns, en->name, EP, "IN", i, A->ins[e][i].rank);
        for (int i = 0; i < en->graph->nout; i++)
            tensor_names(ns, en->name, EP, "OUT", i, A->outs[e][i].rank);
    }
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const AotName *)a)->name, ((const AotName *)b)->name);
}

/* Names the header and object must not define: the types of the headers it
 * includes that a prefix and an entry could spell ("-o int64" with entry "t"). */
static bool taken_by_c(const char *name) {
    static const char *const taken[] = {"int8_t", "int16_t", "int32_t", "int64_t", "uint8_t", "uint16_t", "uint32_t",
                                        "uint64_t", "intptr_t", "uintptr_t", "intmax_t", "uintmax_t", "size_t",
                                        "ptrdiff_t", "wchar_t"};
    for (size_t k = 0; k < sizeof taken / sizeof *taken; k++)
        if (strcmp(name, taken[k]) == 0)
            return true;
    return false;
}

/* Two entries that would define one C name (entries "f" and "f_run" both
 * give NAME_f_run; "f" and "F" both give the macros NAME_F_...), or an entry
 * that would define one of the header's own names or a C type's. */
static int check_names(const Aot *A, char **err) {
    AotNames ns = {0};
    collect_names(A, &ns);
    int rc = ns.failed ? -1 : 0;
    if (rc != 0)
        *err = cg_msg("error: out of memory");
    else
        qsort(ns.v, (size_t)ns.n, sizeof *ns.v, by_name);
    for (int i = 0; rc == 0 && i < ns.n; i++) {
        const AotName *a = &ns.v[i], *b = i + 1 < ns.n ? &ns.v[i + 1] : NULL;
        if (b && strcmp(a->name, b->name) == 0 && a->owner != b->owner) {
            const AotName *entry = a->owner ? a : b, *other = a->owner ? b : a;
            if (other->owner)
                *err = cg_msg("error: entry points '%s' and '%s' would both define %s in the header; "
                              "compile them into separate objects (--entry)", entry->owner, other->owner, a->name);
            else
                *err = cg_msg("error: entry point '%s' would define %s, one of the header's own names; "
                              "choose another -o NAME or compile the entry on its own", entry->owner, a->name);
            rc = -1;
        } else if (taken_by_c(a->name)) {
            *err = cg_msg("error: the header would define %s, a C type's name; choose another -o NAME", a->name);
            rc = -1;
        }
    }
    names_free(&ns);
    return rc;
}

/* The -o NAME of an object: a base name for the files that gives a C name
 * (A->id) which is not reserved: not the runtime's "attn" prefix (attn.h,
 * compiled.h), not a C implementation's (a leading "__" or "_X"). */
static int check_out(const Aot *A, char **err) {
    const char *base = strrchr(A->o->out, '/');
    base = base ? base + 1 : A->o->out;
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        *err = cg_msg("error: -o %s names no file: give a NAME for NAME.o and NAME.h, such as -o %sgru", A->o->out,
                      A->o->out);
        return -1;
    }
    if (strncmp(A->ID, "ATTN", 4) == 0 && (A->ID[4] == '\0' || A->ID[4] == '_')) {
        *err = cg_msg("error: -o %s gives the C prefix %s, which the runtime's own names use (attn.h); "
                      "choose another NAME", A->o->out, A->id);
        return -1;
    }
    if (A->id[0] == '_' && (A->id[1] == '_' || isupper((unsigned char)A->id[1]))) {
        *err = cg_msg("error: -o %s gives the C prefix %s, an identifier reserved to the C implementation; "
                      "choose another NAME", A->o->out, A->id);
        return -1;
    }
    return 0;
}

static int write_text(const char *path, const char *text, char **err) {
    FILE *f = fopen(path, "w");
    if (!f) {
        *err = cg_msg("error: cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    size_t len = strlen(text);
    bool ok = fwrite(text, 1, len, f) == len;
    ok = fclose(f) == 0 && ok;
    if (!ok) {
        *err = cg_msg("error: cannot write %s: %s", path, strerror(errno));
        remove(path);
        return -1;
    }
    return 0;
}

static int generate(Aot *A, LLVMContextRef ctx, char **err) {
    CgModule cm;
    cg_module_init(&cm, ctx, A->id, &A->target);
    cm.no_fuse = A->o->no_fuse;
    cm.weights_dtype = A->o->weights_dtype;
    int rc = -1;
    for (int e = 0; e < A->n; e++) {
        char prefix[2 * NAME_LEN];
        snprintf(prefix, sizeof prefix, "%s_%s", A->id, A->entries[e]->name);
        if (cg_entry_generate(&cm, A->entries[e], prefix, &A->info[e], err) != 0)
            goto done;
        if (ir_signature(A->entries[e], &A->arena, &A->ins[e], &A->outs[e]) != 0) {
            *err = cg_msg("error: out of memory");
            goto done;
        }
    }
    if (plan_weights(A, err) != 0 || check_names(A, err) != 0)
        goto done;
    internalize(A, cm.mod);
    if (cg_optimize(cm.mod, &A->target, err) != 0)
        goto done;
    if (A->o->emit_llvm && cg_emit_file(cm.mod, &A->target, 2, A->o->emit_llvm, err) != 0)
        goto done;
    if (A->o->emit_asm) { /* emitting machine code changes the module: from a clone */
        LLVMModuleRef copy = LLVMCloneModule(cm.mod);
        int arc = cg_emit_file(copy, &A->target, 1, A->o->emit_asm, err);
        LLVMDisposeModule(copy);
        if (arc != 0)
            goto done;
    }
    StrBuf h = {0};
    header_text(A, &h);
    char path[4096];
    snprintf(path, sizeof path, "%s.o", A->o->out);
    if (cg_emit_file(cm.mod, &A->target, 0, path, err) != 0) {
        sb_free(&h);
        goto done;
    }
    char hpath[4096];
    snprintf(hpath, sizeof hpath, "%s.h", A->o->out);
    rc = write_text(hpath, sb_str(&h), err);
    sb_free(&h);
    if (rc != 0)
        remove(path);
done:
    LLVMDisposeModule(cm.mod);
    return rc;
}

int aot_compile(const IrEntry *const *entries, int n, const AotOptions *o, char **err) {
    if (n <= 0) {
        *err = cg_msg("error: no entry point to compile");
        return -1;
    }
    for (int e = 0; e < n; e++)
        if (!entries[e]->graph || !entries[e]->graph->outputs) {
            *err = cg_msg("error: entry '%s' has errors; run check", entries[e]->name);
            return -1;
        }
    if (strlen(o->out) + 3 > 4096) {
        *err = cg_msg("error: output name too long: %s", o->out);
        return -1;
    }
    Aot A = {.o = o, .entries = entries, .n = n};
    aot_c_name(o->out, A.id, sizeof A.id);
    upper(A.id, A.ID, sizeof A.ID);
    if (check_out(&A, err) != 0)
        return -1;
    if (cg_target_init_aot(&A.target, o->mcpu, o->mattr, err) != 0)
        return -1;
    A.info = calloc((size_t)n, sizeof *A.info);
    A.ins = calloc((size_t)n, sizeof *A.ins);
    A.outs = calloc((size_t)n, sizeof *A.outs);
    int rc = -1;
    if (!A.info || !A.ins || !A.outs) {
        *err = cg_msg("error: out of memory");
    } else {
        LLVMContextRef ctx = LLVMContextCreate();
        rc = generate(&A, ctx, err);
        LLVMContextDispose(ctx);
    }
    for (int e = 0; A.info && e < n; e++)
        cg_entry_info_free(&A.info[e]);
    for (int e = 0; A.slots && e < n; e++)
        free(A.slots[e]);
    free(A.slots);
    free(A.info);
    free(A.ins);
    free(A.outs);
    free(A.weights);
    free(A.plain);
    free(A.packed);
    arena_free(&A.arena);
    cg_target_free(&A.target);
    return rc;
}
