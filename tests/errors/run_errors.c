/*
 * run_errors.c — the diagnostics table: runs attnc on every bad input of
 * tests/errors/cases/ and checks what it says.
 *
 *     error_table SRCDIR ATTNC [CASE]...
 *
 * Each case is a file tests/errors/cases/NAME.attn whose leading comment lines
 * state the expectation:
 *
 *     # expect-exit: 1                         exit status (default 1)
 *     # expect: NAME.attn:7:12: error: matmul  a substring stderr must contain
 *     # expect-not: internal error             a substring stderr must not contain
 *     # expect-once: note: in this call        a substring stderr contains exactly once
 *     # args: check {model} --set H=4          attnc's arguments (default: check {model})
 *
 * Any number of expect, expect-not and expect-once lines may be given, at
 * least one expect or expect-once.
 * In args, {model} is the case file itself, {tmp} the scratch directory holding
 * the files this program generates (see gen_files: crafted weights and inputs
 * derived from the golden fixtures, and sources that cannot be committed as
 * text), and {fixtures} is tests/golden/fixtures. attnc runs in SRCDIR, so the
 * paths in its messages are relative to it ("tests/errors/cases/NAME.attn").
 *
 * Every case also fails when attnc is killed by a signal (a crash), runs longer
 * than CASE_TIMEOUT_S seconds (a hang), says nothing on stderr, or reports an
 * internal error. One line per case, then "N passed, M failed"; the exit status
 * is non-zero when any case failed. With CASE arguments only those cases run.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attn_limits.h"
#include "gen_onnx.h"
#include "safetensors.h"

#define CASES_DIR "tests/errors/cases"
#define FIXTURES_DIR "tests/golden/fixtures"
#define CASE_TIMEOUT_S 10
#define MAX_ARGS 64
#define MAX_EXPECTS 32

/* ---- generated files ----------------------------------------------------- */

/* A tensor set in memory: what gen_files edits and writes. */
typedef struct {
    attn_tensor t[32];
    int n;
} TensorSet;

/* Frees the tensors' data and names (strdup'd by ts_load and ts_put). */
static void ts_free(TensorSet *s)
{
    for (int i = 0; i < s->n; i++) {
        free(s->t[i].data);
        free((char *)s->t[i].name);
    }
    s->n = 0;
}

/* Reads a golden fixture file (F32, BOOL and I64 tensors) into s. */
static int ts_load(TensorSet *s, const char *path)
{
    char err[512];
    StFile *f = st_open(path, err, sizeof err);
    if (!f) {
        fprintf(stderr, "error_table: %s\n", err);
        return -1;
    }
    s->n = 0;
    int rc = 0;
    for (int i = 0; i < st_count(f) && s->n < 32 && !rc; i++) {
        const StTensor *st = st_tensor(f, i);
        attn_tensor *t = &s->t[s->n];
        attn_dtype dt = st->dtype == ST_BOOL ? ATTN_BOOL : st->dtype == ST_I64 ? ATTN_I64 : ATTN_F32;
        *t = (attn_tensor){.dtype = dt, .rank = st->rank};
        t->name = strdup(st->name);
        memcpy(t->shape, st->shape, sizeof t->shape);
        if (st_convert(st, t->dtype, &t->data, err, sizeof err) != 0) {
            fprintf(stderr, "error_table: %s: %s\n", path, err);
            rc = -1;
        } else
            s->n++;
    }
    st_close(f);
    return rc;
}

static attn_tensor *ts_find(TensorSet *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->t[i].name, name))
            return &s->t[i];
    return NULL;
}

static void ts_remove(TensorSet *s, const char *name)
{
    attn_tensor *t = ts_find(s, name);
    if (!t)
        return;
    free(t->data);
    free((char *)t->name);
    *t = s->t[--s->n];
}

