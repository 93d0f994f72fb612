/*
 * bert_encode.c — sentence vectors with the zoo's BERT (models/bert.attn): read
 * token ids from a text file, run the `forward` entry once on the whole batch,
 * and print each sequence's pooled vector (`pooler_output`).
 *
 *     bert_encode MODELS_DIR WEIGHTS.safetensors IDS.txt [--set NAME=VALUE]...
 *                 [--check EXPECTED.safetensors]
 *
 * IDS.txt holds one sequence per line: whitespace-separated token ids, and
 * optionally `|` followed by as many token type ids (segment A = 0, B = 1; 0
 * when left out). Blank lines and lines starting with `#` are skipped. The
 * batch is padded with id 0 up to the longest line and attention_mask is 1 on
 * the real tokens and 0 on the padding, as a HuggingFace tokenizer does.
 *
 * Hyperparameters are set as with `attnc --set`. vocab_size, hidden_size and
 * intermediate_size are solved from the weights' shapes; num_hidden_layers and
 * num_attention_heads must be given (a missing one is reported by
 * attn_model_compile), and so must max_position_embeddings and type_vocab_size
 * when they differ from their defaults 512 and 2 (a hyperparameter with a
 * default is not solved from the weights).
 *
 * --check compares the printed vectors with the tensor `pooler_output` of a
 * safetensors file (e.g. PyTorch's outputs for the same ids) at
 * |got - want| <= 1e-5 + 1e-5·|want|, prints "matches PyTorch" and exits with
 * 0, or lists the differences and exits with 1. The file is read with the
 * library's safetensors reader (runtime/rt/safetensors.h, not part of attn.h).
 */
#include <attn/attn.h>
#include "safetensors.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The batch read from IDS.txt, as the three i64[B, L] inputs of `forward`. */
typedef struct {
    int64_t batch, len;
    int64_t *ids, *types, *mask;
} Batch;

typedef struct {
    int64_t *v;
    int64_t n, cap;
} Vec;

static int vec_push(Vec *a, int64_t x) {
    if (a->n == a->cap) {
        int64_t cap = a->cap ? 2 * a->cap : 64;
        int64_t *v = realloc(a->v, (size_t)cap * sizeof *v);
        if (!v)
            return -1;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return 0;
}

/* Parses whitespace-separated non-negative integers of s into out; -1 on junk. */
static int parse_ints(const char *s, Vec *out) {
    for (;;) {
        while (isspace((unsigned char)*s))
            s++;
        if (!*s)
            return 0;
        if (!isdigit((unsigned char)*s))
            return -1;
        errno = 0;
        char *end;
        long long x = strtoll(s, &end, 10);
        if (errno || (*end && !isspace((unsigned char)*end)) || vec_push(out, x))
            return -1;
        s = end;
    }
}

/* Reads IDS.txt: every sequence's ids and token types, concatenated, with the
 * sequences' lengths; then pads them into a Batch. */
static int read_ids(const char *path, Batch *b) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    Vec ids = {0}, types = {0}, lens = {0};
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, rc = 0;
    while (rc == 0 && getline(&line, &cap, f) != -1) {
        lineno++;
        char *s = line;
        while (isspace((unsigned char)*s))
            s++;
        if (!*s || *s == '#')
            continue;
        char *bar = strchr(s, '|');
        if (bar)
            *bar = '\0';
        int64_t first = ids.n;
        if (parse_ints(s, &ids) || ids.n == first) {
            fprintf(stderr, "%s:%d: expected token ids (non-negative integers)\n", path, lineno);
            rc = -1;
            break;
        }
        int64_t n = ids.n - first, tfirst = types.n;
        if (bar) {
            if (parse_ints(bar + 1, &types) || types.n - tfirst != n) {
                fprintf(stderr, "%s:%d: expected %lld token type ids after '|'\n", path, lineno,
                        (long long)n);
                rc = -1;
                break;
            }
        } else {
            for (int64_t i = 0; i < n && rc == 0; i++)
                rc = vec_push(&types, 0);
        }
        if (rc == 0)
            rc = vec_push(&lens, n);
    }
    free(line);
    fclose(f);
    if (rc == 0 && lens.n == 0) {
        fprintf(stderr, "%s: no sequences\n", path);
        rc = -1;
    }
    if (rc == 0) {
        b->batch = lens.n;
        b->len = 0;
        for (int64_t i = 0; i < lens.n; i++)
            if (lens.v[i] > b->len)
                b->len = lens.v[i];
        size_t n = (size_t)(b->batch * b->len);
        b->ids = calloc(n, sizeof(int64_t));
        b->types = calloc(n, sizeof(int64_t));
        b->mask = calloc(n, sizeof(int64_t));
        if (!b->ids || !b->types || !b->mask) {
            fprintf(stderr, "out of memory\n");
            rc = -1;
        } else {
            int64_t at = 0;
            for (int64_t i = 0; i < b->batch; i++)
                for (int64_t j = 0; j < lens.v[i]; j++, at++) {
                    b->ids[i * b->len + j] = ids.v[at];
                    b->types[i * b->len + j] = types.v[at];
                    b->mask[i * b->len + j] = 1; /* padding stays id 0, type 0, mask 0 */
                }
        }
    }
    free(ids.v);
    free(types.v);
    free(lens.v);
    return rc;
}

