/*
 * ir_print.c — human-readable dumps of an entry's graph: the textual IR and
 * Graphviz DOT.
 *
 * The text form is SSA style, one node per line, so that a graph can be read
 * and diffed like assembly:
 *
 *     entry forward(x: f32[B, T, 5]) -> (y)   # symbols: B, T
 *       %0 = input "x" : f32[B, T, 5]
 *       %1 = param "w" : f32[7, 5]
 *       %2 = matmul(%0, %1) trans_b : f32[B, T, 7]   # model.attn:3:9
 *       return y=%2
 *
 * Each node shows only the attributes its op uses; a SCAN lists its operands
 * grouped as sequences | carry | capture and prints its body graph indented
 * below it. The DOT form draws the same graph, scan bodies as clusters, for
 * looking at the structure rather than the details.
 */
#include "ir.h"
#include "op_cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Node text is padded to this column before its "# file:line:col" comment. */
#define LOC_COLUMN 52
/* Room for one formatted type; longer ones are truncated, which is fine in a dump. */
#define TYPE_TEXT 256

/* Appends s to buf (capacity n, *used bytes so far), truncating. */
static void put(char *buf, size_t n, size_t *used, const char *s) {
    if (*used >= n)
        return;
    int k = snprintf(buf + *used, n - *used, "%s", s);
    *used += k > 0 ? (size_t)k : 0;
}

void ir_type_format(const IrType *t, char *buf, size_t n) {
    if (n == 0)
        return;
    buf[0] = '\0';
    size_t used = 0;
    char dim[TYPE_TEXT];
    put(buf, n, &used, attn_dtype_name(t->dtype));
    put(buf, n, &used, "[");
    for (int i = 0; i < t->rank; i++) {
        dim_format(t->dims[i], dim, sizeof dim);
        put(buf, n, &used, i ? ", " : "");
        put(buf, n, &used, dim);
    }
    put(buf, n, &used, "]");
}

/* ---- text ---- */

/* A float in the fewest digits that read back as the same float. */
static void print_float(StrBuf *b, float v) {
    char text[32];
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, (double)v);
        if (strtof(text, NULL) == v)
            break;
    }
    sb_printf(b, "%s", text);
}

/* A CONST's literal: the value itself when it has one element, else its type. */
static void print_const(StrBuf *b, const attn_tensor *v) {
    if (!v) {
        sb_printf(b, " ?");
        return;
    }
    if (attn_tensor_numel(v) != 1) {
        sb_printf(b, " <%s[", attn_dtype_name(v->dtype));
        for (int i = 0; i < v->rank; i++)
            sb_printf(b, "%s%lld", i ? ", " : "", (long long)v->shape[i]);
        sb_printf(b, "]>");
        return;
    }
    sb_printf(b, " ");
    switch (v->dtype) {
    case ATTN_F32: print_float(b, *(const float *)v->data); break;
    case ATTN_I32: sb_printf(b, "%d", (int)*(const int32_t *)v->data); break;
    case ATTN_I64: sb_printf(b, "%lld", (long long)*(const int64_t *)v->data); break;
    case ATTN_BOOL: sb_printf(b, "%s", *(const unsigned char *)v->data ? "true" : "false"); break;
    }
}

/* "%a, %b" for operands [from, to) of n. */
static void print_operand_list(StrBuf *b, const IrNode *n, int from, int to) {
    for (int i = from; i < to; i++)
        sb_printf(b, "%s%%%d", i > from ? ", " : "", n->in[i]);
}

/* A SCAN's operands by role: "(seqs | carry c... | capture k...)"; empty groups are left out. */
static void print_scan_operands(StrBuf *b, const IrNode *n) {
    const IrScan *s = &n->scan;
    int ends[3] = {s->nseq, s->nseq + s->ncarry, s->nseq + s->ncarry + s->ncapture};
    const char *labels[3] = {"", "carry ", "capture "};
    bool first = true;
    sb_printf(b, "(");
    for (int g = 0, from = 0; g < 3; from = ends[g], g++) {
        if (ends[g] == from)
            continue;
        sb_printf(b, "%s%s", first ? "" : " | ", labels[g]);
        print_operand_list(b, n, from, ends[g]);
        first = false;
    }
    sb_printf(b, ")");
}