/* Adds (or replaces) tensor `name`: zeros of dtype dt and the given shape. */
static void ts_put(TensorSet *s, const char *name, attn_dtype dt, int rank, const int64_t *shape)
{
    ts_remove(s, name);
    attn_tensor *t = &s->t[s->n++];
    *t = (attn_tensor){.name = strdup(name), .dtype = dt, .rank = rank};
    memcpy(t->shape, shape, sizeof(int64_t) * (size_t)rank);
    size_t bytes = (size_t)attn_tensor_numel(t) * attn_dtype_size(dt);
    t->data = calloc(bytes ? bytes : 1, 1);
}

/* Puts prefix before every tensor's name: a module's weights as a model that
 * holds it under that attribute names them. */
static int ts_prefix(TensorSet *s, const char *prefix)
{
    for (int i = 0; i < s->n; i++) {
        size_t n = strlen(prefix) + strlen(s->t[i].name) + 1;
        char *name = malloc(n);
        if (!name)
            return -1;
        snprintf(name, n, "%s%s", prefix, s->t[i].name);
        free((char *)s->t[i].name);
        s->t[i].name = name;
    }
    return 0;
}

static int ts_write(const TensorSet *s, const char *dir, const char *file)
{
    char path[PATH_MAX], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (st_write(path, s->t, s->n, err, sizeof err) == 0)
        return 0;
    fprintf(stderr, "error_table: %s\n", err);
    return -1;
}

