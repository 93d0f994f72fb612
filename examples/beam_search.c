/*
 * beam_search.c — beam search in C over the `decode_step` entry of
 * models/seq2seq_attention.attn (GRU encoder, GRU-cell decoder with Bahdanau
 * attention), using the in-process API step by step:
 *
 *   1. load the model and bind its weights once;
 *   2. compile the entries `encode`, `decode_step` and `greedy` once each;
 *   3. run `encode` once on the source batch;
 *   4. for each of exactly max_len steps (there is no end-of-sequence token),
 *      run `decode_step` on all beams at once — batch B = k·batch, row i·k + j
 *      being beam j of source i — take the log-softmax of the logits in C and
 *      keep, per source, the k (beam, token) extensions with the largest summed
 *      log-probabilities; their parents' decoder states become the next state;
 *   5. print each source's best sequence, and check that beam width 1 gives
 *      the same tokens as the model's own `greedy` entry.
 *
 *     beam_search MODELS_DIR K [--weights W.safetensors] [--inputs IN.safetensors]
 *                 [--set NAME=VALUE]... [--max-len N] [--vocab VOCAB.txt] [--text TEXT]...
 *
 * Defaults: the weights and inputs of the golden case s2s_greedy
 * (MODELS_DIR/../tests/golden/fixtures/s2s_greedy/), whose max_len input has 5
 * entries, so 5 steps. The inputs file holds src i64[B, S] and src_mask
 * bool[B, S] (true = padding), and optionally max_len i64[M] (only M is used).
 * Hyperparameters other than bos are solved from the weights' shapes.
 *
 * --vocab reads a vocabulary in the format of examples/translate_dates/vocab.txt
 * ("name value" lines; src_chars "..." and tgt_chars "..." list the characters
 * of ids 2, 3, ...; max_len and bos are used when given): the best sequences
 * are then also printed as text, and --text "21 November 2026" (repeatable)
 * encodes sources from text instead of reading --inputs. For example:
 *
 *     beam_search models 3 --weights examples/translate_dates/weights.safetensors \
 *                 --vocab examples/translate_dates/vocab.txt --text "Nov 21, 26"
 *
 * Several texts are padded to the longest one, and the encoder runs over the
 * padding too (the model does not pack sequences), so its final state depends
 * on the padding: with a model trained on unpadded sources (translate_dates
 * runs one date at a time), give one --text per run.
 *
 * The inputs file is read with the library's safetensors reader
 * (runtime/rt/safetensors.h), which is not part of attn.h.
 */
#include <attn/attn.h>
#include "safetensors.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TEXTS 64

/* A vocabulary file: the characters of the ids from `offset` on. */
typedef struct {
    char src_chars[256], tgt_chars[256];
    int src_offset, tgt_offset, src_unk;
    long long max_len, bos; /* -1 when the file does not say */
} Vocab;

/* The source batch: n sequences of S ids, with the padding mask. */
typedef struct {
    int64_t n, S;
    int64_t *src;
    uint8_t *mask;
} Source;

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fprintf(stderr, "beam_search: out of memory\n");
        exit(1);
    }
    return p;
}

/* The characters between the first and the last double quote of s. */
static void quoted(const char *s, char *out, size_t cap) {
    const char *a = strchr(s, '"'), *b = strrchr(s, '"');
    out[0] = '\0';
    if (a && b > a)
        snprintf(out, cap, "%.*s", (int)(b - a - 1), a + 1);
}

static int read_vocab(const char *path, Vocab *v) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    *v = (Vocab){.src_offset = 2, .tgt_offset = 2, .src_unk = 1, .max_len = -1, .bos = -1};
    char line[1024], key[64];
    long long x;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || sscanf(line, "%63s", key) != 1)
            continue;
        if (!strcmp(key, "src_chars"))
            quoted(line, v->src_chars, sizeof v->src_chars);
        else if (!strcmp(key, "tgt_chars"))
            quoted(line, v->tgt_chars, sizeof v->tgt_chars);
        else if (sscanf(line, "%*s %lld", &x) == 1) {
            if (!strcmp(key, "max_len"))
                v->max_len = x;
            else if (!strcmp(key, "bos"))
                v->bos = x;
            else if (!strcmp(key, "src_unk"))
                v->src_unk = (int)x;
        }
    }
    fclose(f);
    if (!v->tgt_chars[0]) {
        fprintf(stderr, "%s: no line tgt_chars \"...\"\n", path);
        return -1;
    }
    return 0;
}

