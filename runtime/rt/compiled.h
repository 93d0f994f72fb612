/*
 * compiled.h — running an entry point compiled to native code, by the JIT or
 * ahead of time. Everything here is plain C without LLVM: AOT programs link it
 * from the small runtime library.
 *
 * A compiled entry is its signature (inputs with the per-call symbols their
 * dims bind, outputs), its error sites (messages with the source location,
 * three numbers each) and four generated functions (compiler/codegen/cg_entry.h);
 * in-process programs also use a fifth, which computes run statistics.
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
typedef struct attn_run_ctx {
    void *const *params;    /* weights (packed where the code wants them) */
    const int64_t *syms;    /* per-call dims */
    void *const *inputs;    /* input data, in the entry's input order */
    void *const *outputs;   /* output buffers, in the entry's output order */
    void *workspace;        /* 64-byte aligned, of the size PREFIX_workspace gave */
    attn_pool *pool;         /* threads, or NULL */
    int64_t err[3];         /* numbers of a failing site's message */
    int64_t *profile;       /* code built with profiling: per kernel (ns, calls), or NULL (profile.h) */
} attn_run_ctx;

/* An input or output of an entry. */
typedef struct attn_sig_tensor {
    const char *name;
    attn_dtype dtype;
    int rank;
    int sym[ATTN_MAX_RANK];              /* the per-call symbol a dim binds, or -1 */
    const char *type_text;               /* "f32[B, T, 16]" */
    const char *dim_text[ATTN_MAX_RANK]; /* "T", "2*T", "16" */
} attn_sig_tensor;

/* What the generated stats function writes, per index. */
enum {
    ATTN_STAT_KERNELS,            /* kernels in the code */
    ATTN_STAT_CALLS,              /* kernel calls of a run (scan bodies once per step) */
    ATTN_STAT_WORKSPACE,          /* bytes of workspace, buffers sharing memory */
    ATTN_STAT_WORKSPACE_SEPARATE, /* bytes of workspace with a buffer per value */
    ATTN_STAT_BYTES_MOVED,        /* bytes kernel calls read from operands and write */
    ATTN_NSTATS
};

/* Dims of every input or output (ATTN_MAX_RANK each) under bound symbols. */
typedef int32_t (*attn_dims_fn)(const void *self, const int64_t *syms, int64_t *dims);

typedef struct attn_compiled {
    const char *entry;
    int ninputs;
    const attn_sig_tensor *inputs;         /* in input index order */
    int noutputs;
    const attn_sig_tensor *outputs;
    int nsyms;
    int nsites;
    const char *const *sites;            /* messages with up to three "%lld" for numbers and "%%" for '%';
                                            expanded by the runner, never used as a printf format */
    int64_t (*workspace)(const int64_t *syms, int64_t *count);
    attn_dims_fn input_dims, output_dims;
    int32_t (*run)(attn_run_ctx *ctx);
} attn_compiled;

/* The generated stats function of an entry: out[ATTN_STAT_*] for syms that
 * its workspace function accepted. Kept out of attn_compiled, whose layout AOT
 * headers spell out, since only in-process programs report statistics. */
typedef void (*attn_stats_fn)(const int64_t *syms, int64_t *out);

/* Checks inputs against sig (names, duplicates, dtypes, ranks, dims, sizes,
 * data), binds syms (nsyms of them, set to -1 first) and sets bound[i] to the
 * tensor of input i; dims(dims_self, syms, out) gives the dims each input must
 * have once every symbol is bound. Both engines bind their inputs here, so
 * they accept the same inputs with the same messages. Refuses more than
 * ATTN_LIMIT_INPUTS inputs or ATTN_LIMIT_CALL_SYMS symbols before writing
 * anything (syms and bound need room for nsyms and nsig entries).
 * Returns 0, or -1 with a malloc'd message in *err. */
ATTN_RT_API int attn_bind_inputs(const char *entry, const attn_sig_tensor *sig, int nsig, int nsyms, attn_dims_fn dims,
                     const void *dims_self, const attn_tensor *inputs, int ninputs, int64_t *syms,
                     const attn_tensor **bound, char **err);

/* Runs c on inputs with weights `params` and thread pool `pool` (may be NULL).
 * On success *outputs gets new tensors (free with attn_tensors_free). */
ATTN_RT_API attn_status attn_compiled_run(const attn_compiled *c, void *const *params, attn_pool *pool, const attn_tensor *inputs,
                              int ninputs, attn_tensor **outputs, int *noutputs, char **error);
/* A workspace kept between the runs of one program. Fresh memory costs a
 * page fault per 4 KiB page on first touch, every run: for a transformer
 * layer that was more time than its matmuls. A run takes the cached block
 * (when it is large enough) and leaves its own behind; concurrent runs each
 * get a block of their own. Zero-initialise; attn_workspace_cache_free at the end. */
typedef struct attn_workspace_cache {
    void *block;  /* a cached block (accessed atomically): its capacity at byte 0, the workspace from byte 64 */
} attn_workspace_cache;
ATTN_RT_API void attn_workspace_cache_free(attn_workspace_cache *cache);

/* The same with the per-kernel counters of profiled code (attn_run_ctx.profile,
 * or NULL) and a workspace cache (or NULL). */
ATTN_RT_API attn_status attn_compiled_run_with(const attn_compiled *c, void *const *params, attn_pool *pool, int64_t *profile,
                                   attn_workspace_cache *cache, const attn_tensor *inputs, int ninputs,
                                   attn_tensor **outputs, int *noutputs, char **error);

/* The same writing into the caller's tensors outputs[0..noutputs), which must
 * be the entry's outputs in order with the dtypes, ranks and dims this run
 * gives them (a name, when set, must be the output's): else ATTN_ERR_INPUT
 * naming the output and the expected type, and nothing is written. */
attn_status attn_compiled_run_into(const attn_compiled *c, void *const *params, attn_pool *pool, int64_t *profile,
                                   attn_workspace_cache *cache, const attn_tensor *inputs, int ninputs,
                                   attn_tensor *outputs, int noutputs, char **error);
/* Sets outputs[0..noutputs) (noutputs must be c's count) to the names,
 * dtypes, ranks and shapes a run of c on these inputs gives, without running
 * (data NULL). */
attn_status attn_compiled_output_shapes(const attn_compiled *c, const attn_tensor *inputs, int ninputs,
                                        attn_tensor *outputs, int noutputs, char **error);
/* Checks caller's tensors `into` against outputs `got` of a run of entry
 * `entry` as attn_compiled_run_into checks them (for the interpreter, which
 * copies its outputs into them). */
attn_status attn_check_outputs(const char *entry, const attn_tensor *got, int ngot, const attn_tensor *into,
                               int ninto, char **error);

/* Fills *stats for a run of c on inputs (checked as attn_compiled_run checks
 * them) from their dims alone with c's stats function fn, without running. */
ATTN_RT_API attn_status attn_compiled_stats(const attn_compiled *c, attn_stats_fn fn, const attn_tensor *inputs, int ninputs,
                                attn_run_stats *stats, char **error);

#ifdef __cplusplus
}
#endif

#endif