/* Writes `len` bytes of `text` to dir/file. */
static int write_file(const char *dir, const char *file, const void *text, size_t len)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(text, 1, len, f) != len) {
        fprintf(stderr, "error_table: cannot write %s: %s\n", path, strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    return fclose(f);
}

/* A weights file declaring one U8 tensor "big" of 2^28 elements whose data
 * is a hole (the file is sparse): binding must refuse it as unexpected without
 * reading or widening it (to i64 that would be 2 GiB). */
static int write_sparse_weights(const char *dir, const char *file)
{
    static const char header[] = "{\"big\":{\"dtype\":\"U8\",\"shape\":[268435456],\"data_offsets\":[0,268435456]}}";
    const uint64_t n = sizeof header - 1;
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(n >> (8 * i));
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "wb");
    int rc = !f || fwrite(len, 1, 8, f) != 8 || fwrite(header, 1, n, f) != n ||
             ftruncate(fileno(f), (off_t)(8 + n + ((uint64_t)1 << 28))) != 0;
    if ((f && fclose(f) != 0) || rc) {
        fprintf(stderr, "error_table: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Weights of models/mha.attn (embed_dim=8, num_heads=2), each with one fault. */
static int gen_weights(const char *dir)
{
    const char *golden = FIXTURES_DIR "/mha_nopad/weights.safetensors";
    TensorSet s = {0};
    int rc = 0;

    if (ts_load(&s, golden))
        return -1;
    ts_remove(&s, "out_proj.bias");
    rc |= ts_write(&s, dir, "weights_missing.safetensors");
    ts_free(&s);

    rc |= ts_load(&s, golden);
    ts_put(&s, "out_proj.scale", ATTN_F32, 1, (int64_t[]){8});
    rc |= ts_write(&s, dir, "weights_extra.safetensors");
    ts_free(&s);

    /* one key with a scope too many, one misspelt */
    rc |= ts_load(&s, golden);
    ts_remove(&s, "out_proj.weight");
    ts_remove(&s, "out_proj.bias");
    ts_put(&s, "attn.out_proj.weight", ATTN_F32, 2, (int64_t[]){8, 8});
    ts_put(&s, "out_proj.bais", ATTN_F32, 1, (int64_t[]){8});
    rc |= ts_write(&s, dir, "weights_renamed.safetensors");
    ts_free(&s);

    rc |= ts_load(&s, golden);
    ts_put(&s, "out_proj.weight", ATTN_F32, 2, (int64_t[]){8, 7});
    rc |= ts_write(&s, dir, "weights_shape.safetensors");
    ts_free(&s);

    rc |= ts_load(&s, golden);
    ts_put(&s, "out_proj.bias", ATTN_I64, 1, (int64_t[]){8});
    rc |= ts_write(&s, dir, "weights_dtype.safetensors");
    ts_free(&s);

    /* a GPT-2 block's weights as the whole model names its first block */
    rc |= ts_load(&s, FIXTURES_DIR "/gpt2_block/weights.safetensors");
    rc |= ts_prefix(&s, "h.0.");
    rc |= ts_write(&s, dir, "weights_gpt2_h0.safetensors");
    ts_free(&s);

    /* a header length far beyond the file's size */
    static const unsigned char corrupt[16] = {0xe8, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, '{', '}'};
    rc |= write_file(dir, "weights_corrupt.safetensors", corrupt, sizeof corrupt);
    /* a header that is not JSON */
    static const char notjson[] = "\x08\0\0\0\0\0\0\0{\"a\":!!}";
    rc |= write_file(dir, "weights_notjson.safetensors", notjson, sizeof notjson - 1);
    rc |= write_sparse_weights(dir, "weights_sparse_unexpected.safetensors");
    return rc;
}

/* Inputs of models/mha.attn (query [2, 4, 8], key and value [2, 5, 8],
 * key_padding_mask [2, 5]), each with one fault. */
static int gen_inputs(const char *dir)
{
    const char *golden = FIXTURES_DIR "/mha_nopad/inputs.safetensors";
    TensorSet s = {0};
    int rc = 0;

    if (ts_load(&s, golden))
        return -1;
    ts_remove(&s, "key_padding_mask");
    rc |= ts_write(&s, dir, "inputs_missing.safetensors");
    ts_free(&s);

    rc |= ts_load(&s, golden);
    ts_put(&s, "attn_mask", ATTN_BOOL, 2, (int64_t[]){4, 5});
    rc |= ts_write(&s, dir, "inputs_extra.safetensors");
    ts_free(&s);

    rc |= ts_load(&s, golden);
    ts_put(&s, "query", ATTN_I64, 3, (int64_t[]){2, 4, 8});
    rc |= ts_write(&s, dir, "inputs_dtype.safetensors");
    ts_free(&s);

    rc |= ts_load(&s, golden);
    ts_put(&s, "query", ATTN_F32, 2, (int64_t[]){8, 8});
    rc |= ts_write(&s, dir, "inputs_rank.safetensors");
    ts_free(&s);

    rc |= ts_load(&s, golden);
    ts_put(&s, "value", ATTN_F32, 3, (int64_t[]){2, 6, 8});
    rc |= ts_write(&s, dir, "inputs_bound_dim.safetensors");
    ts_free(&s);

    rc |= ts_load(&s, golden);
    ts_put(&s, "query", ATTN_F32, 3, (int64_t[]){2, 4, 7});
    rc |= ts_write(&s, dir, "inputs_const_dim.safetensors");
    ts_free(&s);

    /* B = T = 2^32 at no cost (empty tensors): B*T overflows int64 */
    ts_put(&s, "x", ATTN_F32, 2, (int64_t[]){(int64_t)1 << 32, 0});
    ts_put(&s, "y", ATTN_F32, 2, (int64_t[]){(int64_t)1 << 32, 0});
    rc |= ts_write(&s, dir, "huge_B_T.safetensors");
    ts_put(&s, "z", ATTN_F32, 2, (int64_t[]){0, 0});
    rc |= ts_write(&s, dir, "huge_B_T_z.safetensors");
    ts_free(&s);

    /* x f32[2, 4] for the small models of the cases */
    ts_put(&s, "x", ATTN_F32, 2, (int64_t[]){2, 4});
    rc |= ts_write(&s, dir, "x_2x4.safetensors");
    ts_free(&s);
    return rc;
}

/* Inputs of models/gru.attn's forward_packed (input [3, 7, 4], h_0 [1, 3, 7],
 * lengths [3]) with one bad length, or lengths of the wrong dtype or shape. */
static int gen_packed_inputs(const char *dir)
{
    const char *golden = FIXTURES_DIR "/gru_packed_l1/inputs.safetensors";
    static const struct {
        const char *file;
        int64_t bad;
    } lengths[] = {{"packed_length_zero.safetensors", 0},
                   {"packed_length_negative.safetensors", -2},
                   {"packed_length_past_end.safetensors", 8}};
    TensorSet s = {0};
    int rc = 0;
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0] && !rc; i++) {
        rc |= ts_load(&s, golden);
        attn_tensor *t = ts_find(&s, "lengths");
        if (!t || t->dtype != ATTN_I64) {
            fprintf(stderr, "error_table: %s has no i64 lengths\n", golden);
            rc = -1;
        } else {
            ((int64_t *)t->data)[1] = lengths[i].bad;
            rc |= ts_write(&s, dir, lengths[i].file);
        }
        ts_free(&s);
    }
    rc |= ts_load(&s, golden);
    ts_put(&s, "lengths", ATTN_F32, 1, (int64_t[]){3});
    rc |= ts_write(&s, dir, "packed_lengths_f32.safetensors");
    ts_put(&s, "lengths", ATTN_I64, 1, (int64_t[]){2});
    rc |= ts_write(&s, dir, "packed_lengths_shape.safetensors");
    ts_free(&s);
    return rc;
}

/* "entry forward(x0: f32[B, 4], ...) -> (y0, ...)" with `nin` inputs and
 * `nout` outputs, each output x0 + its number, written to dir/file. */
static int gen_wide_entry(const char *dir, const char *file, int nin, int nout)
{
    char text[16384];
    size_t k = (size_t)snprintf(text, sizeof text, "entry forward(");
    for (int i = 0; i < nin && k < sizeof text; i++)
        k += (size_t)snprintf(text + k, sizeof text - k, "%sx%d: f32[B, 4]", i ? ", " : "", i);
    for (int i = 0; i < nout && k < sizeof text; i++)
        k += (size_t)snprintf(text + k, sizeof text - k, "%sy%d", i ? ", " : ") -> (", i);
    for (int i = 0; i < nout && k < sizeof text; i++)
        k += (size_t)snprintf(text + k, sizeof text - k, "%sx0 + %d.0", i ? ", " : ") {\n  return ", i);
    if (k < sizeof text)
        k += (size_t)snprintf(text + k, sizeof text - k, "\n}\n");
    if (k >= sizeof text) {
        fprintf(stderr, "error_table: %s does not fit\n", file);
        return -1;
    }
    return write_file(dir, file, text, k);
}

/* import_chain_0.attn importing import_chain_1.attn ... up to _{n-1}, each
 * file one import deeper, the last with an entry. */
static int gen_import_chain(const char *dir, int n)
{
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        char file[64], text[128];
        snprintf(file, sizeof file, "import_chain_%d.attn", i);
        int k = i + 1 < n ? snprintf(text, sizeof text, "import \"import_chain_%d.attn\"\n", i + 1)
                          : snprintf(text, sizeof text, "entry forward(x: f32[B, 4]) -> y {\n  return x\n}\n");
        rc = write_file(dir, file, text, (size_t)k);
    }
    return rc;
}

