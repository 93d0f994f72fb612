/*
 * pass_pipeline.c — the standard optimisation pipeline: fold, CSE, DCE.
 *
 * The passes feed each other: folding turns operands into CONSTs that CSE can
 * then merge, merging makes users identical and leaves copies for DCE, and
 * merged constants can enable further folds. So the three run in rounds until
 * a round changes nothing. Each pass only shrinks the graph or replaces nodes
 * by CONSTs, so a fixed point comes quickly; the round cap only guards against
 * a pass that keeps reporting changes.
 */
#include "ir.h"

#define PASS_MAX_ROUNDS 10

void pass_run_all(Arena *ar, IrGraph *g) {
    for (int round = 0; round < PASS_MAX_ROUNDS; round++) {
        int changed = pass_fold_constants(ar, g);
        changed += pass_cse(ar, g);
        changed += pass_dce(ar, g);
        if (changed == 0)
            return;
    }
}
