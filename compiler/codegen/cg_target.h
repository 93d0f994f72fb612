/*
 * cg_target.h — the LLVM side of code generation: the target (CPU name,
 * features, vector width), the optimisation pipeline, and emitting
 * object/assembly/IR files.
 *
 * The target is the host's CPU name *and* feature string unless overridden
 * (--mcpu/--mattr, or ATTN_MCPU/ATTN_MATTR in the environment): a CPU name
 * alone lets LLVM assume every feature of that CPU model, which breaks on
 * virtual machines that hide some of them. Every function reports failure by
 * returning non-zero (or NULL) with a malloc'd message in *err; nothing aborts:
 * LLVM's fatal errors inside optimisation, code generation and JIT linking
 * come back as "internal error: LLVM failed: ..." (cg_target.c, docs/CODEGEN.md).
 */
#ifndef ATTN_CG_TARGET_H
#define ATTN_CG_TARGET_H

#include <llvm-c/Core.h>
#include <llvm-c/Error.h>
#include <llvm-c/TargetMachine.h>
#include <stdbool.h>

/* The machine code is generated for. */
typedef struct CgTarget {
    char *cpu;      /* LLVM CPU name, e.g. "znver5" */
    char *features; /* LLVM feature string, e.g. "+avx512f,+fma,..." */
    char *triple;   /* target triple */
    int vec_bits;   /* widest vector register for fp32 arithmetic: 512, 256 or 128 */
} CgTarget;

/* Fills t for code that runs on this machine (the JIT): the host's CPU and
 * features, with mcpu/mattr (or ATTN_MCPU/ATTN_MATTR) overriding them when
 * non-NULL/non-empty. Refused with an error: a CPU or feature name LLVM does
 * not know, a feature this machine's CPU lacks, a feature that breaks the
 * calling convention (+soft-float, -64bit-mode, -sse2...). Whatever CPU is
 * named, every feature the host lacks stays disabled. */
int cg_target_init(CgTarget *t, const char *mcpu, const char *mattr, char **err);
/* The same for code that runs elsewhere (AOT): any CPU and feature LLVM
 * knows, except those breaking the calling convention. */
int cg_target_init_aot(CgTarget *t, const char *mcpu, const char *mattr, char **err);
void cg_target_free(CgTarget *t);
/* Floats per vector register (vec_bits / 32). */
int cg_target_lanes(const CgTarget *t);
/* Whether t's features enable `name` ("avx512bf16"): its last mention is "+name". */
bool cg_target_has(const CgTarget *t, const char *name);

/* A new target machine for t (O3, the given relocation model); NULL on error. */
LLVMTargetMachineRef cg_target_machine(const CgTarget *t, LLVMRelocMode reloc, char **err);

/* Sets the module's triple and data layout, verifies it and runs default<O3>. */
int cg_optimize(LLVMModuleRef m, const CgTarget *t, char **err);
/* The same pipeline without LLVM's loop/SLP vectorizers and loop unrolling, for
 * modules whose loops are vectorized by construction (a model's kernels): they
 * would only add compile time. */
int cg_optimize_kernels(LLVMModuleRef m, const CgTarget *t, char **err);

/* Writes the module as an object file, assembly, or textual IR (kind 0 = object,
 * 1 = assembly, 2 = LLVM IR) to path. */
int cg_emit_file(LLVMModuleRef m, const CgTarget *t, int kind, const char *path, char **err);
/* The module (optimised) as an object file in memory; NULL on error. */
LLVMMemoryBufferRef cg_emit_object(LLVMModuleRef m, const CgTarget *t, char **err);

/* A malloc'd copy of an LLVM error message (consumes it). */
char *cg_error_message(LLVMErrorRef e);
/* A malloc'd printf-style message. */
char *cg_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Initialises LLVM's native target once per process. */
void cg_llvm_init(void);
/* Runs fn(arg) as a section guarded against LLVM's fatal errors: fn's result,
 * or -1 with *err set when LLVM failed fatally inside. Guards nest. */
int cg_guarded(int (*fn)(void *), void *arg, char **err);
/* Routes the error diagnostics of modules built in ctx to the guard. */
void cg_guard_context(LLVMContextRef ctx);

#endif