/* Compares pooled [B, H] with the tensor pooler_output of the file `path`. */
static int check(const char *path, const attn_tensor *pooled) {
    char err[512];
    StFile *f = st_open(path, err, sizeof err);
    if (!f) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const StTensor *t = st_find(f, "pooler_output");
    float *want = NULL;
    int rc = 1;
    if (!t)
        fprintf(stderr, "%s: no tensor 'pooler_output'\n", path);
    else if (t->rank != 2 || t->shape[0] != pooled->shape[0] || t->shape[1] != pooled->shape[1])
        fprintf(stderr, "%s: pooler_output has shape [%lld, %lld], but the ids give [%lld, %lld]\n", path,
                t->rank > 0 ? (long long)t->shape[0] : -1LL, t->rank > 1 ? (long long)t->shape[1] : -1LL,
                (long long)pooled->shape[0], (long long)pooled->shape[1]);
    else if (st_convert(t, ATTN_F32, (void **)&want, err, sizeof err))
        fprintf(stderr, "%s\n", err);
    else {
        const float *got = pooled->data;
        int64_t n = attn_tensor_numel(pooled), bad = 0;
        double worst = 0;
        for (int64_t i = 0; i < n; i++) {
            double d = fabs((double)got[i] - want[i]);
            if (d > worst)
                worst = d;
            if (!(d <= 1e-5 + 1e-5 * fabs(want[i])) && bad++ < 5)
                fprintf(stderr, "pooler_output[%lld][%lld]: got %.9g, want %.9g\n",
                        (long long)(i / pooled->shape[1]), (long long)(i % pooled->shape[1]), got[i], want[i]);
        }
        if (bad)
            printf("%lld of %lld values differ from %s (max |diff| %.3g)\n", (long long)bad, (long long)n, path,
                   worst);
        else
            printf("pooler_output matches PyTorch (%lld values, max |diff| %.3g <= 1e-5)\n", (long long)n, worst);
        rc = bad != 0;
    }
    free(want);
    st_close(f);
    return rc;
}

static int usage(void) {
    fprintf(stderr, "usage: bert_encode MODELS_DIR WEIGHTS.safetensors IDS.txt [--set NAME=VALUE]... "
                    "[--check EXPECTED.safetensors]\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 4)
        return usage();
    const char *expected = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/bert.attn", argv[1]);

    /* 1. A model: hyperparameters first, then the source, then the weights. */
    attn_model *m = attn_model_new();
    if (!m)
        return 1;
    for (int i = 4; i < argc; i++) {
        if ((!strcmp(argv[i], "--set") || !strcmp(argv[i], "-s")) && i + 1 < argc) {
            char name[256];
            const char *eq = strchr(argv[++i], '=');
            if (!eq || eq == argv[i] || (size_t)(eq - argv[i]) >= sizeof name) {
                fprintf(stderr, "bert_encode: --set wants NAME=VALUE, not '%s'\n", argv[i]);
                attn_model_free(m);
                return 2;
            }
            snprintf(name, sizeof name, "%.*s", (int)(eq - argv[i]), argv[i]);
            if (attn_model_set(m, name, eq + 1)) {
                fprintf(stderr, "%s", attn_model_errors(m));
                attn_model_free(m);
                return 2;
            }
        } else if (!strcmp(argv[i], "--check") && i + 1 < argc) {
            expected = argv[++i];
        } else {
            attn_model_free(m);
            return usage();
        }
    }
    attn_program *p = NULL;
    if (attn_model_load(m, path) || attn_model_bind_weights(m, argv[2]) ||
        attn_model_compile(m, "forward", NULL, &p)) { /* 2. compile the entry once */
        fprintf(stderr, "%s", attn_model_errors(m));
        attn_model_free(m);
        return 1;
    }
    attn_model_free(m); /* the program keeps what it needs */

    /* 3. The inputs, built in C: i64[B, L] each; B and L are bound per call. */
    Batch b = {0};
    if (read_ids(argv[3], &b)) {
        attn_program_free(p);
        return 1;
    }
    attn_tensor in[3] = {
        {.name = "input_ids", .dtype = ATTN_I64, .rank = 2, .shape = {b.batch, b.len}, .data = b.ids},
        {.name = "token_type_ids", .dtype = ATTN_I64, .rank = 2, .shape = {b.batch, b.len}, .data = b.types},
        {.name = "attention_mask", .dtype = ATTN_I64, .rank = 2, .shape = {b.batch, b.len}, .data = b.mask},
    };

    /* 4. Run; the outputs come in the entry's order: last_hidden_state, pooler_output. */
    attn_tensor *out = NULL;
    int nout = 0, rc = 0;
    char *err = NULL;
    if (attn_program_run(p, in, 3, &out, &nout, &err)) {
        fprintf(stderr, "%s\n", err);
        attn_string_free(err);
        rc = 1;
    } else {
        const attn_tensor *pooled = &out[1];
        int64_t hidden = pooled->shape[1];
        printf("%s: [%lld, %lld] (%lld sequences padded to %lld tokens)\n", pooled->name,
               (long long)pooled->shape[0], (long long)hidden, (long long)b.batch, (long long)b.len);
        const float *v = pooled->data;
        for (int64_t i = 0; i < b.batch; i++) {
            printf("%lld:", (long long)i);
            for (int64_t j = 0; j < hidden; j++)
                printf(" %.6f", v[i * hidden + j]);
            printf("\n");
        }
        if (expected)
            rc = check(expected, pooled);
        attn_tensors_free(out, nout);
    }
    free(b.ids);
    free(b.types);
    free(b.mask);
    attn_program_free(p);
    return rc;
}
