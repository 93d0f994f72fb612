/*
 * transformer_decode.c — the attn side of bench/transformer_decode.py: greedy
 * decoding with models/transformer.attn, step by step through `decode_step`
 * (the caller carries the key/value caches) and whole through `greedy`.
 *
 *     bench_transformer_decode MODEL WEIGHTS INPUTS THREADS REPEATS STEPS [NAME=VALUE]...
 *
 * INPUTS holds src i64[B, S] and src_mask bool[B, S]. The three entries are
 * compiled once for THREADS threads. One warm-up decode, then REPEATS times:
 * `encode`, then STEPS runs of `decode_step` from token `bos` (1), each fed the
 * argmax of the previous logits and the caches it returned, each step timed
 * (wall clock); then REPEATS runs of `greedy` over STEPS steps. Prints, for
 * scripts, medians over the repeats:
 *     ENCODE ms
 *     STEP t ms          (t = 1..STEPS: the step that feeds the t-th token)
 *     GREEDY ms
 *     TOKENS b id id ... (the decode_step loop's tokens of item b)
 *     SAME_AS_GREEDY yes|no
 */
#include "attn.h"
#include "safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { WARMUP = 1, BOS = 1 };

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp);
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static void fail(const char *what, const char *msg) {
    fprintf(stderr, "attn: %s: %s\n", what, msg);
    exit(1);
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    if (!p)
        fail("bench", "out of memory");
    return p;
}

static void run(const attn_program *p, const attn_tensor *in, int nin, attn_tensor **out, int *nout) {
    char *err = NULL;
    if (attn_program_run(p, in, nin, out, nout, &err))
        fail("run", err ? err : "failed");
}

/* Reads the source batch: src [B, S] and src_mask [B, S]. */
static void read_source(const char *path, attn_tensor *src, attn_tensor *mask) {
    char err[512];
    StFile *f = st_open(path, err, sizeof err);
    if (!f)
        fail("read", err);
    const StTensor *s = st_find(f, "src"), *m = st_find(f, "src_mask");
    if (!s || !m || s->rank != 2 || m->rank != 2)
        fail(path, "wants src [B, S] and src_mask [B, S]");
    *src = (attn_tensor){.name = "src", .dtype = ATTN_I64, .rank = 2, .shape = {s->shape[0], s->shape[1]}};
    *mask = (attn_tensor){.name = "src_mask", .dtype = ATTN_BOOL, .rank = 2, .shape = {m->shape[0], m->shape[1]}};
    if (st_convert(s, ATTN_I64, &src->data, err, sizeof err) || st_convert(m, ATTN_BOOL, &mask->data, err, sizeof err))
        fail("read", err);
    st_close(f);
}

/*
 * One greedy decode through encode + `steps` decode_steps; step_ms[t] gets the
 * time of step t (NULL: not timed), tokens [B, steps] the argmax tokens.
 * Returns the encode time.
 */