/* A weight map of n rules k0=r0, k1=r1, ... */
static int gen_map_rules(const char *dir, const char *file, int n)
{
    size_t cap = (size_t)n * 32, len = 0;
    char *text = malloc(cap);
    if (!text)
        return -1;
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, cap - len, "k%d=r%d\n", i, i);
    int rc = write_file(dir, file, text, len);
    free(text);
    return rc;
}

/* Sources that cannot be committed as text (or only as unreadable lines). */
static int gen_sources(const char *dir)
{
    static const char nul[] = "# a source with a NUL byte in line 3\n"
                              "entry forward(x: f32[B, 4]) -> y {\n"
                              "  return x\0 + 1\n"
                              "}\n";
    int rc = write_file(dir, "nul_byte.attn", nul, sizeof nul - 1);
    rc |= gen_wide_entry(dir, "inputs_65.attn", 65, 1);   /* ATTN_LIMIT_INPUTS + 1 */
    rc |= gen_wide_entry(dir, "outputs_257.attn", 1, 257); /* ATTN_LIMIT_OUTPUTS + 1 */
    rc |= gen_import_chain(dir, 40);                         /* deeper than ATTN_LIMIT_IMPORT_DEPTH */
    static const char nul_map[] = "^model\\.=\nW_w.=word\0proj.\n";
    rc |= write_file(dir, "nul_byte.map", nul_map, sizeof nul_map - 1);
    rc |= gen_map_rules(dir, "rules_16385.map", ATTN_LIMIT_MAP_RULES + 1);
    return rc;
}

