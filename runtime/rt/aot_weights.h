/*
 * aot_weights.h — the weights of an ahead-of-time compiled object, and
 * running its entry points (part of the runtime library libattnrt: plain C,
 * no LLVM).
 *
 * `attnc compile MODEL.attn -o NAME` writes NAME.o and NAME.h. The header
 * holds a weight table (attn_aot_table) listing every weight the compiled entry
 * points read: its safetensors key, dtype and shape, and the packed copies
 * the object's matmuls read (laid out for the vector width of the target the
 * object was compiled for, runtime/rt/pack.h). attn_aot_weights_load reads a
 * safetensors file against that table with the same checks as binding
 * weights to a model (every key present, dtype and shape as declared, no
 * unexpected keys), converts F16/BF16/F64 to f32 and makes the packed copies
 * (bf16 ones rounded to nearest-even from the f32 panels, docs/PRECISION.md).
 * NAME.h wraps these calls in NAME_load_weights, NAME_ENTRY and
 * NAME_free_weights (docs/AOT.md).
 */
#ifndef ATTN_AOT_WEIGHTS_H
#define ATTN_AOT_WEIGHTS_H

#include "compiled.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A weight the object reads: one key of the safetensors file. */
typedef struct attn_aot_weight {
    const char *key;              /* state_dict key, e.g. "weight_ih_l0" */
    attn_dtype dtype;             /* as the model declares it */
    int rank;
    int64_t shape[ATTN_MAX_RANK];
    const char *type_text;        /* "f32[96, 16]", for messages */
    int plain;                    /* 1 when some entry reads it as it is, 0 when only packed copies */
} attn_aot_weight;

/* One block of a packed matmul operand concatenated from several weights. */
typedef struct attn_aot_part {
    int weight;                   /* index into the table's weights */
    int64_t offset;               /* its first element in that weight */
    int64_t n;                    /* its columns of B */
} attn_aot_part;

/* A copy of a 2-D f32 weight packed (and stored as `dtype`) for the generated matmul (runtime/rt/pack.h). */
typedef struct attn_aot_packed {
    int weight;                   /* index into the table's weights */
    int64_t k, n, rs, cs;         /* B is k×n with element (p, j) at data[offset + p*rs + j*cs] */
    int64_t offset;               /* first element (B is a slice of the weight) */
    /* nparts > 0: B is instead parts[0..nparts) side by side along n (merged
       products, docs/IR.md), each a contiguous block: with rs == 1, n_i whole
       rows of k; else k rows of n_i */
    int nparts;
    const attn_aot_part *parts;
    int gates;                    /* > 1: columns interleaved for a gate epilogue (attn_pack_b_gates) */
    attn_weights_dtype dtype;     /* storage of the copy: f32 panels, or converted once loaded (pack.h) */
} attn_aot_packed;

/* The weight slots (attn_run_ctx.params) of one entry point, each an index into
 * the loaded data: i < nweights is weight i, nweights + j is packed copy j. */
typedef struct attn_aot_entry {
    const char *name;
    int nslots;
    const int *slots;
} attn_aot_entry;

/* What an object needs loaded before its entry points run. */
typedef struct attn_aot_table {
    const char *name;             /* the object's NAME */
    const char *model;            /* the model file it was compiled from, for messages */
    int all_entries;              /* 1 when every entry point is compiled in: other keys are unexpected */
    int lanes;                    /* floats per vector of the object's target: the packing */
    int nweights;
    const attn_aot_weight *weights;
    int npacked;
    const attn_aot_packed *packed;
    int nentries;
    const attn_aot_entry *entries;
} attn_aot_table;

/* Weights loaded for one table; read-only once loaded, so runs on several
 * threads may share them. */
typedef struct attn_aot_weights attn_aot_weights;

/* Loads the weights table t asks for from the safetensors file at path.
 * On failure returns ATTN_ERR_INPUT (ATTN_ERR_NOMEM, ATTN_ERR_USAGE for NULL
 * arguments) and, when error is non-NULL, a message with one line per
 * problem ("error: weight 'bias_ih_l0' in w.safetensors has shape [48], but
 * the model declares f32[96]"), to free with attn_string_free. */
ATTN_RT_API attn_status attn_aot_weights_load(const attn_aot_table *t, const char *path, attn_aot_weights **out, char **error);
/* Frees w (NULL is allowed). */
ATTN_RT_API void attn_aot_weights_free(attn_aot_weights *w);

/* Runs compiled entry c, entry number `entry` of table t, with weights w
 * (loaded for t) and thread pool `pool` (NULL: on the calling thread). Like
 * attn_program_run: inputs matched by name and checked as by the interpreter;
 * on success *outputs gets *noutputs new tensors (attn_tensors_free); on
 * failure *error (if non-NULL) gets a message (attn_string_free). */
ATTN_RT_API attn_status attn_aot_run(const attn_compiled *c, const attn_aot_table *t, int entry, const attn_aot_weights *w,
                         attn_pool *pool, const attn_tensor *inputs, int ninputs, attn_tensor **outputs,
                         int *noutputs, char **error);

#ifdef __cplusplus
}
#endif

#endif
