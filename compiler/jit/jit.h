/*
 * jit.h — the in-process ORC LLJIT that runs a program's code. The target it
 * compiles for, the optimisation pipeline and LLVM's fatal-error guard are
 * code generation's (cg_target.h).
 */
#ifndef ATTN_JIT_H
#define ATTN_JIT_H

#include "cg_target.h"

/* An in-process JIT holding the code of one program. */
typedef struct Jit Jit;

/* A JIT for t whose code can call the runtime's helpers (absolute symbols) and libc. */
Jit *jit_new(const CgTarget *t, char **err);
/* The context modules for this JIT are built in. */
LLVMContextRef jit_context(Jit *j);
/* Hands an optimised module (built in jit_context) to the JIT, which owns it after. */
int jit_add_module(Jit *j, LLVMModuleRef m, char **err);
/* Hands an object file in memory (machine code for this JIT's target) to
 * the JIT, which owns the buffer after, also on failure. */
int jit_add_object(Jit *j, LLVMMemoryBufferRef obj, char **err);
/* Defines `name` in the JIT as the function at `address` (code shared between
 * programs, such as the matmul core). */
int jit_define(Jit *j, const char *name, void *address, char **err);
/* Address of a function of an added module, compiled and linked now; NULL
 * with *err on failure (after a fatal LLVM error, j is left unusable). */
void *jit_lookup(Jit *j, const char *name, char **err);
void jit_free(Jit *j);

#endif
