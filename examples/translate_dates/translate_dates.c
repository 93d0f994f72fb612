/*
 * translate_dates.c — human-readable dates to ISO 8601 with a seq2seq model
 * with attention, and where it looked: the attention alignment as a heatmap.
 *
 *     translate_dates [--dir DIR] [--models DIR] [--svg FILE] [--no-heatmap]
 *                     [--weights-dtype f32|bf16|int8] [DATE]...
 *
 * The model is models/seq2seq_attention.attn with the weights train.py wrote
 * (DIR/weights.safetensors); DIR/vocab.txt gives its hyperparameters and the
 * character vocabularies. The `greedy` entry point is compiled once and run
 * once per date (a batch of one, so no padding): it returns the 10 output
 * characters and, for each, the attention weights over the input characters.
 * Dates come from the arguments, else one per line from stdin. For each date
 * it prints "DATE -> YYYY-MM-DD" and the alignment (output characters down,
 * input characters across; coloured when stdout is a terminal). --svg FILE
 * also writes the alignment of the first date to FILE as an SVG image, and of
 * the n-th date (n >= 2) to FILE with "-n" before its extension.
 * --weights-dtype stores the products' weights in bf16 or int8 instead of f32
 * (docs/PRECISION.md).
 *
 * Exit status: 0 success, 1 a missing or bad file, 2 a usage error.
 */
#include <attn/attn.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef TRANSLATE_DATES_DIR
#define TRANSLATE_DATES_DIR "examples/translate_dates"
#endif
#ifndef ATTN_MODELS_DIR
#define ATTN_MODELS_DIR "models"
#endif

enum { MAX_CHARS = 256, MAX_INPUT = 200, MAX_OUT = 64 };

/* What vocab.txt says. */
typedef struct {
    int vocab_src, vocab_tgt, embed_dim, hidden_size, attn_size, bos, max_len;
    int src_pad, src_unk;
    char src_chars[MAX_CHARS], tgt_chars[MAX_CHARS]; /* ids 2, 3, ... */
} Vocab;

/* One input character: its UTF-8 bytes (for the label) and its id. */
typedef struct {
    char text[8];
    long long id;
} InChar;

/* ---- vocab.txt ----------------------------------------------------------- */

/* Reads `key "characters"`: the text between the first and the last quote. */
static int read_chars(const char *rest, char *out, const char *path, int line)
{
    const char *a = strchr(rest, '"'), *b = strrchr(rest, '"');
    if (!a || b == a || (size_t)(b - a - 1) >= MAX_CHARS) {
        fprintf(stderr, "%s:%d: expected a quoted string of at most %d characters\n", path, line,
                MAX_CHARS - 1);
        return -1;
    }
    memcpy(out, a + 1, (size_t)(b - a - 1));
    out[b - a - 1] = '\0';
    return 0;
}

static int load_vocab(const char *path, Vocab *v)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s: %s (run train.py first)\n", path, strerror(errno));
        return -1;
    }
    memset(v, 0, sizeof *v);
    v->vocab_src = v->vocab_tgt = v->max_len = v->src_unk = -1;
    struct {
        const char *key;
        int *val;
    } ints[] = {
        {"vocab_src", &v->vocab_src}, {"vocab_tgt", &v->vocab_tgt},
        {"embed_dim", &v->embed_dim}, {"hidden_size", &v->hidden_size},
        {"attn_size", &v->attn_size}, {"bos", &v->bos},
        {"max_len", &v->max_len},     {"src_pad", &v->src_pad},
        {"src_unk", &v->src_unk},
    };
    char buf[1024];
    int line = 0, rc = 0;
    while (rc == 0 && fgets(buf, sizeof buf, f)) {
        line++;
        buf[strcspn(buf, "\r\n")] = '\0';
        if (buf[0] == '#' || buf[0] == '\0')
            continue;
        char key[64];
        int n = 0;
        if (sscanf(buf, "%63s %n", key, &n) != 1) {
            fprintf(stderr, "%s:%d: expected KEY VALUE\n", path, line);
            rc = -1;
        } else if (!strcmp(key, "src_chars")) {
            rc = read_chars(buf + n, v->src_chars, path, line);
        } else if (!strcmp(key, "tgt_chars")) {
            rc = read_chars(buf + n, v->tgt_chars, path, line);
        } else {
            size_t i = 0;
            while (i < sizeof ints / sizeof ints[0] && strcmp(ints[i].key, key))
                i++;
            char *end;
            long val = strtol(buf + n, &end, 10);
            if (i == sizeof ints / sizeof ints[0] || end == buf + n || *end || val < 0 ||
                val > 1000000) {
                fprintf(stderr, "%s:%d: unexpected line '%s'\n", path, line, buf);
                rc = -1;
            } else {
                *ints[i].val = (int)val;
            }
        }
    }
    fclose(f);
    if (rc == 0 && (v->max_len <= 0 || v->max_len > MAX_OUT || v->src_unk < 0 || !v->src_chars[0] ||
                    !v->tgt_chars[0])) {
        fprintf(stderr, "%s: needs max_len (1..%d), src_unk, src_chars and tgt_chars\n", path,
                MAX_OUT);
        rc = -1;
    }
    return rc;
}

