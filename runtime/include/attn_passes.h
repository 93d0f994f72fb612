/*
 * attn_passes.h — naming, selecting and observing the optimisation passes.
 *
 * The pipeline (pass_pipeline.c, docs/IR.md §3) runs its passes in rounds.
 * PassOptions, set on a model before it is loaded, leave passes out, print the
 * graph after chosen passes and check the graph with ir_verify after every
 * pass, so that a miscompile can be bisected to one pass (`attnc graph
 * --passes=... --disable-pass=... --dump-after=... --verify-ir`). These are
 * internal calls of attnc and the tests, not part of the public API: this
 * header needs only attn.h.
 */
#ifndef ATTN_PASSES_H
#define ATTN_PASSES_H

#include <stdbool.h>
#include <stddef.h>

#include "attn.h"

/* The passes, in the order a round runs them. */
typedef enum PassId {
    PASS_FOLD,
    PASS_CANONICALIZE,
    PASS_CSE,
    PASS_MERGE_MATMULS,
    PASS_DCE,
    PASS_SCAN_PRUNE,
    PASS_SCAN_INVARIANT,
    PASS_SCAN_HOIST,
    PASS_COUNT
} PassId;

#define PASS_BIT(id) (1u << (id))
#define PASS_ALL ((1u << PASS_COUNT) - 1)

/* How a model's lowerings run the pipeline; all zero is the default (every
 * pass, no dumps, verification as the build decides: ATTN_VERIFY_IR). */
typedef struct PassOptions {
    unsigned skip;       /* PASS_BIT of each pass not to run */
    unsigned dump_after; /* PASS_BIT of each pass after which to print the graph */
    bool verify;         /* ir_verify after lowering and after every pass, whatever the build */
} PassOptions;

/* "fold", "canonicalize", "cse", "merge-matmuls", "dce", "scan-prune", "scan-invariant", "scan-hoist". */
const char *pass_name(PassId id);
/* Parses a comma-separated list of pass names (with allow_all, "all" is every
 * pass; an empty list is none) into a set of PASS_BITs. false on an unknown
 * name, with a message naming it and the passes in err. */
bool pass_parse_list(const char *list, bool allow_all, unsigned *set, char *err, size_t errlen);

/* Sets the pass options of m's lowerings; before attn_model_load (as
 * attn_model_set), else ATTN_ERR_USAGE. */
attn_status attn_model_set_passes(attn_model *m, const PassOptions *opt);
/* The graphs that the last lowering of `entry` printed after the passes
 * PassOptions.dump_after names, each under a "# after PASS" header line;
 * "" when there are none. Owned by m. */
const char *attn_model_pass_dumps(const attn_model *m, const char *entry);

#endif
