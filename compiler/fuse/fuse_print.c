/*
 * fuse_print.c — the kernel graph as text, for `attnc graph --fused`:
 *
 *     entry forward(...)
 *       k7  matmul+epilogue  %6 matmul, %7 add                 f32[B, 1536]
 *       k27 elementwise      %8 slice, %9 slice, ... %27 add   f32[B, 512]
 *       scan %30: body
 *         k4 ...
 *
 * One line per kernel in execution order: its root's number, its kind, the
 * nodes it holds (root last) and the type of the value it stores; a
 * concatenation of weights says that the JIT and AOT objects pack it instead.
 */
#include "fuse.h"

#include <stdlib.h>

const char *fuse_kind_name(FuseKind k) {
    switch (k) {
    case FK_SINGLE: return "single";
    case FK_ELEMENTWISE: return "elementwise";
    case FK_REDUCTION: return "reduction";
    case FK_MATMUL: return "matmul+epilogue";
    case FK_ATTENTION: return "attention";
    case FK_GATED: return "matmul+gates";
    case FK_MATMUL_SOFTMAX: return "matmul+softmax";
    default: return "none";
    }
}

/* A concatenation of weights (pass_merge_matmuls.c): the JIT and AOT objects
 * pack it when weights are bound instead of running its kernel (cg_entry.c). */
static bool weights_concat(const IrGraph *g, int r) {
    const IrNode *n = &g->nodes[r];
    if (n->op != OP_CONCAT || n->type.rank != 2)
        return false;
    for (int u = r + 1; u < g->n; u++) /* read as a product's right operand (or by a loop) only */
        for (int j = 0; j < g->nodes[u].nin; j++)
            if (g->nodes[u].in[j] == r && g->nodes[u].op != OP_SCAN && (g->nodes[u].op != OP_MATMUL || j != 1))
                return false;
    for (int i = 0; i < n->nin; i++) {
        const IrNode *w = &g->nodes[n->in[i]];
        if (w->op == OP_SLICE)
            w = &g->nodes[w->in[0]];
        if (w->op != OP_PARAM)
            return false;
    }
    return true;
}

static void print_plan(const FusePlan *p, StrBuf *out, int indent) {
    const IrGraph *g = p->g;
    int *members = malloc(sizeof(int) * (size_t)(g->n ? g->n : 1));
    if (!members)
        return;
    for (int r = 0; r < g->n; r++) {
        if (g->nodes[r].op == OP_SCAN) {
            sb_printf(out, "%*sscan %%%d body:\n", indent, "", r);
            print_plan(p->body[r], out, indent + 2);
            continue;
        }
        if (!fuse_is_root(p, r))
            continue;
        char type[256];
        ir_type_format(&g->nodes[r].type, type, sizeof type);
        sb_printf(out, "%*sk%-4d %-16s", indent, "", r, fuse_kind_name(p->kind[r]));
        int n = fuse_members(p, r, members, g->n);
        for (int i = 0; i < n; i++)
            sb_printf(out, "%s%%%d %s%s", i ? ", " : "", members[i], op_name(g->nodes[members[i]].op),
                      p->stored[members[i]] ? " (stored)" : "");
        sb_printf(out, "   : %s%s\n", type,
                  weights_concat(g, r) ? "   (weights: packed when they are bound, no kernel; the interpreter runs it)" : "");
    }
    free(members);
}

void fuse_print(const FusePlan *p, const IrEntry *e, StrBuf *out) {
    int kernels = 0, nodes = 0;
    for (int i = 0; i < p->g->n; i++) {
        kernels += fuse_is_root(p, i);
        nodes += p->owner[i] >= 0;
    }
    sb_printf(out, "entry %s: %d kernels for %d nodes at top level\n", e->name ? e->name : "?", kernels, nodes);
    print_plan(p, out, 2);
}

static int plan_owner(const void *plan, int i) { return ((const FusePlan *)plan)->owner[i]; }

static const void *plan_body(const void *plan, int i) { return ((const FusePlan *)plan)->body[i]; }

void ir_print_dot_kernels(const IrEntry *e, const FusePlan *plan, StrBuf *out) {
    static const IrDotGroups kernels = {plan_owner, plan_body};
    ir_print_dot_grouped(e, &kernels, plan, out);
}