/* ---- the model ----------------------------------------------------------- */

static attn_program *compile_greedy(const char *models, const char *dir, const Vocab *v,
                                    attn_weights_dtype weights_dtype)
{
    char path[4096], weights[4096], num[32];
    snprintf(path, sizeof path, "%s/seq2seq_attention.attn", models);
    snprintf(weights, sizeof weights, "%s/weights.safetensors", dir);
    attn_model *m = attn_model_new();
    if (!m) {
        fputs("out of memory\n", stderr);
        return NULL;
    }
    const struct {
        const char *name;
        int val;
    } hyper[] = {{"vocab_src", v->vocab_src}, {"vocab_tgt", v->vocab_tgt},
                 {"embed_dim", v->embed_dim}, {"hidden_size", v->hidden_size},
                 {"attn_size", v->attn_size}, {"bos", v->bos}};
    attn_status s = ATTN_OK;
    for (size_t i = 0; s == ATTN_OK && i < sizeof hyper / sizeof hyper[0]; i++) {
        if (hyper[i].val <= 0 && strcmp(hyper[i].name, "bos"))
            continue; /* not in vocab.txt: solved from the weights */
        snprintf(num, sizeof num, "%d", hyper[i].val);
        s = attn_model_set(m, hyper[i].name, num);
    }
    attn_program *p = NULL;
    attn_compile_options opt = {.weights_dtype = weights_dtype};
    if (s != ATTN_OK || attn_model_load(m, path) || attn_model_bind_weights(m, weights) ||
        attn_model_compile(m, "greedy", &opt, &p)) {
        fprintf(stderr, "%s", attn_model_errors(m));
        p = NULL;
    }
    attn_model_free(m);
    return p;
}

/* Splits `date` into characters (UTF-8 sequences; a stray byte is one) with
 * their source ids. Returns the count. */
static int encode(const char *date, const Vocab *v, InChar *out)
{
    int n = 0;
    const unsigned char *p = (const unsigned char *)date;
    while (*p && n < MAX_INPUT) {
        int k = 1;
        if (*p >= 0xC0)
            while (k < 4 && (p[k] & 0xC0) == 0x80)
                k++;
        memcpy(out[n].text, p, (size_t)k);
        out[n].text[k] = '\0';
        const char *hit = k == 1 && *p ? strchr(v->src_chars, *p) : NULL;
        out[n].id = hit ? 2 + (hit - v->src_chars) : v->src_unk;
        if (!strcmp(out[n].text, " "))
            strcpy(out[n].text, "\u2423"); /* a visible space: ␣ */
        p += k;
        n++;
    }
    return n;
}

/* FILE for the first date, FILE with "-n" before the extension for the n-th. */
static void svg_name(char *buf, size_t len, const char *svg, int n)
{
    if (n == 1) {
        snprintf(buf, len, "%s", svg);
        return;
    }
    const char *dot = strrchr(svg, '.');
    const char *slash = strrchr(svg, '/');
    if (!dot || (slash && dot < slash))
        dot = svg + strlen(svg);
    snprintf(buf, len, "%.*s-%d%s", (int)(dot - svg), svg, n, dot);
}

typedef struct {
    const attn_program *p;
    const Vocab *v;
    const char *svg;
    int heatmap, color, count;
} Ctx;

