/*
 * fuzz_source.c — bytes as an .attn source: attn_model_load_source, then for
 * every entry point the graph text (IR and DOT) and a compile.
 *
 * Lines of the input that start with "#set NAME=VALUE" (comments to the
 * parser) are applied as hyperparameter settings first, at most 8 of them, so
 * that seeds can carry the settings their model needs (the zoo models of
 * tests/fuzz/corpus/source/ start with the settings of their golden cases).
 * The source is named "/nonexistent/fuzz.attn": imports relative to it find
 * nothing, so only the standard library can be imported and the run does not
 * depend on the current directory. No weights are bound: compiling an entry
 * with a param fails, one without params compiles.
 *
 * A compiled entry is also run, on inputs made from its graph text: every
 * per-call symbol gets a value 0..3 (from a hash of the input, so mutations
 * vary them), every input a tensor of its printed type with fixed small
 * values. The run is skipped when the graph's printed types say it would be
 * big (more than MAX_ELEMENTS elements in a tensor, or MAX_WORK elements over
 * all nodes, counting each scan body once per step): a source may ask for
 * any amount of work, and that is not a bug. With ATTN_FUZZ_VERBOSE set in
 * the environment each run says how it went (on stderr).
 */
#include "attn.h"
#include "fuzz_util.h"

/* fuzz_source_jit.c defines it as ATTN_BACKEND_JIT */
#ifndef FUZZ_SOURCE_BACKEND
#define FUZZ_SOURCE_BACKEND ATTN_BACKEND_INTERP
#endif

#define MAX_SETTINGS 8
#define MAX_ELEMENTS ((int64_t)1 << 14)
#define MAX_WORK ((int64_t)1 << 22)
#define MAX_SYMS 64

/* ---- per-call symbols and the dim expressions of the graph text ---------- */

typedef struct {
    char names[MAX_SYMS][64];
    int64_t values[MAX_SYMS];
    int n;
    uint64_t seed;
} Syms;

/* Value of symbol `name` (len bytes): 0..3, fixed per name within one input. */
static bool sym_value(Syms *s, const char *name, size_t len, int64_t *v)
{
    if (len == 0 || len >= sizeof s->names[0])
        return false;
    for (int i = 0; i < s->n; i++)
        if (strlen(s->names[i]) == len && !memcmp(s->names[i], name, len)) {
            *v = s->values[i];
            return true;
        }
    if (s->n == MAX_SYMS)
        return false;
    memcpy(s->names[s->n], name, len);
    s->names[s->n][len] = '\0';
    *v = s->values[s->n] = (int64_t)((s->seed >> (2 * (s->n % 32))) & 3);
    s->n++;
    return true;
}

/* Recursive descent over dim_format's output: + - * // % ( ) integers, names. */
typedef struct {
    const char *p, *end;
    Syms *syms;
    bool ok;
} DimParser;

static int64_t dim_expr(DimParser *d);

static int64_t dim_factor(DimParser *d)
{
    int64_t v = 0;
    if (d->p < d->end && *d->p == '(') {
        d->p++;
        v = dim_expr(d);
        if (d->p < d->end && *d->p == ')')
            d->p++;
        else
            d->ok = false;
    } else if (d->p < d->end && *d->p >= '0' && *d->p <= '9') {
        while (d->p < d->end && *d->p >= '0' && *d->p <= '9')
            if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *d->p++ - '0', &v))
                d->ok = false;
    } else {
        const char *start = d->p;
        while (d->p < d->end && (*d->p == '_' || (*d->p >= 'a' && *d->p <= 'z') || (*d->p >= 'A' && *d->p <= 'Z') ||
                                 (*d->p >= '0' && *d->p <= '9')))
            d->p++;
        if (!sym_value(d->syms, start, (size_t)(d->p - start), &v))
            d->ok = false;
    }
    return v;
}

static int64_t dim_term(DimParser *d)
{
    int64_t v = dim_factor(d);
    while (d->ok && d->p < d->end && (*d->p == '*' || *d->p == '/' || *d->p == '%')) {
        char op = *d->p++;
        if (op == '/' && !(d->p < d->end && *d->p++ == '/'))
            d->ok = false;
        int64_t w = dim_factor(d);
        if (op == '*')
            d->ok &= !__builtin_mul_overflow(v, w, &v);
        else if (w <= 0)
            d->ok = false;
        else
            v = op == '/' ? v / w - (v % w < 0) : ((v % w) + w) % w;
    }
    return v;
}

