/*
 * jit_cache.c — the on-disk cache of the cores' machine code (see jit_cache.h).
 *
 * The directory and its files are untrusted until checked: the directory is
 * used only if it is ours and nobody else can write to it, and every access
 * goes through a descriptor of that checked directory (openat, renameat), so
 * swapping a path component afterwards changes nothing. Entries are opened
 * without following links and without blocking, read only when they are
 * regular files of a sane size, and handed to the JIT only when their header
 * names this very module and target and their checksum matches.
 */
#define _GNU_SOURCE /* O_DIRECTORY, O_NOFOLLOW, O_CLOEXEC, getrandom */
#include "jit_cache.h"
#include "attn_limits.h"

#include <llvm-c/BitWriter.h>

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* What else decides the machine code made from a module: bump it when the
 * optimisation pipeline (jit.c) or the way objects are emitted changes, so
 * that objects made the old way are not reused. */
#define CACHE_FORMAT "attn core object 1: default<O3>, PIC, JIT code model"

/* An entry: this header, the key (key_len bytes of text), the object file
 * (payload_len bytes). Written and read on the same machine: native byte order. */
#define ENTRY_MAGIC "ATTNCORE"
#define ENTRY_VERSION 1u
typedef struct EntryHeader {
    char magic[8];
    uint32_t version;
    uint32_t key_len;
    uint64_t payload_len;
    uint64_t payload_hash; /* FNV-1a 64 of the payload */
} EntryHeader;
_Static_assert(sizeof(EntryHeader) == 32, "the entry header has no padding");
_Static_assert(ATTN_LIMIT_CACHE_ENTRY_BYTES > (int)sizeof(EntryHeader), "an entry holds its header");

/* FNV-1a, 64 bits, continued from h over n bytes at p. */
static uint64_t hash_bytes(uint64_t h, const void *p, size_t n) {
    for (const unsigned char *c = p; n--; c++)
        h = (h ^ *c) * 0x100000001b3ull;
    return h;
}

#define FNV_OFFSET 0xcbf29ce484222325ull

/* Says once per process, on stderr, that the cache directory is not used. */
static void warn_cache_off(const char *dir, const char *why) {
    static atomic_flag warned = ATOMIC_FLAG_INIT;
    if (!atomic_flag_test_and_set(&warned))
        fprintf(stderr, "attn: warning: cache directory %s is %s; the object cache is off\n", dir, why);
}

/* The cache directory's path (malloc'd), or NULL: no cache. */
static char *cache_dir_path(void) {
    const char *env = getenv("ATTN_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (env)
        return *env ? cg_msg("%s", env) : NULL;
    if (xdg && *xdg)
        return cg_msg("%s/attn", xdg);
    if (home && *home)
        return cg_msg("%s/.cache/attn", home);
    return NULL;
}

/* Creates each missing level of dir, parents first, private to the user.
 * Existing levels are left as they are: only the last one is checked (and
 * must be ours), which is enough because everything in it is then reached
 * through a descriptor of that checked directory. */
static void make_dirs(char *dir) {
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            (void)mkdir(dir, 0700);
            *p = '/';
        }
    (void)mkdir(dir, 0700);
}

/* A descriptor of the cache directory, checked, or -1: no cache. */
static int open_cache_dir(void) {
    char *dir = cache_dir_path();
    if (!dir)
        return -1;
    make_dirs(dir);
    /* not there and cannot be made (a read-only home...): no cache, nothing to warn about */
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    const char *why = NULL;
    if (fd < 0)
        ;
    else if (fstat(fd, &st) != 0)
        why = "not readable";
    else if (st.st_uid != geteuid())
        why = "owned by another user";
    else if (st.st_mode & (S_IWGRP | S_IWOTH))
        why = "writable by other users";
    if (why) {
        warn_cache_off(dir, why);
        close(fd);
        fd = -1;
    }
    free(dir);
    return fd;
}

/* The key of module m for target t: everything its machine code depends on,
 * as text (malloc'd), or NULL when out of memory. The module enters as a
 * hash and length of its bitcode (the same bytes for the same module, and
 * written several times faster than its text: 3 ms for the matmul core). */
static char *cache_key(LLVMModuleRef m, const CgTarget *t) {
    unsigned major, minor, patch;
    LLVMGetVersion(&major, &minor, &patch);
    LLVMMemoryBufferRef bc = LLVMWriteBitcodeToMemoryBuffer(m);
    size_t n = LLVMGetBufferSize(bc);
    uint64_t h = hash_bytes(FNV_OFFSET, LLVMGetBufferStart(bc), n);
    LLVMDisposeMemoryBuffer(bc);
    return cg_msg("%s\ncpu %s\nfeatures %s\nLLVM %u.%u.%u\nmodule %016llx %zu\n", CACHE_FORMAT, t->cpu, t->features,
                  major, minor, patch, (unsigned long long)h, n);
}

/* The file name of the entry with this key (malloc'd). */
static char *entry_name(const char *key) {
    return cg_msg("core-%016llx.entry", (unsigned long long)hash_bytes(FNV_OFFSET, key, strlen(key)));
}

