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
 *
 * PassOptions (attn_passes.h) leave passes out, print the graph after chosen
 * passes and run ir_verify after lowering and after every pass, so that a
 * miscompile can be bisected to the pass that makes it.
 */
#include "attn_limits.h"
#include "ir.h"

#include <stdio.h>
#include <string.h>

#define PASS_MAX_ROUNDS 10

static const struct {
    const char *name;                /* as --passes and --disable-pass spell it */
    int (*run)(Arena *, IrGraph *);  /* the number of nodes it changed */
} passes[PASS_COUNT] = {
    [PASS_FOLD] = {"fold", pass_fold_constants},
    [PASS_CANONICALIZE] = {"canonicalize", pass_canonicalize},
    [PASS_CSE] = {"cse", pass_cse},
    [PASS_MERGE_MATMULS] = {"merge-matmuls", pass_merge_matmuls},
    [PASS_DCE] = {"dce", pass_dce},
    [PASS_SCAN_PRUNE] = {"scan-prune", pass_scan_prune},
    [PASS_SCAN_INVARIANT] = {"scan-invariant", pass_scan_invariant},
    [PASS_SCAN_HOIST] = {"scan-hoist", pass_scan_hoist},
};

const char *pass_name(PassId id) { return passes[id].name; }

PassOptions pass_options_default(void) {
#ifdef ATTN_VERIFY_IR
    return (PassOptions){.verify = true};
#else
    return (PassOptions){.verify = false};
#endif
}

/* The pass named by the n bytes at s, or PASS_COUNT. */
static PassId pass_by_name(const char *s, size_t n) {
    for (int p = 0; p < PASS_COUNT; p++)
        if (strlen(passes[p].name) == n && strncmp(passes[p].name, s, n) == 0)
            return (PassId)p;
    return PASS_COUNT;
}

bool pass_parse_list(const char *list, bool allow_all, unsigned *set, char *err, size_t errlen) {
    *set = 0;
    for (const char *s = list; *s;) {
        size_t n = strcspn(s, ",");
        PassId p = pass_by_name(s, n);
        if (allow_all && n == 3 && strncmp(s, "all", 3) == 0)
            *set |= PASS_ALL;
        else if (p != PASS_COUNT)
            *set |= PASS_BIT(p);
        else {
            size_t k = (size_t)snprintf(err, errlen, "unknown pass '%.*s' (passes:", (int)(n < 64 ? n : 64), s);
            for (int q = 0; q < PASS_COUNT && k < errlen; q++)
                k += (size_t)snprintf(err + k, errlen - k, " %s", passes[q].name);
            if (k < errlen)
                snprintf(err + k, errlen - k, "%s)", allow_all ? ", or all" : "");
            return false;
        }
        s += n + (s[n] == ',');
    }
    return true;
}

/* Appends the graph after pass p of round `round`, which changed `changed` nodes. */
static void dump_after(StrBuf *b, const IrEntry *e, PassId p, int round, int changed) {
    if (!changed) {
        sb_printf(b, "# after %s, round %d: no change\n", passes[p].name, round);
        return;
    }
    sb_printf(b, "# after %s, round %d: %d change%s\n", passes[p].name, round, changed, changed == 1 ? "" : "s");
    ir_print(e, b);
}

bool pass_run_all(Arena *ar, IrEntry *e, const PassOptions *opt, Diag *diag) {
    /* out of memory the graph may be incomplete: the phase reports that, not
       the broken invariants it leaves */
    if (opt->verify && !ar->failed && !ir_verify(e, "lowering", diag))
        return false;
    StrBuf dumps = {0};
    bool ok = true;
    /* out of memory (ar->failed) a pass may leave a graph only fit to be
       dropped: nothing runs after it */
    for (int round = 1; ok && !ar->failed && round <= PASS_MAX_ROUNDS; round++) {
        int changed = 0;
        for (int p = 0; ok && !ar->failed && p < PASS_COUNT; p++) {
            if (opt->skip & PASS_BIT(p))
                continue;
            int n = passes[p].run(ar, e->graph);
            changed += n;
            if (ar->failed)
                break;
            ok = !opt->verify || ir_verify(e, passes[p].name, diag);
            if (ok && (opt->dump_after & PASS_BIT(p)))
                dump_after(&dumps, e, (PassId)p, round, n);
        }
        if (changed == 0)
            break;
    }
    e->dumps = dumps.s ? arena_strdup(ar, dumps.s) : NULL;
    sb_free(&dumps);
    return ok;
}

long ir_codegen_cost(const IrGraph *g) {
    long cost = g->n;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == OP_SCAN)
            cost += ATTN_CODEGEN_SCAN_WEIGHT + ir_codegen_cost(g->nodes[i].body);
    return cost;
}
