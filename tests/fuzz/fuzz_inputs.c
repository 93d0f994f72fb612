/*
 * fuzz_inputs.c — bytes as a safetensors file of inputs, run through fixed
 * compiled programs.
 *
 * LLVMFuzzerInitialize compiles, once:
 *   - models/bahdanau.attn with the bahdanau golden weights (masked softmax),
 *   - models/gru.attn with the gru_l1 golden weights (a scan over T),
 *   - a weightless source (OPS_SRC below) whose per-call checks the compiler
 *     leaves to the run: embedding ids, a length mask, a slice and a matmul
 *     over symbolic dims, a reshape, argmax.
 * Each input is then read twice: the way `attnc run` reads it
 * (cli_load_inputs: names must match exactly, dtypes widened) and raw (every
 * tensor in its own dtype, I32 kept, extra and missing names left for the run
 * to refuse), and every program runs on both. A run either succeeds with the
 * declared outputs or fails with a message; both are fine, a crash, a leak, a
 * sanitizer report or a hang is not.
 *
 * Files with an empty tensor that has a dim above MAX_EMPTY_DIM are skipped:
 * an empty tensor costs no bytes in the file, yet its dims still size the run
 * (a scan over 2^40 steps, an arange of 2^36 elements), and a run that does
 * the work its inputs ask for is not a bug (docs/RELIABILITY.md). Non-empty
 * tensors are bounded by the file's size.
 */
#include "attn.h"
#include "cli_tensors.h"
#include "fuzz_util.h"
#include "safetensors.h"

#ifndef ATTN_SOURCE_DIR
#error "ATTN_SOURCE_DIR must name the source tree"
#endif

static const char OPS_SRC[] =
    "entry f(ids: i64[B, T], table: f32[V, E], lengths: i64[B], x: f32[B, T, E]) -> (y, w, z, a) {\n"
    "  e = embedding(table, ids)\n"
    "  mask = length_mask(lengths, T)\n"
    "  w = softmax(masked_fill(sum(e * x, axis=-1), mask, -inf))\n"
    "  y = reshape(layer_norm(x), [B * T, E])\n"
    "  z = x[:, 1:, :] @ transpose(e[:, 1:, :], 1, 2)\n"
    "  a = argmax(concat(w, f32(ids)), axis=-1)\n"
    "  return y, w, z, a\n"
    "}\n";

#define NPROGRAMS 6 /* three models, each on the JIT and on the interpreter */
#define MAX_EMPTY_DIM 4096
static attn_program *programs[NPROGRAMS];
static FILE *devnull;

static attn_program *compile(const char *model, const char *src, const char *weights, const char *const *sets,
                             attn_backend backend)
{
    attn_model *m = attn_model_new();
    attn_program *p = NULL;
    for (int i = 0; sets && sets[i]; i += 2)
        attn_model_set(m, sets[i], sets[i + 1]);
    if ((src ? attn_model_load_source(m, model, src) : attn_model_load(m, model)) != ATTN_OK ||
        (weights && attn_model_bind_weights(m, weights) != ATTN_OK) ||
        attn_model_compile(m, src ? "f" : "forward", &(attn_compile_options){.backend = backend, .threads = 1}, &p) !=
            ATTN_OK) {
        fprintf(stderr, "fuzz_inputs: cannot compile %s:\n%s", model, attn_model_errors(m));
        abort();
    }
    attn_model_free(m);
    return p;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const char *const bahdanau_sets[] = {"query_size", "6", "key_size", "5", "attn_size", "4", NULL};
    static const char *const gru_sets[] = {"input_size", "5", "hidden_size", "7", "num_layers", "1",
                                           "bidirectional", "0", NULL};
    for (int b = 0; b < 2; b++) {
        attn_backend backend = b ? ATTN_BACKEND_INTERP : ATTN_BACKEND_JIT;
        programs[3 * b] = compile(ATTN_SOURCE_DIR "/models/bahdanau.attn", NULL,
                                  ATTN_SOURCE_DIR "/tests/golden/fixtures/bahdanau/weights.safetensors", bahdanau_sets,
                                  backend);
        programs[3 * b + 1] = compile(ATTN_SOURCE_DIR "/models/gru.attn", NULL,
                                      ATTN_SOURCE_DIR "/tests/golden/fixtures/gru_l1/weights.safetensors", gru_sets,
                                      backend);
        programs[3 * b + 2] = compile("ops.attn", OPS_SRC, NULL, NULL, backend);
    }
    devnull = fopen("/dev/null", "w");
    if (!devnull)
        abort();
    return 0;
}

static void run(const attn_program *p, const attn_tensor *in, int n)
{
    attn_tensor *out = NULL;
    int nout = 0;
    char *err = NULL;
    attn_status st = attn_program_run(p, in, n, &out, &nout, &err);
    if (st == ATTN_OK) {
        if (err || nout != attn_program_output_count(p))
            abort();
        for (int i = 0; i < nout; i++) {
            int64_t numel = attn_tensor_numel(&out[i]);
            if (numel < 0 || (numel > 0 && !out[i].data) || strcmp(out[i].name, attn_program_output_name(p, i)))
                abort();
        }
    } else if (!err || !err[0] || out || nout)
        abort(); /* a failure says why and returns nothing */
    attn_string_free(err);
    attn_tensors_free(out, nout);
}

/* Every tensor of the file in its own dtype (I32 kept): what an API user might pass. */
static void run_raw(const char *path)
{
    char err[512];
    StFile *f = st_open(path, err, sizeof err);
    if (!f)
        return;
    int n = st_count(f);
    attn_tensor *ts = calloc((size_t)n + 1, sizeof *ts);
    int ok = ts != NULL, k = 0;
    for (int i = 0; ok && i < n; i++) {
        const StTensor *t = st_tensor(f, i);
        attn_dtype dt = t->dtype == ST_BOOL ? ATTN_BOOL
                        : t->dtype == ST_I32 ? ATTN_I32
                        : t->dtype == ST_F16 || t->dtype == ST_BF16 || t->dtype == ST_F32 || t->dtype == ST_F64
                            ? ATTN_F32
                            : ATTN_I64;
        ts[k] = (attn_tensor){.name = t->name, .dtype = dt, .rank = t->rank};
        memcpy(ts[k].shape, t->shape, sizeof ts[k].shape);
        if (st_convert(t, dt, &ts[k].data, err, sizeof err) == 0)
            k++;
    }
    for (int p = 0; ok && p < NPROGRAMS; p++)
        run(programs[p], ts, k);
    for (int i = 0; i < k; i++)
        free(ts[i].data);
    free(ts);
    st_close(f);
}

/* True when some empty tensor of the file at path has a dim above MAX_EMPTY_DIM. */
static int huge_empty(const char *path)
{
    char err[512];
    StFile *f = st_open(path, err, sizeof err);
    int huge = 0;
    for (int i = 0; f && i < st_count(f) && !huge; i++) {
        const StTensor *t = st_tensor(f, i);
        for (int d = 0; t->nbytes == 0 && d < t->rank; d++)
            huge |= t->shape[d] > MAX_EMPTY_DIM;
    }
    st_close(f);
    return huge;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(data, size);
    if (huge_empty(path))
        return 0;
    for (int p = 0; p < NPROGRAMS; p++) {
        attn_tensor *in = NULL;
        if (cli_load_inputs(path, programs[p], "f", devnull, &in) == 0) {
            run(programs[p], in, attn_program_input_count(programs[p]));
            cli_free_inputs(in, attn_program_input_count(programs[p]));
        }
    }
    run_raw(path);
    return 0;
}