static void print_dim(StrBuf *b, const Dim *d) {
    char text[TYPE_TEXT];
    dim_format(d, text, sizeof text);
    sb_printf(b, "%s", text);
}

static void print_slice_attrs(StrBuf *b, const IrNode *n) {
    sb_printf(b, " axis=%lld start=", (long long)n->attrs.axis);
    if (n->start)
        print_dim(b, n->start);
    else
        sb_printf(b, "%lld", (long long)n->attrs.start);
    sb_printf(b, " step=%lld", (long long)n->attrs.step);
}

static void print_scan_attrs(StrBuf *b, const IrNode *n) {
    sb_printf(b, " axis=%d steps=", n->scan.axis);
    print_dim(b, n->scan.steps);
    sb_printf(b, " yields=%d%s", n->scan.nyield, n->scan.reverse ? " reverse" : "");
}

/* The attributes op n->op reads, each as " name=value" or a bare flag. */
static void print_attrs(StrBuf *b, const IrNode *n) {
    const OpAttrs *a = &n->attrs;
    switch (n->op) {
    case OP_INPUT:
        if (n->name)
            sb_printf(b, " \"%s\"", n->name);
        else
            sb_printf(b, " %d", n->index);
        return;
    case OP_PARAM: sb_printf(b, " \"%s\"", n->name ? n->name : "?"); return;
    case OP_CONST: print_const(b, n->value); return;
    case OP_ARANGE: sb_printf(b, " start=%lld step=%lld", (long long)a->start, (long long)a->step); return;
    case OP_FULL: sb_printf(b, " fill=%.9g", a->fill); return;
    case OP_SOFTMAX:
    case OP_CONCAT: sb_printf(b, " axis=%lld", (long long)a->axis); return;
    case OP_LAYER_NORM: sb_printf(b, " eps=%.9g", a->eps); return;
    case OP_MATMUL: sb_printf(b, "%s%s", a->trans_a ? " trans_a" : "", a->trans_b ? " trans_b" : ""); return;
    case OP_SLICE: print_slice_attrs(b, n); return;
    case OP_SCAN: print_scan_attrs(b, n); return;
    case OP_RESULT: sb_printf(b, " %lld", (long long)a->axis); return;
    case OP_PERMUTE:
        sb_printf(b, " perm=[");
        for (int i = 0; i < n->type.rank; i++)
            sb_printf(b, "%s%lld", i ? ", " : "", (long long)a->perm[i]);
        sb_printf(b, "]");
        return;
    case OP_SUM: case OP_MEAN: case OP_MAX: case OP_MIN: case OP_ARGMAX:
        sb_printf(b, " axis=%lld%s", (long long)a->axis, a->keepdim ? " keepdim" : "");
        return;
    OP_CASES_ELEMENTWISE
    case OP_RESHAPE: case OP_EXPAND: case OP_GATHER: case OP_CHECK_LENGTHS:
        return; /* no attributes */
    case OP_COUNT: break;
    }
    ATTN_UNREACHABLE("op out of range");
}

/* "%i = op(operands) attrs : type", without indent or location. */
static void format_node(StrBuf *b, const IrGraph *g, int i) {
    const IrNode *n = &g->nodes[i];
    sb_printf(b, "%%%d = %s", i, op_name(n->op));
    if (n->op == OP_SCAN)
        print_scan_operands(b, n);
    else if (n->nin) {
        sb_printf(b, "(");
        print_operand_list(b, n, 0, n->nin);
        sb_printf(b, ")");
    }
    print_attrs(b, n);
    if (n->op != OP_SCAN) { /* a scan has several results, typed by its RESULT nodes */
        char type[TYPE_TEXT];
        ir_type_format(&n->type, type, sizeof type);
        sb_printf(b, " : %s", type);
    }
}

static void print_graph(StrBuf *b, const IrGraph *g, int indent);