static int64_t dim_expr(DimParser *d)
{
    int64_t v = dim_term(d);
    while (d->ok && d->p < d->end && (*d->p == '+' || *d->p == '-')) {
        char op = *d->p++;
        int64_t w = dim_term(d);
        d->ok &= !(op == '+' ? __builtin_add_overflow(v, w, &v) : __builtin_sub_overflow(v, w, &v));
    }
    return v;
}

static bool eval_dim(Syms *s, const char *p, const char *end, int64_t *v)
{
    DimParser d = {p, end, s, true};
    *v = dim_expr(&d);
    return d.ok && d.p == end;
}

/* Parses a printed type "f32[B, T-1, 4]" at p into t (dims evaluated); false
 * when it cannot, or a dim is negative. */
static bool parse_type(Syms *s, const char *p, attn_tensor *t)
{
    static const struct { const char *name; attn_dtype dt; } dts[] = {
        {"f32[", ATTN_F32}, {"i32[", ATTN_I32}, {"i64[", ATTN_I64}, {"bool[", ATTN_BOOL}};
    size_t k = 0;
    while (k < 4 && strncmp(p, dts[k].name, strlen(dts[k].name)))
        k++;
    if (k == 4)
        return false;
    *t = (attn_tensor){.dtype = dts[k].dt};
    p += strlen(dts[k].name);
    while (*p && *p != ']') {
        const char *start = p;
        int depth = 0;
        while (*p && (depth || (*p != ',' && *p != ']'))) {
            depth += *p == '(' ? 1 : *p == ')' ? -1 : 0;
            p++;
        }
        if (t->rank == ATTN_MAX_RANK || !eval_dim(s, start, p, &t->shape[t->rank]) || t->shape[t->rank] < 0)
            return false;
        t->rank++;
        if (*p == ',')
            p += *(p + 1) == ' ' ? 2 : 1;
    }
    return *p == ']';
}

/* ---- running a compiled entry ---------------------------------------------- */

#define MAX_INPUTS 64

/* Builds inputs from graph text g (the IR format) and runs p; skips big graphs. */
static void run_from_graph(const attn_program *p, const char *g, uint64_t seed)
{
    Syms syms = {.seed = seed};
    attn_tensor in[MAX_INPUTS];
    char names[MAX_INPUTS][128];
    int nin = 0;
    int64_t work = 0;
    int64_t steps[64];
    int indents[64], nscan = 0;
    bool ok = true;
    for (const char *line = g; ok && line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        const char *eol = strchr(line, '\n');
        if (!eol)
            eol = line + strlen(line);
        int indent = 0;
        while (line[indent] == ' ')
            indent++;
        if (line[indent] != '%')
            continue; /* entry header, "body:", return */
        while (nscan && indents[nscan - 1] >= indent)
            nscan--;
        int64_t mult = 1;
        for (int i = 0; i < nscan; i++)
            ok &= !__builtin_mul_overflow(mult, steps[i] > 0 ? steps[i] : 1, &mult);
        /* the node's type follows the last " : " before the location comment */
        const char *hash = line;
        while (hash < eol && !(hash[0] == ' ' && hash[1] == '#' && hash[2] == ' '))
            hash++;
        const char *colon = NULL;
        for (const char *q = line; q + 2 < hash; q++)
            if (q[0] == ' ' && q[1] == ':' && q[2] == ' ')
                colon = q;
        attn_tensor t;
        char type[512];
        if (!colon) { /* a scan: no type of its own */
            const char *st = strstr(line, " steps=");
            if (!st || st > eol || nscan == 64) {
                ok = false;
                break;
            }
            st += 7;
            const char *e = st;
            while (e < eol && *e != ' ')
                e++;
            ok = eval_dim(&syms, st, e, &steps[nscan]);
            indents[nscan++] = indent;
            continue;
        }
        snprintf(type, sizeof type, "%.*s", (int)(hash - colon - 3), colon + 3);
        for (char *end = type + strlen(type); end > type && end[-1] == ' ';)
            *--end = '\0';
        int64_t numel = 1;
        ok = parse_type(&syms, type, &t);
        for (int d = 0; ok && d < t.rank; d++)
            ok = !__builtin_mul_overflow(numel, t.shape[d], &numel);
        int64_t cost;
        ok = ok && numel <= MAX_ELEMENTS && !__builtin_mul_overflow(numel, mult, &cost) &&
             !__builtin_add_overflow(work, cost, &work) && work <= MAX_WORK;
        const char *kw = strstr(line, "= input \"");
        if (ok && indent == 2 && kw && kw < colon) {
            const char *name = kw + 9, *q = strchr(name, '"');
            if (!q || q > colon || nin == MAX_INPUTS || (size_t)(q - name) >= sizeof names[0]) {
                ok = false;
                break;
            }
            snprintf(names[nin], sizeof names[nin], "%.*s", (int)(q - name), name);
            t.name = names[nin];
            size_t bytes = (size_t)numel * attn_dtype_size(t.dtype);
            t.data = malloc(bytes ? bytes : 1);
            if (!t.data)
                abort();
            for (int64_t i = 0; i < numel; i++)
                switch (t.dtype) {
                case ATTN_F32: ((float *)t.data)[i] = (float)((i * 37) % 17 - 8) * 0.25f; break;
                case ATTN_I32: ((int32_t *)t.data)[i] = (int32_t)(i % 3); break;
                case ATTN_I64: ((int64_t *)t.data)[i] = i % 3; break;
                case ATTN_BOOL: ((uint8_t *)t.data)[i] = (uint8_t)(i % 3 == 0); break;
                }
            in[nin++] = t;
        }
    }
    bool verbose = getenv("ATTN_FUZZ_VERBOSE") != NULL;
    if (verbose && !(ok && nin == attn_program_input_count(p)))
        fprintf(stderr, "fuzz_source: run skipped (big, or types not understood)\n");
    if (ok && nin == attn_program_input_count(p)) {
        attn_tensor *out = NULL;
        int nout = 0;
        char *err = NULL;
        attn_status st = attn_program_run(p, in, nin, &out, &nout, &err);
        if (verbose)
            fprintf(stderr, "fuzz_source: run %s%s\n", st == ATTN_OK ? "ok" : "failed: ", err ? err : "");
        if (st == ATTN_OK) {
            if (err || nout != attn_program_output_count(p))
                abort();
            for (int i = 0; i < nout; i++)
                if (attn_tensor_numel(&out[i]) < 0 || (attn_tensor_numel(&out[i]) > 0 && !out[i].data))
                    abort();
        } else if (!err || !err[0] || out || nout)
            abort(); /* a failure says why and returns nothing */
        attn_string_free(err);
        attn_tensors_free(out, nout);
    }
    for (int i = 0; i < nin; i++)
        free(in[i].data);
}

