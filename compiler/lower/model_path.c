/*
 * model_path.c — where `import` finds the model library when the importing
 * file's own directory does not have the file (model_path.h).
 *
 * An installed attn keeps its models in share/attn (the zoo and std/). The
 * library and attnc find that directory from the file that holds their code
 * (libattn.so in lib/, attnc in bin/): the nearest share/attn at or a few
 * levels above its directory, so an installation can be moved. The build tree
 * has the same layout (build/share/attn links to models/). No source-tree
 * path is compiled in; the configured installation's is the last resort.
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

/* How many directories above the code's own the search for share/attn goes:
 * enough for LIBDIR/ARCH (lib/x86_64-linux-gnu) and for the build tree's
 * tests/fuzz/. */
enum { MAX_LEVELS_UP = 3 };

/* The nearest DIR/share/attn holding std/ (the library of layers), DIR being
 * the code's directory or one above it; else the configured installation. */
static void find_std_dir(void) {
    char dir[PATH_MAX], cand[PATH_MAX + 32], std[PATH_MAX + 48];
    if (code_dir(dir))
        for (int up = 0; up <= MAX_LEVELS_UP; up++) {
            snprintf(cand, sizeof cand, "%s/share/attn", dir);
            snprintf(std, sizeof std, "%s/std", cand);
            if (is_dir(std) && realpath(cand, std_dir))
                return;
            char *slash = strrchr(dir, '/');
            if (!slash || slash == dir)
                break;
            *slash = '\0';
        }
    snprintf(std, sizeof std, "%s/std", ATTN_MODELS_INSTALLED);
    if (!is_dir(std) || !realpath(ATTN_MODELS_INSTALLED, std_dir))
        std_dir[0] = '\0';
}

const char *model_std_dir(void) {
    pthread_once(&std_once, find_std_dir);
    return std_dir[0] ? std_dir : NULL;
}
