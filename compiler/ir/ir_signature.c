/*
 * ir_signature.c — the inputs and outputs of an entry as runtime signatures
 * (see ir_signature.h).
 */
#include "ir_signature.h"

static void describe(Arena *ar, const IrNode *n, const char *name, attn_sig_tensor *s) {
    char buf[256];
    s->name = name;
    s->dtype = n->type.dtype;
    s->rank = n->type.rank;
    ir_type_format(&n->type, buf, sizeof buf);
    s->type_text = arena_strdup(ar, buf);
    for (int d = 0; d < n->type.rank; d++) {
        const Dim *dim = n->type.dims[d];
        s->sym[d] = dim->kind == DIM_SYM ? dim->sym : -1;
        dim_format(dim, buf, sizeof buf);
        s->dim_text[d] = arena_strdup(ar, buf);
    }
}

int ir_signature(const IrEntry *e, Arena *ar, attn_sig_tensor **ins, attn_sig_tensor **outs) {
    const IrGraph *g = e->graph;
    *ins = arena_alloc(ar, sizeof(attn_sig_tensor) * (size_t)(g->ninputs + 1));
    *outs = arena_alloc(ar, sizeof(attn_sig_tensor) * (size_t)(g->nout + 1));
    if (!*ins || !*outs)
        return -1;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == OP_INPUT && g->nodes[i].index < g->ninputs)
            describe(ar, &g->nodes[i], g->nodes[i].name, &(*ins)[g->nodes[i].index]);
    for (int i = 0; i < g->nout; i++)
        describe(ar, &g->nodes[g->outputs[i]], g->output_names[i], &(*outs)[i]);
    return ar->failed ? -1 : 0;
}
