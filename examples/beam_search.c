/*
 * beam_search.c — beam search in C over the `decode_step` entry of a
 * sequence-to-sequence model, using the in-process API step by step. Two models:
 * models/seq2seq_attention.attn (GRU encoder, GRU-cell decoder with Bahdanau
 * attention; --model seq2seq, the default), whose decoder state is one vector
 * per sequence, and models/transformer.attn (nn.Transformer; --model
 * transformer), whose decoder state is every layer's self-attention key/value
 * cache, growing by one token per step:
 *
 *   1. load the model and bind its weights once;
 *   2. compile the entries `encode`, `decode_step` and `greedy` once each;
 *   3. run `encode` once on the source batch;
 *   4. for each of exactly max_len steps (there is no end-of-sequence token),
 *      run `decode_step` on all beams at once — batch B = k·batch, row i·k + j
 *      being beam j of source i — take the log-softmax of the logits in C and
 *      keep, per source, the k (beam, token) extensions with the largest summed
 *      log-probabilities; the decoder states that decode_step returned (the GRU
 *      state, or the caches) are reordered so that each kept beam continues
 *      from its parent's;
 *   5. print each source's best sequence, and check that beam width 1 gives
 *      the same tokens as the model's own `greedy` entry.
 *
 *     beam_search MODELS_DIR K [--model seq2seq|transformer] [--weights W.safetensors]
 *                 [--inputs IN.safetensors] [--set NAME=VALUE]... [--max-len N]
 *                 [--vocab VOCAB.txt] [--text TEXT]...
 *
 * Defaults: the weights and inputs of the golden case s2s_greedy
 * (MODELS_DIR/../tests/golden/fixtures/s2s_greedy/), whose max_len input has 5
 * entries, so 5 steps; with --model transformer those of transformer_greedy
 * (6 steps), which needs --set num_encoder_layers=2 --set num_decoder_layers=2
 * --set nhead=4 --set dim_feedforward=24 (not seen from the weights' shapes). The inputs file holds src i64[B, S] and src_mask
 * bool[B, S] (true = padding), and optionally max_len i64[M] (only M is used).
 * seq2seq_attention.attn's hyperparameters other than bos are solved from the
 * weights' shapes.
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

/* A tensor's rows along `axis`: outer blocks before it, inner elements after it. */
static void rows_layout(const attn_tensor *t, int axis, int64_t *outer, int64_t *inner) {
    *outer = *inner = 1;
    for (int d = 0; d < axis; d++)
        *outer *= t->shape[d];
    for (int d = axis + 1; d < t->rank; d++)
        *inner *= t->shape[d];
}

/*
 * dst gets t's rows along `axis` in the order rows[0..n): row r of dst is row
 * rows[r] of t. dst takes t's name, dtype and rank, and owns new data.
 */
static void gather_rows(const attn_tensor *t, int axis, const int64_t *rows, int64_t n, attn_tensor *dst) {
    int64_t outer, inner, m = t->shape[axis];
    rows_layout(t, axis, &outer, &inner);
    size_t esize = attn_dtype_size(t->dtype), row_bytes = (size_t)inner * esize;
    *dst = *t;
    dst->shape[axis] = n;
    dst->data = xcalloc((size_t)(outer * n * inner), esize);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t r = 0; r < n; r++)
            memcpy((char *)dst->data + (size_t)(o * n + r) * row_bytes,
                   (const char *)t->data + (size_t)(o * m + rows[r]) * row_bytes, row_bytes);
}

/*
 * The inputs of a model's decode_step besides the previous token, with their
 * beam rows along `axis` (row i·k + j is beam j of source i). A constant input
 * (from_output < 0: the source's memory, its mask) is the same for every beam of
 * a source; a state is replaced after each step by output `from_output`, its
 * rows reordered so that each beam continues from its parent's: the GRU state of
 * seq2seq_attention.attn, the key/value caches of every layer of transformer.attn.
 */
typedef struct {
    attn_tensor t;   /* owns t.data */
    int axis;        /* the beam axis */
    int from_output; /* decode_step's output that replaces it, or -1 */
} StepInput;

