/*
 * cg_entry.h — code generation for one entry point: its kernels and the
 * functions a runner calls (runtime/rt/compiled.h), all named PREFIX_...:
 *
 *   i64 PREFIX_workspace(const i64 *syms, i64 *count)  bytes of workspace, or
 *                                          -(site+1) with the failing element count in *count
 *   i32 PREFIX_input_dims(const void *unused, const i64 *syms, i64 *dims)   expected dims of each input
 *   i32 PREFIX_output_dims(const void *unused, const i64 *syms, i64 *dims)  dims of each output
 *   i32 PREFIX_run(attn_run_ctx *ctx)             0, or 1 + an error site
 *   void PREFIX_stats(const i64 *syms, i64 *out) out[ATTN_STAT_*] of a call with
 *                                          dims PREFIX_workspace accepted
 *
 * (ATTN_MAX_RANK dims per tensor). The driver PREFIX_run lays the values out
 * in the workspace (buffers whose lifetimes don't overlap share memory,
 * cg_plan.h), calls the kernels in graph order, runs each scan as a native
 * loop over its body's kernels, and copies the results to the outputs.
 * Weights are read through ctx->params; a matmul whose right operand is a
 * 2-D weight reads a packed copy (runtime/rt/pack.h) made when weights are bound.
 */
#ifndef ATTN_CG_ENTRY_H
#define ATTN_CG_ENTRY_H

#include "cg.h"
#include "compiled.h"
#include "ir.h"
#include "ir_signature.h"
#include "weight_pack.h"


/* What a runner needs to know besides the generated functions. */
typedef struct CgEntryInfo {
    int nsites;
    char **sites;        /* printf formats with three %lld (ctx->err[0..2]) */
    int nparams;
    CgParam *params;
    double gen_ms;       /* time to build the IR */
    int nkernels;        /* kernels, numbered in the order the driver first calls them */
    char **kernel_names; /* "k29 attention: %23 matmul, %25 div, %27 where, %28 softmax, %29 matmul" */
} CgEntryInfo;

/* Generates entry e into cm with names PREFIX_... Returns 0, or -1 with *err. */
int cg_entry_generate(CgModule *cm, const IrEntry *e, const char *prefix, CgEntryInfo *info, char **err);
void cg_entry_info_free(CgEntryInfo *info);

#endif
