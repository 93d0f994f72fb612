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
#define ATTN_LIMIT_SPELL_LEN 256            /* characters of a name or weight key that gets a
                                               "did you mean" suggestion (longer: none) */
#define ATTN_LIMIT_LISTED_KEYS 8            /* weight keys listed by name in one message; more are counted */
#define ATTN_LIMIT_NESTING 200              /* ( [ { nesting and syntax-tree depth */
#define ATTN_LIMIT_IMPORT_DEPTH 32          /* chain of imports */
#define ATTN_LIMIT_FILES 256                /* source files per model */
#define ATTN_LIMIT_STRING_BYTES (1 << 20)   /* bytes of a string value built at compile time */

/* ---- Tensors ----------------------------------------------------------- */
#define ATTN_LIMIT_RANK 8                   /* dims of a tensor (ATTN_MAX_RANK in attn.h) */
#define ATTN_LIMIT_TENSOR_BYTES_SHIFT 40    /* one tensor at run time: at most 2^40 bytes */
#define ATTN_LIMIT_SPLIT_PIECES 64          /* pieces split() cuts a tensor into */

/* ---- Entries and graphs ------------------------------------------------ */
#define ATTN_LIMIT_INPUTS 64                /* inputs of an entry */
#define ATTN_LIMIT_OUTPUTS 256              /* outputs of an entry (extra outputs included) */
#define ATTN_LIMIT_CALL_SYMS 64             /* per-call dims (symbols) of an entry */
#define ATTN_LIMIT_OPERANDS 64              /* positional arguments of a builtin or a call
                                               (concat, stack: the tensors joined) */
#define ATTN_LIMIT_SCAN_SEQS 16             /* sequences a scan walks */
#define ATTN_LIMIT_SCAN_CARRIES 64          /* states a scan carries */
#define ATTN_LIMIT_SCAN_CAPTURES 1024       /* values a scan body captures from outside */
#define ATTN_LIMIT_CALL_DEPTH 64            /* inlined calls of definitions */
#define ATTN_LIMIT_DIM_DEPTH 64             /* nesting of one symbolic dim expression */
#define ATTN_LIMIT_DIM_TERMS 256            /* nodes of one symbolic dim expression */

/* ---- Kernels (code generation) ---------------------------------------- */
#define ATTN_LIMIT_KERNEL_ARGS 64           /* operand buffers of one generated kernel */
#define ATTN_LIMIT_FUSE_LEAVES 48           /* operands a fused kernel reads (room kept for a
                                               reduction's own) */
#define ATTN_LIMIT_FUSE_MEMBERS 80          /* nodes of one fused expression */
#define ATTN_LIMIT_FUSE_GROUP 64            /* nodes an elementwise or gated fusion gathers */

/* ---- Budgets per model ------------------------------------------------- */
/* One lowering of a model (every entry together, hyperparameter solving
 * rounds each counted afresh) may take this much work and make this many
 * graph nodes (scan bodies included); the model's memory (its sources, trees,
 * graphs and strings) may not grow past ATTN_BUDGET_MODEL_BYTES. */
#define ATTN_BUDGET_LOWER_STEPS 2000000     /* loop iterations, expressions and nodes */
#define ATTN_BUDGET_NODES 100000            /* graph nodes made by one lowering */
#define ATTN_BUDGET_MODEL_BYTES ((unsigned long long)256 << 20) /* bytes of the model's arena */
/* Code generation of one entry: the nodes left after the graph passes, every
 * scan counted ATTN_CODEGEN_SCAN_WEIGHT more (each is a loop nest of its own:
 * about 35 ms of LLVM's time against 3.5 ms for a node, and growing faster
 * than linearly), may not exceed this; beyond it the JIT and AOT compilers
 * refuse the entry (the interpreter backend still runs it) instead of taking
 * minutes. The zoo costs at most 259 (han, 1.3 s to compile), a scan
 * hoisting 1040 products (tests/unit/test_run_limits.c) 3149; a chain of
 * elementwise nodes at the budget compiles in about 13 s, heavier kernels
 * (matmuls, attention) in up to about 3 times that. */
