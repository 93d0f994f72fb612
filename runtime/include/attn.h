/*
 * attn.h — the public C API of attn.
 *
 * A model is an .attn source file. The calls follow its life:
 *
 *     attn_model *m = attn_model_new();
 *     attn_model_set(m, "input_size", "16");          // hyperparameters (--set)
 *     if (attn_model_load(m, "models/gru.attn") ||    // parse + check
 *         attn_model_bind_weights(m, "gru.safetensors"))
 *         fprintf(stderr, "%s", attn_model_errors(m)); // file:line:col: error: ...
 *     attn_program *p;
 *     attn_model_compile(m, "forward", NULL, &p);      // one entry point
 *     attn_tensor in[2] = {...}, *out; int nout;
 *     attn_program_run(p, in, 2, &out, &nout, &err);   // any number of times
 *     attn_tensors_free(out, nout);
 *     attn_program_free(p); attn_model_free(m);
 *
 * Every call reports failure by a non-zero status and a message: calls on a
 * model leave it in attn_model_errors (owned by the model), runs and the
 * heatmap functions return it through `char **error`. The library never
 * exits the host process. Tensors are dense, row-major, batch first.
 * docs/API.md is the guide; beyond the above: introspection, weights from
 * memory (attn_model_bind_weights_memory, attn_model_bind_tensor), outputs
 * into the caller's buffers (attn_program_run_into), thread pools.
 */
#ifndef ATTN_H
#define ATTN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the public API: the only symbols the shared library exports. */
#if defined(ATTN_BUILDING_LIBRARY)
#define ATTN_API __attribute__((visibility("default")))
#else
#define ATTN_API
#endif
/* Marks what compiled code and the headers of AOT objects call in the runtime
 * library: global in libattnrt.a; hidden in libattn like every internal. */
#if defined(ATTN_BUILDING_RUNTIME)
#define ATTN_RT_API __attribute__((visibility("default")))
#else
#define ATTN_RT_API
#endif

/* The version of attn these declarations belong to (the build takes its
 * version from here); attn_version() gives the library's own at run time. */
#define ATTN_VERSION_MAJOR 0
#define ATTN_VERSION_MINOR 5
#define ATTN_VERSION_PATCH 0

#define ATTN_MAX_RANK 8

/* Element types of tensors seen by users and kernels. */
typedef enum attn_dtype {
    ATTN_F32,  /* 32-bit IEEE float: activations and weights */
    ATTN_I32,  /* 32-bit signed integer: token ids */
    ATTN_I64,  /* 64-bit signed integer: token ids, argmax results */
    ATTN_BOOL, /* one byte, 0 or 1: masks */
} attn_dtype;

/* Status codes returned by every fallible call. */
typedef enum attn_status {
    ATTN_OK = 0,
    ATTN_ERR_INPUT = 1,  /* the user's source, weights, shapes or inputs are wrong */
    ATTN_ERR_USAGE = 2,  /* API misuse: NULL handle, unknown entry, wrong order */
    ATTN_ERR_NOMEM = 3,  /* an allocation failed or a size limit was exceeded */
    ATTN_ERR_IO = 4,     /* a file could not be read or written */
    ATTN_ERR_INTERNAL = 5,
} attn_status;

/* "attn 0.5.0 (LLVM 19.1.7, target x86_64-pc-linux-gnu znver4)": the library's
 * version, the LLVM it was built with and the host it runs on. Static storage:
 * valid for the life of the process; computed on the first call (thread-safe). */
ATTN_API const char *attn_version(void);

/* Short English text of a status: "out of memory" for ATTN_ERR_NOMEM;
 * "unknown status" for a value that is not an attn_status. Static storage. */
ATTN_API const char *attn_status_string(attn_status status);

/* A dense row-major tensor. `name` is the entry point's input or output name. */
typedef struct attn_tensor {
    const char *name;              /* input/output name (not owned by the tensor) */
    attn_dtype dtype;              /* element type */
    int rank;                      /* number of dims, 0..ATTN_MAX_RANK */
    int64_t shape[ATTN_MAX_RANK];  /* extent of each dim */
    void *data;                    /* elements, shape product × dtype size bytes */
} attn_tensor;