static int gen_files(const char *dir)
{
    int rc = gen_weights(dir);
    rc |= gen_inputs(dir);
    rc |= gen_packed_inputs(dir);
    rc |= gen_sources(dir);
    rc |= gen_onnx_files(dir);
    return rc;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_MAX];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* ---- cases ---------------------------------------------------------------- */

typedef struct {
    char name[256];           /* file name in CASES_DIR */
    char path[PATH_MAX];      /* CASES_DIR/name */
    int exit_code;            /* expected exit status */
    char *expect[MAX_EXPECTS]; int nexpect;
    char *reject[MAX_EXPECTS]; int nreject;
    char *once[MAX_EXPECTS]; int nonce;
    char *args;               /* raw args line, or NULL */
} Case;

static void case_free(Case *c)
{
    for (int i = 0; i < c->nexpect; i++)
        free(c->expect[i]);
    for (int i = 0; i < c->nreject; i++)
        free(c->reject[i]);
    for (int i = 0; i < c->nonce; i++)
        free(c->once[i]);
    free(c->args);
}

/* Text after "# key:" with surrounding blanks removed, or NULL. */
static const char *directive(const char *line, const char *key)
{
    size_t n = strlen(key);
    if (strncmp(line, "# ", 2) || strncmp(line + 2, key, n) || line[2 + n] != ':')
        return NULL;
    return line + 3 + n + strspn(line + 3 + n, " \t");
}

static char *trimmed_dup(const char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return strndup(s, n);
}

/* Reads the leading comment lines of c->path; false with a message in why. */
static bool case_read(Case *c, char *why, size_t whylen)
{
    FILE *f = fopen(c->path, "rb");
    if (!f) {
        snprintf(why, whylen, "cannot read: %s", strerror(errno));
        return false;
    }
    char line[4096];
    bool exit_seen = false, ok = true;
    c->exit_code = 1;
    while (ok && fgets(line, sizeof line, f) && line[0] == '#') {
        const char *v;
        if ((v = directive(line, "expect-exit"))) {
            char *end;
            long code = strtol(v, &end, 10);
            if (exit_seen || end == v || code < 0 || code > 255) {
                snprintf(why, whylen, "bad or repeated expect-exit line");
                ok = false;
            }
            c->exit_code = (int)code;
            exit_seen = true;
        } else if ((v = directive(line, "expect")) || (v = directive(line, "expect-not")) ||
                   (v = directive(line, "expect-once"))) {
            char **list = directive(line, "expect-not") ? c->reject : directive(line, "expect-once") ? c->once : c->expect;
            int *n = list == c->reject ? &c->nreject : list == c->once ? &c->nonce : &c->nexpect;
            if (*n == MAX_EXPECTS) {
                snprintf(why, whylen, "more than %d lines of one kind of expect", MAX_EXPECTS);
                ok = false;
            } else
                list[(*n)++] = trimmed_dup(v);
        } else if ((v = directive(line, "args"))) {
            if (c->args) {
                snprintf(why, whylen, "more than one args line");
                ok = false;
            }
            free(c->args);
            c->args = trimmed_dup(v);
        }
    }
    fclose(f);
    if (ok && c->nexpect + c->nonce == 0) {
        snprintf(why, whylen, "no '# expect:' line");
        ok = false;
    }
    return ok;
}

