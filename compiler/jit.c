/*
 * jit.c — target selection, the O3 pipeline, ORC LLJIT and file emission
 * through the LLVM 19 C API (see jit.h).
 */
#include "jit.h"
#include "cg_runtime.h"
#include "text.h"

#include <llvm-c/Analysis.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *cg_msg(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = attn_vformat(fmt, ap);
    va_end(ap);
    return s;
}

static char *dup_str(const char *s) { return cg_msg("%s", s ? s : ""); }

char *cg_error_message(LLVMErrorRef e) {
    char *m = LLVMGetErrorMessage(e);
    char *s = dup_str(m);
    LLVMDisposeErrorMessage(m);
    return s;
}

static pthread_once_t llvm_once = PTHREAD_ONCE_INIT;
static void llvm_init(void) {
    LLVMInitializeNativeTarget();
    LLVMInitializeNativeAsmPrinter();
    LLVMInitializeNativeAsmParser();
}

/* Whether the comma-separated feature string enables `feat` ("+avx512f"). */
static bool has_feature(const char *features, const char *feat) {
    size_t n = strlen(feat);
    for (const char *p = features; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, feat, n) == 0)
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

int cg_target_init(CgTarget *t, const char *mcpu, const char *mattr, char **err) {
    pthread_once(&llvm_once, llvm_init);
    memset(t, 0, sizeof *t);
    if (!mcpu || !*mcpu)
        mcpu = getenv("ATTN_MCPU");
    if (!mattr || !*mattr)
        mattr = getenv("ATTN_MATTR");
    char *host_cpu = LLVMGetHostCPUName(), *host_feat = LLVMGetHostCPUFeatures(), *triple = LLVMGetDefaultTargetTriple();
    t->cpu = dup_str(mcpu && *mcpu ? mcpu : host_cpu);
    t->features = dup_str(mattr && *mattr ? mattr : host_feat);
    t->triple = dup_str(triple);
    LLVMDisposeMessage(host_cpu);
    LLVMDisposeMessage(host_feat);
    LLVMDisposeMessage(triple);
    if (!t->cpu || !t->features || !t->triple) {
        cg_target_free(t);
        *err = cg_msg("error: out of memory");
        return -1;
    }
    /* evex512 gates 512-bit registers on AVX-512 targets since LLVM 18 */
    if (has_feature(t->features, "+avx512f") && !has_feature(t->features, "-evex512"))
        t->vec_bits = 512;
    else if (has_feature(t->features, "+avx2") || has_feature(t->features, "+avx"))
        t->vec_bits = 256;
    else
        t->vec_bits = 128;
    LLVMTargetMachineRef tm = cg_target_machine(t, LLVMRelocDefault, err);
    if (!tm) {
        cg_target_free(t);
        return -1;
    }
    LLVMDisposeTargetMachine(tm);
    return 0;
}

void cg_target_free(CgTarget *t) {
    free(t->cpu);
    free(t->features);
    free(t->triple);
    memset(t, 0, sizeof *t);
}

int cg_target_lanes(const CgTarget *t) { return t->vec_bits / 32; }

LLVMTargetMachineRef cg_target_machine(const CgTarget *t, LLVMRelocMode reloc, char **err) {
    LLVMTargetRef target;
    char *msg = NULL;
    if (LLVMGetTargetFromTriple(t->triple, &target, &msg)) {
        *err = cg_msg("error: no LLVM target for %s: %s", t->triple, msg ? msg : "");
        LLVMDisposeMessage(msg);
        return NULL;
    }
    LLVMTargetMachineRef tm = LLVMCreateTargetMachine(target, t->triple, t->cpu, t->features, LLVMCodeGenLevelAggressive,
                                                      reloc, LLVMCodeModelJITDefault);
    if (!tm)
        *err = cg_msg("error: LLVM cannot make a target machine for cpu '%s' with features '%s'", t->cpu, t->features);
    return tm;
}

static void set_layout(LLVMModuleRef m, LLVMTargetMachineRef tm) {
    LLVMTargetDataRef dl = LLVMCreateTargetDataLayout(tm);
    char *s = LLVMCopyStringRepOfTargetData(dl);
    LLVMSetDataLayout(m, s);
    LLVMDisposeMessage(s);
    LLVMDisposeTargetData(dl);
    char *triple = LLVMGetTargetMachineTriple(tm);
    LLVMSetTarget(m, triple);
    LLVMDisposeMessage(triple);
}