/* Applies the "#set NAME=VALUE" lines of src (NUL-terminated) to m. */
static void apply_settings(attn_model *m, const char *src)
{
    int n = 0;
    for (const char *line = src; line && *line && n < MAX_SETTINGS; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (strncmp(line, "#set ", 5) != 0)
            continue;
        const char *name = line + 5, *eq = strchr(name, '='), *end = strchr(name, '\n');
        if (!end)
            end = name + strlen(name);
        if (!eq || eq > end)
            continue;
        char nb[128], vb[128];
        snprintf(nb, sizeof nb, "%.*s", (int)(eq - name), name);
        snprintf(vb, sizeof vb, "%.*s", (int)(end - eq - 1), eq + 1);
        attn_model_set(m, nb, vb);
        n++;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *src = malloc(size + 1);
    if (!src)
        return 0;
    memcpy(src, data, size);
    src[size] = '\0'; /* a NUL inside ends the source early, as strlen does */
    attn_model *m = attn_model_new();
    apply_settings(m, src);
    attn_status st = attn_model_load_source(m, "/nonexistent/fuzz.attn", src);
    if (st != ATTN_OK && attn_model_errors(m)[0] == '\0')
        abort(); /* every failure says why */
    if (st == ATTN_OK) {
        uint64_t seed = 14695981039346656037ull; /* FNV-1a of the input: the symbols' values */
        for (size_t i = 0; i < size; i++)
            seed = (seed ^ data[i]) * 1099511628211ull;
        for (int i = 0; i < attn_model_entry_count(m); i++) {
            const char *entry = attn_model_entry_name(m, i);
            for (int format = 0; format < 2; format++) {
                char *text = NULL;
                if (attn_model_graph_text(m, entry, format, &text) == ATTN_OK && !text)
                    abort(); /* success must give text */
                attn_string_free(text);
            }
            attn_program *p = NULL;
            /* the interpreter here: a JIT compile per input cuts the executions a
               hundredfold, so the JIT has a target of its own (fuzz_source_jit) */
            attn_compile_options opt = {.backend = FUZZ_SOURCE_BACKEND, .threads = 1};
            if (attn_model_compile(m, entry, &opt, &p) == ATTN_OK) {
                char *text = NULL;
                if (!p || attn_program_output_count(p) < 1 || attn_model_graph_text(m, entry, 0, &text) != ATTN_OK)
                    abort();
                run_from_graph(p, text, seed);
                attn_string_free(text);
                attn_program_free(p);
            }
        }
    }
    attn_model_free(m);
    free(src);
    return 0;
}