/* Size in bytes of one element of `dt`. */
ATTN_API size_t attn_dtype_size(attn_dtype dt);
/* Printable name of `dt`: "f32", "i32", "i64", "bool". */
ATTN_API const char *attn_dtype_name(attn_dtype dt);
/* Number of elements of `t` (1 for rank 0, 0 for NULL; -1 when a dim is negative
 * or the product overflows int64). */
ATTN_API int64_t attn_tensor_numel(const attn_tensor *t);

/* Which engine runs a compiled entry point. */
typedef enum attn_backend {
    ATTN_BACKEND_JIT,    /* LLVM native code for this CPU (the default) */
    ATTN_BACKEND_INTERP, /* reference interpreter: plain C kernels */
} attn_backend;

/* ---- Threads -------------------------------------------------------------
 * Compiled code splits its kernels' work over a pool of threads. By default
 * every program of the process shares one pool, attn_pool_default(), with a
 * thread per core (or attn_set_threads); a program may instead be given a
 * pool of the caller's (attn_compile_options.pool) or run on the calling
 * thread alone (threads = 1). Runs on several threads may share one pool: a
 * loop that finds it busy runs on its own calling thread. AOT programs take
 * the pool as an argument of each run (docs/AOT.md). */
typedef struct attn_pool attn_pool;

/* How a program stores the constant right operands of its matrix products
 * (linear layers, recurrent weight_hh, output projections) once weights are
 * bound (docs/PRECISION.md). Activations, attention's own products, biases
 * and every other weight stay f32. */
typedef enum attn_weights_dtype {
    ATTN_WEIGHTS_F32 = 0, /* as bound: f32 (the default) */
    ATTN_WEIGHTS_BF16,    /* bfloat16, rounded to nearest-even once at bind time;
                             products accumulate in f32 */
    ATTN_WEIGHTS_INT8,    /* int8, symmetric per output column, f32 scales */
} attn_weights_dtype;

/* "f32", "bf16", "int8"; "?" for values outside the enum. */
ATTN_API const char *attn_weights_dtype_name(attn_weights_dtype dt);

/* A pool running loops on `threads` threads in all (the caller plus
 * threads-1 workers); threads <= 0 means the number of online cores, and
 * more than ATTN_LIMIT_POOL_THREADS (256) are capped. NULL when out of memory.
 * If fewer workers start than asked, the pool runs with those that did. */
ATTN_API attn_pool *attn_pool_new(int threads);
/* Stops and frees a pool of attn_pool_new once nothing uses it any more
 * (every program compiled with it freed, no run in progress). NULL and the
 * default pool are ignored. */
ATTN_API void attn_pool_free(attn_pool *p);
/* Threads a loop of p runs on (1 for NULL). */
ATTN_API int attn_pool_threads(const attn_pool *p);
/* The process's shared pool, started on the first call (thread-safe) and
 * kept until the process ends; NULL only when out of memory. */
ATTN_API attn_pool *attn_pool_default(void);
/* Sets the threads of the default pool (0: one per online core, the
 * default). Only before the pool starts: once it runs, ATTN_ERR_USAGE unless
 * `threads` is what it has. ATTN_ERR_USAGE for a negative count. */
ATTN_API attn_status attn_set_threads(int threads);

