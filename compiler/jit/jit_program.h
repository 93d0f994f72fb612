/*
 * jit_program.h — an entry point compiled in process: generate the module,
 * optimise it for the target, hand it to the LLJIT, look up its functions,
 * pack the weights the matmuls read packed, and run it.
 */
#ifndef ATTN_JIT_PROGRAM_H
#define ATTN_JIT_PROGRAM_H

#include "compiled.h"
#include "ir.h"

/* How a program reaches the data of weights its model reads lazily (a BF16
 * file's tensors are widened only when wanted, compiler/lower/model.h). NULL
 * hooks: every PARAM's data is there already. */
typedef struct JitWeights {
    void *ctx;
    /* Gives param->value its data; `keep`: the program reads it unpacked for
     * its lifetime. 0, or -1 with a malloc'd message in *err. */
    int (*load)(void *ctx, const IrNode *param, bool keep, char **err);
    /* The program has packed param's weight and reads its data no more. */
    void (*release)(void *ctx, const IrNode *param);
    /* The BF16 bits param's file stores for its weight, read where they lie
       (2-byte aligned) for the model's lifetime; NULL when there are none (an
       F32 file, a caller's tensor, unaligned data). `keep`: the program reads
       them for its lifetime (else the question only). Optional (NULL). An
       embedding table only gathers read is then widened row by row, not whole. */
    const void *(*bf16)(void *ctx, const IrNode *param, bool keep);
} JitWeights;

typedef struct JitOptions {
    const char *mcpu, *mattr;   /* target overrides (NULL: host, or ATTN_MCPU/ATTN_MATTR) */
    int threads;                /* 0 = the default pool, 1 = none, n = a pool of the program's own */
    attn_pool *pool;            /* the caller's pool (threads 0), or NULL */
    const char *emit_llvm;      /* write the optimised module's IR here, when non-NULL */
    const char *emit_asm;       /* write its assembly here, when non-NULL */
    bool no_fuse;               /* every node its own kernel (compiler/fuse/fuse.h) */
    bool profile;               /* time every kernel call (runtime/rt/profile.h) */
    attn_weights_dtype weights_dtype; /* storage of the products' packed weights */
    const JitWeights *weights;  /* how bound weights are loaded and released, or NULL */
} JitOptions;

typedef struct JitProgram JitProgram;

/* Compiles entry e (whose PARAM nodes hold bound weights, or NULL when unbound).
 * NULL with a malloc'd message in *err on failure. */
JitProgram *jit_program_new(const IrEntry *e, const JitOptions *o, char **err);
attn_status jit_program_run(JitProgram *p, const attn_tensor *inputs, int ninputs, attn_tensor **outputs,
                            int *noutputs, char **error);
/* A run writing into the caller's output tensors (attn_program_run_into). */
attn_status jit_program_run_into(JitProgram *p, const attn_tensor *inputs, int ninputs, attn_tensor *outputs,
                                 int noutputs, char **error);
/* The outputs' shapes for these inputs (attn_program_output_shapes). */
attn_status jit_program_output_shapes(const JitProgram *p, const attn_tensor *inputs, int ninputs,
                                      attn_tensor *outputs, int noutputs, char **error);
/* What a run on inputs of these shapes does (attn_program_run_stats). */
attn_status jit_program_stats(const JitProgram *p, const attn_tensor *inputs, int ninputs, attn_run_stats *stats,
                              char **error);
/* The per-kernel times of a program compiled with profiling (NULL otherwise). */
const attn_kernel_profile *jit_program_profile(JitProgram *p, int *n);
/* The pool its runs use (NULL: the calling thread). */
attn_pool *jit_program_pool(const JitProgram *p);
void jit_program_free(JitProgram *p);

#endif
