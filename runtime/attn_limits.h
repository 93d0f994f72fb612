/*
 * attn_limits.h — every bound a source, a weights file, an input or an API
 * call can run into, in one place.
 *
 * attn reads files from strangers and runs inside host programs that must not
 * go down with it, so each resource an input can ask for is bounded here and
 * checked where the input enters, with a diagnostic that names the limit
 * (docs/RELIABILITY.md lists them). The runtime layer (what AOT objects link)
 * includes this header too, so it depends on nothing but the C library.
 * Limits that depend on each other are tied together by _Static_asserts at the
 * end; change a number here and the build says what else must follow.
 */
#ifndef ATTN_LIMITS_H
#define ATTN_LIMITS_H

/* ---- Source text ------------------------------------------------------- */
#define ATTN_LIMIT_SOURCE_BYTES (16 << 20)  /* bytes in one source file */
#define ATTN_LIMIT_IDENT 256                /* characters in an identifier */
#define ATTN_LIMIT_NESTING 200              /* ( [ { nesting and syntax-tree depth */
#define ATTN_LIMIT_IMPORT_DEPTH 32          /* chain of imports */
#define ATTN_LIMIT_FILES 256                /* source files per model */
#define ATTN_LIMIT_STRING_BYTES (1 << 20)   /* bytes of a string value built at compile time */

/* ---- Tensors ----------------------------------------------------------- */
#define ATTN_LIMIT_RANK 8                   /* dims of a tensor (ATTN_MAX_RANK in attn.h) */
#define ATTN_LIMIT_TENSOR_BYTES_SHIFT 40    /* one tensor at run time: at most 2^40 bytes */

/* ---- Entries and graphs ------------------------------------------------ */
#define ATTN_LIMIT_INPUTS 64                /* inputs of an entry */
#define ATTN_LIMIT_OUTPUTS 256              /* outputs of an entry (extra outputs included) */
#define ATTN_LIMIT_CALL_SYMS 64             /* per-call dims (symbols) of an entry */
#define ATTN_LIMIT_OPERANDS 64              /* operands of split, concat, stack, a call */
#define ATTN_LIMIT_SCAN_SEQS 16             /* sequences a scan walks */
#define ATTN_LIMIT_SCAN_CARRIES 64          /* states a scan carries */
#define ATTN_LIMIT_SCAN_CAPTURES 1024       /* values a scan body captures from outside */
#define ATTN_LIMIT_CALL_DEPTH 64            /* inlined calls of definitions */
#define ATTN_LIMIT_DIM_DEPTH 64             /* nesting of one symbolic dim expression */
#define ATTN_LIMIT_DIM_TERMS 256            /* nodes of one symbolic dim expression */

/* ---- Budgets per model ------------------------------------------------- */
#define ATTN_BUDGET_LOWER_STEPS 2000000     /* compile-time work of lowering: loop iterations,
                                               expressions and nodes, all entries together */

/* ---- The cores' object cache (compiler/jit_cache.c) --------------------- */
#define ATTN_LIMIT_CACHE_ENTRY_BYTES (16 << 20) /* one cache entry, header included (objects are ~20-100 KB) */

/* ---- Weights files ----------------------------------------------------- */
#define ATTN_LIMIT_ST_HEADER_BYTES ((unsigned long long)100 * 1000 * 1000) /* safetensors JSON header */

_Static_assert(ATTN_LIMIT_SCAN_SEQS + ATTN_LIMIT_SCAN_CARRIES <= ATTN_LIMIT_INPUTS + ATTN_LIMIT_SCAN_CAPTURES,
               "a scan body's inputs are its sequences, carries and captures");
_Static_assert(ATTN_LIMIT_TENSOR_BYTES_SHIFT < 63, "tensor byte counts fit int64");

#endif