static int optimize(LLVMModuleRef m, const CgTarget *t, bool auto_vectorize, char **err) {
    LLVMTargetMachineRef tm = cg_target_machine(t, LLVMRelocPIC, err);
    if (!tm)
        return -1;
    set_layout(m, tm);
    char *msg = NULL;
    if (LLVMVerifyModule(m, LLVMReturnStatusAction, &msg)) {
        *err = cg_msg("internal error: generated code does not verify: %s", msg ? msg : "");
        LLVMDisposeMessage(msg);
        LLVMDisposeTargetMachine(tm);
        return -1;
    }
    LLVMDisposeMessage(msg);
    LLVMPassBuilderOptionsRef opts = LLVMCreatePassBuilderOptions();
    /* Kernels are vectorized by construction; letting LLVM vectorize and
       unroll them again only costs compile time (about a third of it). */
    LLVMPassBuilderOptionsSetLoopVectorization(opts, auto_vectorize);
    LLVMPassBuilderOptionsSetSLPVectorization(opts, auto_vectorize);
    LLVMPassBuilderOptionsSetLoopUnrolling(opts, auto_vectorize);
    LLVMErrorRef e = LLVMRunPasses(m, "default<O3>", tm, opts);
    LLVMDisposePassBuilderOptions(opts);
    LLVMDisposeTargetMachine(tm);
    if (e) {
        char *s = cg_error_message(e);
        *err = cg_msg("internal error: LLVM optimisation failed: %s", s ? s : "");
        free(s);
        return -1;
    }
    return 0;
}

int cg_optimize(LLVMModuleRef m, const CgTarget *t, char **err) { return optimize(m, t, true, err); }

int cg_optimize_kernels(LLVMModuleRef m, const CgTarget *t, char **err) { return optimize(m, t, false, err); }

int cg_emit_file(LLVMModuleRef m, const CgTarget *t, int kind, const char *path, char **err) {
    char *msg = NULL;
    if (kind == 2) {
        if (LLVMPrintModuleToFile(m, path, &msg)) {
            *err = cg_msg("error: cannot write %s: %s", path, msg ? msg : "");
            LLVMDisposeMessage(msg);
            return -1;
        }
        return 0;
    }
    LLVMTargetMachineRef tm = cg_target_machine(t, LLVMRelocPIC, err);
    if (!tm)
        return -1;
    set_layout(m, tm);
    int rc = LLVMTargetMachineEmitToFile(tm, m, path, kind == 0 ? LLVMObjectFile : LLVMAssemblyFile, &msg);
    LLVMDisposeTargetMachine(tm);
    if (rc) {
        *err = cg_msg("error: cannot write %s: %s", path, msg ? msg : "");
        LLVMDisposeMessage(msg);
        return -1;
    }
    return 0;
}

struct Jit {
    LLVMOrcLLJITRef lljit;
    LLVMOrcThreadSafeContextRef tsc;
};

/* Defines n functions by address in j's main dylib, a batch at a time (on
 * the stack: nothing to allocate, nothing to fail). */
static LLVMErrorRef define_absolute(Jit *j, const CgRuntimeSymbol *syms, int n) {
    LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(j->lljit);
    enum { BATCH = 16 };
    for (int first = 0; first < n; first += BATCH) {
        LLVMOrcCSymbolMapPair pairs[BATCH];
        int count = n - first < BATCH ? n - first : BATCH;
        for (int i = 0; i < count; i++) {
            pairs[i].Name = LLVMOrcLLJITMangleAndIntern(j->lljit, syms[first + i].name);
            pairs[i].Sym.Address = (LLVMOrcExecutorAddress)(uintptr_t)syms[first + i].address;
            pairs[i].Sym.Flags.GenericFlags = LLVMJITSymbolGenericFlagsExported | LLVMJITSymbolGenericFlagsCallable;
        }
        LLVMErrorRef e = LLVMOrcJITDylibDefine(jd, LLVMOrcAbsoluteSymbols(pairs, (size_t)count));
        if (e)
            return e;
    }
    return NULL;
}