/* Options for attn_model_compile; NULL (or all fields zero) means defaults. */
typedef struct attn_compile_options {
    attn_backend backend; /* default ATTN_BACKEND_JIT */
    /* threads a run may use: 0 = the default pool's (attn_pool_default);
     * 1 = the calling thread only; n > 1 = a pool of n threads of the
     * program's own, freed with it. The interpreter runs on the calling thread. */
    int threads;
    /* JIT target: LLVM CPU name and feature string ("znver4", "+avx2,+fma");
     * NULL = the host's, or the environment's ATTN_MCPU / ATTN_MATTR. */
    const char *mcpu, *mattr;
    /* JIT: write the optimised LLVM IR / the assembly of the entry here (NULL = don't). */
    const char *emit_llvm, *emit_asm;
    /* Intermediate tensors to return after the entry's own outputs, by the name of
     * the variable they were assigned to: "weights" (the last assignment of any
     * variable so named) or "self_attn/weights" (one assigned under that weight
     * scope, e.g. inside `scope "self_attn" { ... }`). */
    const char *const *extra_outputs;
    int nextra_outputs;
    /* JIT: 1 = no operator fusion, every graph node its own kernel (for
     * comparing and debugging; results are the same). */
    int no_fuse;
    /* JIT: 1 = time every kernel call (attn_program_profile); costs two clock
     * reads per call. */
    int profile;
    /* JIT: run on this pool (the caller's; threads must then be 0). The pool
     * must outlive the program. NULL: as `threads` says. */
    attn_pool *pool;
    /* JIT: storage of the matrix products' constant weights (ATTN_WEIGHTS_F32 =
     * as bound). The interpreter computes in f32 whatever this says. */
    attn_weights_dtype weights_dtype;
} attn_compile_options;

typedef struct attn_model attn_model;     /* a loaded, checked model source */
typedef struct attn_program attn_program; /* one entry point, ready to run */

/* A new empty model; NULL only when out of memory. */
ATTN_API attn_model *attn_model_new(void);
ATTN_API void attn_model_free(attn_model *m);

/* Adds a directory searched by `import` (after the importing file's own directory). */
ATTN_API attn_status attn_model_add_import_path(attn_model *m, const char *dir);

/* Sets hyperparameter `name` to `value` ("512", "1e-5", "true", "gelu"); before load. */
ATTN_API attn_status attn_model_set(attn_model *m, const char *name, const char *value);

/* Parses and checks the model at `path` (or source text `src` named `name`). */
ATTN_API attn_status attn_model_load(attn_model *m, const char *path);
ATTN_API attn_status attn_model_load_source(attn_model *m, const char *name, const char *src);

/* ---- Weights ---------------------------------------------------------------
 * A model takes its weights from one source, after attn_model_load: a
 * safetensors file, a safetensors image in memory, or tensors bound one by
 * one; a second source is ATTN_ERR_USAGE. Each weight is checked against the
 * `param` that declares it (present, dtype, shape) when the entry using it is
 * compiled; a file's or image's keys that no entry declares are refused when
 * it is bound, bound tensors' at the next compile. F16, BF16 and F64 in files
 * and images are converted to f32, integers to i64; bound tensors are used as
 * they are (zero copy), so their dtype must be the declared one. */

/* Renames the keys of the weights bound afterwards (a file, an image or
 * tensors) by the rules of the weight map at `path` (attnc --map-weights),
 * or of the text `rules` named `name` in messages: one rule per line, '#'
 * starting a comment; FROM=TO renames the key FROM, a prefix FROM ending in
 * '.' (`W_w.=word_proj.`), or the match of a POSIX extended regular
 * expression FROM starting with '^' (`^model\.=`, TO naming groups \0..\9).
 * Every rule applies in file order to each key as the rules above left it.
 * Malformed lines are ATTN_ERR_INPUT here, at FILE:LINE:COL; when weights
 * are bound, a rule that renames no key, two keys renamed to one and a key
 * renamed to nothing are ATTN_ERR_INPUT at the rule, and messages about a
 * renamed weight name its key in the file and the rules ("unexpected weight
 * 'x' (from 'W_w.weight' by rule map.txt:3)"). After attn_model_load, before
 * any weights; one map per model (else ATTN_ERR_USAGE). docs/API.md §6. */
ATTN_API attn_status attn_model_map_weights(attn_model *m, const char *path);
ATTN_API attn_status attn_model_map_weights_source(attn_model *m, const char *name, const char *rules);

/* Binds weights from a safetensors file, mapped while the model lives. */
ATTN_API attn_status attn_model_bind_weights(attn_model *m, const char *path);

/* Binds weights from a safetensors image in memory, data[0..len) (the bytes
 * of a .safetensors file), with the checks of attn_model_bind_weights; messages
 * name it "<memory>". The image is borrowed, not copied: it must stay valid and
 * unchanged until attn_model_free (programs keep converted copies of what
 * they read, so they do not need it). */