/* One node line with its location comment, then a scan's body below it. */
static void print_node(StrBuf *b, const IrGraph *g, int i, int indent) {
    const IrNode *n = &g->nodes[i];
    StrBuf line = {0};
    format_node(&line, g, i);
    int width = indent < LOC_COLUMN ? LOC_COLUMN - indent : 0;
    if (n->loc.file)
        sb_printf(b, "%*s%-*s   # %s:%d:%d\n", indent, "", width, sb_str(&line),
                  n->loc.file->path, n->loc.line, n->loc.col);
    else
        sb_printf(b, "%*s%s\n", indent, "", sb_str(&line));
    sb_free(&line);
    if (n->op == OP_SCAN && n->body) {
        sb_printf(b, "%*sbody:\n", indent + 2, "");
        print_graph(b, n->body, indent + 4);
    }
}

/* "return %a, %b", or "return name=%a, ..." when the outputs are named. */
static void print_return(StrBuf *b, const IrGraph *g, int indent) {
    sb_printf(b, "%*sreturn", indent, "");
    for (int i = 0; i < g->nout; i++) {
        sb_printf(b, "%s", i ? ", " : " ");
        if (g->output_names && g->output_names[i])
            sb_printf(b, "%s=", g->output_names[i]);
        sb_printf(b, "%%%d", g->outputs[i]);
    }
    sb_printf(b, "\n");
}

static void print_graph(StrBuf *b, const IrGraph *g, int indent) {
    for (int i = 0; i < g->n; i++)
        print_node(b, g, i, indent);
    print_return(b, g, indent);
}

/* The INPUT node of g with input position `index`, or NULL. */
static const IrNode *find_input(const IrGraph *g, int index) {
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == OP_INPUT && g->nodes[i].index == index)
            return &g->nodes[i];
    return NULL;
}

/* "entry name(x: f32[B, T], ...) -> (y, ...)   # symbols: B, T" */
static void print_header(StrBuf *b, const IrEntry *e) {
    const IrGraph *g = e->graph;
    char type[TYPE_TEXT];
    sb_printf(b, "entry %s(", e->name ? e->name : "?");
    for (int i = 0; i < g->ninputs; i++) {
        const IrNode *in = find_input(g, i);
        if (!in)
            continue;
        ir_type_format(&in->type, type, sizeof type);
        sb_printf(b, "%s%s: %s", i ? ", " : "", in->name ? in->name : "?", type);
    }
    sb_printf(b, ") -> (");
    for (int i = 0; i < g->nout; i++) {
        if (g->output_names && g->output_names[i])
            sb_printf(b, "%s%s", i ? ", " : "", g->output_names[i]);
        else
            sb_printf(b, "%s%%%d", i ? ", " : "", g->outputs[i]);
    }
    sb_printf(b, ")");
    for (int i = 0; i < e->nsyms; i++)
        sb_printf(b, "%s%s", i ? ", " : "   # symbols: ", e->sym_names[i]);
    sb_printf(b, "\n");
}

void ir_print(const IrEntry *e, StrBuf *out) {
    print_header(out, e);
    print_graph(out, e->graph, 2);
}

/* ---- Graphviz ---- */

/* s inside a DOT double-quoted string: quotes and backslashes escaped, newlines as \n. */
static void put_escaped(StrBuf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            sb_printf(b, "\\%c", *s);
        else if (*s == '\n')
            sb_printf(b, "\\n");
        else
            sb_printf(b, "%c", *s);
    }
}

/* Node ids are "g<graph>_<node>" so that nodes of different bodies never clash. */
static void dot_node(StrBuf *b, const IrGraph *g, int gid, int i, int indent) {
    const IrNode *n = &g->nodes[i];
    StrBuf label = {0};
    char type[TYPE_TEXT];
    sb_printf(&label, "%%%d %s", i, op_name(n->op));
    if ((n->op == OP_INPUT || n->op == OP_PARAM) && n->name)
        sb_printf(&label, " \"%s\"", n->name);
    if (n->op != OP_SCAN) {
        ir_type_format(&n->type, type, sizeof type);
        sb_printf(&label, "\n%s", type);
    }
    sb_printf(b, "%*sg%d_%d [label=\"", indent, "", gid, i);
    put_escaped(b, sb_str(&label));
    sb_printf(b, "\"%s];\n", n->op == OP_SCAN ? ", shape=box3d" : "");
    sb_free(&label);
}

