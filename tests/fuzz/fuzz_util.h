/*
 * fuzz_util.h — what the fuzz targets share: a per-process scratch file that
 * holds the current input, so that code reading files by path (st_open) can
 * be fed from memory. A memfd is used, named by its /proc/self/fd path; where
 * memfd_create is missing, a file under $TMPDIR (or /tmp) unique to the process.
 * Header-only: each target and the replay program include it.
 */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Entry points every target defines (libFuzzer's interface). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

typedef struct {
    int fd;
    char path[PATH_MAX];
} FuzzFile;

static inline void fuzz_file_unlink(void);

/* Opens the scratch file once; aborts when neither kind can be made. */
static inline FuzzFile *fuzz_file(void)
{
    static FuzzFile f = {.fd = -1};
    if (f.fd >= 0)
        return &f;
#ifdef SYS_memfd_create
    f.fd = (int)syscall(SYS_memfd_create, "attn-fuzz", 0u);
    if (f.fd >= 0) {
        snprintf(f.path, sizeof f.path, "/proc/self/fd/%d", f.fd);
        if (access(f.path, R_OK) == 0)
            return &f;
        close(f.fd);
        f.fd = -1;
    }
#endif
    const char *tmp = getenv("TMPDIR");
    snprintf(f.path, sizeof f.path, "%s/attn-fuzz-%ld.bin", tmp && *tmp ? tmp : "/tmp", (long)getpid());
    f.fd = open(f.path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (f.fd < 0) {
        perror(f.path);
        abort();
    }
    atexit(fuzz_file_unlink);
    return &f;
}

static inline void fuzz_file_unlink(void)
{
    FuzzFile *f = fuzz_file();
    if (strncmp(f->path, "/proc/", 6) != 0)
        unlink(f->path);
}

/* Replaces the scratch file's contents with data; returns its path. */
static inline const char *fuzz_write(const uint8_t *data, size_t size)
{
    FuzzFile *f = fuzz_file();
    if (ftruncate(f->fd, 0) != 0)
        abort();
    for (size_t done = 0; done < size;) {
        ssize_t n = pwrite(f->fd, data + done, size - done, (off_t)done);
        if (n <= 0)
            abort();
        done += (size_t)n;
    }
    return f->path;
}

#endif
