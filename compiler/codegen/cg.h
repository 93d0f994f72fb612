/*
 * cg.h — what every code generator shares: the LLVM context and module being
 * built and the target it is built for.
 *
 * Generated code follows one calling convention (docs/CODEGEN.md): one LLVM
 * function per kernel, one driver per entry point; all floats are fp32, all
 * sizes and indices i64, all pointers opaque `ptr`.
 */
#ifndef ATTN_CG_H
#define ATTN_CG_H

#include "attn.h"
#include "cg_target.h"

#include <llvm-c/Core.h>

struct IrNode;

/* The module under construction. */
typedef struct CgModule {
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    const CgTarget *target;
    LLVMTypeRef f32, i1, i8, i32, i64, ptr, void_t; /* common types in ctx */
    bool core_external; /* the matmul core is compiled once per process and linked by
                           address (JIT): declare its functions instead of emitting them */
    bool no_fuse;       /* every node its own kernel (-O0 / --no-fuse; compiler/fuse/fuse.h) */
    bool profile;       /* time every kernel call (runtime/rt/profile.h) */
    attn_weights_dtype weights_dtype; /* storage of the products' packed weights (docs/PRECISION.md) */
    /* Whether the runner can hand the weight of PARAM node `param` to the
       program as the BF16 bits its file stores (JIT, compiler/jit/jit_program.h);
       NULL: never. An embedding table only gathers read is then kept so and
       widened row by row (CgParam.bf16). */
    bool (*weight_bf16)(void *ctx, const struct IrNode *param);
    void *weight_ctx;
} CgModule;

/* A module named `name` in ctx for target t. */
void cg_module_init(CgModule *cm, LLVMContextRef ctx, const char *name, const CgTarget *t);

/* The function `name` of the module, declared with `type` when absent. */
LLVMValueRef cg_function(CgModule *cm, const char *name, LLVMTypeRef type);
/* Calls an overloaded LLVM intrinsic ("llvm.fma") on args; `overload` is its type parameter. */
LLVMValueRef cg_intrinsic(CgModule *cm, LLVMBuilderRef b, const char *name, LLVMTypeRef overload, LLVMValueRef *args,
                          int nargs);
/* An i64 constant. */
LLVMValueRef cg_i64(CgModule *cm, int64_t v);
/* An f32 constant, or a vector of `lanes` copies of it when lanes > 1. */
LLVMValueRef cg_f32(CgModule *cm, double v, int lanes);
/* Allows reassociation and contraction (FMA) on a floating-point instruction. */
LLVMValueRef cg_fast(LLVMValueRef inst);
/* Tells LLVM not to vectorize the loop whose back edge is the branch `br`
 * (the code is vectorized by construction). */
void cg_loop_keep_scalar(CgModule *cm, LLVMValueRef br);

#endif