/* Graph outputs as ellipses: named at top level, "yield i" / "carry i" in a body. */
static void dot_outputs(StrBuf *b, const IrGraph *g, int gid, const IrNode *scan, int indent) {
    for (int i = 0; i < g->nout; i++) {
        sb_printf(b, "%*sg%d_out%d [shape=ellipse, label=\"", indent, "", gid, i);
        if (g->output_names && g->output_names[i])
            put_escaped(b, g->output_names[i]);
        else if (scan)
            sb_printf(b, "%s %d", i < scan->scan.nyield ? "yield" : "carry",
                      i < scan->scan.nyield ? i : i - scan->scan.nyield);
        else
            sb_printf(b, "output %d", i);
        sb_printf(b, "\"];\n%*sg%d_%d -> g%d_out%d;\n", indent, "", gid, g->outputs[i], gid, i);
    }
}

/* The grouping of one graph's nodes (fn over ctx), or none (ctx NULL). */
typedef struct DotGroups {
    const IrDotGroups *fn;
    const void *ctx;
} DotGroups;

static void dot_graph(StrBuf *b, const IrGraph *g, DotGroups gr, int gid, const IrNode *scan, int indent,
                      int *next_gid);

/* A scan's body as a cluster labelled with the scan it belongs to. */
static void dot_body(StrBuf *b, const IrGraph *g, DotGroups gr, int i, int indent, int *next_gid) {
    const IrNode *n = &g->nodes[i];
    int body_gid = (*next_gid)++;
    sb_printf(b, "%*ssubgraph cluster_%d {\n%*slabel=\"scan %%%d body\";\n", indent, "", body_gid,
              indent + 2, "", i);
    DotGroups body = {gr.fn, gr.ctx ? gr.fn->body(gr.ctx, i) : NULL};
    dot_graph(b, n->body, body, body_gid, n, indent + 2, next_gid);
    sb_printf(b, "%*s}\n", indent, "");
}

static int dot_owner(DotGroups gr, int i) { return gr.ctx ? gr.fn->owner(gr.ctx, i) : -1; }

/* Whether node i is in a group of more than one node. */
static bool in_cluster(DotGroups gr, const IrGraph *g, int i) {
    int r = dot_owner(gr, i);
    if (r < 0)
        return false;
    for (int j = 0; j < g->n; j++)
        if (j != r && dot_owner(gr, j) == r)
            return true;
    return false;
}

static void dot_graph(StrBuf *b, const IrGraph *g, DotGroups gr, int gid, const IrNode *scan, int indent,
                      int *next_gid) {
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        if (!in_cluster(gr, g, i))
            dot_node(b, g, gid, i, indent);
        else if (dot_owner(gr, i) == i) { /* a group (a fused kernel): its nodes as one cluster */
            sb_printf(b, "%*ssubgraph cluster_k%d_%d {\n%*slabel=\"kernel %%%d\"; style=filled; fillcolor=\"#eef4ff\";\n",
                      indent, "", gid, i, indent + 2, "", i);
            for (int j = 0; j <= i; j++)
                if (dot_owner(gr, j) == i)
                    dot_node(b, g, gid, j, indent + 2);
            sb_printf(b, "%*s}\n", indent, "");
        }
        for (int k = 0; k < n->nin; k++)
            sb_printf(b, "%*sg%d_%d -> g%d_%d;\n", indent, "", gid, n->in[k], gid, i);
        if (n->op == OP_SCAN && n->body)
            dot_body(b, g, gr, i, indent, next_gid);
    }
    dot_outputs(b, g, gid, scan, indent);
}

void ir_print_dot_grouped(const IrEntry *e, const IrDotGroups *groups, const void *ctx, StrBuf *out) {
    int next_gid = 1;
    sb_printf(out, "digraph \"");
    put_escaped(out, e->name ? e->name : "?");
    sb_printf(out, "\" {\n  node [shape=box, fontname=\"monospace\"];\n");
    dot_graph(out, e->graph, (DotGroups){groups, groups ? ctx : NULL}, 0, NULL, 2, &next_gid);
    sb_printf(out, "}\n");
}

void ir_print_dot(const IrEntry *e, StrBuf *out) { ir_print_dot_grouped(e, NULL, NULL, out); }