/* Reads src, src_mask and (if there) the extent of max_len from a safetensors file. */
static int read_inputs(const char *path, Source *s, long long *max_len) {
    char err[512];
    StFile *f = st_open(path, err, sizeof err);
    if (!f) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    const StTensor *src = st_find(f, "src"), *mask = st_find(f, "src_mask"), *ml = st_find(f, "max_len");
    int rc = -1;
    if (!src || !mask || src->rank != 2 || mask->rank != 2 || src->shape[0] != mask->shape[0] ||
        src->shape[1] != mask->shape[1])
        fprintf(stderr, "%s: wants src [B, S] and src_mask [B, S]\n", path);
    else if (st_convert(src, ATTN_I64, (void **)&s->src, err, sizeof err) ||
             st_convert(mask, ATTN_BOOL, (void **)&s->mask, err, sizeof err))
        fprintf(stderr, "%s\n", err);
    else {
        s->n = src->shape[0];
        s->S = src->shape[1];
        if (ml && ml->rank == 1 && *max_len < 0)
            *max_len = ml->shape[0];
        rc = 0;
    }
    st_close(f);
    return rc;
}

/* Encodes texts with the vocabulary's source characters, padded to the longest. */
static void encode_texts(const Vocab *v, const char *const *texts, int n, Source *s) {
    s->n = n;
    s->S = 1;
    for (int i = 0; i < n; i++)
        if ((int64_t)strlen(texts[i]) > s->S)
            s->S = (int64_t)strlen(texts[i]);
    s->src = xcalloc((size_t)(s->n * s->S), sizeof *s->src);
    s->mask = xcalloc((size_t)(s->n * s->S), 1);
    for (int i = 0; i < n; i++)
        for (int64_t j = 0; j < s->S; j++) {
            int64_t len = (int64_t)strlen(texts[i]);
            const char *c = j < len && texts[i][j] ? strchr(v->src_chars, texts[i][j]) : NULL;
            s->src[i * s->S + j] = j >= len ? 0 : c ? (c - v->src_chars) + v->src_offset : v->src_unk;
            s->mask[i * s->S + j] = j >= len;
        }
}

static int run(const attn_program *p, const attn_tensor *in, int nin, attn_tensor **out, int *nout) {
    char *err = NULL;
    if (attn_program_run(p, in, nin, out, nout, &err)) {
        fprintf(stderr, "%s\n", err);
        attn_string_free(err);
        return -1;
    }
    return 0;
}

/*
 * Beam search of width k for the n sources, max_len steps from token bos.
 * memory [n, S, H] and state [n, H] are `encode`'s outputs. Writes the best
 * sequence of each source to tokens [n, max_len] and its summed log-probability
 * to score[n].
 */
