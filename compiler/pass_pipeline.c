/*
 * pass_pipeline.c — the standard optimisation pipeline: fold, CSE, DCE and
 * the scan passes.
 *
 * The passes feed each other: folding turns operands into CONSTs that CSE can
 * then merge, merging makes users identical and leaves copies for DCE, and
 * merged constants can enable further folds. The scan passes move work out of
 * loop bodies: the body copies they leave are DCE's, the inputs those copies
 * read become unread and are pruned, and values hoisted next to equal ones
 * outside are merged by CSE. Invariant hoisting runs before input-projection
 * hoisting because the latter needs a body's weights as inputs, which the
 * former makes them. So all run in rounds until a round changes nothing. Each
 * pass only shrinks a graph, replaces nodes by CONSTs or moves a node out of a
 * body (never back), so a fixed point comes quickly; the round cap only guards
 * against a pass that keeps reporting changes.
 */
#include "attn_limits.h"
#include "ir.h"

#define PASS_MAX_ROUNDS 10

void pass_run_all(Arena *ar, IrGraph *g) {
    /* out of memory (ar->failed) a pass may leave a graph only fit to be
       dropped: no pass runs after it */
    int (*const passes[])(Arena *, IrGraph *) = {pass_fold_constants, pass_cse, pass_merge_matmuls, pass_dce,
                                                 pass_scan_prune, pass_scan_invariant, pass_scan_hoist};
    for (int round = 0; round < PASS_MAX_ROUNDS; round++) {
        int changed = 0;
        for (size_t i = 0; i < sizeof passes / sizeof *passes; i++) {
            if (ar->failed)
                return;
            changed += passes[i](ar, g);
        }
        if (changed == 0)
            return;
    }
}

long ir_codegen_cost(const IrGraph *g) {
    long cost = g->n;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == OP_SCAN)
            cost += ATTN_CODEGEN_SCAN_WEIGHT + ir_codegen_cost(g->nodes[i].body);
    return cost;
}
