/*
 * cg.c — shared helpers of the code generators (see cg.h).
 */
#include "cg.h"

#include <llvm-c/DebugInfo.h>
#include <string.h>

void cg_module_init(CgModule *cm, LLVMContextRef ctx, const char *name, const CgTarget *t) {
    memset(cm, 0, sizeof *cm);
    cm->ctx = ctx;
    cm->mod = LLVMModuleCreateWithNameInContext(name, ctx);
    cm->target = t;
    cm->f32 = LLVMFloatTypeInContext(ctx);
    cm->i1 = LLVMInt1TypeInContext(ctx);
    cm->i8 = LLVMInt8TypeInContext(ctx);
    cm->i32 = LLVMInt32TypeInContext(ctx);
    cm->i64 = LLVMInt64TypeInContext(ctx);
    cm->ptr = LLVMPointerTypeInContext(ctx, 0);
    cm->void_t = LLVMVoidTypeInContext(ctx);
    LLVMSetTarget(cm->mod, t->triple);
}

LLVMValueRef cg_function(CgModule *cm, const char *name, LLVMTypeRef type) {
    LLVMValueRef f = LLVMGetNamedFunction(cm->mod, name);
    return f ? f : LLVMAddFunction(cm->mod, name, type);
}

LLVMValueRef cg_intrinsic(CgModule *cm, LLVMBuilderRef b, const char *name, LLVMTypeRef overload, LLVMValueRef *args,
                          int nargs) {
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cm->mod, id, &overload, 1);
    LLVMTypeRef ft = LLVMIntrinsicGetType(cm->ctx, id, &overload, 1);
    return LLVMBuildCall2(b, ft, fn, args, (unsigned)nargs, "");
}

LLVMValueRef cg_i64(CgModule *cm, int64_t v) { return LLVMConstInt(cm->i64, (unsigned long long)v, 1); }

LLVMValueRef cg_f32(CgModule *cm, double v, int lanes) {
    LLVMValueRef c = LLVMConstReal(cm->f32, v);
    if (lanes <= 1)
        return c;
    LLVMValueRef elems[64];
    for (int i = 0; i < lanes && i < 64; i++)
        elems[i] = c;
    return LLVMConstVector(elems, (unsigned)lanes);
}

LLVMValueRef cg_fast(LLVMValueRef inst) {
    if (LLVMCanValueUseFastMathFlags(inst))
        LLVMSetFastMathFlags(inst, LLVMFastMathAllowReassoc | LLVMFastMathAllowContract);
    return inst;
}

/* Marks the loop whose back edge is `br` as not to be vectorized by LLVM.
 * Kernels are vectorized by construction; left alone, LLVM's loop vectorizer
 * vectorizes their scalar tail loops again (with runtime alias checks and
 * vector epilogues: a third of a kernel's code and of its compile time).
 * PassBuilder's LoopVectorization option does not stop it in LLVM 19; this
 * loop hint (llvm.loop.vectorize.enable = false) does. */
void cg_loop_keep_scalar(CgModule *cm, LLVMValueRef br) {
    LLVMMetadataRef self = LLVMTemporaryMDNode(cm->ctx, NULL, 0);
    LLVMMetadataRef hint[2] = {LLVMMDStringInContext2(cm->ctx, "llvm.loop.vectorize.enable", 26),
                               LLVMValueAsMetadata(LLVMConstInt(cm->i1, 0, 0))};
    LLVMMetadataRef ops[2] = {self, LLVMMDNodeInContext2(cm->ctx, hint, 2)};
    LLVMMetadataRef id = LLVMMDNodeInContext2(cm->ctx, ops, 2);
    LLVMMetadataReplaceAllUsesWith(self, id); /* a loop id refers to itself */
    LLVMSetMetadata(br, LLVMGetMDKindIDInContext(cm->ctx, "llvm.loop", 9), LLVMMetadataAsValue(cm->ctx, id));
}