ATTN_API attn_status attn_model_bind_weights_memory(attn_model *m, const void *data, size_t len);

/* Binds one weight: t->name is its full key ("encoder.layer.0.attention.self.query.weight"),
 * t->dtype and shape must be the declared ones, t->data its elements (NULL only
 * when it has none). The key is copied, the data borrowed (zero copy): it must
 * stay valid and unchanged until attn_model_free and attn_program_free of every
 * program compiled from m. Bind every tensor before the first attn_model_compile
 * that succeeds (later: ATTN_ERR_USAGE); a compile that failed for a missing
 * weight may be retried after binding it. ATTN_ERR_USAGE for NULL, a key bound
 * twice, an unknown dtype, a rank outside 0..ATTN_MAX_RANK or NULL data;
 * ATTN_ERR_INPUT for a negative dim or more than 2^40 bytes. Messages name the
 * bound tensors "<tensors>". */
ATTN_API attn_status attn_model_bind_tensor(attn_model *m, const attn_tensor *t);

/* All diagnostics of the last failing call, "file:line:col: error: ..." with source
 * line and caret, or "" when there were none. Owned by the model. */
ATTN_API const char *attn_model_errors(const attn_model *m);

/* Text of the graph of entry point `entry` after the optimisation passes:
 * format 0 = the textual IR, 1 = Graphviz DOT; adding 2 prints the kernel
 * graph instead (which nodes each generated kernel computes; with 1, the
 * kernels as DOT clusters), and adding 4 as well shows it without fusion.
 * *out is freed with attn_string_free. */
ATTN_API attn_status attn_model_graph_text(attn_model *m, const char *entry, int format, char **out);

/* Number of entry points and their names (owned by the model; NULL for an i
 * out of range). */
ATTN_API int attn_model_entry_count(const attn_model *m);
ATTN_API const char *attn_model_entry_name(const attn_model *m, int i);

/* ---- Introspection ---------------------------------------------------------
 * What a model declares and what a program takes and gives. */

/* The type of a tensor: an input or output of a program, or a weight a model
 * declares. Strings are owned by the program or model that filled it. */
typedef struct attn_tensor_info {
    const char *name;                /* input/output name, or the weight's full key */
    attn_dtype dtype;
    int rank;
    int64_t shape[ATTN_MAX_RANK];    /* each dim, or -1 where it is no number yet: a per-call
                                        dim ("B", "T", "2*T") or an unset hyperparameter */
    const char *dims[ATTN_MAX_RANK]; /* each dim as text: "B", "2*T", "16", "hidden_size*3" */
    const char *type_text;           /* the whole type: "f32[B, T, 16]" */
} attn_tensor_info;

/* Fills *info for input (or output) i of p, 0 <= i < attn_program_input_count
 * (output_count); inputs in the entry's parameter order, outputs in the
 * order runs return them. Strings live as long as p. ATTN_ERR_USAGE for a
 * NULL argument or an i out of range. */
ATTN_API attn_status attn_program_input_info(const attn_program *p, int i, attn_tensor_info *info);
ATTN_API attn_status attn_program_output_info(const attn_program *p, int i, attn_tensor_info *info);

/* Kinds of hyperparameter. */
typedef enum attn_hyper_type {
    ATTN_HYPER_INT,   /* hyper n: int */
    ATTN_HYPER_FLOAT, /* hyper eps: float */
    ATTN_HYPER_BOOL,  /* hyper bidirectional: bool */
    ATTN_HYPER_ENUM,  /* hyper activation: enum(relu, gelu) */
} attn_hyper_type;

/* A hyperparameter of a loaded model and its value. */
typedef struct attn_hyper_info {
    const char *name;      /* as declared */
    attn_hyper_type type;
    bool set;              /* has a value: its default, attn_model_set, or solved from the bound weights */
    bool from_weights;     /* the value was solved from a bound weight's shape */
    int64_t int_value;     /* INT; BOOL 0 or 1; ENUM the member's index (0 when unset) */
    double float_value;    /* FLOAT; the others as a double (0 when unset) */
    const char *value;     /* the value as text, "512", "1e-05", "true", "gelu"; NULL when unset */
} attn_hyper_info;

