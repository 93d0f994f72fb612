/*
 * interp_rnn.c — times the interpreter on the zoo's nn.GRU / nn.LSTM models
 * with random weights: input 256, hidden 512, 64 steps, batch 1 and 32.
 * Prints the median over repeated runs (load and compile excluded).
 *
 *     bench_interp_rnn MODELS_DIR [REPEATS]
 */
#include "attn.h"
#include "safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { E = 256, H = 512, T = 64 };

static float *random_floats(size_t n, float scale) {
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = scale * ((float)rand() / (float)RAND_MAX * 2 - 1);
    return v;
}

static void write_weights(const char *path, int gates) {
    const char *names[4] = {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"};
    attn_tensor w[4];
    for (int i = 0; i < 4; i++) {
        int64_t rows = gates * H, cols = i == 0 ? E : H;
        w[i] = (attn_tensor){.name = names[i], .dtype = ATTN_F32, .rank = i < 2 ? 2 : 1, .shape = {rows, cols}};
        w[i].data = random_floats((size_t)(i < 2 ? rows * cols : rows), 0.044f);
    }
    char err[256];
    if (st_write(path, w, 4, err, sizeof err))
        fprintf(stderr, "%s\n", err);
    for (int i = 0; i < 4; i++)
        free(w[i].data);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double bench(const char *models, const char *name, int gates, int batch, int repeats) {
    char model[4096], weights[] = "/tmp/attn_bench_rnn.safetensors";
    snprintf(model, sizeof model, "%s/%s.attn", models, name);
    write_weights(weights, gates);
    attn_model *m = attn_model_new();
    attn_program *p = NULL;
    if (attn_model_load(m, model) || attn_model_bind_weights(m, weights) || attn_model_compile(m, "forward", NULL, &p)) {
        fprintf(stderr, "%s", attn_model_errors(m));
        exit(1);
    }
    float *x = random_floats((size_t)batch * T * E, 1), *h0 = calloc((size_t)batch * H, sizeof(float));
    attn_tensor in[3] = {
        {.name = "input", .dtype = ATTN_F32, .rank = 3, .shape = {batch, T, E}, .data = x},
        {.name = "h_0", .dtype = ATTN_F32, .rank = 3, .shape = {1, batch, H}, .data = h0},
        {.name = "c_0", .dtype = ATTN_F32, .rank = 3, .shape = {1, batch, H}, .data = h0},
    };
    double *t = malloc(sizeof(double) * (size_t)repeats);
    for (int r = 0; r < repeats; r++) {
        attn_tensor *out;
        int nout;
        double t0 = now_ms();
        if (attn_program_run(p, in, gates == 4 ? 3 : 2, &out, &nout, NULL))
            exit(1);
        t[r] = now_ms() - t0;
        attn_tensors_free(out, nout);
    }
    qsort(t, (size_t)repeats, sizeof *t, cmp);
    double median = t[repeats / 2];
    free(t);
    free(x);
    free(h0);
    attn_program_free(p);
    attn_model_free(m);
    remove(weights);
    return median;
}

int main(int argc, char **argv) {
    const char *models = argc > 1 ? argv[1] : "models";
    int repeats = argc > 2 ? atoi(argv[2]) : 5;
    if (repeats < 1)
        repeats = 1;
    printf("interpreter, input %d, hidden %d, %d steps, median of %d runs\n", E, H, T, repeats);
    for (int b = 1; b <= 32; b += 31) {
        printf("  GRU  batch %2d: %8.2f ms\n", b, bench(models, "gru", 3, b, repeats));
        printf("  LSTM batch %2d: %8.2f ms\n", b, bench(models, "lstm", 4, b, repeats));
    }
    return 0;
}