#define ATTN_BUDGET_CODEGEN 4000
#define ATTN_CODEGEN_SCAN_WEIGHT 20

/* ---- Threads ------------------------------------------------------------ */
#define ATTN_LIMIT_POOL_THREADS 256         /* threads of one pool (attn_pool_new, attn_set_threads):
                                               more are capped to this */

/* ---- The cores' object cache (compiler/jit/jit_cache.c) --------------------- */
#define ATTN_LIMIT_CACHE_ENTRY_BYTES (16 << 20) /* one cache entry, header included (objects are ~20-100 KB) */

/* ---- Weights files ----------------------------------------------------- */
#define ATTN_LIMIT_ST_HEADER_BYTES ((unsigned long long)100 * 1000 * 1000) /* safetensors JSON header */
#define ATTN_LIMIT_ST_JSON_DEPTH 4          /* nesting of the header's JSON ({ {"shape": [ ]} }) */
#define ATTN_LIMIT_ST_JSON_ARRAY 16         /* items of one JSON array in the header (a shape
                                               holds at most ATTN_LIMIT_RANK) */
#define ATTN_CONVERT_PAGES_BYTES (256 << 10) /* a weight converted from the file's dtype into at
                                               least this many bytes gets pages of its own
                                               (mmap), which go back to the system when the
                                               model releases it (st_convert_pages) */
#define ATTN_LIMIT_MAP_RULES 16384          /* rules of a weight map (--map-weights); each is
                                               tried on every key of the file */

/* ---- ONNX import (compiler/onnx, docs/ONNX.md) ------------------------- */
#define ATTN_LIMIT_ONNX_BYTES ((long long)2 << 30) /* an .onnx file (protobuf's own limit) */
#define ATTN_LIMIT_ONNX_NESTING 32          /* nesting of protobuf messages (a graph's node's
                                               attribute's tensor is 4) */
#define ATTN_LIMIT_ONNX_NODES 1000000       /* nodes of a graph */
#define ATTN_LIMIT_ONNX_NODE_IO 64          /* inputs or outputs of one node */
#define ATTN_LIMIT_ONNX_DIM_ATOMS 8         /* symbols multiplied in one dim (B*T*...) */
#define ATTN_LIMIT_ONNX_FOLD 65536          /* elements of an integer value folded at import time */

_Static_assert(ATTN_LIMIT_SCAN_SEQS + ATTN_LIMIT_SCAN_CARRIES <= ATTN_LIMIT_INPUTS + ATTN_LIMIT_SCAN_CAPTURES,
               "a scan body's inputs are its sequences, carries and captures");
_Static_assert(ATTN_LIMIT_TENSOR_BYTES_SHIFT < 63, "tensor byte counts fit int64");
_Static_assert(ATTN_LIMIT_FUSE_LEAVES < ATTN_LIMIT_KERNEL_ARGS,
               "a fused kernel's leaves are kernel arguments, with room for a reduction's own");
_Static_assert(ATTN_LIMIT_OPERANDS <= ATTN_LIMIT_KERNEL_ARGS, "concat and stack pass every operand to one kernel");
_Static_assert(ATTN_LIMIT_SPLIT_PIECES <= ATTN_LIMIT_OUTPUTS, "a split's pieces may all be outputs");
_Static_assert(ATTN_LIMIT_FUSE_GROUP <= ATTN_LIMIT_FUSE_MEMBERS, "a fusion group is generated as one fused expression");
_Static_assert(ATTN_LIMIT_ST_JSON_ARRAY >= ATTN_LIMIT_RANK + 1 && ATTN_LIMIT_ST_JSON_ARRAY >= 2,
               "a header array holds a shape (checked against the rank afterwards) or two offsets");
_Static_assert(ATTN_BUDGET_NODES < ATTN_BUDGET_LOWER_STEPS, "every node is a lowering step");
_Static_assert(ATTN_LIMIT_ONNX_NODE_IO <= ATTN_LIMIT_OPERANDS, "a node's inputs may all be operands of one concat");

#endif
