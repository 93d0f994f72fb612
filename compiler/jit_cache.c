/*
 * jit_cache.c — the on-disk cache of the cores' machine code (see jit_cache.h).
 */
#include "jit_cache.h"

#include <llvm-c/BitWriter.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The cache directory, created if needed (malloc'd), or NULL: no cache. */
static char *cache_dir(void) {
    const char *env = getenv("ATTN_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char *dir = NULL;
    if (env)
        dir = *env ? cg_msg("%s", env) : NULL;
    else if (xdg && *xdg)
        dir = cg_msg("%s/attn", xdg);
    else if (home && *home)
        dir = cg_msg("%s/.cache/attn", home);
    if (!dir)
        return NULL;
    /* each missing level, parents first */
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(dir, 0700) != 0 && errno != EEXIST)
                break;
            *p = '/';
        }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        free(dir);
        return NULL;
    }
    return dir;
}

/* FNV-1a, 64 bits, continued from h over n bytes at p. */
static uint64_t hash_bytes(uint64_t h, const void *p, size_t n) {
    for (const unsigned char *c = p; n--; c++)
        h = (h ^ *c) * 0x100000001b3ull;
    return h;
}

static uint64_t hash_text(uint64_t h, const char *s) { return hash_bytes(h, s, strlen(s) + 1); }

/* What else decides the machine code made from a module: bump it when the
 * optimisation pipeline (jit.c) or the way objects are emitted changes, so
 * that objects made the old way are not reused. */
#define CACHE_FORMAT "attn core object 1: default<O3>, PIC, JIT code model"

/* The cache file of module m for target t (malloc'd), or NULL: no cache. */
static char *cache_path(LLVMModuleRef m, const CgTarget *t) {
    char *dir = cache_dir();
    if (!dir)
        return NULL;
    unsigned major, minor, patch;
    LLVMGetVersion(&major, &minor, &patch);
    char version[64];
    snprintf(version, sizeof version, "LLVM %u.%u.%u", major, minor, patch);
    /* the module as bitcode: the same bytes for the same module, and written
       several times faster than its text (3 ms for the matmul core's 800 KB) */
    LLVMMemoryBufferRef bc = LLVMWriteBitcodeToMemoryBuffer(m);
    uint64_t h = hash_text(0xcbf29ce484222325ull, CACHE_FORMAT);
    h = hash_bytes(h, LLVMGetBufferStart(bc), LLVMGetBufferSize(bc));
    h = hash_text(hash_text(hash_text(h, t->cpu), t->features), version);
    LLVMDisposeMemoryBuffer(bc);
    char *path = cg_msg("%s/core-%016llx.o", dir, (unsigned long long)h);
    free(dir);
    return path;
}

/* Writes the object in obj to path through a temporary file (best effort: a
 * cache that cannot be written is no cache). */
static void store(const char *path, LLVMMemoryBufferRef obj) {
    char *tmp = cg_msg("%s.%ld.tmp", path, (long)getpid());
    FILE *f = tmp ? fopen(tmp, "wb") : NULL;
    if (f) {
        size_t n = LLVMGetBufferSize(obj);
        bool ok = fwrite(LLVMGetBufferStart(obj), 1, n, f) == n;
        ok &= fclose(f) == 0;
        if (!ok || rename(tmp, path) != 0)
            remove(tmp);
    }
    free(tmp);
}

/* m optimised and compiled to an object file in memory; NULL on error. */
static LLVMMemoryBufferRef compile(LLVMModuleRef m, const CgTarget *t, char **err) {
    if (cg_optimize(m, t, err) != 0)
        return NULL;
    LLVMTargetMachineRef tm = cg_target_machine(t, LLVMRelocPIC, err);
    if (!tm)
        return NULL;
    LLVMMemoryBufferRef obj = NULL;
    char *msg = NULL;
    if (LLVMTargetMachineEmitToMemoryBuffer(tm, m, LLVMObjectFile, &msg, &obj)) {
        *err = cg_msg("internal error: LLVM could not compile the core: %s", msg ? msg : "");
        obj = NULL;
    }
    LLVMDisposeMessage(msg);
    LLVMDisposeTargetMachine(tm);
    return obj;
}

int jit_cache_add_module(Jit *j, LLVMModuleRef m, const CgTarget *t, bool use_cache, char **err) {
    char *path = cache_path(m, t);
    LLVMMemoryBufferRef obj = NULL;
    char *msg = NULL;
    if (path && use_cache && LLVMCreateMemoryBufferWithContentsOfFile(path, &obj, &msg)) {
        LLVMDisposeMessage(msg); /* not cached yet */
        obj = NULL;
    }
    if (!obj && (obj = compile(m, t, err)) != NULL && path)
        store(path, obj);
    free(path);
    LLVMDisposeModule(m);
    return obj ? jit_add_object(j, obj, err) : -1;
}
