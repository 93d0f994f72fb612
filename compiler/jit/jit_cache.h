/*
 * jit_cache.h — machine code of the shared cores, kept on disk between processes.
 *
 * The matmul and attention cores (cg_matmul.c, cg_attention.c) are the same
 * for every model and take most of a process's compile time (about 0.65 s
 * and 0.4 s here): a command-line run would pay them on every call. Their
 * object files are kept in a cache directory as entries named by a hash of
 * their key: the unoptimised module (a hash of its bitcode), the CPU name,
 * the feature string, the LLVM version and a format string that names how
 * objects are made (jit_cache.c), so that a change to any of them compiles
 * afresh. The directory is $ATTN_CACHE_DIR (set but empty: no cache), else
 * $XDG_CACHE_HOME/attn, else $HOME/.cache/attn, made private (0700) when
 * created, and not used (one warning per process) when another user owns it
 * or others can write to it. Each entry carries a header (format version,
 * the whole key, the object's length and checksum) checked before the object
 * reaches the JIT; entries are opened without following links and read only
 * when they are regular files of at most ATTN_LIMIT_CACHE_ENTRY_BYTES. They
 * are written to a new file of a random name (O_EXCL, no links followed) and
 * renamed, so concurrent processes never read a partial one; an entry that
 * fails a check, or that the JIT cannot use, is compiled afresh and replaced.
 */
#ifndef ATTN_JIT_CACHE_H
#define ATTN_JIT_CACHE_H

#include "jit.h"

/* Compiles module m (built in j's context; consumed) into j at O3, or loads
 * the cached machine code of an identical module for target t. With
 * `use_cache` false the cache is written but not read (a retry after the JIT
 * could not use a cached file). */
int jit_cache_add_module(Jit *j, LLVMModuleRef m, const CgTarget *t, bool use_cache, char **err);

/* Creates a new file of an unpredictable name (written to name, size bytes)
 * in the directory open as dir, for writing, neither following nor replacing
 * anything already there: its descriptor, or -1. */
int jit_cache_temp_file(int dir, char *name, size_t size);

#endif