/* Translates one date and shows its alignment; returns 0 or 1. */
static int translate(Ctx *c, const char *date)
{
    const Vocab *v = c->v;
    static InChar chars[MAX_INPUT];
    int S = encode(date, v, chars);
    if (S == 0)
        return 0;
    c->count++;
    long long src[MAX_INPUT], max_len[MAX_OUT] = {0};
    unsigned char mask[MAX_INPUT] = {0}; /* no padding in a batch of one */
    for (int i = 0; i < S; i++)
        src[i] = chars[i].id;
    attn_tensor in[3] = {
        {.name = "src", .dtype = ATTN_I64, .rank = 2, .shape = {1, S}, .data = src},
        {.name = "src_mask", .dtype = ATTN_BOOL, .rank = 2, .shape = {1, S}, .data = mask},
        {.name = "max_len", .dtype = ATTN_I64, .rank = 1, .shape = {v->max_len}, .data = max_len},
    };
    attn_tensor *out;
    int nout;
    char *err = NULL;
    if (attn_program_run(c->p, in, 3, &out, &nout, &err)) {
        fprintf(stderr, "%s: %s\n", date, err ? err : "run failed");
        attn_string_free(err);
        return 1;
    }
    const long long *tokens = out[0].data; /* [1, max_len] */
    const float *attention = out[1].data;  /* [1, max_len, S] */
    int M = (int)out[0].shape[1];
    char iso[MAX_OUT + 1], rows[MAX_OUT][2];
    const char *row_labels[MAX_OUT], *col_labels[MAX_INPUT];
    size_t ntgt = strlen(v->tgt_chars);
    for (int t = 0; t < M; t++) {
        long long id = tokens[t];
        iso[t] = id >= 2 && (size_t)(id - 2) < ntgt ? v->tgt_chars[id - 2] : '?';
        rows[t][0] = iso[t];
        rows[t][1] = '\0';
        row_labels[t] = rows[t];
    }
    iso[M] = '\0';
    for (int i = 0; i < S; i++)
        col_labels[i] = chars[i].text;
    printf("%s -> %s\n", date, iso);
    int rc = 0;
    if (c->heatmap) {
        if (attn_heatmap_text(stdout, attention, M, S, row_labels, col_labels, c->color, &err) != ATTN_OK) {
            fprintf(stderr, "%s\n", err ? err : "error: out of memory");
            rc = 1;
        }
        attn_string_free(err);
        putchar('\n');
    }
    if (c->svg) {
        char name[4200];
        svg_name(name, sizeof name, c->svg, c->count);
        if (attn_heatmap_svg(name, attention, M, S, row_labels, col_labels, &err) != ATTN_OK) {
            fprintf(stderr, "%s\n", err ? err : "error: out of memory");
            rc = 1;
        }
        attn_string_free(err);
    }
    fflush(stdout);
    attn_tensors_free(out, nout);
    return rc;
}

static int usage(const char *msg)
{
    if (msg)
        fprintf(stderr, "translate_dates: %s\n", msg);
    fputs("usage: translate_dates [--dir DIR] [--models DIR] [--svg FILE] [--no-heatmap] "
          "[--weights-dtype f32|bf16|int8] [DATE]...\n",
          stderr);
    return 2;
}

int main(int argc, char **argv)
{
    const char *dir = TRANSLATE_DATES_DIR, *models = ATTN_MODELS_DIR, *svg = NULL;
    int heatmap = 1, first = argc;
    attn_weights_dtype weights_dtype = ATTN_WEIGHTS_F32;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            first = i + 1;
            break;
        }
        if (a[0] != '-' || !a[1]) {
            first = i;
            break;
        }
        if (!strcmp(a, "--no-heatmap")) {
            heatmap = 0;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(NULL);
            return 0;
        } else if (!strcmp(a, "--weights-dtype")) {
            if (i + 1 == argc)
                return usage("option needs a value");
            const char *name = argv[++i];
            weights_dtype = ATTN_WEIGHTS_F32;
            while (weights_dtype <= ATTN_WEIGHTS_INT8 && strcmp(name, attn_weights_dtype_name(weights_dtype)))
                weights_dtype++;
            if (weights_dtype > ATTN_WEIGHTS_INT8)
                return usage("--weights-dtype needs f32, bf16 or int8");
        } else if (!strcmp(a, "--dir") || !strcmp(a, "--models") || !strcmp(a, "--svg")) {
            if (i + 1 == argc)
                return usage("option needs a value");
            const char **dst = a[2] == 'd' ? &dir : a[2] == 'm' ? &models : &svg;
            *dst = argv[++i];
        } else {
            fprintf(stderr, "translate_dates: unknown option '%s'\n", a);
            return usage(NULL);
        }
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    Vocab v;
    if (load_vocab(path, &v))
        return 1;
    attn_program *p = compile_greedy(models, dir, &v, weights_dtype);
    if (!p)
        return 1;
    const char *no_color = getenv("NO_COLOR");
    Ctx c = {.p = p, .v = &v, .svg = svg, .heatmap = heatmap,
             .color = isatty(STDOUT_FILENO) && !(no_color && *no_color)};
    int rc = 0;
    if (first < argc) {
        for (int i = first; i < argc; i++)
            rc |= translate(&c, argv[i]);
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, stdin)) > 0) {
            line[strcspn(line, "\r\n")] = '\0';
            rc |= translate(&c, line);
        }
        free(line);
    }
    attn_program_free(p);
    return rc;
}