/* The hyperparameters of a loaded model (0 before attn_model_load), in
 * declaration order, imports included. */
ATTN_API int attn_model_hyper_count(const attn_model *m);
/* Fills *info for hyperparameter i. `value` is owned by m and valid until the
 * next call for the same i or attn_model_free. ATTN_ERR_USAGE for a NULL
 * argument or an i out of range; ATTN_ERR_NOMEM. */
ATTN_API attn_status attn_model_hyper_info(attn_model *m, int i, attn_hyper_info *info);

/* The weights a loaded model's entry points declare with `param` (over every
 * entry, each key once): what a weights file, image or attn_model_bind_tensor
 * must provide. Their types are as the latest lowering saw them: after
 * attn_model_load with the attn_model_set values, after binding with the
 * hyperparameters solved from the weights; a dim that is no number yet has
 * shape -1 and its expression in `dims` ("hidden_size*3"). */
ATTN_API int attn_model_weight_count(const attn_model *m);
/* Fills *info for weight i (name = its full key). The texts are owned by m
 * and valid until the next call for the same i or attn_model_free.
 * ATTN_ERR_USAGE for a NULL argument or an i out of range; ATTN_ERR_NOMEM. */
ATTN_API attn_status attn_model_weight_info(attn_model *m, int i, attn_tensor_info *info);

/* Compiles entry point `entry`. The program stays valid after attn_model_free. */
ATTN_API attn_status attn_model_compile(attn_model *m, const char *entry,
                               const attn_compile_options *opt, attn_program **out);

/* Options for attn_model_compile_aot; NULL (or all fields zero) means defaults. */
typedef struct attn_aot_options {
    /* target: LLVM CPU name and feature string, as for the JIT (NULL = the host's,
     * or ATTN_MCPU / ATTN_MATTR); the object runs on CPUs that have them */
    const char *mcpu, *mattr;
    /* also write the optimised LLVM IR / the assembly here (NULL = don't) */
    const char *emit_llvm, *emit_asm;
    /* 1 = no operator fusion (as attn_compile_options.no_fuse) */
    int no_fuse;
    /* storage of the products' constant weights in what NAME_load_weights makes
     * (as attn_compile_options.weights_dtype) */
    attn_weights_dtype weights_dtype;
} attn_aot_options;

/* Compiles entry point `entry` (NULL: every entry point) ahead of time into the
 * object file OUT.o and the C header OUT.h, which need no LLVM, only the runtime
 * library libattnrt (docs/AOT.md); the base name of `out` names the C symbols
 * ("build/gru" gives gru_load_weights, gru_forward). Every hyperparameter must be
 * set or solved from bound weights; weights need not be bound (the program loads
 * them), but bound ones are checked. */
ATTN_API attn_status attn_model_compile_aot(attn_model *m, const char *entry, const char *out,
                                   const attn_aot_options *opt);

/* Input and output signatures of a compiled entry point. Dims that vary per call are -1. */
ATTN_API int attn_program_input_count(const attn_program *p);
ATTN_API int attn_program_output_count(const attn_program *p);
ATTN_API const char *attn_program_input_name(const attn_program *p, int i);
ATTN_API const char *attn_program_output_name(const attn_program *p, int i);

/* Runs the program. Inputs are matched by name (order free). On success *outputs is a
 * new array of *noutputs tensors, in the entry's output order, freed with
 * attn_tensors_free. On failure, *error (if non-NULL) gets a message to free with
 * attn_string_free. Safe to call from several threads at once on one program. */
ATTN_API attn_status attn_program_run(const attn_program *p, const attn_tensor *inputs, int ninputs,
                             attn_tensor **outputs, int *noutputs, char **error);