#define MAX_STEP_INPUTS 8

typedef struct {
    const char *token; /* the name of the previous-token input */
    StepInput in[MAX_STEP_INPUTS];
    int n;
} StepInputs;

/* Adds `t` (borrowed) with its rows for source i repeated k times. */
static void add_input(StepInputs *s, const char *name, const attn_tensor *t, int axis, int k, int from_output) {
    StepInput *in = &s->in[s->n++];
    int64_t m = t->shape[axis], *rows = xcalloc((size_t)(m * k), sizeof *rows);
    for (int64_t r = 0; r < m * k; r++)
        rows[r] = r / k;
    gather_rows(t, axis, rows, m * k, &in->t);
    in->t.name = name;
    in->axis = axis;
    in->from_output = from_output;
    free(rows);
}

static void free_inputs(StepInputs *s) {
    for (int i = 0; i < s->n; i++)
        free(s->in[i].t.data);
    s->n = 0;
}

/*
 * decode_step's inputs for k beams of each source, from `encode`'s outputs.
 * seq2seq_attention.attn: encode -> (memory [n, S, H], state [n, H]);
 *   decode_step(prev_token, state, memory, src_mask) -> (logits, state, attention).
 * transformer.attn: encode -> (memory, memory_keys, memory_values [L, n, heads, S, dh]);
 *   decode_step(token, memory_keys, memory_values, src_mask, self_keys, self_values)
 *   -> (logits, self_keys, self_values), the self-attention caches [L, B, heads, T, dh]
 *   starting empty (T = 0) and growing by one token per step.
 */
static void step_inputs(int transformer, const attn_tensor *enc, const Source *s, int k, StepInputs *in) {
    attn_tensor mask = {.dtype = ATTN_BOOL, .rank = 2, .shape = {s->n, s->S}, .data = s->mask};
    in->n = 0;
    in->token = transformer ? "token" : "prev_token";
    if (!transformer) {
        add_input(in, "state", &enc[1], 0, k, 1);
        add_input(in, "memory", &enc[0], 0, k, -1);
        add_input(in, "src_mask", &mask, 0, k, -1);
        return;
    }
    add_input(in, "memory_keys", &enc[1], 1, k, -1);
    add_input(in, "memory_values", &enc[2], 1, k, -1);
    add_input(in, "src_mask", &mask, 0, k, -1);
    attn_tensor empty = enc[1]; /* [L, n, heads, 0, dh] */
    empty.shape[3] = 0;
    add_input(in, "self_keys", &empty, 1, k, 1);
    add_input(in, "self_values", &empty, 1, k, 2);
}

/* Each state input replaced by its output's rows in the order parent[0..B). */
static void next_states(StepInputs *in, const attn_tensor *out, const int64_t *parent, int64_t B) {
    for (int i = 0; i < in->n; i++) {
        StepInput *x = &in->in[i];
        if (x->from_output < 0)
            continue;
        const char *name = x->t.name;
        free(x->t.data);
        gather_rows(&out[x->from_output], x->axis, parent, B, &x->t);
        x->t.name = name;
    }
}

/*
 * Beam search of width k for the n sources, max_len steps from token bos, over
 * decode_step with the inputs `in` (built for k beams by step_inputs). Writes
 * the best sequence of each source to tokens [n, max_len] and its summed
 * log-probability to score[n].
 */