/* Splits c's args at blanks into argv[1..], substituting the placeholders. */
static int case_argv(const Case *c, const char *attnc, const char *tmp, char **argv, char *why, size_t whylen)
{
    char *line = strdup(c->args ? c->args : "check {model}");
    int n = 0;
    argv[n++] = strdup(attnc);
    for (char *save = NULL, *w = strtok_r(line, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        if (n == MAX_ARGS - 1) {
            snprintf(why, whylen, "more than %d arguments", MAX_ARGS - 2);
            break;
        }
        char out[PATH_MAX * 2] = "";
        size_t len = 0;
        for (const char *p = w; *p && len < sizeof out - 1;) {
            const char *rep = NULL;
            size_t skip = 0;
            if (!strncmp(p, "{model}", 7))
                rep = c->path, skip = 7;
            else if (!strncmp(p, "{tmp}", 5))
                rep = tmp, skip = 5;
            else if (!strncmp(p, "{fixtures}", 10))
                rep = FIXTURES_DIR, skip = 10;
            if (rep) {
                len += (size_t)snprintf(out + len, sizeof out - len, "%s", rep);
                p += skip;
            } else
                out[len++] = *p++;
            if (len >= sizeof out)
                len = sizeof out - 1;
            out[len] = '\0';
        }
        argv[n++] = strdup(out);
    }
    argv[n] = NULL;
    free(line);
    return n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    size_t cap = 4096, len = 0;
    char *s = malloc(cap);
    size_t got;
    while (s && (got = fread(s + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len - 1 == 0) {
            char *t = realloc(s, cap *= 2);
            if (!t)
                break;
            s = t;
        }
    }
    fclose(f);
    if (s)
        s[len] = '\0';
    return s ? s : strdup("");
}

/* Runs argv with stdout and stderr going to files in tmp; *status gets the
 * wait status, *timed_out whether it was killed for running too long.
 * Returns the captured stderr (malloc'd), or NULL when it could not run. */
static char *run_child(char **argv, const char *tmp, int *status, bool *timed_out)
{
    char out_path[PATH_MAX], err_path[PATH_MAX];
    snprintf(out_path, sizeof out_path, "%s/case.stdout", tmp);
    snprintf(err_path, sizeof err_path, "%s/case.stderr", tmp);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return NULL;
    if (pid == 0) {
        setpgid(0, 0); /* its own process group: a timeout kills whatever it started */
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int in = open("/dev/null", O_RDONLY);
        if (out < 0 || err < 0 || in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    *timed_out = false;
    double deadline = now_s() + CASE_TIMEOUT_S;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            return NULL;
        if (now_s() > deadline && !*timed_out) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            *timed_out = true;
            deadline = now_s() + 60; /* reap it */
        }
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    }
    return slurp(err_path);
}

/* Runs one case; prints its line; returns true when it passed. */
static bool run_case(Case *c, const char *attnc, const char *tmp)
{
    char why[8192] = "";
    char *argv[MAX_ARGS] = {0};
    char *err = NULL;
    bool ok = case_read(c, why, sizeof why);
    if (ok) {
        case_argv(c, attnc, tmp, argv, why, sizeof why);
        ok = why[0] == '\0';
    }
    int status = 0;
    bool timed_out = false;
    if (ok && !(err = run_child(argv, tmp, &status, &timed_out))) {
        snprintf(why, sizeof why, "cannot run %s: %s", attnc, strerror(errno));
        ok = false;
    }
    if (ok && timed_out) {
        snprintf(why, sizeof why, "timed out after %d s", CASE_TIMEOUT_S);
        ok = false;
    } else if (ok && WIFSIGNALED(status)) {
        snprintf(why, sizeof why, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
        ok = false;
    } else if (ok && WEXITSTATUS(status) != c->exit_code) {
        snprintf(why, sizeof why, "exit status %d, expected %d", WEXITSTATUS(status), c->exit_code);
        ok = false;
    }
    if (ok && err[0] == '\0') {
        snprintf(why, sizeof why, "nothing on stderr");
        ok = false;
    }
    for (int i = 0; ok && i < c->nexpect; i++)
        if (!strstr(err, c->expect[i])) {
            snprintf(why, sizeof why, "stderr lacks: %s", c->expect[i]);
            ok = false;
        }
    for (int i = 0; ok && i < c->nreject; i++)
        if (strstr(err, c->reject[i])) {
            snprintf(why, sizeof why, "stderr has: %s", c->reject[i]);
            ok = false;
        }
    for (int i = 0; ok && i < c->nonce; i++) {
        const char *first = strstr(err, c->once[i]);
        if (!first || strstr(first + 1, c->once[i])) {
            snprintf(why, sizeof why, "stderr has %s: %s", first ? "more than once" : "not once", c->once[i]);
            ok = false;
        }
    }
    if (ok && (strstr(err, "internal error") || strstr(err, "Sanitizer"))) {
        snprintf(why, sizeof why, "internal error or sanitizer report");
        ok = false;
    }
    if (ok)
        printf("PASS %s\n", c->name);
    else {
        printf("FAIL %s: %s\n", c->name, why);
        if (argv[0]) {
            printf("  command:");
            for (int i = 0; argv[i]; i++)
                printf(" %s", argv[i]);
            printf("\n");
        }
        if (err && err[0]) {
            printf("  stderr:\n");
            for (char *save = NULL, *l = strtok_r(err, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                printf("  | %s\n", l);
        }
    }
    for (int i = 0; argv[i]; i++)
        free(argv[i]);
    free(err);
    return ok;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.attn names in CASES_DIR, sorted; *n gets their count. */
static char **list_cases(int *n)
{
    DIR *d = opendir(CASES_DIR);
    struct dirent *e;
    char **names = NULL;
    int cap = 0;
    *n = 0;
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
#ifdef ATTN_ERRORS_NO_ONNX /* a build without the ONNX importer (CMakeLists.txt, ATTN_ONNX) */
        if (!strncmp(e->d_name, "onnx_", 5))
            continue;
#endif
        if (len < 6 || strcmp(e->d_name + len - 5, ".attn") || e->d_name[0] == '.')
            continue;
        if (*n == cap) {
            char **t = realloc(names, sizeof *names * (size_t)(cap = cap ? 2 * cap : 64));
            if (!t)
                break;
            names = t;
        }
        names[(*n)++] = strdup(e->d_name);
    }
    if (d)
        closedir(d);
    if (*n)
        qsort(names, (size_t)*n, sizeof *names, compare_names);
    return names;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: error_table SRCDIR ATTNC [CASE]...\n");
        return 2;
    }
    char attnc[PATH_MAX];
    if (!realpath(argv[2], attnc)) {
        fprintf(stderr, "error_table: %s: %s\n", argv[2], strerror(errno));
        return 2;
    }
    if (chdir(argv[1]) != 0) {
        fprintf(stderr, "error_table: cannot enter %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    char tmp[] = "/tmp/attn_errors_XXXXXX";
    if (!mkdtemp(tmp)) {
        fprintf(stderr, "error_table: cannot make a scratch directory: %s\n", strerror(errno));
        return 2;
    }
    if (gen_files(tmp) != 0) {
        remove_dir(tmp);
        return 2;
    }
    int n;
    char **names = list_cases(&n);
    int passed = 0, failed = 0;
    for (int i = 0; i < n; i++) {
        bool wanted = argc == 3;
        for (int k = 3; k < argc && !wanted; k++)
            wanted = !strcmp(argv[k], names[i]) ||
                     (strlen(argv[k]) == strlen(names[i]) - 5 && !strncmp(argv[k], names[i], strlen(argv[k])));
        if (wanted) {
            Case c = {0};
            snprintf(c.name, sizeof c.name, "%s", names[i]);
            snprintf(c.path, sizeof c.path, "%s/%s", CASES_DIR, names[i]);
            if (run_case(&c, attnc, tmp))
                passed++;
            else
                failed++;
            case_free(&c);
        }
        free(names[i]);
    }
    free(names);
    remove_dir(tmp);
    if (passed + failed == 0) {
        printf("error_table: no cases found in %s/%s\n", argv[1], CASES_DIR);
        failed = 1;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
