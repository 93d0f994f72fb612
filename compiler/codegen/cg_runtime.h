/*
 * cg_runtime.h — the C functions generated code may call, by name and address.
 * The JIT defines each as an absolute symbol; an AOT object links them from
 * the runtime library (libattnrt) or libc.
 */
#ifndef ATTN_CG_RUNTIME_H
#define ATTN_CG_RUNTIME_H

typedef struct CgRuntimeSymbol {
    const char *name;
    void *address;
} CgRuntimeSymbol;

/* The table of symbols; *n gets its length. */
const CgRuntimeSymbol *cg_runtime_symbols(int *n);

#endif
