/*
 * cg.c — shared helpers of the code generators (see cg.h).
 */
#include "cg.h"

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