static double decode(const attn_program *enc, const attn_program *step, const attn_tensor *src,
                     const attn_tensor *mask, int steps, double *step_ms, int64_t *tokens) {
    attn_tensor src_in[2] = {*src, *mask}, *mem, *out = NULL;
    int nmem, nout = 0;
    double t0 = now_ms();
    run(enc, src_in, 2, &mem, &nmem); /* memory, memory_keys, memory_values */
    double enc_ms = now_ms() - t0;
    int64_t B = src->shape[0], *token = xcalloc((size_t)B, sizeof *token);
    for (int64_t b = 0; b < B; b++)
        token[b] = BOS;
    attn_tensor in[6] = {
        {.name = "token", .dtype = ATTN_I64, .rank = 1, .shape = {B}, .data = token},
        mem[1], mem[2], *mask, mem[1], mem[1],
    };
    in[1].name = "memory_keys";
    in[2].name = "memory_values";
    in[4].name = "self_keys";
    in[5].name = "self_values";
    in[4].shape[3] = in[5].shape[3] = 0; /* empty caches [N, B, H, 0, dh] */
    for (int t = 0; t < steps; t++) {
        attn_tensor *next;
        int nnext;
        double s = now_ms();
        run(step, in, 6, &next, &nnext); /* logits [B, V], self_keys, self_values */
        if (step_ms)
            step_ms[t] = now_ms() - s;
        int64_t V = next[0].shape[1];
        const float *logits = next[0].data;
        for (int64_t b = 0; b < B; b++) {
            int64_t best = 0;
            for (int64_t v = 1; v < V; v++)
                best = logits[b * V + v] > logits[b * V + best] ? v : best;
            token[b] = tokens[b * steps + t] = best;
        }
        in[4] = next[1];
        in[5] = next[2];
        if (out)
            attn_tensors_free(out, nout);
        out = next;
        nout = nnext;
    }
    attn_tensors_free(out, nout);
    attn_tensors_free(mem, nmem);
    free(token);
    return enc_ms;
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: bench_transformer_decode MODEL WEIGHTS INPUTS THREADS REPEATS STEPS [NAME=VALUE]...\n");
        return 2;
    }
    int threads = atoi(argv[4]), repeats = atoi(argv[5]), steps = atoi(argv[6]);
    if (repeats < 1 || steps < 1)
        fail("usage", "REPEATS and STEPS must be at least 1");
    attn_model *m = attn_model_new();
    if (!m)
        fail("model", "out of memory");
    for (int i = 7; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq)
            fail(argv[i], "expected NAME=VALUE");
        *eq = 0;
        if (attn_model_set(m, argv[i], eq + 1))
            fail(argv[i], attn_model_errors(m));
    }
    attn_compile_options opt = {.backend = ATTN_BACKEND_JIT, .threads = threads};
    attn_program *enc = NULL, *step = NULL, *greedy = NULL;
    if (attn_model_load(m, argv[1]) || attn_model_bind_weights(m, argv[2]) ||
        attn_model_compile(m, "encode", &opt, &enc) || attn_model_compile(m, "decode_step", &opt, &step) ||
        attn_model_compile(m, "greedy", &opt, &greedy))
        fail("model", attn_model_errors(m));
    attn_model_free(m);

    attn_tensor src, mask;
    read_source(argv[3], &src, &mask);
    int64_t B = src.shape[0];
    int64_t *tokens = xcalloc((size_t)(B * steps), sizeof *tokens);
    double *enc_ms = xcalloc((size_t)repeats, sizeof *enc_ms);
    double *step_ms = xcalloc((size_t)(repeats * steps), sizeof *step_ms);
    double *greedy_ms = xcalloc((size_t)repeats, sizeof *greedy_ms), *col = xcalloc((size_t)repeats, sizeof *col);
    for (int r = -WARMUP; r < repeats; r++)
        enc_ms[r < 0 ? 0 : r] = decode(enc, step, &src, &mask, steps, r < 0 ? NULL : step_ms + r * steps, tokens);

    int64_t *zeros = xcalloc((size_t)steps, sizeof *zeros);
    attn_tensor gin[3] = {src, mask, {.name = "max_len", .dtype = ATTN_I64, .rank = 1, .shape = {steps}, .data = zeros}};
    attn_tensor *gout = NULL;
    int ngout = 0;
    for (int r = -WARMUP; r < repeats; r++) {
        if (gout)
            attn_tensors_free(gout, ngout);
        double s = now_ms();
        run(greedy, gin, 3, &gout, &ngout); /* tokens [B, steps], logits */
        if (r >= 0)
            greedy_ms[r] = now_ms() - s;
    }

    printf("ENCODE %.4f\n", median(enc_ms, repeats));
    for (int t = 0; t < steps; t++) {
        for (int r = 0; r < repeats; r++)
            col[r] = step_ms[r * steps + t];
        printf("STEP %d %.4f\n", t + 1, median(col, repeats));
    }
    printf("GREEDY %.4f\n", median(greedy_ms, repeats));
    for (int64_t b = 0; b < B; b++) {
        printf("TOKENS %lld", (long long)b);
        for (int t = 0; t < steps; t++)
            printf(" %lld", (long long)tokens[b * steps + t]);
        printf("\n");
    }
    int same = memcmp(gout[0].data, tokens, (size_t)(B * steps) * sizeof *tokens) == 0;
    printf("SAME_AS_GREEDY %s\n", same ? "yes" : "no");

    attn_tensors_free(gout, ngout);
    free(zeros);
    free(tokens);
    free(enc_ms);
    free(step_ms);
    free(greedy_ms);
    free(col);
    free(src.data);
    free(mask.data);
    attn_program_free(enc);
    attn_program_free(step);
    attn_program_free(greedy);
    return 0;
}
