/*
 * jit_cache.h — machine code of the shared cores, kept on disk between processes.
 *
 * The matmul and attention cores (cg_matmul.c, cg_attention.c) are the same
 * for every model and take most of a process's compile time (about 0.65 s
 * and 0.4 s here): a command-line run would pay them on every call. Their
 * object files are kept in a cache directory, named by a hash of the
 * unoptimised module (its bitcode), the CPU name, the feature string, the LLVM
 * version and a format string that names how objects are made (jit_cache.c),
 * so that a change to any of them compiles afresh. The directory is
 * $ATTN_CACHE_DIR (set but empty: no cache), else $XDG_CACHE_HOME/attn, else
 * $HOME/.cache/attn, made private (0700) when created. Files are written
 * under a temporary name and renamed, so concurrent processes never read a
 * partial one; a file the JIT cannot use is replaced.
 */
#ifndef ATTN_JIT_CACHE_H
#define ATTN_JIT_CACHE_H

#include "jit.h"

/* Compiles module m (built in j's context; consumed) into j at O3, or loads
 * the cached machine code of an identical module for target t. With
 * `use_cache` false the cache is written but not read (a retry after the JIT
 * could not use a cached file). */
int jit_cache_add_module(Jit *j, LLVMModuleRef m, const CgTarget *t, bool use_cache, char **err);

#endif