int jit_define(Jit *j, const char *name, void *address, char **err) {
    CgRuntimeSymbol sym = {name, address};
    LLVMErrorRef e = define_absolute(j, &sym, 1);
    if (e) {
        char *s = cg_error_message(e);
        *err = cg_msg("error: cannot define %s in the JIT: %s", name, s ? s : "");
        free(s);
        return -1;
    }
    return 0;
}

/* Makes the runtime's helpers visible to JIT code by address, so that a host
 * program linked without -rdynamic works. */
static LLVMErrorRef define_runtime(Jit *j) {
    LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(j->lljit);
    int n = 0;
    const CgRuntimeSymbol *syms = cg_runtime_symbols(&n);
    LLVMErrorRef e = define_absolute(j, syms, n);
    if (e)
        return e;
    /* libc (memcpy, memset, ...) for calls LLVM itself introduces */
    LLVMOrcDefinitionGeneratorRef gen;
    e = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&gen, LLVMOrcLLJITGetGlobalPrefix(j->lljit), NULL, NULL);
    if (!e)
        LLVMOrcJITDylibAddGenerator(jd, gen);
    return e;
}

Jit *jit_new(const CgTarget *t, char **err) {
    pthread_once(&llvm_once, llvm_init);
    Jit *j = calloc(1, sizeof *j);
    LLVMTargetMachineRef tm = j ? cg_target_machine(t, LLVMRelocPIC, err) : NULL;
    if (!tm) {
        if (!j)
            *err = cg_msg("error: out of memory");
        free(j);
        return NULL;
    }
    LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
    /* takes ownership of tm */
    LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(tm));
    LLVMErrorRef e = LLVMOrcCreateLLJIT(&j->lljit, builder); /* consumes builder */
    if (!e)
        e = define_runtime(j);
    if (e) {
        char *s = cg_error_message(e);
        *err = cg_msg("error: cannot start the LLVM JIT: %s", s ? s : "");
        free(s);
        jit_free(j);
        return NULL;
    }
    j->tsc = LLVMOrcCreateNewThreadSafeContext();
    return j;
}

LLVMContextRef jit_context(Jit *j) { return LLVMOrcThreadSafeContextGetContext(j->tsc); }

int jit_add_module(Jit *j, LLVMModuleRef m, char **err) {
    LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(m, j->tsc);
    LLVMErrorRef e = LLVMOrcLLJITAddLLVMIRModule(j->lljit, LLVMOrcLLJITGetMainJITDylib(j->lljit), tsm);
    if (e) {
        LLVMOrcDisposeThreadSafeModule(tsm);
        char *s = cg_error_message(e);
        *err = cg_msg("error: the LLVM JIT refused the module: %s", s ? s : "");
        free(s);
        return -1;
    }
    return 0;
}

int jit_add_object(Jit *j, LLVMMemoryBufferRef obj, char **err) {
    LLVMErrorRef e = LLVMOrcLLJITAddObjectFile(j->lljit, LLVMOrcLLJITGetMainJITDylib(j->lljit), obj);
    if (e) {
        char *s = cg_error_message(e);
        *err = cg_msg("error: the LLVM JIT refused an object file: %s", s ? s : "");
        free(s);
        return -1;
    }
    return 0;
}

void *jit_lookup(Jit *j, const char *name, char **err) {
    LLVMOrcExecutorAddress addr = 0;
    LLVMErrorRef e = LLVMOrcLLJITLookup(j->lljit, &addr, name);
    if (e) {
        char *s = cg_error_message(e);
        *err = cg_msg("error: LLVM could not compile %s: %s", name, s ? s : "");
        free(s);
        return NULL;
    }
    return (void *)(uintptr_t)addr;
}

void jit_free(Jit *j) {
    if (!j)
        return;
    if (j->lljit) {
        LLVMErrorRef e = LLVMOrcDisposeLLJIT(j->lljit);
        if (e)
            LLVMConsumeError(e);
    }
    if (j->tsc)
        LLVMOrcDisposeThreadSafeContext(j->tsc);
    free(j);
}
