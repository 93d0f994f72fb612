/*
 * jit.c — the in-process ORC LLJIT through the LLVM 19 C API (see jit.h).
 */
#include "jit.h"
#include "cg_runtime.h"

#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>

#include <stdint.h>
#include <stdlib.h>

struct Jit {
    LLVMOrcLLJITRef lljit;
    LLVMOrcThreadSafeContextRef tsc;
    bool abandoned; /* LLVM failed fatally inside: leaked, never disposed */
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
    cg_llvm_init();
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
    cg_guard_context(jit_context(j));
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

/* LLVMOrcLLJITLookup, which compiles and links what it needs (on the calling
 * thread: LLJIT's default dispatcher runs in place), as a guarded section. */
typedef struct Lookup {
    Jit *j;
    const char *name;
    LLVMOrcExecutorAddress addr;
    LLVMErrorRef e;
} Lookup;

static int lookup(void *arg) {
    Lookup *a = arg;
    a->e = LLVMOrcLLJITLookup(a->j->lljit, &a->addr, a->name);
    return 0;
}

void *jit_lookup(Jit *j, const char *name, char **err) {
    if (j->abandoned) {
        *err = cg_msg("internal error: the LLVM JIT failed earlier (a bug in attn or in LLVM)");
        return NULL;
    }
    Lookup a = {j, name, 0, NULL};
    if (cg_guarded(lookup, &a, err) != 0) {
        j->abandoned = true; /* its session may be mid-way through materialising */
        return NULL;
    }
    LLVMErrorRef e = a.e;
    LLVMOrcExecutorAddress addr = a.addr;
    if (e) {
        char *s = cg_error_message(e);
        *err = cg_msg("error: LLVM could not compile %s: %s", name, s ? s : "");
        free(s);
        return NULL;
    }
    return (void *)(uintptr_t)addr;
}

void jit_free(Jit *j) {
    if (!j || j->abandoned)
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
