/*
 * model_path.c — where `import` finds the model library when the importing
 * file's own directory does not have the file (model_path.h).
 *
 * An installed attn keeps its models in DATADIR/attn (share/attn: the zoo and
 * std/). The library and attnc find that directory relative to the file that
 * holds their code (libattn.so in LIBDIR, attnc in BINDIR, a program linked
 * with the static library anywhere), so an installation can be moved; the
 * build tree has the same layout (build/share/attn links to models/). No
 * source-tree path is compiled in.
 */
#define _GNU_SOURCE /* dladdr */
#include "model_path.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char std_dir[PATH_MAX];
static pthread_once_t std_once = PTHREAD_ONCE_INIT;

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The directory of the file that holds this code, into dir; false if unknown. */
static bool code_dir(char dir[PATH_MAX]) {
    Dl_info info;
    char file[PATH_MAX];
    if (!dladdr((void *)code_dir, &info) || !info.dli_fname || !realpath(info.dli_fname, file)) {
        /* the main program (static linking) may be named as it was invoked */
        ssize_t n = readlink("/proc/self/exe", file, sizeof file - 1);
        if (n <= 0)
            return false;
        file[n] = '\0';
    }
    char *slash = strrchr(file, '/');
    if (!slash)
        return false;
    *slash = '\0';
    snprintf(dir, PATH_MAX, "%s", file);
    return true;
}

/* The first candidate that is a directory holding std/ (the library of layers). */
static void find_std_dir(void) {
    char dir[PATH_MAX], cand[PATH_MAX + 64], std[PATH_MAX + 80];
    const char *rel[] = {ATTN_MODELS_FROM_LIBDIR, ATTN_MODELS_FROM_BINDIR, "share/attn"};
    bool have_dir = code_dir(dir);
    for (size_t i = 0; i < sizeof rel / sizeof rel[0] + 1; i++) {
        if (i < sizeof rel / sizeof rel[0]) {
            if (!have_dir)
                continue;
            snprintf(cand, sizeof cand, "%s/%s", dir, rel[i]);
        } else {
            snprintf(cand, sizeof cand, "%s", ATTN_MODELS_INSTALLED); /* the configured prefix */
        }
        snprintf(std, sizeof std, "%s/std", cand);
        if (is_dir(std) && realpath(cand, std_dir))
            return;
    }
    std_dir[0] = '\0';
}

const char *model_std_dir(void) {
    pthread_once(&std_once, find_std_dir);
    return std_dir[0] ? std_dir : NULL;
}
