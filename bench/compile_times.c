/*
 * compile_times.c — JIT compile time of every zoo model configuration of the
 * golden manifests (tests/golden/cases*.txt), with the fixtures' weights.
 *
 * The matmul core is made once per process and target and shared by all
 * programs (compiled, or loaded from the object cache of compiler/jit/jit_cache.h;
 * run with ATTN_CACHE_DIR= set empty to compile it); the first compile below
 * (a one-op model) measures it alone, and each model's time is then the
 * median of several compiles of its entry.
 * Usage: bench_compile_times ROOT [REPEATS]
 */
#include "attn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median compile time of one manifest line, or -1 when it does not compile. */
static double time_case(const char *root, const char *cs, const char *model, const char *entry, const char *sets,
                        int repeats) {
    attn_model *m = attn_model_new();
    char path[4096], buf[1024];
    snprintf(buf, sizeof buf, "%s", sets);
    for (char *tok = strtok(buf, ","); tok && strcmp(sets, "-"); tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        if (eq) {
            *eq = '\0';
            attn_model_set(m, tok, eq + 1);
        }
    }
    snprintf(path, sizeof path, "%s/%s", root, model);
    double t[64], result = -1;
    if (attn_model_load(m, path) == ATTN_OK &&
        (snprintf(path, sizeof path, "%s/tests/golden/fixtures/%s/map.txt", root, cs), /* the case's weight map */
         access(path, F_OK) != 0 || attn_model_map_weights(m, path) == ATTN_OK) &&
        (snprintf(path, sizeof path, "%s/tests/golden/fixtures/%s/weights.safetensors", root, cs),
         attn_model_bind_weights(m, path) == ATTN_OK)) {
        attn_compile_options opt = {.backend = ATTN_BACKEND_JIT, .threads = 1};
        int n = 0;
        for (; n < repeats && n < 64; n++) {
            attn_program *p = NULL;
            double t0 = now_ms();
            if (attn_model_compile(m, entry, &opt, &p) != ATTN_OK)
                break;
            t[n] = now_ms() - t0;
            attn_program_free(p);
        }
        if (n == repeats) {
            qsort(t, (size_t)n, sizeof *t, cmp_double);
            result = t[n / 2];
        }
    }
    if (result < 0)
        fprintf(stderr, "%s: %s", cs, attn_model_errors(m));
    attn_model_free(m);
    return result;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_compile_times ROOT [REPEATS]\n");
        return 2;
    }
    const char *root = argv[1];
    int repeats = argc > 2 ? atoi(argv[2]) : 5;
    /* the shared matmul core: compiled by the first program of the process */
    attn_model *m = attn_model_new();
    attn_model_load_source(m, "core", "entry f(a: f32[M, K], b: f32[K, N]) -> (c) {\n  return a @ b\n}\n");
    attn_program *p = NULL;
    double t0 = now_ms();
    attn_model_compile(m, "f", NULL, &p);
    printf("matmul core + first program (once per process; the core comes from the object cache when it is\n"
           "there, compiler/jit/jit_cache.h; ATTN_CACHE_DIR= compiles it): %.1f ms\n\n",
           now_ms() - t0);
    attn_program_free(p);
    attn_model_free(m);
    printf("%-28s %-40s %10s\n", "case", "model entry", "compile ms");
    const char *manifests[] = {"cases.txt", "cases_zoo2.txt"};
    for (int i = 0; i < 2; i++) {
        char path[4096], line[2048];
        snprintf(path, sizeof path, "%s/tests/golden/%s", root, manifests[i]);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof line, f)) {
            char cs[256], model[256], entry[256], sets[1024] = "-";
            if (line[0] == '#' || sscanf(line, "%255s %255s %255s %1023s", cs, model, entry, sets) < 3)
                continue;
            double ms = time_case(root, cs, model, entry, sets, repeats);
            char what[600];
            snprintf(what, sizeof what, "%s %s", model, entry);
            if (ms >= 0)
                printf("%-28s %-40s %10.1f\n", cs, what, ms);
        }
        if (f)
            fclose(f);
    }
    return 0;
}