/* Runs the program writing its outputs into the caller's tensors instead of
 * new ones: outputs[0..noutputs) are the entry's outputs in order, each with
 * the dtype, rank and shape this run gives it (attn_program_output_info says
 * which; per-call dims follow from the inputs' dims), `data` pointing to room
 * for its elements, and `name` NULL or the output's name. A mismatch is
 * ATTN_ERR_INPUT with a message naming the output and its expected type
 * ("output tensor 0 must be 'h_1' f32[2, 7] for these inputs, ...") and
 * nothing is written. The JIT writes the outputs in place (zero copy); the
 * interpreter computes them in buffers of its own and copies them. Output
 * buffers must not overlap the inputs or each other; on a failure after the
 * checks their contents are unspecified. Otherwise as attn_program_run
 * (errors, threads). */
ATTN_API attn_status attn_program_run_into(const attn_program *p, const attn_tensor *inputs, int ninputs,
                                           attn_tensor *outputs, int noutputs, char **error);

/* Sets outputs[0..noutputs) (noutputs = attn_program_output_count) to the
 * name, dtype, rank and shape each output of a run on these inputs will have,
 * without running (data is set to NULL): what to allocate for
 * attn_program_run_into. The inputs are checked as a run checks them. JIT
 * backend only: the interpreter gives ATTN_ERR_USAGE. */
ATTN_API attn_status attn_program_output_shapes(const attn_program *p, const attn_tensor *inputs, int ninputs,
                                                attn_tensor *outputs, int noutputs, char **error);
ATTN_API void attn_program_free(attn_program *p);

/* The pool p's runs use: the default pool, the one given at compile time or
 * the program's own; NULL when it runs on the calling thread (threads = 1,
 * the interpreter) or p is NULL. */
ATTN_API attn_pool *attn_program_pool(const attn_program *p);

/* What a run of a program does on inputs of given shapes, worked out from the
 * shapes alone (the program's generated code computes it; nothing is run or
 * measured). Byte counts are for this call's dims. */
typedef struct attn_run_stats {
    int64_t kernels;                  /* kernels in the compiled code */
    int64_t kernel_calls;             /* kernel calls of the run (a scan body's kernels once per step) */
    int64_t workspace_bytes;          /* the run's workspace: intermediate values, where values whose
                                         lifetimes don't overlap share memory (its peak) */
    int64_t workspace_bytes_no_reuse; /* the same with a buffer of its own for every value */
    int64_t bytes_moved;              /* over all kernel calls: bytes read from their operands and
                                         written to their outputs (scan copies not counted) */
    /* weights the program holds, by storage: index ATTN_WEIGHTS_F32 counts the
     * weights read as bound (the model's memory) and f32 packed copies,
     * ATTN_WEIGHTS_BF16 / ATTN_WEIGHTS_INT8 the low-precision packed copies
     * (their scales included); ATTN_WEIGHTS_BF16 also a BF16 file's embedding
     * tables that a JIT program's gathers read as the file's bits */
    int64_t weight_bytes[3];
    /* weight data the program's model holds, over all its programs:
     * [0] copies it made (tensors converted from the file's dtype, BF16 and
     * F16 widened to f32, unaligned ones) and [1] tensors it reads in place
     * from the mapped file for programs that read them unpacked (an
     * interpreter program, a weight no product packs; a BF16 file's
     * embedding tables read by JIT gathers as they are). A weight that every
     * program reads packed is in neither: its copy is freed, or its pages of
     * the file handed back, once packed (docs/PRECISION.md). */
    int64_t model_weight_bytes[2];
} attn_run_stats;

/* Fills *stats for a run of p on `inputs`, checked as attn_program_run checks
 * them. JIT backend only: the interpreter gives ATTN_ERR_USAGE. On failure,
 * *error (if non-NULL) gets a message to free with attn_string_free. */
ATTN_API attn_status attn_program_run_stats(const attn_program *p, const attn_tensor *inputs, int ninputs,
                                   attn_run_stats *stats, char **error);

/* Time per kernel, summed over the runs so far of a program compiled with
 * attn_compile_options.profile = 1 (JIT only). */
typedef struct attn_kernel_profile {
    const char *name; /* "k29 attention: %23 matmul, %25 div, %27 where, %28 softmax, %29 matmul" */
    int64_t calls;    /* calls of the kernel (a scan body's kernels once per step) */
    double ms;        /* their total time */
} attn_kernel_profile;