static int beam_search(const attn_program *step, const Source *s, const attn_tensor *memory,
                       const attn_tensor *state, int k, int64_t max_len, int64_t bos, int64_t *tokens,
                       double *score) {
    int64_t n = s->n, S = s->S, H = state->shape[1], B = n * k;
    /* Each source's encoder outputs and mask, repeated for its k beams. */
    float *mem = xcalloc((size_t)(B * S * H), sizeof *mem), *h = xcalloc((size_t)(B * H), sizeof *h);
    uint8_t *mask = xcalloc((size_t)(B * S), 1);
    for (int64_t r = 0; r < B; r++) {
        memcpy(mem + r * S * H, (const float *)memory->data + r / k * S * H, (size_t)(S * H) * sizeof *mem);
        memcpy(h + r * H, (const float *)state->data + r / k * H, (size_t)H * sizeof *h);
        memcpy(mask + r * S, s->mask + r / k * S, (size_t)S);
    }
    int64_t *prev = xcalloc((size_t)B, sizeof *prev), *hist = xcalloc((size_t)(B * max_len), sizeof *hist);
    int64_t *next_hist = xcalloc((size_t)(B * max_len), sizeof *hist);
    double *beam = xcalloc((size_t)B, sizeof *beam), *next_beam = xcalloc((size_t)B, sizeof *beam);
    for (int64_t r = 0; r < B; r++) {
        prev[r] = bos;
        /* All k beams start equal: only beam 0 is extended at the first step. */
        beam[r] = r % k == 0 ? 0.0 : -INFINITY;
    }
    attn_tensor in[4] = {
        {.name = "prev_token", .dtype = ATTN_I64, .rank = 1, .shape = {B}, .data = prev},
        {.name = "state", .dtype = ATTN_F32, .rank = 2, .shape = {B, H}, .data = h},
        {.name = "memory", .dtype = ATTN_F32, .rank = 3, .shape = {B, S, H}, .data = mem},
        {.name = "src_mask", .dtype = ATTN_BOOL, .rank = 2, .shape = {B, S}, .data = mask},
    };
    double *logp = NULL;
    int rc = 0;
    for (int64_t t = 0; t < max_len && rc == 0; t++) {
        attn_tensor *out;
        int nout;
        if (run(step, in, 4, &out, &nout)) { /* logits [B, V], state [B, H], attention [B, S] */
            rc = -1;
            break;
        }
        const float *logits = out[0].data, *new_h = out[1].data;
        int64_t V = out[0].shape[1];
        if (k > V) {
            fprintf(stderr, "beam_search: beam width %d exceeds the %lld target tokens\n", k, (long long)V);
            attn_tensors_free(out, nout);
            rc = -1;
            break;
        }
        if (!logp)
            logp = xcalloc((size_t)(B * V), sizeof *logp);
        /* log_softmax(logits) = logits - logsumexp(logits), in double. */
        for (int64_t r = 0; r < B; r++) {
            const float *x = logits + r * V;
            double mx = x[0], sum = 0;
            for (int64_t v = 1; v < V; v++)
                mx = x[v] > mx ? x[v] : mx;
            for (int64_t v = 0; v < V; v++)
                sum += exp(x[v] - mx);
            for (int64_t v = 0; v < V; v++)
                logp[r * V + v] = beam[r] + (x[v] - mx - log(sum));
        }
        /* Per source, the k best (beam, token) pairs: k passes of a max over k·V
         * candidates, the first one winning ties (so k = 1 is an argmax). */
        for (int64_t i = 0; i < n && rc == 0; i++) {
            double *cand = logp + i * k * V;
            for (int j = 0; j < k && rc == 0; j++) {
                int64_t best = -1;
                for (int64_t c = 0; c < k * V; c++)
                    if (cand[c] > -INFINITY && (best < 0 || cand[c] > cand[best]))
                        best = c;
                if (best < 0) { /* only NaN logits left */
                    fprintf(stderr, "beam_search: no finite log-probability at step %lld\n", (long long)t);
                    rc = -1;
                    break;
                }
                int64_t r = i * k + j, parent = i * k + best / V;
                next_beam[r] = cand[best];
                cand[best] = -INFINITY; /* taken */
                memcpy(next_hist + r * max_len, hist + parent * max_len, (size_t)t * sizeof *hist);
                next_hist[r * max_len + t] = best % V;
                prev[r] = best % V;
                memcpy(h + r * H, new_h + parent * H, (size_t)H * sizeof *h);
            }
        }
        if (rc) {
            attn_tensors_free(out, nout);
            break;
        }
        memcpy(beam, next_beam, (size_t)B * sizeof *beam);
        memcpy(hist, next_hist, (size_t)(B * max_len) * sizeof *hist);
        attn_tensors_free(out, nout);
    }
    /* Beam 0 of each source is its best: the beams are kept in descending order. */
    for (int64_t i = 0; i < n && rc == 0; i++) {
        memcpy(tokens + i * max_len, hist + i * k * max_len, (size_t)max_len * sizeof *tokens);
        score[i] = beam[i * k];
    }
    free(mem);
    free(h);
    free(mask);
    free(prev);
    free(hist);
    free(next_hist);
    free(beam);
    free(next_beam);
    free(logp);
    return rc;
}