/* The contents of entry `name` (malloc'd, *n bytes) if it is a regular file
 * of a sane size, else NULL. Opened without following a link and without
 * blocking, so a link to a device or a FIFO is refused, not read. */
static unsigned char *read_entry(int dir, const char *name, size_t *n) {
    int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    unsigned char *buf = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= (off_t)sizeof(EntryHeader) &&
        st.st_size <= ATTN_LIMIT_CACHE_ENTRY_BYTES && (buf = malloc((size_t)st.st_size))) {
        *n = (size_t)st.st_size;
        size_t got = 0;
        ssize_t r = 1;
        while (got < *n && (r = read(fd, buf + got, *n - got)) > 0)
            got += (size_t)r;
        if (got != *n) {
            free(buf);
            buf = NULL;
        }
    }
    close(fd);
    return buf;
}

/* The object of entry e (n bytes) as a buffer for the JIT if its header
 * matches key and its payload its checksum, else NULL. */
static LLVMMemoryBufferRef entry_object(const unsigned char *e, size_t n, const char *key) {
    EntryHeader h;
    memcpy(&h, e, sizeof h);
    size_t klen = strlen(key), rest = n - sizeof h;
    if (memcmp(h.magic, ENTRY_MAGIC, sizeof h.magic) != 0 || h.version != ENTRY_VERSION || h.key_len != klen ||
        rest < klen || memcmp(e + sizeof h, key, klen) != 0 || h.payload_len != rest - klen)
        return NULL;
    const unsigned char *payload = e + sizeof h + klen;
    if (hash_bytes(FNV_OFFSET, payload, h.payload_len) != h.payload_hash)
        return NULL;
    return LLVMCreateMemoryBufferWithMemoryRangeCopy((const char *)payload, h.payload_len, "attn core object");
}

/* The cached object for key in dir, or NULL: none, or one not to be trusted. */
static LLVMMemoryBufferRef load(int dir, const char *name, const char *key) {
    size_t n = 0;
    unsigned char *e = read_entry(dir, name, &n);
    LLVMMemoryBufferRef obj = e ? entry_object(e, n, key) : NULL;
    free(e);
    return obj;
}

int jit_cache_temp_file(int dir, char *name, size_t size) {
    for (int attempt = 0; attempt < 8; attempt++) {
        uint64_t r;
        if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
            return -1;
        snprintf(name, size, "tmp-%016llx", (unsigned long long)r);
        int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1;
}

static bool write_all(int fd, const void *p, size_t n) {
    for (const char *c = p; n;) {
        ssize_t w = write(fd, c, n);
        if (w <= 0)
            return false;
        c += w;
        n -= (size_t)w;
    }
    return true;
}

/* Writes the entry of obj under key as `name` in dir: to a new file of an
 * unpredictable name, then renamed over the old entry (concurrent processes
 * never see half a file). Best effort: a cache that cannot be written is no
 * cache. */
static void store(int dir, const char *name, const char *key, LLVMMemoryBufferRef obj) {
    const void *payload = LLVMGetBufferStart(obj);
    size_t n = LLVMGetBufferSize(obj), klen = strlen(key);
    if (sizeof(EntryHeader) + klen + n > ATTN_LIMIT_CACHE_ENTRY_BYTES)
        return; /* it would not be read back */
    EntryHeader h = {.version = ENTRY_VERSION, .key_len = (uint32_t)klen, .payload_len = n,
                     .payload_hash = hash_bytes(FNV_OFFSET, payload, n)};
    memcpy(h.magic, ENTRY_MAGIC, sizeof h.magic);
    char tmp[32];
    int fd = jit_cache_temp_file(dir, tmp, sizeof tmp);
    if (fd < 0)
        return;
    bool ok = write_all(fd, &h, sizeof h) && write_all(fd, key, klen) && write_all(fd, payload, n);
    ok &= close(fd) == 0;
    if (!ok || renameat(dir, tmp, dir, name) != 0)
        unlinkat(dir, tmp, 0);
}

/* m optimised and compiled to an object file in memory; NULL on error. */
static LLVMMemoryBufferRef compile(LLVMModuleRef m, const CgTarget *t, char **err) {
    if (cg_optimize(m, t, err) != 0)
        return NULL;
    return cg_emit_object(m, t, err);
}

int jit_cache_add_module(Jit *j, LLVMModuleRef m, const CgTarget *t, bool use_cache, char **err) {
    int dir = open_cache_dir();
    char *key = dir >= 0 ? cache_key(m, t) : NULL;
    char *name = key ? entry_name(key) : NULL;
    LLVMMemoryBufferRef obj = name && use_cache ? load(dir, name, key) : NULL;
    if (!obj && (obj = compile(m, t, err)) != NULL && name)
        store(dir, name, key, obj);
    free(name);
    free(key);
    if (dir >= 0)
        close(dir);
    LLVMDisposeModule(m);
    return obj ? jit_add_object(j, obj, err) : -1;
}
