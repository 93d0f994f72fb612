/*
 * compiled.h — running an entry point compiled to native code, by the JIT or
 * ahead of time. Everything here is plain C without LLVM: AOT programs link it
 * from the small runtime library.
 *
 * A compiled entry is its signature (inputs with the per-call symbols their
 * dims bind, outputs), its error sites (messages with the source location,
 * three numbers each) and four generated functions (compiler/cg_entry.h).
 * attn_compiled_run checks the inputs exactly like the interpreter, sizes and
 * allocates the workspace and the outputs, runs the code and turns a failing
 * site into its message.
 */
#ifndef ATTN_COMPILED_H
#define ATTN_COMPILED_H

#include "attn.h"
#include "threadpool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What generated code receives; the field order is the code's ABI (cg_kernel.h CTX_*). */
typedef struct AttnRunCtx {
    void *const *params;    /* weights (packed where the code wants them) */
    const int64_t *syms;    /* per-call dims */
    void *const *inputs;    /* input data, in the entry's input order */
    void *const *outputs;   /* output buffers, in the entry's output order */
    void *workspace;        /* 64-byte aligned, of the size PREFIX_workspace gave */
    AttnPool *pool;         /* threads, or NULL */
    int64_t err[3];         /* numbers of a failing site's message */
} AttnRunCtx;

/* An input or output of an entry. */
typedef struct AttnSigTensor {
    const char *name;
    attn_dtype dtype;
    int rank;
    int sym[ATTN_MAX_RANK];              /* the per-call symbol a dim binds, or -1 */
    const char *type_text;               /* "f32[B, T, 16]" */
    const char *dim_text[ATTN_MAX_RANK]; /* "T", "2*T", "16" */
} AttnSigTensor;

/* Dims of every input or output (ATTN_MAX_RANK each) under bound symbols. */
typedef int32_t (*AttnDimsFn)(const void *self, const int64_t *syms, int64_t *dims);

typedef struct AttnCompiled {
    const char *entry;
    int ninputs;
    const AttnSigTensor *inputs;         /* in input index order */
    int noutputs;
    const AttnSigTensor *outputs;
    int nsyms;
    int nsites;
    const char *const *sites;            /* printf formats with up to three %lld */
    int64_t (*workspace)(const int64_t *syms, int64_t *count);
    AttnDimsFn input_dims, output_dims;
    int32_t (*run)(AttnRunCtx *ctx);
} AttnCompiled;

/* Checks inputs against sig (names, duplicates, dtypes, ranks, dims, sizes,
 * data), binds syms (nsyms of them, set to -1 first) and sets bound[i] to the
 * tensor of input i. Returns 0, or -1 with a malloc'd message in *err. */
int attn_bind_inputs(const char *entry, const AttnSigTensor *sig, int nsig, int nsyms, AttnDimsFn dims,
                     const void *dims_self, const attn_tensor *inputs, int ninputs, int64_t *syms,
                     const attn_tensor **bound, char **err);

/* Runs c on inputs with weights `params` and thread pool `pool` (may be NULL).
 * On success *outputs gets new tensors (free with attn_tensors_free). */
attn_status attn_compiled_run(const AttnCompiled *c, void *const *params, AttnPool *pool, const attn_tensor *inputs,
                              int ninputs, attn_tensor **outputs, int *noutputs, char **error);

#ifdef __cplusplus
}
#endif

#endif