static void print_text(const Vocab *v, const int64_t *ids, int64_t n) {
    printf("  \"");
    for (int64_t i = 0; i < n; i++) {
        int64_t c = ids[i] - v->tgt_offset;
        putchar(c >= 0 && c < (int64_t)strlen(v->tgt_chars) ? v->tgt_chars[c] : '?');
    }
    printf("\"");
}

static int usage(void) {
    fprintf(stderr, "usage: beam_search MODELS_DIR K [--weights W.safetensors] [--inputs IN.safetensors]\n"
                    "                   [--set NAME=VALUE]... [--max-len N] [--vocab VOCAB.txt] [--text TEXT]...\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 3)
        return usage();
    char *end;
    long kl = strtol(argv[2], &end, 10);
    if (*end || kl < 1 || kl > 1000) {
        fprintf(stderr, "beam_search: beam width K must be an integer from 1 to 1000, not '%s'\n", argv[2]);
        return 2;
    }
    int k = (int)kl;
    char model_path[4096], weights_def[4096], inputs_def[4096];
    snprintf(model_path, sizeof model_path, "%s/seq2seq_attention.attn", argv[1]);
    snprintf(weights_def, sizeof weights_def, "%s/../tests/golden/fixtures/s2s_greedy/weights.safetensors", argv[1]);
    snprintf(inputs_def, sizeof inputs_def, "%s/../tests/golden/fixtures/s2s_greedy/inputs.safetensors", argv[1]);
    const char *weights = weights_def, *inputs = NULL, *vocab_path = NULL, *texts[MAX_TEXTS];
    int ntexts = 0, bos_set = 0;
    long long max_len = -1, bos = 1; /* the model's default bos */

    /* 1. The model: hyperparameters (before load), source, weights. */
    attn_model *m = attn_model_new();
    if (!m)
        return 1;
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!val) {
            attn_model_free(m);
            return usage();
        }
        i++;
        if (!strcmp(a, "--weights"))
            weights = val;
        else if (!strcmp(a, "--inputs"))
            inputs = val;
        else if (!strcmp(a, "--vocab"))
            vocab_path = val;
        else if (!strcmp(a, "--text") && ntexts < MAX_TEXTS)
            texts[ntexts++] = val;
        else if (!strcmp(a, "--max-len") && (max_len = strtoll(val, &end, 10)) > 0 && !*end)
            ;
        else if (!strcmp(a, "--set") || !strcmp(a, "-s")) {
            char name[256];
            const char *eq = strchr(val, '=');
            if (!eq || eq == val || (size_t)(eq - val) >= sizeof name) {
                fprintf(stderr, "beam_search: --set wants NAME=VALUE, not '%s'\n", val);
                attn_model_free(m);
                return 2;
            }
            snprintf(name, sizeof name, "%.*s", (int)(eq - val), val);
            if (attn_model_set(m, name, eq + 1)) {
                fprintf(stderr, "%s", attn_model_errors(m));
                attn_model_free(m);
                return 2;
            }
            if (!strcmp(name, "bos")) {
                bos = strtoll(eq + 1, NULL, 10);
                bos_set = 1;
            }
        } else {
            attn_model_free(m);
            return usage();
        }
    }
    Vocab vocab;
    if (vocab_path && read_vocab(vocab_path, &vocab)) {
        attn_model_free(m);
        return 1;
    }
    if (vocab_path && vocab.bos >= 0 && !bos_set) {
        char val[32];
        snprintf(val, sizeof val, "%lld", vocab.bos);
        attn_model_set(m, "bos", val); /* the C search and `greedy` must start alike */
        bos = vocab.bos;
    }
    Source src = {0};
    if (ntexts > 0) {
        if (!vocab_path || !vocab.src_chars[0]) {
            fprintf(stderr, "beam_search: --text needs a --vocab with a line src_chars \"...\"\n");
            attn_model_free(m);
            return 2;
        }
        encode_texts(&vocab, texts, ntexts, &src);
    } else if (read_inputs(inputs ? inputs : inputs_def, &src, &max_len)) {
        attn_model_free(m);
        return 1;
    }
    if (max_len < 0 && vocab_path)
        max_len = vocab.max_len;
    if (max_len < 1) {
        fprintf(stderr, "beam_search: give the number of steps with --max-len N\n");
        attn_model_free(m);
        free(src.src);
        free(src.mask);
        return 2;
    }

    /* 2. Compile the three entries once; the programs outlive the model. */
    attn_program *encode = NULL, *step = NULL, *greedy = NULL;
    if (attn_model_load(m, model_path) || attn_model_bind_weights(m, weights) ||
        attn_model_compile(m, "encode", NULL, &encode) || attn_model_compile(m, "decode_step", NULL, &step) ||
        attn_model_compile(m, "greedy", NULL, &greedy)) {
        fprintf(stderr, "%s", attn_model_errors(m));
        attn_model_free(m);
        attn_program_free(encode);
        attn_program_free(step);
        free(src.src);
        free(src.mask);
        return 1;
    }
    attn_model_free(m);

    /* 3. Encode once: memory [n, S, H], state [n, H]. */
    attn_tensor src_in[3] = {
        {.name = "src", .dtype = ATTN_I64, .rank = 2, .shape = {src.n, src.S}, .data = src.src},
        {.name = "src_mask", .dtype = ATTN_BOOL, .rank = 2, .shape = {src.n, src.S}, .data = src.mask},
        {.name = "max_len", .dtype = ATTN_I64, .rank = 1, .shape = {max_len}, .data = NULL},
    };
    int64_t *zeros = xcalloc((size_t)max_len, sizeof *zeros);
    src_in[2].data = zeros;
    int64_t *best = xcalloc((size_t)(src.n * max_len), sizeof *best);
    int64_t *best1 = xcalloc((size_t)(src.n * max_len), sizeof *best1);
    double *score = xcalloc((size_t)src.n, sizeof *score);
    attn_tensor *enc = NULL, *gr = NULL;
    int nenc = 0, ngr = 0, rc = 1;
    if (run(encode, src_in, 2, &enc, &nenc) == 0 &&
        /* 4. Beam search of width 1 (for the comparison) and of width k. */
        beam_search(step, &src, &enc[0], &enc[1], 1, max_len, bos, best1, score) == 0 &&
        beam_search(step, &src, &enc[0], &enc[1], k, max_len, bos, best, score) == 0 &&
        /* 5. The model's own greedy loop: tokens [n, max_len]. */
        run(greedy, src_in, 3, &gr, &ngr) == 0) {
        printf("beam width %d, %lld sources, %lld steps from bos = %lld\n", k, (long long)src.n, max_len, bos);
        for (int64_t i = 0; i < src.n; i++) {
            if (ntexts)
                printf("%s\n", texts[i]);
            printf("%lld: tokens", (long long)i);
            for (int64_t t = 0; t < max_len; t++)
                printf(" %lld", (long long)best[i * max_len + t]);
            printf("  log p = %.6f", score[i]);
            if (vocab_path)
                print_text(&vocab, best + i * max_len, max_len);
            printf("\n");
        }
        const int64_t *g = gr[0].data;
        int same = memcmp(g, best1, (size_t)(src.n * max_len) * sizeof *g) == 0;
        printf("beam 1 == greedy: %s\n", same ? "yes" : "no");
        rc = !same;
    }
    attn_tensors_free(enc, nenc);
    attn_tensors_free(gr, ngr);
    free(zeros);
    free(best);
    free(best1);
    free(score);
    free(src.src);
    free(src.mask);
    attn_program_free(encode);
    attn_program_free(step);
    attn_program_free(greedy);
    return rc;
}