/* Sets *out to p's per-kernel table (*n entries, in the order the code first
 * calls them; owned by p, valid until its next run or free). ATTN_ERR_USAGE
 * when p was not compiled with profiling. */
ATTN_API attn_status attn_program_profile(const attn_program *p, const attn_kernel_profile **out, int *n);

ATTN_API void attn_tensors_free(attn_tensor *ts, int n);
ATTN_API void attn_string_free(char *s);

/* ---- Heatmaps ------------------------------------------------------------
 * A [rows, cols] matrix of floats (row-major), e.g. the attention weights of
 * one batch item, drawn with a label per row and per column (UTF-8; NULL
 * arrays mean the indices 0, 1, ...). Values are scaled from the smallest
 * (or 0 when all are positive) to the largest finite value. Both return
 * ATTN_OK; ATTN_ERR_USAGE for a NULL stream, path or values, an empty matrix
 * or more than INT_MAX cells; ATTN_ERR_IO when the file cannot be opened or
 * written (the SVG file is then removed). On failure *error (if non-NULL)
 * gets a message to free with attn_string_free. */

/* Prints the matrix to `out`, each cell two columns wide: with `color`, on a
 * 256-colour ANSI background (for terminals); without, as a shade character
 * from light to dark, "·░▒▓█". Column labels on top, row labels on the left,
 * then the scale. */
ATTN_API attn_status attn_heatmap_text(FILE *out, const float *values, int rows, int cols,
                                       const char *const *row_labels, const char *const *col_labels, bool color,
                                       char **error);

/* Writes the matrix as an SVG image to `path`: one <rect> per cell (its
 * <title> gives the labels and the value), the labels along both axes (XML
 * escaped), and the colour scale. */
ATTN_API attn_status attn_heatmap_svg(const char *path, const float *values, int rows, int cols,
                                      const char *const *row_labels, const char *const *col_labels, char **error);

/* ---- ONNX import (docs/ONNX.md) --------------------------------------------
 * An .onnx model becomes .attn source text, one `entry forward` with the
 * graph's inputs and outputs, and its weights: the initializers (keys = their
 * ONNX names, for torch exports the state_dict keys) and the constants too
 * large to write in the source. The file is read strictly: malformed or
 * unsupported content is refused with a message naming the node, the op and
 * the opset, never trusted. Without protobuf-c at build time every call
 * returns ATTN_ERR_USAGE saying so. */
typedef struct attn_onnx_import {
    char *source;                /* the .attn text (NUL-terminated) */
    attn_tensor *weights;        /* names and data owned by the import */
    int nweights;
    char **input_names;          /* the ONNX names of the entry's inputs, in order */
    int ninputs;
    char **output_names;         /* the ONNX names of its outputs, in order */
    int noutputs;
} attn_onnx_import;

/* Imports the model at `path`. `known` (n_known, may be 0) gives values for
 * graph inputs by ONNX name: where the model needs an input at compile time
 * (a Reshape's shape, a Slice's starts) it is folded in, and an input used
 * only so is not an input of the entry. On success *out is set (free with
 * attn_onnx_import_free); on failure *error (if non-NULL) gets a message. */
ATTN_API attn_status attn_import_onnx(const char *path, const attn_tensor *known, int n_known,
                                      attn_onnx_import **out, char **error);
/* The same for the bytes of an .onnx file in memory, named `name` in messages
 * (external data is refused: it has no directory). */
ATTN_API attn_status attn_import_onnx_memory(const void *data, size_t len, const char *name,
                                             const attn_tensor *known, int n_known,
                                             attn_onnx_import **out, char **error);
ATTN_API void attn_onnx_import_free(attn_onnx_import *r);
/* The ONNX ops the importer knows, space-separated ("Abs Add And ..."); "" without it. */
ATTN_API const char *attn_onnx_ops(void);
/* Imports the .onnx at `path` into m (before anything else is loaded) and
 * binds its weights: attn_model_load and attn_model_bind_* in one call. */
ATTN_API attn_status attn_model_load_onnx(attn_model *m, const char *path);

#ifdef __cplusplus
}
#endif
#endif