static int beam_search(const attn_program *step, int64_t n, StepInputs *in, int k, int64_t max_len, int64_t bos,
                       int64_t *tokens, double *score) {
    int64_t B = n * k;
    int64_t *prev = xcalloc((size_t)B, sizeof *prev), *hist = xcalloc((size_t)(B * max_len), sizeof *hist);
    int64_t *next_hist = xcalloc((size_t)(B * max_len), sizeof *hist), *parent = xcalloc((size_t)B, sizeof *parent);
    double *beam = xcalloc((size_t)B, sizeof *beam), *next_beam = xcalloc((size_t)B, sizeof *beam);
    for (int64_t r = 0; r < B; r++) {
        prev[r] = bos;
        /* All k beams start equal: only beam 0 is extended at the first step. */
        beam[r] = r % k == 0 ? 0.0 : -INFINITY;
    }
    attn_tensor args[MAX_STEP_INPUTS + 1];
    double *logp = NULL;
    int rc = 0;
    for (int64_t t = 0; t < max_len && rc == 0; t++) {
        args[0] = (attn_tensor){.name = in->token, .dtype = ATTN_I64, .rank = 1,
                                .shape = {B}, .data = prev};
        for (int i = 0; i < in->n; i++)
            args[i + 1] = in->in[i].t;
        attn_tensor *out;
        int nout;
        if (run(step, args, in->n + 1, &out, &nout)) { /* logits [B, V], then the states */
            rc = -1;
            break;
        }
        const float *logits = out[0].data;
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
                int64_t r = i * k + j;
                parent[r] = i * k + best / V;
                next_beam[r] = cand[best];
                cand[best] = -INFINITY; /* taken */
                memcpy(next_hist + r * max_len, hist + parent[r] * max_len, (size_t)t * sizeof *hist);
                next_hist[r * max_len + t] = best % V;
                prev[r] = best % V;
            }
        }
        if (rc == 0)
            next_states(in, out, parent, B);
        attn_tensors_free(out, nout);
        memcpy(beam, next_beam, (size_t)B * sizeof *beam);
        memcpy(hist, next_hist, (size_t)(B * max_len) * sizeof *hist);
    }
    /* Beam 0 of each source is its best: the beams are kept in descending order. */
    for (int64_t i = 0; i < n && rc == 0; i++) {
        memcpy(tokens + i * max_len, hist + i * k * max_len, (size_t)max_len * sizeof *tokens);
        score[i] = beam[i * k];
    }
    free(prev);
    free(hist);
    free(next_hist);
    free(parent);
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
    fprintf(stderr, "usage: beam_search MODELS_DIR K [--model seq2seq|transformer] [--weights W.safetensors]\n"
                    "                   [--inputs IN.safetensors] [--set NAME=VALUE]... [--max-len N]\n"
                    "                   [--vocab VOCAB.txt] [--text TEXT]...\n");
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
    /* --model picks the model file and the default fixture before the other options. */
    int transformer = 0;
    for (int i = 3; i + 1 < argc; i += 2)
        if (!strcmp(argv[i], "--model")) {
            transformer = !strcmp(argv[i + 1], "transformer");
            if (!transformer && strcmp(argv[i + 1], "seq2seq")) {
                fprintf(stderr, "beam_search: --model is seq2seq or transformer, not '%s'\n", argv[i + 1]);
                return 2;
            }
        }
    const char *fixture = transformer ? "transformer_greedy" : "s2s_greedy";
    char model_path[4096], weights_def[4096], inputs_def[4096];
    snprintf(model_path, sizeof model_path, "%s/%s", argv[1], transformer ? "transformer.attn" : "seq2seq_attention.attn");
    snprintf(weights_def, sizeof weights_def, "%s/../tests/golden/fixtures/%s/weights.safetensors", argv[1], fixture);
    snprintf(inputs_def, sizeof inputs_def, "%s/../tests/golden/fixtures/%s/inputs.safetensors", argv[1], fixture);
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
        if (!strcmp(a, "--model"))
            ; /* read above */
        else if (!strcmp(a, "--weights"))
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

    /* 3. Encode once (see step_inputs for each model's outputs). */
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
    StepInputs in1 = {0}, ink = {0};
    if (run(encode, src_in, 2, &enc, &nenc) == 0) {
        step_inputs(transformer, enc, &src, 1, &in1);
        step_inputs(transformer, enc, &src, k, &ink);
    }
    if (nenc > 0 &&
        /* 4. Beam search of width 1 (for the comparison) and of width k. */
        beam_search(step, src.n, &in1, 1, max_len, bos, best1, score) == 0 &&
        beam_search(step, src.n, &ink, k, max_len, bos, best, score) == 0 &&
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
    free_inputs(&in1);
    free_inputs(&ink);
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
